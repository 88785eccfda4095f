"""Real logs written by the real writer, and the ways an attacker (or a crash) changes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mfn_tracker.compliance.verify import VerifyReport, verify_log
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter

DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")


def make_log(settings: Settings, *, per_day: int = 8, days: tuple[str, ...] = DAYS) -> list[Path]:
    """``per_day`` events on each day, through the writer (so the head record is real too)."""
    writer = EventWriter(settings)
    try:
        for day in days:
            for i in range(per_day):
                writer.write(
                    {
                        "event_type": "commit" if i % 3 else "push",
                        "user_id": "alice" if i % 2 else "bob",
                        "action_description": f"Commit {i} on {day}",
                        "timestamp": f"{day}T10:{i:02d}:00.000Z",
                        "repo": "/srv/repo",
                    }
                )
    finally:
        writer.close()
    return [day_path(settings, day) for day in days]


def day_path(settings: Settings, day: str) -> Path:
    return settings.storage_path / f"events_{day}.jsonl"


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def kinds(report: VerifyReport) -> list[tuple[str, str, int | None]]:
    return [(f.kind, f.file, f.line) for f in report.findings]


def verify(settings: Settings, **kw: Any) -> VerifyReport:
    return verify_log(settings, **kw)


def event(line: bytes) -> dict[str, Any]:
    value = json.loads(line)
    assert isinstance(value, dict)
    return value
