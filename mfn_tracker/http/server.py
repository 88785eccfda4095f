"""``mfn-tracker serve``: run the API under uvicorn on a socket bound here, with clear errors.

Binding the socket ourselves turns "address in use" into one line (not a uvicorn log and exit),
lets ``--port 0`` report the port it got, and keeps proxy headers off unless proxies are named:
a client on loopback must not be able to choose the ``source_ip`` the audit trail records.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import open_storage_dir

log = logging.getLogger("mfn_tracker.http")

GRACEFUL_SECONDS = 5  # open event streams are cut after this on shutdown


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    certfile: Path | None = None
    keyfile: Path | None = None
    forwarded_allow_ips: str | None = None
    cors_origins: tuple[str, ...] = ()
    log_level: str = "info"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; raises TrackerError naming the address when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        message = f"cannot resolve host {host!r}: {exc.strerror}"
        raise TrackerError(message, exit_code=EXIT_USAGE) from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise TrackerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def serve(settings: Settings, options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM; the shutdown flushes every recorded request to disk."""
    try:
        import uvicorn

        from mfn_tracker.http.app import create_app
    except ImportError as exc:
        raise TrackerError(
            f"the HTTP API needs the api extra (pip install 'mfn-tracker[api]'): {exc}"
        ) from None
    if (options.certfile is None) != (options.keyfile is None):
        raise TrackerError("give both --ssl-certfile and --ssl-keyfile", exit_code=EXIT_USAGE)
    # An unusable storage is one line now, not a server that answers 503 to everything.
    os.close(open_storage_dir(settings.storage_path, mode=settings.dir_mode))
    app = create_app(settings, cors_origins=options.cors_origins)
    sock = bind(options.host, options.port)
    config = uvicorn.Config(
        app,
        log_level=options.log_level,
        access_log=False,  # it prints raw query strings; the middleware records requests
        proxy_headers=options.forwarded_allow_ips is not None,
        forwarded_allow_ips=options.forwarded_allow_ips,
        ssl_certfile=str(options.certfile) if options.certfile else None,
        ssl_keyfile=str(options.keyfile) if options.keyfile else None,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        server_header=False,
    )
    scheme = "https" if options.certfile else "http"
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"mfn-tracker: serving {scheme}://{shown}:{port} (docs at /docs)", file=sys.stderr)
    if scheme == "http" and not _is_loopback(host):
        print(
            "mfn-tracker: warning: plain HTTP beyond loopback sends API keys in clear text; "
            "use --ssl-certfile/--ssl-keyfile or a TLS proxy",
            file=sys.stderr,
        )
    sys.stderr.flush()
    uvicorn.Server(config).run(sockets=[sock])


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
