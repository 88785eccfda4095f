"""``EventLoggingMiddleware``: record every HTTP request of any ASGI app in the audit trail.

Pure ASGI and standard library only (works with FastAPI, Starlette, Django's ASGI handler or a
bare callable). One event per request, written when the response is complete:

- ``api_error`` when the app raised or answered 5xx;
- ``auth_failure`` for 401 and 403 (configurable with ``status_types``), so requests that an
  authentication layer *inside* this middleware rejected are still recorded: add it outermost;
- otherwise the type an explicit route table gives (``routes``), else ``default_type``.

With ``record_arrival=True`` a request is also recorded when it arrives (status ``in_progress``),
and the completion event becomes ``api_response``. Each event carries method, route, status code,
duration, a request id (echoed as ``X-Request-ID``) and the client address (truncated by the
writer). Query strings and headers are scrubbed of secrets first. Writes go to a worker thread
(:class:`~mfn_tracker.http.background.BackgroundWriter`), flushed at lifespan shutdown and exit;
when its backlog passes a high-water mark, new requests wait asynchronously for it to drain.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.http.background import BackgroundWriter
from mfn_tracker.http.redact import safe_request_id, scrub_headers, scrub_query
from mfn_tracker.http.routes import RouteMap
from mfn_tracker.settings import Settings, load_settings
from mfn_tracker.store import validate
from mfn_tracker.store.scrub import scrub_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UserResolver = Callable[[Scope], "str | None"]

log = logging.getLogger("mfn_tracker.http")

DEFAULT_STATUS_TYPES: Mapping[int, str] = {401: "auth_failure", 403: "auth_failure"}
DEFAULT_HEADERS = ("user-agent", "referer", "content-type", "content-length")
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "cookie"})
ANONYMOUS = "anonymous"
_MAX_PATH = 512


class EventLoggingMiddleware:
    """Wrap an ASGI app: ``app.add_middleware(EventLoggingMiddleware)`` or ``Middleware(app)``.

    The caller's identity is read after the app ran, from ``scope["state"]["user_id"]``
    (``request.state.user_id = ...`` in Starlette/FastAPI), else from ``user_id(scope)``, else
    ``anonymous``. It is never derived from a key: a key's first characters are a secret too.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        routes: Mapping[str, str] | RouteMap | None = None,
        default_type: str = "api_request",
        status_types: Mapping[int, str] | None = None,
        record_headers: Iterable[str] = DEFAULT_HEADERS,
        exclude: Iterable[str] = (),
        user_id: UserResolver | None = None,
        record_arrival: bool = False,
        writer: BackgroundWriter | None = None,
        flush_timeout: float = 120.0,
        max_wait: float = 5.0,
    ) -> None:
        self.app = app
        self.routes = routes if isinstance(routes, RouteMap) else RouteMap.from_mapping(routes)
        self.default_type = _checked_type(default_type)
        types = DEFAULT_STATUS_TYPES if status_types is None else status_types
        self.status_types = {int(code): _checked_type(t) for code, t in types.items()}
        self.record_headers = frozenset(h.lower() for h in record_headers)
        self.exclude = frozenset(exclude)
        self.user_id = user_id
        self.record_arrival = record_arrival
        self.writer = writer or BackgroundWriter(settings or load_settings())
        self.flush_timeout = flush_timeout
        self.max_wait = max_wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
        else:
            await self._http(scope, receive, send)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every recorded request is on disk (tests, and servers without lifespan)."""
        return self.writer.flush(timeout)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_flushing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.writer.flush(self.flush_timeout)  # nothing left to serve: blocking is fine
            await send(message)

        await self.app(scope, receive, send_flushing)

    async def _backpressure(self) -> None:
        """Past the writer's high-water mark a request waits (asleep, the loop keeps running) for
        the backlog to halve, at most ``max_wait``: under overload, requests slow down rather than
        events pile up beyond what a shutdown can flush."""
        deadline = time.monotonic() + self.max_wait
        while self.writer.backlog() > self.writer.high_water // 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.writer.congested():
            await self._backpressure()
        started = time.perf_counter()
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or ())
        request_id = safe_request_id(_header(headers, b"x-request-id")) or _REQUEST_IDS.new()
        state = scope.setdefault("state", {})
        if isinstance(state, MutableMapping):
            state["request_id"] = request_id
        request = _RequestFacts(scope, headers, request_id, self.record_headers)
        if self.record_arrival:
            self._submit(request.arrival(self._route_type(request)))
        status_code: int | None = None
        recorded = False

        def record(error: BaseException | None) -> None:
            nonlocal recorded
            recorded = True
            elapsed = (time.perf_counter() - started) * 1000
            code = 500 if error is not None and status_code is None else status_code
            kind = self._completion_type(request, code, error)
            self._submit(request.completion(kind, self._caller(scope), code, elapsed, error))

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = int(message["status"])
                extra = [(b"x-request-id", request_id.encode())]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            elif _is_last_body(message) and not recorded and (status_code or 0) < 500:
                record(None)  # queued before the client sees the end (a 5xx awaits its error)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:  # recorded, then re-raised: the server answers 500
            if not recorded or isinstance(exc, Exception):
                record(exc)  # once complete, only a real error (a background task's) counts
            raise
        if not recorded:
            record(None)  # the app returned without finishing a response (client gone)

    def _route_type(self, request: _RequestFacts) -> str:
        return self.routes.event_type(request.method, request.path) or self.default_type

    def _completion_type(
        self, request: _RequestFacts, code: int | None, error: BaseException | None
    ) -> str:
        if (error is not None and isinstance(error, Exception)) or (code or 0) >= 500:
            return "api_error"
        if code in self.status_types:
            return self.status_types[code]
        return "api_response" if self.record_arrival else self._route_type(request)

    def _caller(self, scope: Scope) -> str:
        state = scope.get("state")
        found = state.get("user_id") if isinstance(state, Mapping) else None
        if not found and self.user_id is not None:
            found = self.user_id(scope)
        return found if isinstance(found, str) and found.strip() else ANONYMOUS

    def _submit(self, fields: dict[str, Any]) -> None:
        try:
            self.writer.submit(fields)
        except TrackerError as exc:  # closed writer: the request must still be answered
            log.error("mfn-tracker: request not recorded: %s", exc)


class _RequestFacts:
    """What is known of a request before the app runs, already scrubbed."""

    def __init__(
        self,
        scope: Scope,
        headers: list[tuple[bytes, bytes]],
        request_id: str,
        wanted: frozenset[str],
    ) -> None:
        self.scope = scope
        self.method = str(scope.get("method", "GET")).upper()
        self.path = str(scope.get("path", "/"))
        self.request_id = request_id
        self.source_ip = client_ip(scope)
        self.meta: dict[str, Any] = {
            "method": self.method,
            "path": _clip_path(scrub_text(self.path)),
        }
        query = scrub_query(scope.get("query_string") or b"")
        if query:
            self.meta["query"] = query
        recorded = scrub_headers(headers, wanted)
        if recorded:
            self.meta["headers"] = recorded
        presented = sorted({n.decode("latin-1").lower() for n, _ in headers} & CREDENTIAL_HEADERS)
        if presented:
            self.meta["auth_headers"] = presented  # names only, never values

    def route(self) -> str:
        """The app's route template when it says (Starlette sets ``scope["route"]``)."""
        template = getattr(self.scope.get("route"), "path", None)
        return template if isinstance(template, str) and template else self.meta["path"]

    def arrival(self, event_type: str) -> dict[str, Any]:
        route = self.route()
        return self._fields(
            event_type,
            ANONYMOUS,
            f"{self.method} {route}",
            "in_progress",
            {**self.meta, "route": route},
        )

    def completion(
        self,
        event_type: str,
        user: str,
        code: int | None,
        elapsed_ms: float,
        error: BaseException | None,
    ) -> dict[str, Any]:
        route = self.route()
        meta: dict[str, Any] = {**self.meta, "route": route, "status_code": code}
        if error is not None:
            meta["error"] = type(error).__name__
        ok = error is None and code is not None and code < 400
        fields = self._fields(
            event_type,
            user,
            f"{self.method} {route} -> {code if code is not None else 'no response'}",
            "success" if ok else "failure",
            meta,
        )
        fields["duration_ms"] = round(elapsed_ms, 3)
        return fields

    def _fields(
        self, event_type: str, user: str, description: str, status: str, meta: dict[str, Any]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "event_type": event_type,
            "user_id": user,
            "action_description": description,
            "status": status,
            "request_id": self.request_id,
            "metadata": meta,
        }
        if self.source_ip is not None:
            fields["source_ip"] = self.source_ip
        return fields


def _is_last_body(message: Message) -> bool:
    return message["type"] == "http.response.body" and not message.get("more_body")


def _checked_type(event_type: str) -> str:
    try:
        return validate.check_event_type(event_type)
    except validate.EventValueError as exc:
        raise TrackerError(str(exc), exit_code=EXIT_USAGE) from None


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class _RequestIds:
    """Unique per process and cheap: a random prefix and a counter (no syscall per request)."""

    def __init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


_REQUEST_IDS = _RequestIds()
os.register_at_fork(after_in_child=_REQUEST_IDS.reseed)  # forked workers must not repeat ids


def client_ip(scope: Scope) -> str | None:
    """The peer address if it is an IP (unix sockets and test clients have none)."""
    client = scope.get("client")
    return _ip_or_none(str(client[0])) if client else None


@functools.lru_cache(maxsize=4096)  # clients come back: parse each address once
def _ip_or_none(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def _clip_path(path: str) -> str:
    return path if len(path) <= _MAX_PATH else path[:_MAX_PATH] + "…"
