"""``mfn-tracker watch`` and ``service``: thin click wrappers over ``mfn_tracker.watch``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mfn_tracker.errors import EXIT_DENIED, TrackerError
from mfn_tracker.settings import load_settings


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--settle",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0.01, 10),
    help="Seconds a path must be quiet before it is compared with the baseline.",
)
@click.option(
    "--max-delay",
    default=3.0,
    show_default=True,
    type=click.FloatRange(0.05, 60),
    help="Seconds after which a continuously written file is recorded anyway.",
)
@click.option(
    "--hash-cap-mb",
    default=64,
    show_default=True,
    type=click.IntRange(0, 1 << 20),
    help="Files larger than this are compared by size and mtime, not hashed.",
)
def watch(paths: tuple[str, ...], settle: float, max_delay: float, hash_cap_mb: int) -> None:
    """Record file creates, changes, deletes and moves under PATHS (runs in the foreground).

    Stops cleanly on SIGTERM / SIGINT (pending events are written first); SIGHUP reloads the
    ignore rules. Under systemd it speaks sd_notify (READY=1, WATCHDOG=1, STATUS=).
    """
    from mfn_tracker.watch.daemon import WatchConfig, resolve_roots, run_watch

    settings = load_settings()
    roots = resolve_roots(paths, settings)
    config = WatchConfig(
        roots, settle=settle, max_delay=max(max_delay, settle), hash_cap=hash_cap_mb << 20
    )
    code = run_watch(settings, config)
    if code:
        raise click.exceptions.Exit(code)


@click.group()
def service() -> None:
    """Run the watcher as a systemd service."""


@service.command("install")
@click.argument("path", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--user",
    "scope",
    flag_value="user",
    default=True,
    help="Install for your user manager (systemctl --user), the default.",
)
@click.option(
    "--system", "scope", flag_value="system", help="Install the system template unit (needs root)."
)
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Print the unit and the instance name instead of installing.",
)
def install(path: str, scope: str, print_only: bool) -> None:
    """Write the watcher's unit for PATH and enable it (systemd-escaped path as instance)."""
    from mfn_tracker.watch.service import install as do_install
    from mfn_tracker.watch.service import plan_install

    plan = plan_install(Path(path), scope=scope)
    if print_only:
        click.echo(f"# {plan.unit_path}  (enable: {plan.instance})")
        click.echo(plan.text, nl=False)
        return
    if scope == "system" and os.geteuid() != 0:
        raise TrackerError("service install --system needs root", exit_code=EXIT_DENIED)
    for line in do_install(plan):
        click.echo(line)
