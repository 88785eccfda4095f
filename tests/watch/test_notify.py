"""sd_notify over a real datagram socket, as systemd receives it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from mfn_tracker.watch.notify import notify, watchdog_interval


def test_notify_reaches_the_socket_and_never_blocks(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert notify("READY=1\nSTATUS=x", {"NOTIFY_SOCKET": str(path)})
        assert sock.recv(100) == b"READY=1\nSTATUS=x"
        for _ in range(5000):  # nobody reads: messages are dropped, the caller goes on
            notify("WATCHDOG=1", {"NOTIFY_SOCKET": str(path)})
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "missing")})


def test_watchdog_interval() -> None:
    pid = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None
