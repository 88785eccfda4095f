"""Turn a byte range of a day file into index rows: pure functions, so worker processes can run
them side by side while the parent writes SQLite (the first read of a large log)."""

from __future__ import annotations

import gzip
import os
from collections import Counter
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from mfn_tracker.query.lines import decode_line

# (ord, len, seq, ts, type, status, user, repo, duration_ms)
Row = tuple[int, int, int, str, str, str, str, str | None, float | None]
DIMENSIONS = ("type", "status", "user", "repo")  # agg.dim values; "*" counts every event


class Part(NamedTuple):  # not a dataclass: defining one costs ~1 ms of every CLI read's start
    """Lines [start, end) of one day file (``end`` None: a compressed file, read whole)."""

    path: str
    start: int
    end: int | None
    base: int  # the row key of the file's offset 0


class Parsed:
    """Rows, problems and hourly counts of one part (a plain class, for start-up as ``Part``)."""

    __slots__ = ("agg", "inode", "lines", "problems", "rows")

    def __init__(self, problems: list[tuple[int, str]] | None = None, lines: int = 0) -> None:
        self.rows: list[Row] = []
        self.problems = problems or []  # (line within part, why)
        self.lines = lines
        self.agg: list[tuple[str, str, str, int, float, int]] = []
        self.inode = 0


def parse_part(part: Part) -> Parsed:
    """Read and parse one part (runs in a worker process for large catch-ups)."""
    with open(part.path, "rb") as stream:
        inode = os.fstat(stream.fileno()).st_ino
        if part.end is None:
            try:
                data = gzip.GzipFile(fileobj=stream).read()
            except (OSError, EOFError) as exc:
                parsed = Parsed(problems=[(1, f"unreadable compressed file ({exc})")], lines=1)
                parsed.inode = inode
                return parsed
        else:
            stream.seek(part.start)
            data = stream.read(part.end - part.start)
    parsed = parse_lines(data, part.base + part.start)
    parsed.inode = inode
    return parsed


def parse_lines(data: bytes, base: int) -> Parsed:
    """Rows for every event line of ``data``; malformed lines become problems."""
    parsed = Parsed()
    rows = parsed.rows
    loads = orjson.loads
    pieces = data.split(b"\n")
    if data.endswith(b"\n"):
        pieces.pop()  # the empty rest after the last newline is not a line
    required = itemgetter("event_type", "status", "user_id", "timestamp", "action_description")
    position = base
    for number, raw in enumerate(pieces, 1):
        offset = position
        size = len(raw)
        position += size + 1
        if not size:
            continue
        try:  # the fast path; decode_line says what is wrong with the rest
            event = loads(raw)
            kind, status, user, ts, _ = required(event)
            if type(ts) is not str:
                raise TypeError
        except (ValueError, KeyError, TypeError):
            parsed.problems.append((number, decode_line(raw)[1] or "not an event"))
            continue
        get = event.get
        seq, duration, repo = get("seq"), get("duration_ms"), get("repo")
        rows.append(
            (
                offset,
                size,
                seq if type(seq) is int else 0,
                ts,
                kind if type(kind) is str else _foreign(kind),
                status if type(status) is str else _foreign(status),
                user if type(user) is str else _foreign(user),
                (repo if type(repo) is str else _foreign(repo)) if repo else None,
                duration if type(duration) in (int, float) else None,
            )
        )
    parsed.lines = len(pieces)
    parsed.agg = hourly_counts(rows)
    return parsed


def _foreign(value: Any) -> str:
    """A non-string field value, kept distinct from every string a filter could name."""
    return "\0" + orjson.dumps(value).decode()


def hourly_counts(rows: list[Row]) -> list[tuple[str, str, str, int, float, int]]:
    """(hour, dim, value, n, duration sum, durations) for ``rows``: the cheap side of stats.

    Rows come in file order, which is time order, so they are grouped by hour first and each
    column is then counted as plain strings (far cheaper than counting (hour, value) pairs).
    """
    found: list[tuple[str, str, str, int, float, int]] = []
    for hour, group in groupby(rows, key=lambda row: row[3][:13]):
        chunk = list(group)
        durations = [row[8] for row in chunk if row[8] is not None]
        found.append((hour, "*", "", len(chunk), float(sum(durations)), len(durations)))
        for column, dim in enumerate(DIMENSIONS, 4):
            counts = Counter(map(itemgetter(column), chunk))
            found += [(hour, dim, value, n, 0.0, 0) for value, n in counts.items() if value]
    return found
