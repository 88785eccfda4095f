"""Events by way of the side index: rows found in SQLite, each read back from its day file and
checked against the query; a file that disagrees makes the index catch up and the read go on."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from mfn_tracker.errors import TrackerError
from mfn_tracker.query.index import Index, StaleIndex, day_ord_range, split_ord
from mfn_tracker.query.lines import decode_line, seq_of
from mfn_tracker.query.where import after_cursor, where_of
from mfn_tracker.store.reader import Query, ReadReport

_ATTEMPTS = 3


def indexed_events(index: Index, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Rows from the index, each read back from its day file and checked against the query."""
    try:
        for problem in index.problems(query.since, query.until):
            report.add(problem)
        remaining = query.limit
        offset = query.offset
        after: int | None = None  # the last ord yielded: a retry continues after it
        last_seq = 0
        for _ in range(_ATTEMPTS):
            try:
                for ord_value, seq, event in _fetch(index, query, remaining, offset, after):
                    yield event
                    after, offset, last_seq = ord_value, 0, seq
                    if remaining is not None:
                        remaining -= 1
                return
            except StaleIndex as stale:
                index.forget_file(str(stale))
                index.catch_up()
                after = _moved(index, after, last_seq)
        raise TrackerError("the log kept changing while being read; try again")
    finally:
        index.close()


def _moved(index: Index, after: int | None, seq: int) -> int | None:
    """Where the last event yielded is now: a day compressed (or rewritten) meanwhile holds it at
    another row key, and continuing from the old one would repeat or skip that day's rest."""
    if after is None or seq <= 0:
        return after
    day = split_ord(after)[0]
    found = index.conn.execute(
        "SELECT ord FROM events WHERE seq = ? AND ord BETWEEN ? AND ? LIMIT 1",
        (seq, *day_ord_range(day)),
    ).fetchone()
    return after if found is None else int(found[0])


def _fetch(
    index: Index, query: Query, limit: int | None, offset: int, after: int | None
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(row key, seq, event) of each matching row, read back and checked."""
    where = where_of(query)
    after_cursor(index, query, where)
    check = replace(query, cursor=None)  # the cursor is a position here (see after_cursor)
    if limit == 0:
        return
    if after is not None:
        where.add("ord < ?" if query.newest_first else "ord > ?", after)
    order = "DESC" if query.newest_first else "ASC"
    sql = (
        f"SELECT ord, len, seq FROM events WHERE {where.text()} "  # noqa: S608 - fixed columns
        f"ORDER BY ord {order} LIMIT ? OFFSET ?"
    )
    params = (*where.params, -1 if limit is None else limit, offset)
    with _LineSource(index) as source:
        for ord_value, length, seq in index.rows(sql, params):
            event = source.event(ord_value, length)
            if event is None or seq_of(event) != seq or not check.matches(event):
                raise StaleIndex(source.name_of(ord_value))
            yield ord_value, seq, event


class _LineSource:
    """Reads lines back by (file, offset); keeps the files of one read open."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._fds: dict[int, int] = {}  # day -> its plain file
        self._gz: dict[int, bytes] = {}

    def __enter__(self) -> _LineSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        for fd in self._fds.values():
            os.close(fd)

    def name_of(self, ord_value: int) -> str:
        day, compressed, _ = split_ord(ord_value)
        return self.index.path_of(day, compressed).name

    def event(self, ord_value: int, length: int) -> dict[str, Any] | None:
        day, compressed, offset = split_ord(ord_value)
        if compressed:
            data = self._gz.get(day)
            if data is None:
                data = self._gz[day] = self._decompress(day)
            raw = data[offset : offset + length]
        else:
            fd = self._fds.get(day)
            raw = os.pread(self._open(day) if fd is None else fd, length, offset)
        return decode_line(raw)[0] if len(raw) == length else None

    def _open(self, day: int) -> int:
        path = self.index.path_of(day, False)
        try:
            fd = self._fds[day] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise StaleIndex(path.name) from None
        return fd

    def _decompress(self, day: int) -> bytes:
        path = self.index.path_of(day, True)
        try:
            with gzip.open(path, "rb") as stream:
                return stream.read()
        except FileNotFoundError:
            raise StaleIndex(path.name) from None
        except (OSError, EOFError) as exc:
            raise TrackerError(f"cannot read {path}: {exc}") from None
