"""Running counts behind ``events stats``: one pass adds events, tallies of disjoint parts merge."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """Running counts; two tallies over disjoint events add up (``merge``)."""

    total: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_user: Counter[str] = field(default_factory=Counter)
    by_repo: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[str] = field(default_factory=Counter)
    duration_sum: float = 0.0
    duration_count: int = 0

    def add(self, event: dict[str, Any], width: int) -> None:
        self.total += 1
        self.by_type[event["event_type"]] += 1
        self.by_status[event["status"]] += 1
        self.by_user[event["user_id"]] += 1
        repo = event.get("repo")
        if repo:
            self.by_repo[repo] += 1
        self.by_bucket[event["timestamp"][:width]] += 1
        duration = event.get("duration_ms")
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            self.duration_sum += duration
            self.duration_count += 1

    def merge(self, other: Tally) -> None:
        self.total += other.total
        for mine, theirs in self._counters(other):
            mine.update(theirs)
        self.duration_sum += other.duration_sum
        self.duration_count += other.duration_count

    def _counters(self, other: Tally) -> Iterable[tuple[Counter[str], Counter[str]]]:
        yield self.by_type, other.by_type
        yield self.by_status, other.by_status
        yield self.by_user, other.by_user
        yield self.by_repo, other.by_repo
        yield self.by_bucket, other.by_bucket
