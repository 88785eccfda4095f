"""The routes: each parses parameters, asks ``access`` for the caller's scope and calls ``query``.

No logic of their own: validation is ``logger.build_query``, roles are ``access.scope``, reads are
``query.list_events`` / ``compute_stats`` / ``tail_events``, and every read is recorded by
``access.record_read``. Endpoints are plain ``def``: FastAPI runs them in its threadpool.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from starlette.responses import StreamingResponse

from mfn_tracker._version import __version__
from mfn_tracker.access import KeyCheck, record_read, scope
from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.http.deps import Client, current_client, only_params, settings_of
from mfn_tracker.http.schemas import (
    ErrorBody,
    EventsPage,
    EventTypes,
    FastJSON,
    Health,
    Stats,
)
from mfn_tracker.http.stream import StreamSlots, event_stream
from mfn_tracker.logger import build_query
from mfn_tracker.query import compute_stats, list_events
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Problem
from mfn_tracker.store.reader import Query as ReadQuery
from mfn_tracker.types import EVENT_DESCRIPTIONS, EXTENSION_TYPES, STATUS_VALUES

MAX_PAGE = 1000
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "a bad parameter"},
    401: {"model": ErrorBody, "description": "unknown or revoked key (recorded)"},
    403: {"model": ErrorBody, "description": "no key"},
}
FILTERS = ("date", "since", "until", "event_type", "status", "user_id", "repo")

router = APIRouter()

ClientDep = Annotated[Client, Depends(current_client)]
DateParam = Annotated[str | None, Query(description="one UTC day, YYYY-MM-DD (default: today)")]
SinceParam = Annotated[str | None, Query(description="ISO 8601 time or date, or relative (7d)")]
UntilParam = Annotated[str | None, Query(description="exclusive end, same forms as since")]
TypeParam = Annotated[list[str] | None, Query(description="event type; repeat or a,b for several")]
StatusParam = Annotated[str | None, Query(description="success|failure|pending|in_progress")]
UserParam = Annotated[str | None, Query(description="admins: any user; users: always themselves")]
RepoParam = Annotated[str | None, Query(description="absolute work-tree path")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_PAGE, description="page size, at most 1000")]
CursorParam = Annotated[
    int | None, Query(ge=1, le=1 << 62, description="`next_cursor` of the previous page")
]
BucketParam = Annotated[Literal["hour", "day"], Query(description="by_hour or by_day buckets")]
LastParam = Annotated[int, Query(ge=0, le=MAX_PAGE, description="send the newest N matching first")]
LastEventId = Annotated[str | None, Header(description="resume after this seq (EventSource)")]


async def event_filters(
    *,
    date: DateParam = None,
    since: SinceParam = None,
    until: UntilParam = None,
    event_type: TypeParam = None,
    status: StatusParam = None,
    user_id: UserParam = None,
    repo: RepoParam = None,
) -> dict[str, Any]:
    """The shared query parameters as ``build_query`` keywords; ``event_type=a,b`` and repeats
    both work. Validation is ``build_query``'s."""
    types = [t.strip() for value in event_type or () for t in value.split(",") if t.strip()]
    return {
        "date": date,
        "since": since,
        "until": until,
        "event_type": types or None,
        "status": status,
        "user_id": user_id,
        "repo": repo,
    }


FiltersDep = Annotated[dict[str, Any], Depends(event_filters)]


@router.get("/health", response_model=Health, tags=["meta"])
async def health() -> dict[str, str]:
    """Liveness, without authentication (and without any event data)."""
    return {"status": "ok", "version": __version__}


@router.get(
    "/events",
    response_class=FastJSON,
    responses={200: {"model": EventsPage}, **ERRORS},
    dependencies=[Depends(current_client), Depends(only_params(*FILTERS, "limit", "cursor"))],
    tags=["events"],
)
def get_events(
    request: Request,
    client: ClientDep,
    filters: FiltersDep,
    *,
    limit: LimitParam = 100,
    cursor: CursorParam = None,
) -> FastJSON:
    """Matching events, newest first, one page at a time (the seed's response, plus a cursor)."""
    settings = settings_of(request)
    asked = build_query(**filters, limit=limit, cursor=cursor)
    query, note = scope(client.caller, asked)
    with request.app.state.read_slots:
        page = list_events(settings, query)
    applied = _applied(query, limit=limit, cursor=cursor)
    _record(settings, client, "GET /events", applied, asked.user)
    return FastJSON(
        {
            "events": page.events,
            "total": len(page.events),
            "date": _day(filters, query),
            "filters_applied": applied,
            "next_cursor": page.next_cursor,
            "note": note,
            "problems": [_problem(p) for p in page.problems],
        }
    )


