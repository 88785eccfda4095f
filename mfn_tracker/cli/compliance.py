"""``verify``, ``checkpoint``, ``export``, ``report`` and ``retention``: thin click wrappers over
:mod:`mfn_tracker.compliance`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])
_PROGRESS_BYTES = 64 * 1024 * 1024  # below this, verify is too quick for a bar to help
_PAST = {"compress": "compressed", "delete": "deleted"}


def _range_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--date", "date_", help="One UTC day: YYYY-MM-DD, today, yesterday."),
            click.option("--since", help="From: ISO date/time, 2h, 7d, yesterday."),
            click.option("--until", help="Until (exclusive): same forms as --since."),
        ]
    ):
        func = option(func)
    return func


def _api_key_option(func: F) -> F:
    return click.option("--api-key", metavar="KEY", help="Your API key (better: set MFN_API_KEY).")(
        func
    )


def _read_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TrackerError(
            f"cannot read {what} {path}: {exc.strerror}", exit_code=EXIT_USAGE
        ) from None


def _checkpoint_records(paths: tuple[str, ...]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        for raw in _read_file(path, "checkpoint file").splitlines():
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise TrackerError(f"{path}: not a checkpoint export (JSON lines)") from None
            if not isinstance(record, dict):
                raise TrackerError(f"{path}: not a checkpoint export (JSON lines)")
            records.append(record)
    return records


@contextmanager
def _progress(
    settings: Settings, days: tuple[str, str] | None
) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and the range is large."""
    from mfn_tracker.compliance.verify import select_files

    total = sum(f.path.stat().st_size for f in select_files(settings.storage_path, days)[0])
    if not sys.stderr.isatty() or total < _PROGRESS_BYTES:
        yield None
        return
    with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
        yield lambda done: bar.update(min(done, total - bar.pos))


@click.command()
@_range_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Trust checkpoints signed with this Ed25519 public key (PEM); repeatable.",
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A checkpoint exported earlier (`checkpoint export`); repeatable.",
)
def verify(
    *,
    date_: str | None,
    since: str | None,
    until: str | None,
    fmt: str,
    public_keys: tuple[str, ...],
    checkpoints: tuple[str, ...],
) -> None:
    """Check every line: JSON, seq, the hash chain, time order, checkpoints; exit 1 on findings.

    Works on the files themselves (whoever can read the storage directory may run it).
    """
    from mfn_tracker.compliance.verify import day_range, render_text, verify_log

    settings = load_settings()
    days = day_range(date_=date_, since=since, until=until)
    keys = [_read_file(path, "public key") for path in public_keys]
    extra = _checkpoint_records(checkpoints)
    with _progress(settings, days) as on_progress:
        report = verify_log(
            settings, days=days, public_keys=keys, extra_checkpoints=extra, on_progress=on_progress
        )
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_text(report))
    if not report.ok:
        sys.exit(1)


@click.group()
def checkpoint() -> None:
    """Signed checkpoints of the hash chain (Ed25519; the key stays in the config directory)."""


@checkpoint.command("create")
def checkpoint_create() -> None:
    """Sign and record the chain head now (for a timer; the logger also does it every 1000
    events, every hour and when a day closes)."""
    from mfn_tracker.compliance.checkpoints import create_checkpoint

    made = create_checkpoint(load_settings())
    if not made:
        click.echo("nothing new since the last checkpoint")
    for entry in made:
        cp = entry["checkpoint"]
        click.echo(f"checkpoint: {cp['file']} seq {cp['head_seq']} ({cp['lines']} lines)")


@checkpoint.command("export")
def checkpoint_export() -> None:
    """Print the latest checkpoint (one JSON line, with the public key) to ship off the host."""
    from mfn_tracker.compliance.checkpoints import export_latest

    click.echo(json.dumps(export_latest(load_settings()), sort_keys=True))


@checkpoint.command("keygen")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def checkpoint_keygen(force: bool) -> None:
    """Create the signing key (config directory, mode 600)."""
    from mfn_tracker.compliance.checkpoints import generate_key

    click.echo(f"created {generate_key(load_settings(), force=force)}")


@checkpoint.command("public-key")
def checkpoint_public_key() -> None:
    """Print the public key (PEM) for reviewers: `verify --public-key FILE`."""
    from mfn_tracker.compliance.checkpoints import public_key_pem

    click.echo(public_key_pem(load_settings()).decode(), nl=False)


def _admin(settings: Settings, api_key: str | None, what: str) -> Any:
    """The caller, who must hold an admin key."""
    from mfn_tracker.access import authenticate
    from mfn_tracker.errors import AccessDenied

    caller = authenticate(settings, api_key or settings.api_key, channel="cli")
    if not caller.is_admin:
        raise AccessDenied(f"{what} needs an admin key")
    return caller


@click.group()
def retention() -> None:
    """Compress and delete whole day files by age (admin only; each action is recorded)."""


