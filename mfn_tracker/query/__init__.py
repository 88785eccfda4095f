"""Reading the audit log: list, stats, tail and output formats, fast at a million events.

Every function takes a query already scoped by :mod:`mfn_tracker.access`; none checks roles.
Names load lazily, so ``events types`` does not pay for SQLite.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "BUCKETS": "mfn_tracker.query.stats",
    "MAX_LIMIT": "mfn_tracker.query.listing",
    "Page": "mfn_tracker.query.listing",
    "compute_stats": "mfn_tracker.query.stats",
    "list_events": "mfn_tracker.query.listing",
    "storage_query": "mfn_tracker.query.prepare",
    "tail_events": "mfn_tracker.query.follow",
    "wait_for_writes": "mfn_tracker.query.prepare",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mfn_tracker.query' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
