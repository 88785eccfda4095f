"""The pydantic model of one event line, for the edges: the Python API, HTTP and the JSON Schema.

Its rules are the writer's rules (``store.validate``), so a line the writer accepts is a valid
``SystemEvent`` and the other way round.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mfn_tracker.store import scrub, validate
from mfn_tracker.store.timestamps import normalize_timestamp
from mfn_tracker.types import EventStatus, EventType


class SystemEvent(BaseModel):
    """One audit event, as stored: one JSON object per line of a day file."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_assignment=True)

    system_event: Literal[True] = True
    event_id: str | None = Field(default=None, description="UUIDv7, assigned by the writer")
    seq: int | None = Field(default=None, ge=1, description="position in the chain, from 1")
    timestamp: str = Field(description="UTC, milliseconds, Z suffix, fixed width")
    event_type: EventType
    user_id: str = Field(description="OS account, API caller or (pseudonymized) user")
    action_description: str
    status: EventStatus = EventStatus.SUCCESS
    files_changed: list[str] | None = None
    comments: str | None = None
    metadata: dict[str, Any] | None = None
    request_id: str | None = None
    source_ip: str | None = Field(default=None, description="truncated to /24 or /48 by default")
    duration_ms: float | None = Field(default=None, ge=0)
    repo: str | None = Field(default=None, description="absolute work-tree path")
    host: str | None = None
    prev: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the previous line"
    )

    @field_validator("event_type", mode="before")
    @classmethod
    def _event_type(cls, value: object) -> str:
        return validate.check_event_type(value)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> str:
        return validate.check_status(value)

    @field_validator("user_id", "action_description", mode="before")
    @classmethod
    def _required_text(cls, value: object, info: Any) -> str:
        return validate.check_required_text(info.field_name, value)

    @field_validator("files_changed", mode="before")
    @classmethod
    def _files(cls, value: object) -> list[str] | None:
        return validate.check_files_changed(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: object) -> dict[str, Any] | None:
        return validate.check_metadata(value)

    @field_validator("duration_ms", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return validate.check_duration(value)

    @field_validator("source_ip", mode="before")
    @classmethod
    def _ip(cls, value: object) -> str | None:
        text = validate.check_optional_text("source_ip", value)
        return None if text is None else scrub.redact_ip(text, "full")

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("timestamp must be an ISO 8601 string")
        return normalize_timestamp(value)

    def to_dict(self) -> dict[str, Any]:
        """The event as the JSON-ready dict a day file line holds (empty fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


_DEFAULTS: dict[str, Any] = {
    name: field.get_default(call_default_factory=True)
    for name, field in SystemEvent.model_fields.items()
}


def trusted_event(fields: dict[str, Any]) -> SystemEvent:
    """A ``SystemEvent`` from fields the writer already validated, without validating again.

    What ``model_construct`` does, minus its per-field default lookups: the Python API returns
    one of these per event, so its cost counts in every ``log_event`` call.
    """
    values = {**_DEFAULTS, **fields}
    values["event_type"] = _TYPES.get(values["event_type"], values["event_type"])
    values["status"] = _STATUSES.get(values["status"], values["status"])
    event = _new(SystemEvent)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", set(fields))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


_new, _set = SystemEvent.__new__, object.__setattr__
# Stored values back to their enum members, by dictionary lookup (calling the Enum is slower).
_TYPES: dict[object, EventType] = {t.value: t for t in EventType}
_STATUSES: dict[object, EventStatus] = {s.value: s for s in EventStatus}


def json_schema() -> dict[str, Any]:
    schema = SystemEvent.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mfn-tracker SystemEvent"
    return schema