@retention.command("apply")
@click.option(
    "--compress-after", default="7d", show_default=True, help="gzip days older than this."
)
@click.option(
    "--delete-after",
    default="365d",
    show_default=True,
    help="Delete days older than this ('never' keeps all).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@_api_key_option
def retention_apply(
    *, compress_after: str, delete_after: str, dry_run: bool, api_key: str | None
) -> None:
    """Apply the retention policy now (never today's file, never the chain head's)."""
    from mfn_tracker.compliance import retention as policy_module

    settings = load_settings()
    caller = _admin(settings, api_key, "retention")
    policy = policy_module.policy_from_spans(compress_after, delete_after)
    done = policy_module.apply(
        settings, policy, user_id=caller.user_id, key_id=caller.key_id, dry_run=dry_run
    )
    if not done:
        click.echo("nothing to do")
    for item in done:
        verb = f"would {item['action']}" if dry_run else _PAST[item["action"]]
        detail = "" if dry_run else f" ({item['lines']} lines, head seq {item['head_seq']})"
        click.echo(f"{verb} {item['file']}{detail}")


def _scoped_read(api_key: str | None, **filters: Any) -> tuple[Settings, Any, Any, dict[str, Any]]:
    """Authenticate, build and scope the query: (settings, caller, query, scope for manifests)."""
    from mfn_tracker.access import authenticate, scope
    from mfn_tracker.logger import build_query

    settings = load_settings()
    caller = authenticate(settings, api_key or settings.api_key, channel="cli")
    types = filters.pop("types", None) or None
    query = build_query(event_type=list(types) if types else None, newest_first=False, **filters)
    query, note = scope(caller, query)
    if note:
        click.echo(f"mfn-tracker: note: {note}", err=True)
    shown = {"role": caller.role, "user": caller.user_id, "key_id": caller.key_id}
    return settings, caller, query, shown


def _record(settings: Settings, caller: Any, command: str, query: Any, **extra: object) -> None:
    from mfn_tracker.access import record_read

    filters = {"since": query.since, "until": query.until, "types": query.types}
    filters |= {"status": query.status, "user": query.user, "repo": query.repo, **extra}
    record_read(settings, caller, command=command, filters=filters)


@contextmanager
def _private_output(path: Path) -> Iterator[Any]:
    """Write ``path`` (mode 600: it holds audit data) atomically: a temp file, then rename."""
    import os

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
    except OSError as exc:
        raise TrackerError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            yield stream
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@click.command()
@_range_options
@click.option("--type", "types", multiple=True, help="Event type (repeatable).")
@click.option("--user", help="Only this user's events (admins; a user key sees its own).")
@click.option("--repo", help="Only events of this repository (absolute path).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv", "ecs", "ocsf"]), default="jsonl"
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest file (default with -o: OUTPUT.manifest.json).",
)
@_api_key_option
def export(
    *,
    date_: str | None,
    since: str | None,
    until: str | None,
    types: tuple[str, ...],
    user: str | None,
    repo: str | None,
    fmt: str,
    output: Path | None,
    manifest: Path | None,
    api_key: str | None,
) -> None:
    """Export events (scoped by your key) as JSON lines, CSV, ECS or OCSF, with a manifest
    (range, counts, chain head, checkpoint, SHA-256 of the export)."""
    from mfn_tracker.compliance.export import export_events

    settings, caller, query, shown = _scoped_read(
        api_key, date=date_, since=since, until=until, types=types, user_id=user, repo=repo
    )
    if output is not None:
        with _private_output(output) as stream:
            result = export_events(settings, query, fmt, stream, scope=shown, file_name=output.name)
        manifest = manifest or output.with_name(output.name + ".manifest.json")
    else:
        result = export_events(settings, query, fmt, sys.stdout.buffer, scope=shown)
    if manifest is not None:
        with _private_output(manifest) as stream:
            stream.write(json.dumps(result, indent=2).encode() + b"\n")
    _record(settings, caller, "export", query, format=fmt)
    click.echo(
        f"mfn-tracker: exported {result['counts']['events']} events, sha256 {result['sha256']}",
        err=True,
    )


@click.command()
@_range_options
@click.option("--user", help="Only this user's events (admins; a user key sees its own).")
@click.option("--repo", help="Only events of this repository (absolute path).")
@click.option("--format", "fmt", type=click.Choice(["html", "text"]), default="html")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
@_api_key_option
def report(
    *,
    date_: str | None,
    since: str | None,
    until: str | None,
    user: str | None,
    repo: str | None,
    fmt: str,
    output: Path | None,
    api_key: str | None,
) -> None:
    """A review report (scoped by your key): one self-contained HTML page, or a text summary
    like `aureport --summary`."""
    from mfn_tracker.compliance import report as reporting
    from mfn_tracker.compliance.verify import day_range

    settings, caller, query, shown = _scoped_read(
        api_key, date=date_, since=since, until=until, user_id=user, repo=repo
    )
    days = day_range(date_=None, since=query.since, until=query.until)
    data = reporting.collect(settings, query, scope=shown, verify_days=days)
    text = reporting.render_html(data) if fmt == "html" else reporting.render_text(data)
    if output is not None:
        with _private_output(output) as stream:
            stream.write(text.encode())
        click.echo(f"mfn-tracker: wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
    _record(settings, caller, "report", query, format=fmt)
