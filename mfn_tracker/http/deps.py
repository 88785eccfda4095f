"""Request -> caller, through the one access module; and the strict parameter check.

FastAPI runs these plain ``def`` dependencies in its threadpool, so key lookups (a file read,
and a write for a rejected key) never run on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from mfn_tracker.access import Caller, authenticate
from mfn_tracker.http.middleware import client_ip
from mfn_tracker.settings import Settings

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A key from `mfn-tracker keys create`; its record gives the role.",
)


@dataclass(frozen=True)
class Client:
    """Who is asking, as the audit events want it."""

    caller: Caller
    source_ip: str | None
    request_id: str | None


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_client(request: Request, api_key: str | None = Security(API_KEY_HEADER)) -> Client:
    """Authenticate ``X-API-Key`` (``AccessDenied`` -> 403, ``Unauthenticated`` -> 401)."""
    ip = client_ip(request.scope)
    caller = authenticate(settings_of(request), api_key, channel="http", source_ip=ip)
    request.state.user_id = caller.user_id  # the middleware's event names the caller
    return Client(caller, ip, getattr(request.state, "request_id", None))


def only_params(*names: str) -> Callable[[Request], None]:
    """A dependency refusing unknown query parameters: a typo must not silently widen a query."""
    allowed = frozenset(names)

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise HTTPException(
                400, f"unknown parameter(s): {', '.join(unknown)} (allowed: {', '.join(names)})"
            )

    return check
