"""EventLoggingMiddleware on a real uvicorn: what each request leaves on disk (and what not)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.http.background import BackgroundWriter
from mfn_tracker.http.middleware import EventLoggingMiddleware
from mfn_tracker.settings import Settings
from tests.helpers.events import all_events, chain_ok, raw_lines
from tests.http.sample_app import GOOD_KEY, REVOKED_KEY, sample_app
from tests.http.server import running


def only(events: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [e for e in events if all(e["metadata"].get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, events)
    return found[0]


def test_request_recorded_with_route_status_duration_id_and_truncated_ip(
    settings: Settings, storage: Path
) -> None:
    app = sample_app(settings)
    with running(app) as url:
        r = httpx.get(f"{url}/hello", headers={"X-API-Key": GOOD_KEY, "User-Agent": "probe/1"})
        assert r.status_code == 200
        assert r.json() == {"hello": "alice"}
        assert app.flush(5)
    (event,) = all_events(storage)
    assert event["event_type"] == "api_request"
    assert event["user_id"] == "alice"
    assert event["status"] == "success"
    assert event["request_id"] == r.headers["x-request-id"]
    assert event["source_ip"] == "127.0.0.0"  # /24, as the writer truncates it
    assert event["duration_ms"] > 0
    meta = event["metadata"]
    assert (meta["method"], meta["route"], meta["status_code"]) == ("GET", "/hello", 200)
    assert meta["headers"]["user-agent"] == "probe/1"
    assert meta["auth_headers"] == ["x-api-key"]
    assert GOOD_KEY.encode() not in b"".join(raw_lines(storage))
    assert chain_ok(storage)


def test_query_strings_with_tokens_never_reach_disk(settings: Settings, storage: Path) -> None:
    secrets = {
        "token": "tok-SECRET-1",
        "api_key": "key-SECRET-2",
        "X-Api-Key": "key-SECRET-3",
        "key": "key-SECRET-4",
        "code": "oauth-SECRET-5",
        "q": "ghp_" + "b" * 36,
    }
    app = sample_app(settings)
    with running(app) as url:
        referer = "https://user:pw-SECRET-6@example.com/x?access_token=tok-SECRET-7&page=3"
        r = httpx.get(
            f"{url}/hello",
            params={**secrets, "page": "2"},
            headers={"Referer": referer, "Authorization": "Bearer eyJh.eyJi.sig-SECRET-8"},
        )
        assert r.status_code == 200
        assert app.flush(5)
    disk = b"".join(raw_lines(storage))
    assert b"SECRET" not in disk
    assert b"bbbbbbbbbbbbbbbbbbbb" not in disk
    (event,) = all_events(storage)
    query = event["metadata"]["query"]
    assert query["page"] == "2"
    assert all(query[name] == "[REDACTED]" for name in secrets)
    assert event["metadata"]["auth_headers"] == ["authorization"]
    assert "page=3" in event["metadata"]["headers"]["referer"]


def test_exception_in_handler_is_api_error_and_500(settings: Settings, storage: Path) -> None:
    app = sample_app(settings)
    with running(app) as url:
        r = httpx.get(f"{url}/boom")
        assert r.status_code == 500
        assert httpx.get(f"{url}/hello").status_code == 200  # the server lives on
        assert app.flush(5)
    events = all_events(storage)
    error = only(events, route="/boom")
    assert error["event_type"] == "api_error"
    assert error["status"] == "failure"
    assert error["metadata"]["status_code"] == 500
    assert error["metadata"]["error"] == "RuntimeError"
    assert b"ghp_" not in b"".join(raw_lines(storage))
    assert only(events, route="/hello")["event_type"] == "api_request"


def test_rejected_keys_in_front_of_the_app_are_auth_failures(
    settings: Settings, storage: Path
) -> None:
    app = sample_app(settings)
    with running(app) as url:
        assert httpx.get(f"{url}/hello", headers={"X-API-Key": REVOKED_KEY}).status_code == 401
        assert httpx.get(f"{url}/private").status_code == 403
        assert app.flush(5)
    events = all_events(storage)
    assert [e["event_type"] for e in events] == ["auth_failure", "auth_failure"]
    assert [e["metadata"]["status_code"] for e in events] == [401, 403]
    assert all(e["status"] == "failure" and e["user_id"] == "anonymous" for e in events)
    assert events[0]["metadata"]["auth_headers"] == ["x-api-key"]
    assert "auth_headers" not in events[1]["metadata"]
    assert REVOKED_KEY.encode() not in b"".join(raw_lines(storage))


def test_event_types_come_from_the_explicit_route_table(settings: Settings, storage: Path) -> None:
    app = sample_app(settings)
    with running(app) as url:
        assert httpx.post(f"{url}/login").status_code == 200
        assert httpx.get(f"{url}/items/42").status_code == 200
        assert httpx.get(f"{url}/author").status_code == 200  # the seed called this "auth"
        assert httpx.get(f"{url}/items/42/nothing").status_code == 404
        assert app.flush(5)
    by_path = {e["metadata"]["path"]: e for e in all_events(storage)}
    assert by_path["/login"]["event_type"] == "auth_login"
    assert by_path["/items/42"]["event_type"] == "fetch"
    assert by_path["/items/42"]["metadata"]["route"] == "/items/{item_id}"
    assert by_path["/author"]["event_type"] == "api_request"
    assert by_path["/items/42/nothing"]["event_type"] == "api_request"
    assert by_path["/items/42/nothing"]["status"] == "failure"


def test_record_arrival_pairs_request_and_response(settings: Settings, storage: Path) -> None:
    app = sample_app(settings, record_arrival=True)
    with running(app) as url:
        r = httpx.get(f"{url}/hello", headers={"X-Request-ID": "dash-42"})
        assert r.headers["x-request-id"] == "dash-42"
        assert app.flush(5)
    arrival, done = all_events(storage)
    assert (arrival["event_type"], arrival["status"]) == ("api_request", "in_progress")
    assert (done["event_type"], done["status"]) == ("api_response", "success")
    assert arrival["request_id"] == done["request_id"] == "dash-42"


def test_hostile_request_ids_are_replaced(settings: Settings, storage: Path) -> None:
    app = sample_app(settings)
    with running(app) as url:
        for rid in ("x" * 500, "a b", "ghp_" + "c" * 36):
            r = httpx.get(f"{url}/hello", headers={"X-Request-ID": rid})
            assert r.headers["x-request-id"] != rid
        assert app.flush(5)
    assert len({e["request_id"] for e in all_events(storage)}) == 3
    assert b"ccccccccccccccccccccc" not in b"".join(raw_lines(storage))


def test_writes_never_block_the_event_loop(settings: Settings, storage: Path) -> None:
    """While another process holds the writers' lock, requests are still answered at once."""
    app = sample_app(settings)
    with running(app) as url:
        httpx.get(f"{url}/hello")
        assert app.flush(5)  # storage and .chain now exist
        fd = os.open(storage / ".chain", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            started = time.monotonic()
            for _ in range(20):
                assert httpx.get(f"{url}/hello", timeout=5).status_code == 200
            assert time.monotonic() - started < 5
            assert app.writer.stats().pending >= 19  # all queued, none written yet
            assert len(all_events(storage)) == 1
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        assert app.flush(10)
    assert len(all_events(storage)) == 21
    assert chain_ok(storage)


def test_lifespan_shutdown_flushes_everything(settings: Settings, storage: Path) -> None:
    app = sample_app(settings)
    with running(app) as url, httpx.Client() as client:
        for _ in range(200):
            assert client.get(f"{url}/hello").status_code == 200
    # no explicit flush: the server's shutdown did it
    assert len(all_events(storage)) == 200
    assert chain_ok(storage)


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """No framework and no lifespan support: the middleware must not need either."""
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_any_asgi_app_even_without_lifespan(settings: Settings, storage: Path) -> None:
    app = EventLoggingMiddleware(bare_app, settings=settings, exclude=["/health"])
    with running(app) as url:
        assert httpx.delete(f"{url}/things/7").status_code == 204
        assert httpx.get(f"{url}/health").status_code == 204
        assert app.flush(5)
    (event,) = all_events(storage)
    assert event["metadata"]["route"] == "/things/7"
    assert event["action_description"] == "DELETE /things/7 -> 204"


def test_bad_configuration_is_refused_at_startup(settings: Settings) -> None:
    with pytest.raises(TrackerError) as bad_type:
        EventLoggingMiddleware(bare_app, settings=settings, routes={"/x": "autho"})
    assert bad_type.value.exit_code == 2
    with pytest.raises(TrackerError):
        EventLoggingMiddleware(bare_app, settings=settings, routes={"FETCH /x": "fetch"})
    with pytest.raises(TrackerError):
        EventLoggingMiddleware(bare_app, settings=settings, routes={"x": "fetch"})
    with pytest.raises(TrackerError):
        EventLoggingMiddleware(bare_app, settings=settings, default_type="nope")


def test_the_seeds_one_line_setup_works(storage: Path) -> None:
    """``app.add_middleware(EventLoggingMiddleware)``: settings from the environment."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    app.add_middleware(EventLoggingMiddleware)
    with running(app) as url:
        assert httpx.get(f"{url}/ping").status_code == 200
    # no flush: the server's lifespan shutdown wrote it
    (event,) = all_events(storage)
    assert (event["event_type"], event["metadata"]["route"]) == ("api_request", "/ping")


def test_importing_the_middleware_stays_light() -> None:
    """The middleware is standard library only: no FastAPI, Starlette or pydantic."""
    code = (
        "import sys\n"
        "from mfn_tracker import EventLoggingMiddleware\n"
        "heavy = {'fastapi', 'starlette', 'pydantic', 'uvicorn'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_backlog_slows_requests_down_but_never_the_loop(
    settings: Settings, storage: Path
) -> None:
    """Past the high-water mark requests wait for the writer; the event loop keeps serving."""
    writer = BackgroundWriter(settings, high_water=4)
    app = sample_app(settings, writer=writer, max_wait=2.0, exclude=["/private"])
    with running(app) as url, httpx.Client(timeout=10) as client:
        client.get(f"{url}/hello")
        assert app.flush(5)
        fd = os.open(storage / ".chain", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # the disk stalls
            for _ in range(5):
                client.get(f"{url}/hello")  # fills the queue past the mark
            started = time.monotonic()
            assert client.get(f"{url}/hello").status_code == 200  # waited max_wait
            assert time.monotonic() - started >= 1.9
            started = time.monotonic()
            assert client.get(f"{url}/private").status_code == 403  # not recorded: no wait
            assert time.monotonic() - started < 1.0
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        assert client.get(f"{url}/hello").status_code == 200
        assert app.flush(5)
    assert len(all_events(storage)) == 8
    assert chain_ok(storage)


def test_an_error_after_the_response_is_recorded_too(settings: Settings, storage: Path) -> None:
    app = sample_app(settings)
    with running(app) as url:
        assert httpx.get(f"{url}/late").status_code == 200  # the client got its answer
        assert app.flush(5)
    done, error = all_events(storage)
    assert (done["event_type"], done["status"]) == ("api_request", "success")
    assert (error["event_type"], error["metadata"]["error"]) == ("api_error", "ValueError")
    assert done["request_id"] == error["request_id"]
