"""The reader: order, ranges, filters, paging, compressed days, and malformed lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events
from mfn_tracker.store.writer import EventWriter
from tests.helpers.events import day_files


@pytest.fixture
def three_days(settings: Settings) -> EventWriter:
    writer = EventWriter(settings)
    for day in ("2026-11-25", "2026-11-26", "2026-11-27"):
        for hour in range(4):
            writer.write(
                {
                    "event_type": ["commit", "push"][hour % 2],
                    "user_id": ["alice", "bob"][hour // 2],
                    "action_description": f"{day} {hour}",
                    "status": "success" if hour else "failure",
                    "timestamp": f"{day}T{hour:02d}:00:00Z",
                    "repo": "/r/one" if hour < 3 else "/r/two",
                }
            )
    return writer


def seqs(storage: Path, **query: object) -> list[int]:
    return [e["seq"] for e in iter_events(storage, Query(**query))]  # type: ignore[arg-type]


def test_newest_first_and_oldest_first(storage: Path, three_days: EventWriter) -> None:
    assert seqs(storage) == list(range(12, 0, -1))
    assert seqs(storage, newest_first=False) == list(range(1, 13))


def test_ranges_pick_days_and_times(storage: Path, three_days: EventWriter) -> None:
    day = {"since": "2026-11-26T00:00:00.000Z", "until": "2026-11-27T00:00:00.000Z"}
    assert seqs(storage, **day) == [8, 7, 6, 5]
    assert seqs(storage, since="2026-11-27T02:00:00.000Z") == [12, 11]


def test_filters_combine(storage: Path, three_days: EventWriter) -> None:
    assert seqs(storage, types=frozenset({"push"}), user="bob") == [12, 8, 4]
    assert seqs(storage, status="failure") == [9, 5, 1]
    assert seqs(storage, repo="/r/two") == [12, 8, 4]
    assert seqs(storage, types=frozenset({"commit", "push"}), user="alice", limit=2) == [10, 9]


def test_paging_by_offset_and_cursor(storage: Path, three_days: EventWriter) -> None:
    assert seqs(storage, limit=5) == [12, 11, 10, 9, 8]
    assert seqs(storage, limit=5, offset=5) == [7, 6, 5, 4, 3]
    assert seqs(storage, limit=5, cursor=8) == [7, 6, 5, 4, 3]
    assert seqs(storage, limit=3, cursor=3, newest_first=False) == [4, 5, 6]


def test_compressed_days_read_like_plain_ones(storage: Path, three_days: EventWriter) -> None:
    oldest = day_files(storage)[0]
    with gzip.open(oldest.with_name(oldest.name + ".gz"), "wb") as out:
        out.write(oldest.read_bytes())
    oldest.unlink()
    assert seqs(storage) == list(range(12, 0, -1))
    assert seqs(storage, newest_first=False, limit=2) == [1, 2]


def test_a_malformed_line_is_reported_and_hides_nothing(
    storage: Path, three_days: EventWriter
) -> None:
    day = day_files(storage)[1]
    lines = day.read_bytes().split(b"\n")
    lines.insert(2, b'{"not": "an event"}')
    lines.insert(2, b"\xff\xfe garbage")
    day.write_bytes(b"\n".join(lines))
    for newest_first in (True, False):
        report = ReadReport()
        found = [e["seq"] for e in iter_events(storage, Query(newest_first=newest_first), report)]
        assert sorted(found) == list(range(1, 13))
        assert sorted((p.path.name, p.line, p.kind) for p in report.problems) == [
            (day.name, 3, "malformed"),
            (day.name, 4, "malformed"),
        ]


def test_a_torn_tail_is_reported_not_hidden(storage: Path, three_days: EventWriter) -> None:
    day = day_files(storage)[-1]
    with day.open("ab") as out:
        out.write(b'{"system_event":true,"seq":')
    for newest_first in (True, False):
        report = ReadReport()
        assert len(list(iter_events(storage, Query(newest_first=newest_first), report))) == 12
        assert [(p.line, p.kind) for p in report.problems] == [(5, "torn-tail")]


def test_reading_streams_large_days_in_both_directions(settings: Settings, storage: Path) -> None:
    writer = EventWriter(settings)
    for i in range(3000):
        writer.write(
            {"event_type": "fetch", "user_id": "u", "action_description": "x" * (1 + i % 300)}
        )
    assert seqs(storage, limit=3) == [3000, 2999, 2998]
    assert len(seqs(storage)) == 3000
    assert seqs(storage, newest_first=False)[-1] == 3000


def test_a_damaged_compressed_day_is_reported_and_the_rest_still_read(
    storage: Path, three_days: EventWriter
) -> None:
    oldest = day_files(storage)[0]
    packed = gzip.compress(oldest.read_bytes())
    oldest.with_name(oldest.name + ".gz").write_bytes(packed[: len(packed) // 2])
    oldest.unlink()
    for newest_first in (True, False):
        report = ReadReport()
        found = sorted(
            e["seq"] for e in iter_events(storage, Query(newest_first=newest_first), report)
        )
        assert found[-8:] == list(range(5, 13))  # the two intact days, whole
        assert [p.kind for p in report.problems] == ["unreadable"]


def test_the_cursor_follows_file_order_across_a_late_event(
    settings: Settings, storage: Path
) -> None:
    writer = EventWriter(settings)
    for hour in range(3):
        writer.write(
            {"event_type": "commit", "user_id": "u", "action_description": f"d2 {hour}",
             "timestamp": f"2026-11-26T0{hour}:00:00Z"}
        )  # fmt: skip
    writer.write(
        {"event_type": "commit", "user_id": "u", "action_description": "late into day 1",
         "timestamp": "2026-11-25T12:00:00Z"}
    )  # fmt: skip
    everything = [e["action_description"] for e in iter_events(storage, Query())]
    assert everything == ["d2 2", "d2 1", "d2 0", "late into day 1"]
    page1 = list(iter_events(storage, Query(limit=2)))
    page2 = list(iter_events(storage, Query(limit=2, cursor=page1[-1]["seq"])))
    assert [e["action_description"] for e in page1 + page2] == everything
