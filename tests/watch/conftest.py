"""A real watcher process per test: started on a real tree, driven by real signals.

Readiness comes from the daemon's own sd_notify READY=1, received on a NOTIFY_SOCKET the test
binds, exactly as systemd would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.events import all_events

FILE_TYPES = {"file_create", "file_change", "file_delete", "file_move"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    for rel, text in (files or {"README.md": "hello\n"}).items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return path


class Watcher:
    """``mfn-tracker watch`` in a subprocess, with the notify messages it sent."""

    def __init__(self, storage: Path, roots: list[Path], tmp: Path, *extra: str) -> None:
        self.storage, self.roots = storage, roots
        self.sock_path = tmp / f"notify-{time.monotonic_ns()}.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.messages: list[str] = []
        env = {**os.environ, "NOTIFY_SOCKET": str(self.sock_path)}
        args = [sys.executable, "-m", "mfn_tracker", "watch", *map(str, roots), "--settle", "0.1"]
        self.log = tmp / f"watcher-{time.monotonic_ns()}.log"
        with self.log.open("w") as log:  # a file, not a pipe nobody drains
            self.proc = subprocess.Popen([*args, *extra], env=env, stderr=log)

    def wait_ready(self, timeout: float = 60) -> float:
        start = time.monotonic()
        self.sock.settimeout(0.2)
        threading.Thread(target=self._drain, daemon=True).start()
        while time.monotonic() - start < timeout:
            if any("READY=1" in m.split("\n") for m in self.messages):
                return time.monotonic() - start
            if self.proc.poll() is not None:
                raise AssertionError(f"watcher exited: {self.log.read_text()}")
            time.sleep(0.01)
        raise AssertionError("no READY=1 from the watcher")

    def _drain(self) -> None:
        """Keep reading notify messages, as systemd does."""
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 120) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.sock.close()
        return code

    def events(self) -> list[dict[str, Any]]:
        """Complete lines only: the daemon may be mid-append while we read."""
        if self.proc.poll() is not None:
            return all_events(self.storage) if self.storage.exists() else []
        events = []
        for path in sorted(self.storage.glob("events_*.jsonl")):
            data = path.read_bytes()
            events.extend(json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines())
        return sorted(events, key=lambda e: e["seq"])

    def file_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event_type"] in FILE_TYPES]

    def wait_for(
        self, pred: Callable[[list[dict[str, Any]]], bool], timeout: float = 30
    ) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while True:
            events = self.file_events()
            if pred(events):
                return events
            if time.monotonic() > end:
                raise AssertionError(f"timed out; file events so far: {summary(events)[-20:]}")
            time.sleep(0.05)

    def settle(self, quiet: float = 0.8, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until no new event arrived for ``quiet`` seconds."""
        end = time.monotonic() + timeout
        count, since = -1, time.monotonic()
        while time.monotonic() < end:
            n = len(self.events())
            if n != count:
                count, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        return self.file_events()


def summary(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    out = []
    for e in events:
        meta = e.get("metadata") or {}
        row = (e["event_type"], *(e.get("files_changed") or []))
        out.append((*row, meta["old_path"]) if meta.get("old_path") else row)
    return out


@pytest.fixture
def start_watcher(storage: Path, tmp_path: Path) -> Iterator[Callable[..., Watcher]]:
    started: list[Watcher] = []

    def start(*roots: Path, extra: tuple[str, ...] = ()) -> Watcher:
        w = Watcher(storage, list(roots), tmp_path, *extra)
        started.append(w)
        w.wait_ready()
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            os.kill(w.proc.pid, signal.SIGCONT)
            w.stop()
