"""BackgroundWriter: nothing is lost silently, and exit drains the queue."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from mfn_tracker.http.background import BackgroundWriter
from mfn_tracker.settings import Settings
from tests.helpers.events import all_events, chain_ok


def event(n: int) -> dict[str, object]:
    return {"event_type": "api_request", "user_id": "alice", "action_description": f"req {n}"}


def test_a_full_queue_is_recorded_as_events_lost(settings: Settings, storage: Path) -> None:
    writer = BackgroundWriter(settings, max_pending=5)
    writer.submit(event(0))
    assert writer.flush(10)
    fd = os.open(storage / ".chain", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the disk "stalls": the worker waits for the lock
        for n in range(1, 21):
            writer.submit(event(n))
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
    assert writer.flush(10)
    stats = writer.stats()
    assert stats.dropped > 0
    assert stats.written + stats.dropped == 21
    lost = [e for e in all_events(storage) if e["event_type"] == "events_lost"]
    assert sum(e["metadata"]["dropped"] for e in lost) == stats.dropped  # maybe in two reports
    assert chain_ok(storage)
    writer.close()


def test_invalid_events_are_counted_not_fatal(settings: Settings, storage: Path) -> None:
    writer = BackgroundWriter(settings)
    writer.submit({"event_type": "nope", "user_id": "x", "action_description": "bad"})
    writer.submit(event(1))
    assert writer.flush(10)
    assert (writer.stats().written, writer.stats().failed) == (1, 1)
    assert len(all_events(storage)) == 1
    writer.close()


def test_interpreter_exit_drains_the_queue(storage: Path) -> None:
    """An app without lifespan (or a script) that never flushes still loses nothing."""
    script = (
        "from mfn_tracker.http.background import BackgroundWriter\n"
        "from mfn_tracker.settings import load_settings\n"
        "w = BackgroundWriter(load_settings())\n"
        "for n in range(500):\n"
        "    w.submit({'event_type': 'api_request', 'user_id': 'a',"
        " 'action_description': str(n)})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert len(all_events(storage)) == 500
    assert chain_ok(storage)


def test_fsync_always_syncs_each_drained_batch(settings: Settings, storage: Path) -> None:
    """Group commit: after flush() every event is on disk, fsynced, in one chain."""
    writer = BackgroundWriter(settings.with_changes(fsync="always"))
    for n in range(300):
        writer.submit(event(n))
    assert writer.flush(30)
    assert writer.stats().written == 300
    assert len(all_events(storage)) == 300
    assert chain_ok(storage)
    writer.close()
