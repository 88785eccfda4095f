"""``mfn-tracker check``: the seed's "Monitoring and Alerting" as a Nagios/Icinga plugin.

Measures, over a recent window: authentication failures, the API error rate (``api_error`` per
``api_request``), the event rate, and the size of the storage. Exit 0 OK, 1 WARNING, 2 CRITICAL
(3 UNKNOWN when it cannot tell); one status line, then ``|`` and performance data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.query.stats import compute_stats
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import list_day_files
from mfn_tracker.store.reader import Query
from mfn_tracker.store.timestamps import format_ms, now_ms

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_SIZE = re.compile(r"^(\d{1,12}(?:\.\d{1,3})?)\s*([KMGT]?)I?B?$")
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class Limit:
    """Thresholds for one measure; ``low`` alerts when the value falls to or below them."""

    warn: float | None = None
    crit: float | None = None
    low: bool = False

    def state(self, value: float) -> int:
        for code, bound in ((2, self.crit), (1, self.warn)):
            if bound is not None and (value <= bound if self.low else value >= bound):
                return code
        return 0


@dataclass(frozen=True)
class Thresholds:
    window_ms: int = 15 * 60_000
    auth_failures: Limit = Limit(5, 20)
    error_rate_pct: Limit = Limit(5, 20)
    events_per_min: Limit = Limit()
    min_events: Limit = Limit(low=True)
    storage_bytes: Limit = Limit()


@dataclass(frozen=True)
class Measure:
    label: str
    value: float
    limit: Limit
    unit: str = ""
    text: str = ""

    @property
    def state(self) -> int:
        return self.limit.state(self.value)

    def perfdata(self) -> str:
        warn = "" if self.limit.warn is None else f"{self.limit.warn:g}"
        crit = "" if self.limit.crit is None else f"{self.limit.crit:g}"
        if self.limit.low:  # Nagios ranges: alert when below the bound
            warn, crit = (f"{b}:" if b else "" for b in (warn, crit))
        return f"{self.label}={self.value:g}{self.unit};{warn};{crit};0"


@dataclass(frozen=True)
class CheckResult:
    code: int
    line: str


def run_check(settings: Settings, query: Query, thresholds: Thresholds) -> CheckResult:
    """Measure the window ending now (``query`` carries the caller's scope and nothing else)."""
    now = now_ms()
    since = format_ms(max(0, now - thresholds.window_ms))
    window = replace(query, since=since, until=None, limit=None, offset=0, cursor=None)
    stats = compute_stats(settings, window, include_users=False, bucket="hour")
    by_type = stats["by_type"]
    requests, errors = by_type.get("api_request", 0), by_type.get("api_error", 0)
    minutes = thresholds.window_ms / 60_000
    storage = sum(_size(f.path) for f in list_day_files(settings.storage_path))
    measures = [
        Measure("auth_failures", by_type.get("auth_failure", 0), thresholds.auth_failures),
        Measure(
            "api_error_rate",
            round(100 * errors / requests, 2) if requests else 0.0,
            thresholds.error_rate_pct,
            "%",
        ),
        Measure("events", stats["total"], thresholds.min_events),
        Measure("events_per_min", round(stats["total"] / minutes, 2), thresholds.events_per_min),
        Measure("storage", storage, thresholds.storage_bytes, "B"),
    ]
    code = max(m.state for m in measures)
    failing = [m for m in measures if m.state]
    summary = ", ".join(_describe(m) for m in (failing or measures))
    window_text = f"last {minutes:g} min"
    perf = " ".join(m.perfdata() for m in measures)
    problems = f"; {len(stats['problems'])} unreadable line(s)" if stats["problems"] else ""
    return CheckResult(
        code, f"MFN-TRACKER {STATES[code]} - {summary} ({window_text}){problems} | {perf}"
    )


def _describe(measure: Measure) -> str:
    return f"{measure.label.replace('_', ' ')} {measure.value:g}{measure.unit}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # removed by retention meanwhile
        return 0


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``123456`` (bytes; K/M/G/T are powers of 1024)."""
    match = _SIZE.match(text.strip().upper())
    if match is None:
        raise TrackerError(f"invalid size {text!r}: use e.g. 500M or 2G", exit_code=EXIT_USAGE)
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
