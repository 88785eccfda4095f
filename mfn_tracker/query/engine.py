"""Where matching events come from: the SQLite side index when it can be used, else the files.

The day files are the truth. The index is caught up before every read, and every event it points
to is read back from its day file and checked against the query; when the file disagrees the
index catches up again and the read continues where it was. When the index cannot be used at all
(read-only storage, damage) the streaming reader answers, only slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mfn_tracker.query.fetch import indexed_events
from mfn_tracker.query.index import Index, IndexUnavailable
from mfn_tracker.query.index_file import open_index
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events

if TYPE_CHECKING:  # loaded by ``tally_events`` only: ``events list`` does not count
    from mfn_tracker.query.tally import Tally


def read_events(settings: Settings, query: Query, report: ReadReport) -> Iterator[dict[str, Any]]:
    """Events matching ``query`` (already in on-disk form), in the query's order."""
    index = _index(settings)
    if index is None:
        return iter_events(settings.storage_path, query, report)
    return indexed_events(index, query, report)


def tally_events(settings: Settings, query: Query, report: ReadReport, *, width: int) -> Tally:
    """Counts over every event matching ``query``."""
    from mfn_tracker.query.sums import indexed_tally
    from mfn_tracker.query.tally import Tally

    index = _index(settings)
    if index is None:
        tally = Tally()
        for event in iter_events(settings.storage_path, query, report):
            tally.add(event, width)
        return tally
    try:
        for problem in index.problems(query.since, query.until):
            report.add(problem)
        return indexed_tally(index, query, width)
    finally:
        index.close()


def _index(settings: Settings) -> Index | None:
    try:
        return open_index(settings.storage_path, file_mode=settings.file_mode)
    except IndexUnavailable:
        return None
