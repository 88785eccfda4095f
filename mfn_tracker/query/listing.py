"""``events list``: one page of matching events, newest first, with a cursor for the next."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from mfn_tracker.query.lines import seq_of
from mfn_tracker.query.prepare import storage_query, wait_for_writes
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Problem, Query, ReadReport

MAX_LIMIT = 1_000_000  # larger numbers are refused; `--limit all` asks for every match


class Page(NamedTuple):  # not a dataclass: defining one adds ~1 ms to every read's start
    """A page of events; ``next_cursor`` is given when more may follow (pass it as ``cursor``)."""

    events: list[dict[str, Any]]
    next_cursor: int | None
    problems: list[Problem]


def list_events(settings: Settings, query: Query) -> Page:
    """Matching events (``query`` already scoped by the access module), honouring paging."""
    from mfn_tracker.query.engine import read_events

    wait_for_writes(settings)
    report = ReadReport()
    wanted = query.limit
    probe = replace(storage_query(settings, query), limit=None if wanted is None else wanted + 1)
    events = list(read_events(settings, probe, report))
    next_cursor = None
    if wanted is not None and len(events) > wanted:
        events = events[:wanted]
        next_cursor = seq_of(events[-1]) if events else None
    return Page(events=events, next_cursor=next_cursor, problems=report.problems)
