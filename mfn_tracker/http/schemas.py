"""Response shapes, for the OpenAPI document at ``/docs`` (responses are not re-validated)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, Field
from starlette.responses import Response

from mfn_tracker.model import SystemEvent


class FastJSON(Response):
    """JSON via orjson: a page of 1,000 events encodes in milliseconds, not tens of them."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ReadProblem(BaseModel):
    file: str
    line: int
    kind: str = Field(description="malformed | torn-tail")


class EventsPage(BaseModel):
    events: list[SystemEvent] = Field(description="newest first")
    total: int = Field(description="number of events in this response")
    date: str | None = Field(description="the day read, when the query was one day")
    filters_applied: dict[str, Any] = Field(description="filters after role scoping")
    next_cursor: int | None = Field(description="pass as `cursor` for the next page; null at end")
    note: str | None = Field(None, description="set when a filter was overridden by your role")
    problems: list[ReadProblem] = Field(description="lines skipped as unreadable")


class EventTypeInfo(BaseModel):
    event_type: str
    description: str
    extension: bool = Field(description="false for the seed's 21 types")


class EventTypes(BaseModel):
    event_types: list[EventTypeInfo]
    statuses: list[str]


class Stats(BaseModel):
    date: str | None
    since: str | None
    until: str | None
    total: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    unique_users: int
    average_duration_ms: float | None
    by_user: dict[str, int] | None = Field(None, description="admins only")
    by_repo: dict[str, int]
    by_day: dict[str, int] | None = Field(None, description="with bucket=day")
    by_hour: dict[str, int] | None = Field(None, description="with bucket=hour")
    filters_applied: dict[str, Any]
    note: str | None = None
    problems: list[str]


class Health(BaseModel):
    status: str
    version: str


class ErrorBody(BaseModel):
    detail: str
