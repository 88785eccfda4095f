"""Where matching events come from: the SQLite side index when it can be used, else the files.

The day files are the truth. The index is a cache that is caught up (or rebuilt) before every
read; when it cannot be used (read-only storage, a damaged index) the streaming reader answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mfn_tracker.query.tally import Tally
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events


def read_events(settings: Settings, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Events matching ``query`` (already in on-disk form), in the query's order."""
    return iter_events(settings.storage_path, query, report)


def tally_events(settings: Settings, query: Query, report: ReadReport, *, width: int) -> Tally:
    """Counts over every matching event."""
    tally = Tally()
    for event in iter_events(settings.storage_path, query, report):
        tally.add(event, width)
    return tally
