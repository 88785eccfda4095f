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


MIXED_DAY = "2026-11-24"


def make_mixed_log(settings: Settings) -> list[dict[str, Any]]:
    """One of every kind of event a reviewer meets, on ``MIXED_DAY``; returns them as written."""
    ts = iter(f"{MIXED_DAY}T{h:02d}:{m:02d}:00.000Z" for h in range(8, 20) for m in range(0, 60, 7))
    fields: list[dict[str, Any]] = [
        {
            "event_type": "auth_login",
            "user_id": "alice",
            "action_description": "Login",
            "source_ip": "203.0.113.7",
        },
        {
            "event_type": "auth_failure",
            "user_id": "mallory",
            "action_description": "Bad key",
            "status": "failure",
            "source_ip": "198.51.100.9",
        },
        {
            "event_type": "api_request",
            "user_id": "alice",
            "action_description": "GET /events",
            "metadata": {"endpoint": "/events", "method": "GET"},
            "source_ip": "203.0.113.7",
            "request_id": "req-1",
            "duration_ms": 12.5,
        },
        {
            "event_type": "api_error",
            "user_id": "bob",
            "action_description": "POST /events failed",
            "status": "failure",
            "metadata": {"endpoint": "/events", "method": "POST"},
        },
        {
            "event_type": "commit",
            "user_id": "alice",
            "action_description": '=HYPERLINK("x") commit, "quotes"\nand a newline',
            "files_changed": ["src/a.py", "README.md"],
            "metadata": {"commit": "a" * 40, "branch": "main"},
            "repo": "/srv/proj",
        },
        {
            "event_type": "push",
            "user_id": "alice",
            "action_description": "Push to origin",
            "metadata": {
                "remote": "origin",
                "refs": [{"ref": "refs/heads/main", "old": "0" * 40, "new": "a" * 40}],
            },
            "repo": "/srv/proj",
        },
        {
            "event_type": "push",
            "user_id": "bob",
            "action_description": "Push to origin",
            "status": "failure",
            "repo": "/srv/other",
        },
        {
            "event_type": "fetch",
            "user_id": "bob",
            "action_description": "Fetch origin",
            "repo": "/srv/proj",
        },
        {
            "event_type": "clone",
            "user_id": "bob",
            "action_description": "Clone",
            "repo": "/srv/proj",
        },
        {
            "event_type": "merge",
            "user_id": "alice",
            "action_description": "Merge topic",
            "repo": "/srv/proj",
        },
        {
            "event_type": "file_create",
            "user_id": "bob",
            "action_description": "File create: new.txt",
            "files_changed": ["new.txt"],
            "metadata": {"size": 3, "sha256": "b" * 64},
            "repo": "/srv/proj",
        },
        {
            "event_type": "file_change",
            "user_id": "bob",
            "action_description": "File change: new.txt",
            "files_changed": ["new.txt"],
            "repo": "/srv/proj",
        },
        {
            "event_type": "file_move",
            "user_id": "bob",
            "action_description": "File move",
            "files_changed": ["b.txt"],
            "metadata": {"old_path": "new.txt"},
            "repo": "/srv/proj",
        },
        {
            "event_type": "file_delete",
            "user_id": "bob",
            "action_description": "File delete: b.txt",
            "files_changed": ["b.txt"],
            "repo": "/srv/proj",
        },
        {
            "event_type": "system_start",
            "user_id": "root",
            "action_description": "watch started",
            "comments": "-starts with a dash",
        },
        {"event_type": "auth_logout", "user_id": "alice", "action_description": "Logout"},
    ]
    writer = EventWriter(settings)
    try:
        return [writer.write({**f, "timestamp": next(ts)}) for f in fields]
    finally:
        writer.close()


def append_chained(path: Path, **fields: Any) -> dict[str, Any]:
    """Append a line that continues the chain (right seq and prev) but carries ``fields``."""
    import hashlib

    last = lines_of(path)[-1]
    record = {**event(last), "seq": event(last)["seq"] + 1}
    record.update(fields, prev=hashlib.sha256(last).hexdigest())
    with open(path, "ab") as stream:
        stream.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    return record
