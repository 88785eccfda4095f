"""Stream events back out of the day files: filtered, either direction, never a day in memory.

A malformed line is skipped and reported (file and line number); it never hides what follows.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from mfn_tracker.store.layout import DayFile, list_day_files
from mfn_tracker.store.pending import wait_for_pending

_BLOCK = 256 * 1024
REQUIRED_KEYS = ("event_type", "user_id", "action_description", "timestamp", "status")


def _json_loads() -> Callable[[bytes], Any]:
    try:
        import orjson  # ~5x faster than json on these lines (FACTS.md)
    except ImportError:  # pragma: no cover - orjson is a dependency; json is the safety net
        return json.loads
    return orjson.loads


@dataclass(frozen=True)
class Query:
    """What to read. ``since``/``until`` are normalized timestamps; ``until`` is exclusive."""

    since: str | None = None
    until: str | None = None
    types: frozenset[str] | None = None
    status: str | None = None
    user: str | None = None
    repo: str | None = None
    newest_first: bool = True
    limit: int | None = None
    offset: int = 0
    cursor: int | None = None  # seq of the last event of the previous page

    def wants_day(self, day: str) -> bool:
        return (self.since is None or day >= self.since[:10]) and (
            self.until is None or day <= self.until[:10]
        )

    def matches(self, event: dict[str, Any]) -> bool:
        ts = event["timestamp"]
        if (self.since is not None and ts < self.since) or (
            self.until is not None and ts >= self.until
        ):
            return False
        if self.types is not None and event["event_type"] not in self.types:
            return False
        if self.status is not None and event["status"] != self.status:
            return False
        if self.user is not None and event["user_id"] != self.user:
            return False
        return self.repo is None or event.get("repo") == self.repo

    def past_cursor_by_seq(self, event: dict[str, Any]) -> bool:
        """After the cursor in seq order: exact where events are kept in write order."""
        if self.cursor is None:
            return True
        seq = event.get("seq", 0)
        return bool(seq < self.cursor if self.newest_first else seq > self.cursor)

    def needles(self) -> list[bytes]:
        """Byte strings every matching line must contain: a cheap prefilter before decoding."""
        found = []
        if self.user is not None:
            found.append(b'"user_id":' + _encode(self.user))
        if self.status is not None:
            found.append(b'"status":' + _encode(self.status))
        if self.repo is not None:
            found.append(b'"repo":' + _encode(self.repo))
        return found


def _encode(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    kind: str  # "malformed", "torn-tail" or "unreadable"
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class ReadReport:
    """Problems met while reading; callers print them so nothing is hidden silently."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)


def iter_events(
    storage: Path, query: Query, report: ReadReport | None = None
) -> Iterator[dict[str, Any]]:
    """Matching events in order, honouring offset and limit."""
    wait_for_pending(storage)  # read-your-writes: events of a git command that has returned
    report = report if report is not None else ReadReport()
    files = [f for f in list_day_files(storage) if query.wants_day(f.day)]
    if query.newest_first:
        files.reverse()

    def matching() -> Iterator[dict[str, Any]]:
        for day_file in files:
            for event in _file_events(day_file, query, report):
                if query.matches(event):
                    yield event

    events = matching() if query.cursor is None else _after_cursor(matching, query)
    stop = None if query.limit is None else query.offset + query.limit
    return islice(events, query.offset, stop)


def _after_cursor(
    matching: Callable[[], Iterator[dict[str, Any]]], query: Query
) -> Iterator[dict[str, Any]]:
    """Continue after the cursor's event by its place in the files, not by seq: an event written
    late into an earlier day's file has a higher seq than the days after it. If that event is
    gone (retention), fall back to seq order."""
    found = False
    for event in matching():
        if found:
            yield event
        elif event.get("seq") == query.cursor:
            found = True
    if not found:
        yield from (event for event in matching() if query.past_cursor_by_seq(event))


def _file_events(day_file: DayFile, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    loads = _json_loads()
    needles = query.needles()
    type_needles = [b'"event_type":' + _encode(t) for t in query.types or ()]
    lines = (
        _lines_reversed(day_file, report)
        if query.newest_first
        else _lines_forward(day_file, report)
    )
    for line_no, raw, complete in lines:
        if not complete:
            report.add(Problem(day_file.path, line_no(), "torn-tail", "incomplete last write"))
            continue
        if needles and not all(n in raw for n in needles):
            continue
        if type_needles and not any(n in raw for n in type_needles):
            continue
        try:
            event = loads(raw)
        except ValueError as exc:
            report.add(Problem(day_file.path, line_no(), "malformed", f"not JSON ({exc})"))
            continue
        if not isinstance(event, dict) or not all(k in event for k in REQUIRED_KEYS):
            report.add(Problem(day_file.path, line_no(), "malformed", "not an event object"))
            continue
        if not isinstance(event["timestamp"], str):
            report.add(Problem(day_file.path, line_no(), "malformed", "timestamp not a string"))
            continue
        yield event


LineItem = tuple[Callable[[], int], bytes, bool]  # (line number, bytes, newline-terminated)


def _lines_forward(day_file: DayFile, report: ReadReport) -> Iterator[LineItem]:
    opener = gzip.open if day_file.compressed else open
    number = 0
    try:
        with opener(day_file.path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                complete = raw.endswith(b"\n")
                body = raw[:-1] if complete else raw
                if body or not complete:
                    yield _constant(number), body, complete
    except FileNotFoundError:
        return  # removed by retention while we read
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        # A damaged compressed day: report it and go on with the other days.
        report.add(Problem(day_file.path, number + 1, "unreadable", f"damaged gzip data ({exc})"))
    except OSError as exc:
        from mfn_tracker.errors import TrackerError

        raise TrackerError(f"cannot read {day_file.path}: {exc.strerror or exc}") from None


def _lines_reversed(day_file: DayFile, report: ReadReport) -> Iterator[LineItem]:
    if day_file.compressed:  # gzip cannot seek backwards cheaply: one old day at a time
        yield from reversed(list(_lines_forward(day_file, report)))
        return
    try:
        fd = os.open(day_file.path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        from mfn_tracker.errors import TrackerError

        raise TrackerError(f"cannot read {day_file.path}: {exc.strerror}") from None
    try:
        pos = os.fstat(fd).st_size
        tail = b""  # bytes after the last newline seen so far (the start of a line)
        first = True
        while pos > 0:
            step = min(_BLOCK, pos)
            pos -= step
            chunk = os.pread(fd, step, pos) + tail
            parts = chunk.split(b"\n")
            tail = parts[0]
            end = pos + len(chunk)
            for index in range(len(parts) - 1, 0, -1):
                body = parts[index]
                start = end - len(body)
                complete = not (first and index == len(parts) - 1)
                if body:
                    yield _line_number_at(day_file.path, start), body, complete
                end = start - 1
            first = False
        if tail:
            yield _constant(1), tail, len(tail) < os.fstat(fd).st_size
    finally:
        os.close(fd)


def _constant(number: int) -> Callable[[], int]:
    return lambda: number


def _line_number_at(path: Path, offset: int) -> Callable[[], int]:
    """Line numbers cost a count of newlines, so they are computed only when reported."""

    def count() -> int:
        newlines, left = 0, offset
        with open(path, "rb") as stream:
            while left > 0 and (chunk := stream.read(min(left, _BLOCK))):
                newlines += chunk.count(b"\n")
                left -= len(chunk)
        return newlines + 1

    return count
