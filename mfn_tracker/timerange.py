"""Turn what people type (dates, times, relative spans) into normalized timestamp bounds."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.store.timestamps import format_ms, now_ms, parse_timestamp

# "2h", "30m", "7d", "1w", "90s" ago (as journalctl and ausearch accept relative times).
_RELATIVE = re.compile(r"^(\d{1,6})\s*([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_NAMED_DAYS = {"today": 0, "yesterday": 1}


def parse_day(text: str) -> date:
    """A calendar day in YYYY-MM-DD form (or today, yesterday); anything else is refused."""
    named = _named_day(text)
    if named is not None:
        return named
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise TrackerError(
            f"invalid date {text!r}: expected an existing day as YYYY-MM-DD", exit_code=EXIT_USAGE
        ) from None


def day_bounds(day: date) -> tuple[str, str]:
    """[since, until) covering one UTC day, as normalized timestamps."""
    if day == date.max:  # its end is not a representable date
        raise TrackerError(f"date {day} is out of range", exit_code=EXIT_USAGE)
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return _fmt(start), _fmt(start + timedelta(days=1))


def parse_instant(text: str) -> str:
    """An ISO 8601 date or timestamp, ``now``, ``today``, ``yesterday`` (their midnight, UTC) or
    a span ago (``2h``, ``7d``), as a normalized timestamp (UTC when no zone is given)."""
    relative = _relative(text.strip().lower())
    if relative is not None:
        return relative
    try:
        return format_ms(parse_timestamp(text))
    except ValueError as exc:
        raise TrackerError(f"invalid time {text!r}: {exc}", exit_code=EXIT_USAGE) from None


def _fmt(moment: datetime) -> str:
    return format_ms(parse_timestamp(moment))


def parse_span(text: str) -> int:
    """A duration such as ``15m``, ``2h``, ``7d`` or ``1w``, in milliseconds (at least 1 s)."""
    span = _span_ms(text.strip().lower())
    if span is None or span <= 0:
        raise TrackerError(
            f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 7d, 1w", exit_code=EXIT_USAGE
        )
    return span


def _span_ms(text: str) -> int | None:
    match = _RELATIVE.match(text)
    return None if match is None else int(match.group(1)) * _UNIT_MS[match.group(2)]


def _named_day(text: str) -> date | None:
    back = _NAMED_DAYS.get(text.strip().lower())
    if back is None:
        return None
    return datetime.fromtimestamp(now_ms() / 1000, tz=timezone.utc).date() - timedelta(days=back)


def _relative(text: str) -> str | None:
    if text == "now":
        return format_ms(now_ms())
    day = _named_day(text)
    if day is not None:
        return day_bounds(day)[0]
    span = _span_ms(text)
    if span is None:
        return None
    ms = now_ms() - span
    if ms < 0:
        raise TrackerError(f"invalid time {text!r}: before 1970", exit_code=EXIT_USAGE)
    return format_ms(ms)
