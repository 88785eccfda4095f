"""Where matching events come from: the SQLite side index when it can be used, else the files.

The day files are the truth. The index is caught up before every read, and every event it points
to is read back from its day file and checked against the query; when the file disagrees the
index catches up again and the read continues where it was. When the index cannot be used at all
(read-only storage, damage) the streaming reader answers, only slower.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from mfn_tracker.errors import TrackerError
from mfn_tracker.query.index import (
    Index,
    IndexUnavailable,
    StaleIndex,
    day_ord_bounds,
    open_index,
    split_ord,
)
from mfn_tracker.query.lines import decode_line
from mfn_tracker.query.tally import Tally
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events
from mfn_tracker.store.timestamps import format_ms, parse_timestamp

_ATTEMPTS = 3
_HOUR_MS = 3_600_000


def read_events(settings: Settings, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Events matching ``query`` (already in on-disk form), in the query's order."""
    index = _index(settings)
    if index is None:
        return iter_events(settings.storage_path, query, report)
    return _indexed_events(index, query, report)


def tally_events(settings: Settings, query: Query, report: ReadReport, *, width: int) -> Tally:
    """Counts over every event matching ``query``."""
    index = _index(settings)
    if index is None:
        tally = Tally()
        for event in iter_events(settings.storage_path, query, report):
            tally.add(event, width)
        return tally
    try:
        for problem in index.problems(query.since, query.until):
            report.add(problem)
        return _indexed_tally(index, query, width)
    finally:
        index.close()


def _index(settings: Settings) -> Index | None:
    try:
        return open_index(settings.storage_path, file_mode=settings.file_mode)
    except IndexUnavailable:
        return None


# -- listing --------------------------------------------------------------------------------------


@dataclass
class _Where:
    """A query as SQL conditions over the index."""

    sql: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, condition: str, *params: Any) -> None:
        self.sql.append(condition)
        self.params.extend(params)

    def text(self) -> str:
        return " AND ".join(self.sql) or "1"


def _where(query: Query) -> _Where:
    where = _Where()
    where.add("ord BETWEEN ? AND ?", *day_ord_bounds(query.since, query.until))
    if query.since is not None:
        where.add("ts >= ?", query.since)
    if query.until is not None:
        where.add("ts < ?", query.until)
    if query.types is not None:
        where.add(f"type IN ({','.join('?' * len(query.types))})", *sorted(query.types))
    for column, value in (("status", query.status), ("user", query.user), ("repo", query.repo)):
        if value is not None:
            where.add(f"{column} = ?", value)
    return where


def _after_cursor(index: Index, query: Query, where: _Where) -> None:
    """Continue after the event whose seq is the cursor, by its place in the files: seq order
    is not file order when an event was written late into an earlier day's file."""
    if query.cursor is None:
        return
    low, high = day_ord_bounds(query.since, query.until)
    found = index.conn.execute(
        "SELECT ord FROM events WHERE seq = ? AND ord BETWEEN ? AND ? LIMIT 1",
        (query.cursor, low, high),
    ).fetchone()
    if found is None:  # that event is gone (retention): fall back to the sequence number
        where.add("seq < ?" if query.newest_first else "seq > ?", query.cursor)
    else:
        where.add("ord < ?" if query.newest_first else "ord > ?", found[0])


