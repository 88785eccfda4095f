"""Reading the audit log: list, stats, tail and output formats, fast at a million events.

Every function takes a query already scoped by :mod:`mfn_tracker.access`; none checks roles.
"""

from __future__ import annotations

from mfn_tracker.query.follow import tail_events
from mfn_tracker.query.listing import MAX_LIMIT, Page, list_events
from mfn_tracker.query.prepare import storage_query, wait_for_writes
from mfn_tracker.query.stats import BUCKETS, compute_stats

__all__ = [
    "BUCKETS",
    "MAX_LIMIT",
    "Page",
    "compute_stats",
    "list_events",
    "storage_query",
    "tail_events",
    "wait_for_writes",
]
