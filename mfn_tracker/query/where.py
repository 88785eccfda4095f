"""A query as SQL conditions over the side index (the reader's ``Query.matches``, in SQL)."""

from __future__ import annotations

from typing import Any

from mfn_tracker.query.index import Index, day_ord_bounds
from mfn_tracker.store.reader import Query


class Where:
    """A query as SQL conditions over the index (a plain class: a dataclass costs ~1 ms to
    define, at every CLI read's start)."""

    __slots__ = ("params", "sql")

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.sql.append(condition)
        self.params.extend(params)

    def text(self) -> str:
        return " AND ".join(self.sql) or "1"


def where_of(query: Query) -> Where:
    where = Where()
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


def after_cursor(index: Index, query: Query, where: Where) -> None:
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
