"""Run an ASGI app under a real uvicorn on 127.0.0.1 (a free port) for the length of a test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn


@contextmanager
def running(app: Any, *, lifespan: str = "auto") -> Iterator[str]:
    """Serve ``app`` in a thread; yields the base URL; shuts the server down cleanly after."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan=lifespan,
        timeout_graceful_shutdown=3,
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        assert not thread.is_alive(), "uvicorn did not shut down"


@contextmanager
def process(argv: list[str], *, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run a server command that prints ``serving http://...`` on stderr; SIGTERM it after."""
    root = Path(__file__).resolve().parents[2]  # so `-m tests.http...` imports from anywhere
    proc = subprocess.Popen(
        argv, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE, text=True, cwd=root
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving (http://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {line}{proc.stderr.read()}")
        yield match.group(1)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        assert code in (0, -signal.SIGTERM), f"server exited with {code}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
