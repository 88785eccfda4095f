"""Turn what people type (dates, times, relative spans) into normalized timestamp bounds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.store.timestamps import format_ms, parse_timestamp


def parse_day(text: str) -> date:
    """A calendar day in YYYY-MM-DD form; anything else (``../../etc``, 2026-02-30) is refused."""
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
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return _fmt(start), _fmt(start + timedelta(days=1))


def parse_instant(text: str) -> str:
    """An ISO 8601 date or timestamp as a normalized timestamp (UTC when no zone is given)."""
    try:
        return format_ms(parse_timestamp(text))
    except ValueError as exc:
        raise TrackerError(f"invalid time {text!r}: {exc}", exit_code=EXIT_USAGE) from None


def _fmt(moment: datetime) -> str:
    return format_ms(parse_timestamp(moment))
