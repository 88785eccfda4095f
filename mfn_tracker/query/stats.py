"""``events stats``: the seed's figures (total, by type, by status, unique users, average
duration) plus by user (admin only), by repo and per hour or day."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.query.engine import tally_events
from mfn_tracker.query.prepare import storage_query, wait_for_writes
from mfn_tracker.query.tally import Tally
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport

BUCKETS = {"hour": 13, "day": 10}  # timestamp prefix length of each bucket


def compute_stats(
    settings: Settings, query: Query, *, include_users: bool, bucket: str = "day"
) -> dict[str, Any]:
    """Figures over every event matching ``query`` (scoped already; limit and offset ignored)."""
    if bucket not in BUCKETS:
        raise TrackerError(f"bucket must be one of: {', '.join(BUCKETS)}", exit_code=EXIT_USAGE)
    wait_for_writes(settings)
    report = ReadReport()
    whole = replace(storage_query(settings, query), limit=None, offset=0, cursor=None)
    tally = tally_events(settings, whole, report, width=BUCKETS[bucket])
    return _figures(query, tally, include_users=include_users, bucket=bucket) | {
        "problems": [str(p) for p in report.problems]
    }


def _figures(query: Query, tally: Tally, *, include_users: bool, bucket: str) -> dict[str, Any]:
    average = tally.duration_sum / tally.duration_count if tally.duration_count else None
    figures: dict[str, Any] = {
        "since": query.since,
        "until": query.until,
        "total": tally.total,
        "by_type": _ranked(tally.by_type),
        "by_status": _ranked(tally.by_status),
        "unique_users": len(tally.by_user),
        "average_duration_ms": None if average is None else round(average, 3),
    }
    if include_users:
        figures["by_user"] = _ranked(tally.by_user)
    figures["by_repo"] = _ranked(tally.by_repo)
    figures[f"by_{bucket}"] = dict(sorted(tally.by_bucket.items()))
    return figures


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))
