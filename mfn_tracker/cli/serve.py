"""``mfn-tracker serve``: the HTTP API (optional extra ``mfn-tracker[api]``)."""

from __future__ import annotations

from pathlib import Path

import click

from mfn_tracker.settings import load_settings

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--ssl-certfile", type=_FILE, help="serve HTTPS with this certificate")
@click.option("--ssl-keyfile", type=_FILE, help="the certificate's private key")
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    help="proxies whose X-Forwarded-For is trusted (comma-separated); default: none",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="URL",
    help="let a browser dashboard at this origin call the API (repeatable)",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    *,
    host: str,
    port: int,
    ssl_certfile: Path | None,
    ssl_keyfile: Path | None,
    forwarded_allow_ips: str | None,
    cors_origins: tuple[str, ...],
    log_level: str,
) -> None:
    """Serve GET /events, /events/types, /events/stats, /events/stream and /health.

    Callers send a key in X-API-Key; OpenAPI docs at /docs. Stops cleanly on Ctrl-C or SIGTERM.
    """
    from mfn_tracker.http.server import ServeOptions
    from mfn_tracker.http.server import serve as run

    options = ServeOptions(
        host=host,
        port=port,
        certfile=ssl_certfile,
        keyfile=ssl_keyfile,
        forwarded_allow_ips=forwarded_allow_ips,
        cors_origins=cors_origins,
        log_level=log_level,
    )
    run(load_settings(), options)