@router.get(
    "/events/types",
    response_model=EventTypes,
    responses=ERRORS,
    dependencies=[Depends(current_client), Depends(only_params())],
    tags=["events"],
)
def get_types() -> dict[str, Any]:
    """Every event type with its description (the seed's 21, then the extensions)."""
    return {
        "event_types": [
            {"event_type": t, "description": d, "extension": t in EXTENSION_TYPES}
            for t, d in EVENT_DESCRIPTIONS.items()
        ],
        "statuses": sorted(STATUS_VALUES),
    }


@router.get(
    "/events/stats",
    response_class=FastJSON,
    responses={200: {"model": Stats}, **ERRORS},
    dependencies=[Depends(current_client), Depends(only_params(*FILTERS, "bucket"))],
    tags=["events"],
)
def get_stats(
    request: Request,
    client: ClientDep,
    filters: FiltersDep,
    *,
    bucket: BucketParam = "day",
) -> FastJSON:
    """The seed's figures (total, by type, by status, unique users, average duration) and more;
    ``by_user`` for admins only."""
    settings = settings_of(request)
    asked = build_query(**filters)
    query, note = scope(client.caller, asked)
    with request.app.state.read_slots:
        figures = compute_stats(
            settings, query, include_users=client.caller.is_admin, bucket=bucket
        )
    applied = _applied(query, bucket=bucket)
    _record(settings, client, "GET /events/stats", applied, asked.user)
    prefix = f"{settings.storage_path}/"
    problems = [str(p).replace(prefix, "") for p in figures.pop("problems", [])]
    return FastJSON(
        {
            "date": _day(filters, query),
            **figures,
            "filters_applied": applied,
            "note": note,
            "problems": problems,
        }
    )


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, 503: {"model": ErrorBody}, **ERRORS},
    dependencies=[
        Depends(current_client),
        Depends(only_params("since", "event_type", "status", "user_id", "repo", "last")),
    ],
    tags=["events"],
)
def get_stream(
    request: Request,
    client: ClientDep,
    filters: FiltersDep,
    *,
    last: LastParam = 0,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """New events as they are written (server-sent events, ``id`` = seq), scoped like the rest."""
    settings = settings_of(request)
    slots: StreamSlots = request.app.state.streams
    if not slots.has_room():
        raise HTTPException(503, "too many open event streams; try again later")
    after = _seq(last_event_id)
    query = build_query(**filters)  # only_params refused date and until
    if filters["since"] is None:
        query = replace(query, since=None, until=None)  # every day: the newest, then live
    asked = query.user
    query, _note = scope(client.caller, query)
    applied = _applied(query, last=last, after=after)
    _record(settings, client, "GET /events/stream", applied, asked)
    key = KeyCheck(settings, client.caller)
    return StreamingResponse(
        event_stream(settings, query, last=last, after=after, slots=slots, allowed=key.still_valid),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _applied(query: ReadQuery, **extra: Any) -> dict[str, Any]:
    """The filters in force after scoping, as the response and the audit event show them."""
    applied: dict[str, Any] = {
        "since": query.since,
        "until": query.until,
        "event_type": sorted(query.types) if query.types else None,
        "status": query.status,
        "user_id": query.user,
        "repo": query.repo,
        **extra,
    }
    return {k: v for k, v in applied.items() if v is not None}


def _day(filters: dict[str, Any], query: ReadQuery) -> str | None:
    """The day read (``date``, or today by default); None for a since/until range."""
    if filters["since"] is not None or filters["until"] is not None or query.since is None:
        return None
    return query.since[:10]


def _record(
    settings: Settings,
    client: Client,
    command: str,
    filters: dict[str, Any],
    requested_user: str | None,
) -> None:
    record_read(
        settings,
        client.caller,
        command=command,
        filters=filters,
        channel="http",
        source_ip=client.source_ip,
        request_id=client.request_id,
        requested_user=requested_user,
    )


def _problem(problem: Problem) -> dict[str, Any]:
    return {"file": problem.path.name, "line": problem.line, "kind": problem.kind}


def _seq(header: str | None) -> int | None:
    if header is None:
        return None
    if not header.isdigit() or len(header) > 18:
        raise TrackerError("Last-Event-ID must be an event seq (a number)", exit_code=EXIT_USAGE)
    return int(header)
