"""Relative times for --since/--until and --date (the additions to ``timerange``)."""

from __future__ import annotations

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.store.timestamps import format_ms, now_ms, parse_timestamp
from mfn_tracker.timerange import parse_day, parse_instant, parse_span


def test_spans_ago() -> None:
    before = now_ms()
    two_hours = parse_timestamp(parse_instant("2h"))
    assert before - 7_200_000 - 5_000 <= two_hours <= now_ms() - 7_200_000
    assert parse_timestamp(parse_instant("7d")) <= now_ms() - 7 * 86_400_000


def test_named_days_are_their_midnight() -> None:
    today = format_ms(now_ms())[:10]
    assert parse_instant("today") == f"{today}T00:00:00.000Z"
    assert parse_instant("yesterday") < parse_instant("today")
    assert parse_day("today").isoformat() == today


@pytest.mark.parametrize("text", ["2x", "-2h", "99999999d", "h", "2026-02-30", "../../etc"])
def test_nonsense_is_refused(text: str) -> None:
    with pytest.raises(TrackerError):
        parse_instant(text)


def test_span_durations() -> None:
    assert parse_span("15m") == 900_000
    with pytest.raises(TrackerError):
        parse_span("0s")