def _indexed_events(index: Index, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Rows from the index, each read back from its day file and checked against the query."""
    try:
        for problem in index.problems(query.since, query.until):
            report.add(problem)
        remaining = query.limit
        offset = query.offset
        after: int | None = None  # the last ord yielded: a retry continues after it
        for _ in range(_ATTEMPTS):
            try:
                for ord_value, event in _fetch(index, query, remaining, offset, after):
                    yield event
                    after, offset = ord_value, 0
                    remaining = None if remaining is None else remaining - 1
                return
            except StaleIndex as stale:
                index.forget_file(str(stale))
                index.catch_up()
        raise TrackerError("the log kept changing while being read; try again")
    finally:
        index.close()


def _fetch(
    index: Index, query: Query, limit: int | None, offset: int, after: int | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    where = _where(query)
    _after_cursor(index, query, where)
    check = replace(query, cursor=None)  # the cursor is a position here (see _after_cursor)
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
            if event is None or _seq(event) != seq or not check.matches(event):
                raise StaleIndex(source.name_of(ord_value))
            yield ord_value, event


def _seq(event: dict[str, Any]) -> int:
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else 0


class _LineSource:
    """Reads lines back by (file, offset); keeps the files of one read open."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._fds: dict[tuple[int, bool], int] = {}
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
            raw = os.pread(self._fd(day), length, offset)
        return decode_line(raw)[0] if len(raw) == length else None

    def _fd(self, day: int) -> int:
        fd = self._fds.get((day, False))
        if fd is None:
            path = self.index.path_of(day, False)
            try:
                fd = self._fds[(day, False)] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
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


# -- stats ----------------------------------------------------------------------------------------


def _indexed_tally(index: Index, query: Query, width: int) -> Tally:
    """Whole hours of an unfiltered range come from the hourly counts; the rest from rows."""
    filtered = any(
        v is not None for v in (query.types, query.status, query.user, query.repo, query.cursor)
    )
    first, last = _whole_hours(query.since, query.until)
    if filtered or (first is not None and last is not None and first >= last):
        return _grouped(index, query, width)
    tally = _hourly(index, first, last, width)
    if query.since is not None and first is not None and query.since < first:
        tally.merge(_grouped(index, _between(query, query.since, first), width))
    if query.until is not None and last is not None and last < query.until:
        tally.merge(_grouped(index, _between(query, last, query.until), width))
    return tally


def _whole_hours(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """The first and the end of the whole hours inside [since, until), as timestamps."""
    first = None if since is None else _hour_floor(since, up=True)
    last = None if until is None else _hour_floor(until, up=False)
    return first, last


def _hour_floor(timestamp: str, *, up: bool) -> str:
    ms = parse_timestamp(timestamp)
    floor = ms - ms % _HOUR_MS
    return format_ms(floor + _HOUR_MS if up and floor != ms else floor)


def _between(query: Query, since: str, until: str) -> Query:
    return replace(query, since=since, until=until)


def _hourly(index: Index, first: str | None, last: str | None, width: int) -> Tally:
    """Sums of the hourly counts of whole hours in [first, last) (None: open ended)."""
    tally = Tally()
    hours = ("" if first is None else first[:13], "~" if last is None else last[:13])
    for bucket, n, dsum, dn in index.conn.execute(
        "SELECT substr(hour, 1, ?), sum(n), sum(dsum), sum(dn) FROM agg "
        "WHERE dim = '*' AND hour >= ? AND hour < ? GROUP BY 1",
        (width, *hours),
    ):
        tally.total += n
        tally.by_bucket[bucket] += n
        tally.duration_sum += dsum
        tally.duration_count += dn
    counters = {"type": tally.by_type, "status": tally.by_status, "user": tally.by_user}
    counters["repo"] = tally.by_repo
    for dim, value, n in index.conn.execute(
        "SELECT dim, value, sum(n) FROM agg WHERE dim != '*' AND hour >= ? AND hour < ? "
        "GROUP BY dim, value",
        hours,
    ):
        counters[dim][value] += n
    return tally


def _grouped(index: Index, query: Query, width: int) -> Tally:
    tally = Tally()
    where = _where(query)
    sql = (
        "SELECT type, status, user, repo, substr(ts, 1, ?), count(*), total(dur), count(dur) "  # noqa: S608 - fixed columns, values bound
        f"FROM events WHERE {where.text()} GROUP BY 1, 2, 3, 4, 5"
    )
    for kind, status, user, repo, bucket, n, dsum, dn in index.rows(sql, (width, *where.params)):
        tally.total += n
        tally.by_type[kind] += n
        tally.by_status[status] += n
        tally.by_user[user] += n
        if repo:
            tally.by_repo[repo] += n
        tally.by_bucket[bucket] += n
        tally.duration_sum += dsum
        tally.duration_count += dn
    return tally
