"""Serve the sample app in a process of its own: ``python -m tests.http.sample_server [--bare]``.

Prints ``serving http://127.0.0.1:PORT`` on stderr like ``mfn-tracker serve``; SIGTERM stops it
(and the lifespan shutdown flushes the middleware's queue). ``--bare`` serves the app without the
middleware: the floor the load benchmark compares against.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from mfn_tracker.http.server import bind
from mfn_tracker.settings import load_settings
from tests.http.sample_app import inner_app, sample_app


def main(argv: list[str]) -> None:
    app: Any = inner_app() if "--bare" in argv else sample_app(load_settings())
    sock = bind("127.0.0.1", 0)
    print(f"serving http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
