"""Commands about the tracker itself: ``schema`` and ``doctor``."""

from __future__ import annotations

import json

import click

from mfn_tracker.doctor import run_checks
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import load_settings


@click.command()
def schema() -> None:
    """Print the JSON Schema of one event line (for SIEMs and compliance tools)."""
    from mfn_tracker.model import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def doctor(fmt: str) -> None:
    """Check where events go, whether that place is safe and writable, and the settings."""
    checks = run_checks(load_settings())
    if fmt == "json":
        click.echo(json.dumps([c._asdict() for c in checks], indent=2))
    else:
        for check in checks:
            mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[check.state]
            click.echo(f"[{mark}] {check.name}: {check.detail}")
    failed = [c for c in checks if c.state == "fail"]
    if failed:
        raise TrackerError(f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}")
