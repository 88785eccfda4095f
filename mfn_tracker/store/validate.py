"""Field rules for an event, shared by the writer and the pydantic model (one set of rules)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mfn_tracker.types import EVENT_TYPE_VALUES, STATUS_VALUES

OPTIONAL_FIELDS = (
    "files_changed",
    "comments",
    "metadata",
    "request_id",
    "source_ip",
    "duration_ms",
    "repo",
)
INPUT_FIELDS = frozenset(
    ("event_type", "user_id", "action_description", "timestamp", "status", *OPTIONAL_FIELDS)
)
MAX_USER_ID = 256


class EventValueError(ValueError):
    """A field value that no event may carry; the message names the field."""


def _text(value: object) -> str:
    """Enum members and plain strings alike (EventType.COMMIT -> 'commit')."""
    return str(value.value) if hasattr(value, "value") else value  # type: ignore[return-value]


def check_event_type(value: object) -> str:
    text = _text(value)
    if not isinstance(text, str) or text not in EVENT_TYPE_VALUES:
        raise EventValueError(f"event_type {value!r} is unknown (see `mfn-tracker events types`)")
    return text


def check_status(value: object) -> str:
    text = _text(value)
    if not isinstance(text, str) or text not in STATUS_VALUES:
        raise EventValueError(f"status {value!r} is not one of: {', '.join(sorted(STATUS_VALUES))}")
    return text


def check_required_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventValueError(f"{name} must be a non-empty string")
    if name == "user_id" and len(value) > MAX_USER_ID:
        raise EventValueError(f"user_id is longer than {MAX_USER_ID} characters")
    return value


def check_files_changed(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise EventValueError(f"files_changed must be a list of paths, got {type(value).__name__}")
    paths = [_path_text(p) for p in value]
    return paths or None


def _path_text(path: object) -> str:
    import os

    if isinstance(path, (bytes, os.PathLike)):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        raise EventValueError(f"files_changed holds a {type(path).__name__}, not a path")
    return path


def check_duration(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventValueError("duration_ms must be a number")
    if not math.isfinite(value) or value < 0:
        raise EventValueError(f"duration_ms must be a finite number >= 0, got {value!r}")
    return float(value)


def check_optional_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise EventValueError(f"{name} must be a string")
    return value


MAX_METADATA_DEPTH = 32
_SCALARS = frozenset((str, int, bool, type(None)))


def check_metadata(value: object) -> dict[str, Any] | None:
    """Metadata must be a JSON object: string keys, JSON values, finite numbers.

    Returns it as plain dicts and lists (what the encoder writes), or None when empty.
    """
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EventValueError("metadata must be a mapping")
    plain = _plain_json(value, "metadata", 0)
    return plain or None


def _plain_json(value: Any, where: str, depth: int) -> Any:
    if type(value) in _SCALARS:  # the common case, without isinstance checks against ABCs
        return value
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventValueError(f"{where} holds a non-finite number")
        return value
    if depth >= MAX_METADATA_DEPTH:
        raise EventValueError(f"{where} is nested deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventValueError(f"{where} has a non-string key {key!r}")
            plain[key] = _plain_json(item, f"{where}.{key}", depth + 1)
        return plain
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise EventValueError(f"{where} holds a {type(value).__name__}, which is not JSON")


def check_unknown_fields(fields: Mapping[str, object]) -> None:
    unknown = fields.keys() - INPUT_FIELDS
    if unknown:
        raise EventValueError(f"unknown event field(s): {', '.join(sorted(unknown))}")
