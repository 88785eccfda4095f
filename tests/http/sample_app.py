"""A small app to put the middleware in front of: FastAPI routes behind a pure ASGI key gate."""

from __future__ import annotations

from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request

from mfn_tracker.http.middleware import EventLoggingMiddleware
from mfn_tracker.settings import Settings

GOOD_KEY = "sample-good-key-0123456789"
REVOKED_KEY = "sample-revoked-key-9876543210"
ROUTES = {"POST /login": "auth_login", "/items/{item_id}": "fetch"}


def inner_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello(request: Request) -> dict[str, str]:
        return {"hello": getattr(request.state, "user_id", "anonymous")}

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    @app.post("/login")
    async def login() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/author")
    async def author() -> dict[str, str]:
        return {"name": "not an auth event"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom with ghp_" + "a" * 36)

    @app.get("/late")
    async def late(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(_fail_after_response)
        return {"ok": True}

    @app.get("/private")
    async def private() -> dict[str, str]:
        return {"secret": "data"}

    return app


def _fail_after_response() -> None:
    raise ValueError("a background task failed after the response was sent")


class KeyGate:
    """Authentication in front of the app: 401 for a revoked key, 403 without a key on /private."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            key = dict(scope["headers"]).get(b"x-api-key", b"").decode()
            if key == REVOKED_KEY:
                return await _deny(send, 401)
            if not key and scope["path"] == "/private":
                return await _deny(send, 403)
            if key == GOOD_KEY:
                scope.setdefault("state", {})["user_id"] = "alice"
        return await self.app(scope, receive, send)


async def _deny(send: Any, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"denied"})


def sample_app(settings: Settings, **options: Any) -> EventLoggingMiddleware:
    """The middleware outermost, the gate inside it, then the app."""
    return EventLoggingMiddleware(KeyGate(inner_app()), settings=settings, routes=ROUTES, **options)
