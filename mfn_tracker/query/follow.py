"""``events tail [--follow]``: the last N matching events, then new ones as they are written."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from mfn_tracker.query.lines import decode_line, seq_of
from mfn_tracker.query.listing import list_events
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import list_day_files
from mfn_tracker.store.reader import Problem, Query

POLL_SECONDS = 0.25


def tail_events(
    settings: Settings,
    query: Query,
    *,
    count: int,
    follow: bool = False,
    poll: float = POLL_SECONDS,
    stop: Callable[[], bool] = lambda: False,
    problems: Callable[[Problem], None] = lambda _p: None,
) -> Iterator[dict[str, Any]]:
    """The last ``count`` events (oldest of them first), then, with ``follow``, every new
    matching event until ``stop()`` is true. ``query`` is scoped already."""
    marks = _end_marks(settings)  # taken before the read, so nothing falls in between
    page = list_events(settings, replace(query, newest_first=True, limit=count, offset=0))
    for problem in page.problems:
        problems(problem)
    shown = reversed(page.events)
    last_seq = 0
    for event in shown:
        last_seq = max(last_seq, seq_of(event))
        yield event
    if not follow:
        return
    from mfn_tracker.query.prepare import storage_query

    live = replace(storage_query(settings, query), until=None, limit=None, offset=0, cursor=None)
    while not stop():
        for event in _new_events(settings, live, marks, problems):
            if seq_of(event) > last_seq:
                last_seq = seq_of(event)
                yield event
        time.sleep(poll)


def _end_marks(settings: Settings) -> dict[str, int]:
    """How far each plain day file reaches now."""
    marks = {}
    for day_file in list_day_files(settings.storage_path):
        if not day_file.compressed:
            try:
                marks[day_file.path.name] = day_file.path.stat().st_size
            except FileNotFoundError:
                continue
    return marks


def _new_events(
    settings: Settings,
    query: Query,
    marks: dict[str, int],
    problems: Callable[[Problem], None],
) -> Iterator[dict[str, Any]]:
    """Complete lines written since ``marks`` (which advance), decoded and matched."""
    for day_file in list_day_files(settings.storage_path):
        name = day_file.path.name
        if day_file.compressed or not query.wants_day(day_file.day):
            continue
        start = marks.get(name, 0)
        try:
            with open(day_file.path, "rb") as stream:
                if os.fstat(stream.fileno()).st_size <= start:
                    continue
                stream.seek(start)
                data = stream.read()
        except FileNotFoundError:
            continue
        end = data.rfind(b"\n") + 1  # an unfinished last line waits for the next poll
        marks[name] = start + end
        for raw in data[:end].split(b"\n"):
            if not raw:
                continue
            event, problem = decode_line(raw)
            if event is None:
                problems(Problem(day_file.path, 0, "malformed", problem or ""))
            elif query.matches(event):
                yield event
