"""Pending markers: readers wait (bounded) for detached recorders; a killed one is a loss."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from mfn_tracker.store.pending import list_markers, pending_dir, wait_for_pending
from mfn_tracker.store.reader import Query, iter_events
from tests.helpers.events import all_events, chain_ok


def _marker(
    storage: Path,
    git_pid: int,
    shim_pid: int,
    hook: str,
    recorder: int | None,
    *,
    extra: str = "",
) -> Path:
    directory = pending_dir(storage)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{git_pid}.{shim_pid}.{hook}"
    data = b"mfn1\0/repo/x\0" + extra.encode() + b"\0" + b"0\0" + b"\0"
    if recorder is not None:
        data += str(recorder).encode() + b"\0"
    path.write_bytes(data)
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _waited(storage: Path, timeout: float) -> float:
    """How long ``wait_for_pending`` took, in seconds."""
    started = time.monotonic()
    wait_for_pending(storage, timeout=timeout)
    return time.monotonic() - started


def test_a_killed_recorder_is_recorded_as_lost(storage: Path) -> None:
    recorder = subprocess.Popen(["sleep", "30"])
    path = _marker(storage, _dead_pid(), _dead_pid(), "post-commit", recorder.pid)
    os.kill(recorder.pid, signal.SIGKILL)
    recorder.wait()
    started = time.monotonic()
    events = list(iter_events(storage, Query()))  # readers call wait_for_pending first
    assert time.monotonic() - started < 1.0  # a dead recorder is not waited for
    assert not path.exists()
    assert [e["event_type"] for e in events] == ["events_lost"]
    lost = events[0]
    assert lost["status"] == "failure"
    assert lost["repo"] == "/repo/x"
    assert lost["metadata"]["hook"] == "post-commit"
    wait_for_pending(storage)
    assert len(all_events(storage)) == 1  # claimed once, never twice
    assert chain_ok(storage)


def test_a_live_recorder_is_waited_for_within_the_bound(storage: Path) -> None:
    recorder = subprocess.Popen(["sleep", "30"])
    try:
        path = _marker(storage, _dead_pid(), _dead_pid(), "pre-push", recorder.pid)
        waited = _waited(storage, 0.3)
        assert 0.25 < waited < 2.0
        assert path.exists()
        assert all_events(storage) == []
    finally:
        recorder.kill()
        recorder.wait()


def test_waits_until_the_marker_is_gone(storage: Path) -> None:
    recorder = subprocess.Popen(["sleep", "30"])
    path = _marker(storage, _dead_pid(), _dead_pid(), "post-merge", recorder.pid)
    remover = subprocess.Popen(["sh", "-c", f"sleep 0.2; rm -f '{path}'"])
    try:
        assert 0.15 < _waited(storage, 5) < 3
        assert all_events(storage) == []  # written by its recorder, not lost
    finally:
        remover.wait()
        recorder.kill()
        recorder.wait()


def test_a_marker_still_being_written_counts_while_its_shim_lives(storage: Path) -> None:
    shim = subprocess.Popen(["sleep", "30"])
    try:
        path = _marker(storage, _dead_pid(), shim.pid, "post-commit", None)
        wait_for_pending(storage, timeout=0.2)
        assert path.exists()
        shim.kill()
        shim.wait()
        wait_for_pending(storage, timeout=0.2)
        assert not path.exists()
        assert [e["event_type"] for e in all_events(storage)] == ["events_lost"]
    finally:
        shim.kill()
        shim.wait()


def test_junk_in_the_pending_dir_is_ignored(storage: Path) -> None:
    directory = pending_dir(storage)
    directory.mkdir(parents=True, mode=0o700)
    (directory / "notes.txt").write_text("hello")
    (directory / "1.2.bad name").write_text("x")
    assert list_markers(storage) == []
    wait_for_pending(storage, timeout=0.1)
    assert (directory / "notes.txt").exists()
    assert all_events(storage) == []


def test_a_running_git_command_is_not_waited_for(storage: Path) -> None:
    """``git rebase -x "sleep 3"`` still running: its caller has not returned, readers go on."""
    git_proc = subprocess.Popen(["sleep", "30"])
    recorder = subprocess.Popen(["sleep", "30"])
    try:
        path = _marker(storage, git_proc.pid, _dead_pid(), "post-commit", recorder.pid)
        assert _waited(storage, 2.0) < 0.5
        assert path.exists()  # still its recorder's to write
        git_proc.kill()
        git_proc.wait()
        assert _waited(storage, 0.3) >= 0.25  # returned now: waited for (read-your-writes)
    finally:
        for proc in (git_proc, recorder):
            proc.kill()
            proc.wait()


def test_a_git_command_that_exited_unreaped_is_waited_for(storage: Path) -> None:
    """A zombie git (its caller has not collected it yet) has finished: read-your-writes."""
    git_proc = subprocess.Popen(["true"])
    recorder = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{git_proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _marker(storage, git_proc.pid, _dead_pid(), "post-commit", recorder.pid)
        assert _waited(storage, 0.3) >= 0.25
    finally:
        git_proc.wait()
        recorder.kill()
        recorder.wait()


def test_a_reused_git_pid_is_not_the_git_command(storage: Path) -> None:
    """The shim notes git's start time: another process with the same pid is not waited on."""
    other = subprocess.Popen(["sleep", "30"])
    recorder = subprocess.Popen(["sleep", "30"])
    try:
        start = int(Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        same = _marker(
            storage,
            other.pid,
            _dead_pid(),
            "post-commit",
            recorder.pid,
            extra=f"mfn-env\nMFN_GIT_START={start}",
        )
        assert _waited(storage, 0.3) < 0.2  # that git is still running: not waited for
        same.unlink()
        _marker(
            storage,
            other.pid,
            _dead_pid(),
            "post-commit",
            recorder.pid,
            extra=f"mfn-env\nMFN_GIT_START={start - 1}",
        )
        assert _waited(storage, 0.3) >= 0.25  # that git exited; its pid was reused
    finally:
        for proc in (other, recorder):
            proc.kill()
            proc.wait()
