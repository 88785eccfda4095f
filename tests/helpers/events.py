"""Read day files directly (not through the reader under test) to check what reached disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def day_files(storage: Path) -> list[Path]:
    return sorted(storage.glob("events_*.jsonl"))


def raw_lines(storage: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in day_files(storage):
        lines.extend(line for line in path.read_bytes().split(b"\n") if line)
    return lines


def all_events(storage: Path) -> list[dict[str, Any]]:
    """Every event on disk in seq order; fails the test on any line that is not JSON."""
    events = [json.loads(line) for line in raw_lines(storage)]
    return sorted(events, key=lambda e: e["seq"])


def chain_ok(storage: Path) -> bool:
    """seq 1..N without gap, each prev the SHA-256 of the previous line (DESIGN.md's rule)."""
    by_seq = sorted((json.loads(line)["seq"], line) for line in raw_lines(storage))
    prev = "0" * 64
    for expected, (seq, line) in enumerate(by_seq, 1):
        if seq != expected or json.loads(line)["prev"] != prev:
            return False
        prev = hashlib.sha256(line).hexdigest()
    return True
