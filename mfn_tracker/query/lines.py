"""Decode one stored line into an event, or say why it is not one (the reader's rules)."""

from __future__ import annotations

from typing import Any

import orjson


def seq_of(event: dict[str, Any]) -> int:
    """An event's sequence number; 0 when the stored line has none usable (null, text, bool)."""
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 0


def decode_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(event, None) for a well-formed event line; (None, reason) otherwise."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON ({exc})"
    try:  # the keys REQUIRED_KEYS of the reader names, looked up directly: this runs per line
        event["event_type"], event["user_id"], event["action_description"], event["status"]
        timestamp = event["timestamp"]
    except (KeyError, TypeError):
        return None, "not an event object"
    if type(event) is not dict:
        return None, "not an event object"
    if type(timestamp) is not str:
        return None, "timestamp not a string"
    return event, None
