"""``mfn-tracker export``: the caller's events in a SIEM's format, with a manifest to prove it.

The manifest names the range and filters, the counts, the chain head and the latest signed
checkpoint at export time, and the SHA-256 of the exported bytes, so a reviewer can show the
file they hold is the file that was exported, and tie it to the verified log.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any

from mfn_tracker._version import __version__
from mfn_tracker.compliance.formats import (
    CSV_COLUMNS,
    ECS_VERSION,
    OCSF_VERSION,
    csv_row,
    to_ecs,
    to_ocsf,
)
from mfn_tracker.compliance.head import read_head_record
from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Problem, Query, ReadReport
from mfn_tracker.store.timestamps import format_ms, now_ms

FORMATS = ("jsonl", "csv", "ecs", "ocsf")


def _json_line(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _encoder(fmt: str) -> Callable[[Mapping[str, Any]], bytes]:
    if fmt == "jsonl":
        return _json_line
    if fmt == "ecs":
        return lambda event: _json_line(to_ecs(event))
    if fmt == "ocsf":
        return lambda event: _json_line(to_ocsf(event))
    if fmt == "csv":

        def row(event: Mapping[str, Any]) -> bytes:
            buffer = io.StringIO()
            # "\r\n" (RFC 4180) also makes the writer quote a cell holding a bare CR.
            csv.writer(buffer, lineterminator="\r\n").writerow(csv_row(event))
            return buffer.getvalue().encode()

        return row
    raise TrackerError(
        f"unknown export format {fmt!r}: use {', '.join(FORMATS)}", exit_code=EXIT_USAGE
    )


def scoped_events(settings: Settings, query: Query, report: ReadReport) -> Iterable[dict[str, Any]]:
    """Every event the (already scoped) query matches, oldest first."""
    from mfn_tracker.query.engine import read_events
    from mfn_tracker.query.prepare import storage_query, wait_for_writes

    wait_for_writes(settings)
    whole = replace(storage_query(settings, query), newest_first=False, limit=None, offset=0)
    return _well_formed(read_events(settings, whole, report), settings, report)


def _well_formed(
    events: Iterable[dict[str, Any]], settings: Settings, report: ReadReport
) -> Iterator[dict[str, Any]]:
    """Skip (and report) chained lines whose fields no writer wrote: verify names them."""
    from mfn_tracker.compliance.scan import field_problem

    for event in events:
        why = field_problem(event)
        if why is None:
            yield event
        else:
            seq = event.get("seq")
            report.add(Problem(settings.storage_path, 0, "malformed", f"seq {seq}: {why}"))


def export_events(
    settings: Settings,
    query: Query,
    fmt: str,
    out: IO[bytes],
    *,
    scope: Mapping[str, Any],
    file_name: str | None = None,
) -> dict[str, Any]:
    """Write the export to ``out``; returns its manifest."""
    encode = _encoder(fmt)
    tally = _Tally()
    if fmt == "csv":
        tally.add((",".join(CSV_COLUMNS) + "\r\n").encode(), out, None)
    for event in scoped_events(settings, query, tally.report):
        tally.add(encode(event), out, event)
    out.flush()
    return _manifest(settings, query, fmt=fmt, scope=scope, tally=tally, file_name=file_name)


@dataclass
class _Tally:
    """What the manifest says about the bytes written (hashed as they are written)."""

    digest: Any = field(default_factory=hashlib.sha256)
    size: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    first: int | None = None
    last: int | None = None
    report: ReadReport = field(default_factory=ReadReport)

    def add(self, data: bytes, out: IO[bytes], event: Mapping[str, Any] | None) -> None:
        out.write(data)
        self.digest.update(data)
        self.size += len(data)
        if event is None:
            return
        self.by_type[event["event_type"]] += 1
        seq = event.get("seq")
        if isinstance(seq, int):
            self.first = seq if self.first is None else min(self.first, seq)
            self.last = seq if self.last is None else max(self.last, seq)


def _manifest(
    settings: Settings,
    query: Query,
    *,
    fmt: str,
    scope: Mapping[str, Any],
    tally: _Tally,
    file_name: str | None,
) -> dict[str, Any]:
    from mfn_tracker.compliance.checkpoints import latest

    head = read_head_record(settings)
    checkpoint = latest(settings)
    schema = {"ecs": {"ecs": ECS_VERSION}, "ocsf": {"ocsf": OCSF_VERSION}}.get(fmt)
    return {
        "tool": f"mfn-tracker {__version__}",
        "generated_at": format_ms(now_ms()),
        "format": fmt,
        "schema": schema,
        "file": file_name,
        "range": {"since": query.since, "until": query.until},
        "filters": {
            "types": sorted(query.types) if query.types else None,
            "status": query.status,
            "user": query.user,
            "repo": query.repo,
        },
        "scope": dict(scope),
        "counts": {
            "events": sum(tally.by_type.values()),
            "by_type": dict(sorted(tally.by_type.items())),
        },
        "seq": {"first": tally.first, "last": tally.last},
        "chain_head": {"seq": head.seq, "hash": head.hash, "file": head.file} if head else None,
        "checkpoint": checkpoint["checkpoint"] if checkpoint else None,
        "unreadable_lines": [str(p) for p in tally.report.problems],
        "sha256": tally.digest.hexdigest(),
        "bytes": tally.size,
    }
