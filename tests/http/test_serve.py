"""``mfn-tracker serve`` as a user runs it: a real process, a real port, SIGTERM to stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers.cli import run_cli
from tests.helpers.events import all_events, chain_ok

ADMIN_KEY = "serve-admin-key-abcdef0123456789"


def test_serve_answers_then_stops_cleanly_on_sigterm(storage: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0", "--log-level", "warning"],
        env={**os.environ, "MFN_ADMIN_KEYS": ADMIN_KEY},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        r = httpx.get(f"{url}/events", headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        assert r.status_code == 200
        assert httpx.get(f"{url}/events", timeout=10).status_code == 403
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down
    kinds = [e["event_type"] for e in all_events(storage)]
    assert kinds[0] == "system_start"
    assert kinds[-1] == "system_stop"
    assert kinds.count("api_request") == 1  # the admin's read
    assert kinds.count("auth_failure") == 1  # the anonymous call
    assert chain_ok(storage)


def test_serve_refuses_a_busy_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), timeout=30)
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        f"mfn-tracker: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_serve_usage_errors() -> None:
    assert run_cli("serve", "--port", "70000").code == 2
    no_host = run_cli("serve", "--host", "no-such-host.invalid", timeout=30)
    assert no_host.code == 2
    assert "cannot resolve host" in no_host.err
    assert "Traceback" not in no_host.err


def test_serve_refuses_an_unsafe_storage_before_listening(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    result = run_cli("serve", "--port", "0", env={"MFN_EVENT_STORAGE_PATH": str(link)})
    assert result.code == 1
    assert "refusing storage" in result.err
    assert "symlink" in result.err
    assert "serving" not in result.err
