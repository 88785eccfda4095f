"""Decode one stored line into an event, or say why it is not one (shared by index and tail)."""

from __future__ import annotations

from typing import Any

import orjson

from mfn_tracker.store.reader import REQUIRED_KEYS


def decode_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(event, None) for a well-formed event line; (None, reason) otherwise."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(event, dict) or not all(k in event for k in REQUIRED_KEYS):
        return None, "not an event object"
    if not isinstance(event["timestamp"], str):
        return None, "timestamp not a string"
    return event, None
