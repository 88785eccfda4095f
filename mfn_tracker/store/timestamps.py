"""Timestamps in one fixed-width form: UTC, milliseconds, ``Z`` (e.g. 2026-11-27T09:20:35.394Z)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_last_second: list[object] = [-1, ""]  # (second, its rendering): one strftime per second


def format_ms(ms: int) -> str:
    """Render epoch milliseconds; one clock reading gives both the timestamp and its day file."""
    secs, millis = divmod(ms, 1000)
    cached_secs, text = _last_second
    if cached_secs != secs:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _last_second[:] = [secs, text]
    return f"{text}.{millis:03d}Z"


def day_of(timestamp: str) -> str:
    """The day file a normalized timestamp belongs to."""
    return timestamp[:10]


def parse_timestamp(value: str | datetime) -> int:
    """Epoch milliseconds from an ISO 8601 string or a datetime; naive values are taken as UTC.

    Raises ValueError with a readable message for anything else (impossible dates included).
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"timestamp must be an ISO 8601 string, got {type(value).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    ms = (dt - _EPOCH) // timedelta(milliseconds=1)  # exact integer arithmetic, no float rounding
    if not 0 <= ms < 253402300800000:  # years 1970..9999 keep the width fixed
        raise ValueError(f"timestamp out of range: {value!r}")
    return ms


def normalize_timestamp(value: str | datetime) -> str:
    return format_ms(parse_timestamp(value))
