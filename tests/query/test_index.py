"""The side index answers exactly as the day files do, and never goes stale."""

from __future__ import annotations

import gzip
import os
import random
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from mfn_tracker.logger import build_query
from mfn_tracker.query import compute_stats, list_events
from mfn_tracker.query.index import _FileState, _resume_point
from mfn_tracker.query.index_file import INDEX_FILE, open_index
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import DayFile
from mfn_tracker.store.reader import Query, ReadReport, iter_events
from tests.query.conftest import Write

USERS = ("alice", "bob", "carol")
TYPES = ("commit", "push", "fetch", "api_request")
DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")


def _fill(write: Write, count: int = 240, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(count):
        day = DAYS[i * len(DAYS) // count]
        write(
            f"{day}T{i % 24:02d}:{(i * 7) % 60:02d}:00.{i % 1000:03d}Z",
            rng.choice(USERS),
            rng.choice(TYPES),
            status=rng.choice(("success", "failure")),
            repo=rng.choice(("/r/one", "/r/two", None)),
            duration_ms=rng.choice((None, 1.5, 20)),
        )


def _streamed(settings: Settings, query: Query) -> list[int]:
    """The reader's answer (no index), as sequence numbers."""
    return [e["seq"] for e in iter_events(settings.storage_path, query, ReadReport())]


def _indexed(settings: Settings, query: Query) -> list[int]:
    return [e["seq"] for e in list_events(settings, query).events]


QUERIES = [
    build_query(since="2026-03-01", until="2026-03-04"),
    build_query(date="2026-03-02"),
    build_query(since="2026-03-01T05:00:00Z", until="2026-03-02T10:30:00Z"),
    build_query(since="2026-03-01", until="2026-03-04", user_id="bob"),
    build_query(since="2026-03-01", until="2026-03-04", event_type=["push", "fetch"]),
    build_query(since="2026-03-01", until="2026-03-04", status="failure", repo="/r/one"),
    build_query(since="2026-03-01", until="2026-03-04", user_id="nobody"),
    build_query(since="2026-03-01", until="2026-03-04", limit=7, offset=3),
    build_query(since="2026-03-01", until="2026-03-04", newest_first=False, limit=10),
    build_query(since="2026-03-01", until="2026-03-04", cursor=100, limit=5),
    build_query(since="2026-03-01", until="2026-03-04", cursor=100, newest_first=False),
]


@pytest.mark.parametrize("query", QUERIES)
def test_index_answers_as_the_files_do(settings: Settings, write: Write, query: Query) -> None:
    _fill(write)
    assert _indexed(settings, query) == _streamed(settings, query)
    assert (settings.storage_path / INDEX_FILE).exists()


@pytest.mark.parametrize("bucket", ["hour", "day"])
@pytest.mark.parametrize("query", QUERIES[:7])
def test_stats_match_a_count_of_the_files(
    settings: Settings, write: Write, query: Query, bucket: str
) -> None:
    _fill(write)
    events = list(iter_events(settings.storage_path, query, ReadReport()))
    stats = compute_stats(settings, query, include_users=True, bucket=bucket)
    width = 13 if bucket == "hour" else 10
    assert stats["total"] == len(events)
    assert stats["unique_users"] == len({e["user_id"] for e in events})
    assert sum(stats["by_type"].values()) == len(events)
    assert stats["by_user"] == _count(e["user_id"] for e in events)
    assert stats["by_status"] == _count(e["status"] for e in events)
    assert stats["by_repo"] == _count(e["repo"] for e in events if e.get("repo"))
    assert stats[f"by_{bucket}"] == _count(e["timestamp"][:width] for e in events)
    durations = [e["duration_ms"] for e in events if e.get("duration_ms") is not None]
    expected = round(sum(durations) / len(durations), 3) if durations else None
    assert stats["average_duration_ms"] == expected


def _count(values: object) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:  # type: ignore[attr-defined]
        counts[value] = counts.get(value, 0) + 1
    return counts


WHOLE = build_query(since="2026-03-01", until="2026-03-05")


def test_appends_after_indexing_are_seen(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    assert len(_indexed(settings, WHOLE)) == 30
    write("2026-03-03T23:59:59.999Z", "dave")
    write("2026-03-04T00:00:00.000Z", "dave")  # a new day file
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)
    assert compute_stats(settings, WHOLE, include_users=True, bucket="day")["by_user"]["dave"] == 2


def _edit_middle_line(path: Path, old: bytes, new: bytes) -> None:
    """Change one line far from both ends of the file (past the cheap fingerprints)."""
    lines = path.read_bytes().split(b"\n")
    assert len(lines) > 60
    middle = next(i for i in range(len(lines) // 2, len(lines)) if old in lines[i])
    lines[middle] = lines[middle].replace(old, new)
    path.write_bytes(b"\n".join(lines))


def test_a_line_edited_in_place_is_never_shown_stale(settings: Settings, write: Write) -> None:
    _fill(write, 240)
    alice = replace(WHOLE, user="alice")
    assert _indexed(settings, alice)
    _edit_middle_line(
        settings.storage_path / "events_2026-03-02.jsonl",
        b'"user_id":"alice"',
        b'"user_id":"bobby"',
    )
    bobby = replace(WHOLE, user="bobby")
    assert _indexed(settings, bobby) == _streamed(settings, bobby)
    assert len(_indexed(settings, bobby)) == 1
    assert _indexed(settings, alice) == _streamed(settings, alice)
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert stats["by_user"]["bobby"] == 1


def test_edit_then_append_is_caught_when_read_back(settings: Settings, write: Write) -> None:
    """A same-length edit followed by an append passes the cheap checks; reading each line back
    against the query still refuses to show what the file no longer says."""
    _fill(write, 240)
    alice = replace(WHOLE, user="alice")
    assert _indexed(settings, alice)
    _edit_middle_line(
        settings.storage_path / "events_2026-03-03.jsonl",
        b'"user_id":"alice"',
        b'"user_id":"zelda"',
    )
    write("2026-03-03T23:59:00.000Z", "carol")
    assert _indexed(settings, alice) == _streamed(settings, alice)


def test_a_deleted_day_disappears(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    assert _indexed(settings, WHOLE)
    (settings.storage_path / "events_2026-03-01.jsonl").unlink()
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert "2026-03-01" not in stats["by_day"]
    assert stats["total"] == len(_streamed(settings, WHOLE))


def test_a_compressed_day_is_read_from_the_gz(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    expected = _streamed(settings, WHOLE)
    assert _indexed(settings, WHOLE) == expected
    plain = settings.storage_path / "events_2026-03-02.jsonl"
    packed = plain.with_name(plain.name + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    assert _indexed(settings, WHOLE) == expected
    assert compute_stats(settings, WHOLE, include_users=True, bucket="day")["total"] == 30


def test_a_replaced_shorter_file_is_indexed_again(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    assert _indexed(settings, WHOLE)
    path = settings.storage_path / "events_2026-03-02.jsonl"
    first = path.read_bytes().split(b"\n")[0]
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(first + b"\n")
    os.replace(tmp, path)
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)


def test_malformed_and_torn_lines_are_reported_not_hidden(settings: Settings, write: Write) -> None:
    _fill(write, 12)
    path = settings.storage_path / "events_2026-03-02.jsonl"
    with path.open("ab") as stream:
        stream.write(b"this is not json\n")
    write("2026-03-02T23:00:00.000Z", "dave")
    with path.open("ab") as stream:
        stream.write(b'{"system_event":true,"seq"')  # a writer died mid-line
    page = list_events(settings, WHOLE)
    kinds = sorted(p.kind for p in page.problems)
    assert kinds == ["malformed", "torn-tail"]
    assert any(e["user_id"] == "dave" for e in page.events)
    assert [e["seq"] for e in page.events] == _streamed(settings, WHOLE)


def test_index_file_is_private_and_beside_the_day_files(settings: Settings, write: Write) -> None:
    _fill(write, 5)
    list_events(settings, WHOLE)
    for path in settings.storage_path.glob(INDEX_FILE + "*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_damaged_index_is_rebuilt(settings: Settings, write: Write) -> None:
    _fill(write, 20)
    list_events(settings, WHOLE)
    index = settings.storage_path / INDEX_FILE
    for suffix in ("-wal", "-shm"):
        Path(f"{index}{suffix}").unlink(missing_ok=True)
    index.write_bytes(b"garbage" * 1000)
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)


def test_a_planted_index_link_is_not_followed(
    settings: Settings, write: Write, tmp_path: Path
) -> None:
    _fill(write, 5)
    target = tmp_path / "elsewhere.sqlite3"
    target.write_bytes(b"")
    (settings.storage_path / INDEX_FILE).symlink_to(target)
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)  # read from the files
    assert target.read_bytes() == b""


def test_large_catch_up_in_worker_processes_matches(
    settings: Settings, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parallel path (used for big logs on an idle machine) stores the same rows."""
    from mfn_tracker.query import index as index_module

    _fill(write, 120)
    monkeypatch.setattr(index_module, "_PARALLEL_BYTES", 1)
    monkeypatch.setattr(index_module, "_PART_BYTES", 2048)
    monkeypatch.setattr(index_module, "_may_fork", lambda: True)
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="hour")
    assert stats["total"] == 120


def test_open_index_catches_up_only_what_changed(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    open_index(settings.storage_path, file_mode=0o600).close()
    index = open_index(settings.storage_path, file_mode=0o600)
    try:
        rows = index.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        files = index.conn.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        index.close()
    assert (rows, files) == (30, 3)


def test_stats_never_count_a_line_edited_in_place_before_an_append(
    settings: Settings, write: Write
) -> None:
    """Stats never read lines back: a same-length edit followed by an append must still make the
    index look again (the whole indexed range is hashed before resuming)."""
    _fill(write, 240)
    alice = replace(WHOLE, user="alice")
    before = compute_stats(settings, alice, include_users=True, bucket="day")["total"]
    _edit_middle_line(
        settings.storage_path / "events_2026-03-03.jsonl",
        b'"user_id":"alice"',
        b'"user_id":"zelda"',
    )
    write("2026-03-03T23:59:00.000Z", "carol")
    stats = compute_stats(settings, alice, include_users=True, bucket="day")
    assert stats["total"] == len(_streamed(settings, alice)) == before - 1
    whole = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert whole["total"] == 241
    assert whole["by_user"]["zelda"] == 1


def test_a_day_compressed_under_a_reader_is_read_once_and_counted_once(
    settings: Settings, write: Write
) -> None:
    """Retention writes the .gz and removes the plain file between a reader's catch-up and its
    read-back: the retry must drop the old rows, not leave them pointing at a vanished file."""
    from mfn_tracker.query.fetch import indexed_events

    for i in range(5):
        write(f"2026-03-01T10:00:0{i}.000Z", "alice")
    plain = settings.storage_path / "events_2026-03-01.jsonl"
    index = open_index(settings.storage_path, file_mode=settings.file_mode)  # caught up
    with gzip.open(f"{plain}.gz", "wb") as packed:
        packed.write(plain.read_bytes())
    os.chmod(f"{plain}.gz", 0o600)
    plain.unlink()
    assert len(list(indexed_events(index, WHOLE, ReadReport()))) == 5
    for _ in range(2):
        assert len(_indexed(settings, WHOLE)) == 5
    assert compute_stats(settings, WHOLE, include_users=True, bucket="day")["total"] == 5
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    try:
        assert index.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 5
    finally:
        index.close()


def test_a_retried_read_does_not_double_the_stats(settings: Settings, write: Write) -> None:
    """An in-place edit found by a list (the retry path) re-indexes the file from scratch."""
    _fill(write, 240)
    _edit_middle_line(
        settings.storage_path / "events_2026-03-02.jsonl",
        b'"user_id":"alice"',
        b'"user_id":"bobby"',
    )
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    index.forget_file("events_2026-03-02.jsonl")  # what a read-back that found it stale does
    index.catch_up()
    index.close()
    assert len(_indexed(settings, WHOLE)) == 240
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert stats["total"] == 240
    assert sum(stats["by_user"].values()) == 240


def test_rows_no_file_owns_are_purged(settings: Settings, write: Write) -> None:
    _fill(write, 30)
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    try:  # rows an older version could leave behind: no files row owns them
        index.conn.execute("DELETE FROM files WHERE name = 'events_2026-03-01.jsonl'")
        index.conn.execute(
            "INSERT INTO agg VALUES('events_1999-01-01.jsonl','1999',  '*','',7,0,0)"
        )
        index.catch_up()
        events = index.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        names = {n for (n,) in index.conn.execute("SELECT DISTINCT name FROM agg")}
    finally:
        index.close()
    assert events == 30  # the day was indexed again, once
    assert "events_1999-01-01.jsonl" not in names
    assert compute_stats(settings, WHOLE, include_users=True, bucket="day")["total"] == 30


@pytest.mark.parametrize(
    ("since", "until"),
    [("2026-03-01", "9999-12-31"), ("8000-01-01", None), ("6711-01-01", "9999-01-01")],
)
def test_far_future_dates_are_an_empty_range_not_an_overflow(
    settings: Settings, write: Write, since: str, until: str | None
) -> None:
    _fill(write, 30)
    query = build_query(since=since, until=until)
    expected = _streamed(settings, query)
    assert [e["seq"] for e in list_events(settings, query).events] == expected
    assert compute_stats(settings, query, include_users=True, bucket="day")["total"] == len(
        expected
    )


def test_a_file_rewritten_mid_read_continues_after_the_last_event_shown(
    settings: Settings, write: Write
) -> None:
    """The retry finds the last event shown again by its seq: rows moved when the file was
    rewritten (here its first line, already shown, removed), so the old row key would skip one."""
    from mfn_tracker.query.fetch import indexed_events

    seqs = [write(f"2026-03-01T10:00:0{i}.000Z", "alice")["seq"] for i in range(6)]
    day = settings.storage_path / "events_2026-03-01.jsonl"
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    reading = indexed_events(index, replace(WHOLE, newest_first=False), ReadReport())
    shown = [next(reading)["seq"], next(reading)["seq"]]
    day.write_bytes(b"".join(day.read_bytes().splitlines(keepends=True)[1:]))
    shown += [event["seq"] for event in reading]
    assert shown == seqs


def _files_row(settings: Settings, name: str) -> _FileState:
    """What the index records about a day file, right after a catch-up."""
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    try:
        row = index.conn.execute("SELECT * FROM files WHERE name = ?", (name,)).fetchone()
    finally:
        index.close()
    return _FileState.from_row(row)


def _resume_offset(path: Path, old: _FileState) -> int:
    """Where the next catch-up of this day file would start parsing (0: from scratch)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _resume_point(fd, DayFile(old.day, path, False), old, os.fstat(fd))[0]
    finally:
        os.close(fd)


def _fill_large(settings: Settings, write: Write) -> Path:
    """A day file of about 3 MB (many fingerprint blocks): 700 lines of about 4 KiB."""
    for i in range(700):
        write(f"2026-03-01T10:{i // 60:02d}:{i % 60:02d}.000Z", "alice", comments="x" * 4000)
    return settings.storage_path / "events_2026-03-01.jsonl"


def test_an_edit_deep_in_a_large_file_before_an_append_is_counted(
    settings: Settings, write: Write
) -> None:
    """Every byte of the indexed range is fingerprinted again, not just the tail: an edit in the
    second megabyte, kept the same length, and then an append, must not leave stale counts."""
    day = _fill_large(settings, write)
    assert day.stat().st_size > 2 << 20
    alice = replace(WHOLE, user="alice")
    assert compute_stats(settings, alice, include_users=True, bucket="day")["total"] == 700
    old = _files_row(settings, day.name)
    data = bytearray(day.read_bytes())
    at = data.index(b'"user_id":"alice"', (1 << 20) + 1000)
    data[at : at + 17] = b'"user_id":"zelda"'
    with day.open("r+b") as handle:  # in place: same inode, same length
        handle.write(data)
    write("2026-03-01T23:00:00.000Z", "carol")
    assert _resume_offset(day, old) == 0
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert stats["by_user"] == {"alice": 699, "zelda": 1, "carol": 1}
    assert _indexed(settings, alice) == _streamed(settings, alice)


def test_an_append_resumes_where_the_index_stopped(settings: Settings, write: Write) -> None:
    """A pure append is parsed from the old end on; a fingerprint another version stored (the
    SHA-256 ones before) matches nothing, so that file is indexed again from scratch."""
    day = _fill_large(settings, write)
    old = _files_row(settings, day.name)
    assert old.indexed == day.stat().st_size
    write("2026-03-01T23:00:00.000Z", "carol")
    assert _resume_offset(day, old) == old.indexed
    assert len(_indexed(settings, WHOLE)) == 701
    old = _files_row(settings, day.name)._replace(digest="ab" * 32)
    write("2026-03-01T23:00:01.000Z", "carol")
    assert _resume_offset(day, old) == 0
    index = open_index(settings.storage_path, file_mode=settings.file_mode)
    try:  # what another version left: the next read indexes the file again, correctly
        index.conn.execute("UPDATE files SET digest = ? WHERE name = ?", ("ab" * 32, day.name))
        index.conn.execute("UPDATE files SET size = 0 WHERE name = ?", (day.name,))
    finally:
        index.close()
    assert _indexed(settings, WHOLE) == _streamed(settings, WHOLE)
    stats = compute_stats(settings, WHOLE, include_users=True, bucket="day")
    assert stats["total"] == 702
