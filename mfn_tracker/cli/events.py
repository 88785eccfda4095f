"""``mfn-tracker events list|types|stats|tail`` and ``check``: thin wrappers over the access and
query packages. Notes and problems go to stderr, so stdout stays clean for ``jq``."""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings, load_settings

if TYPE_CHECKING:  # `events types` reads nothing: it need not load the reader
    from mfn_tracker.access import Caller
    from mfn_tracker.store.reader import Problem, Query

F = TypeVar("F", bound=Callable[..., Any])
ALL_TIME = "1970-01-01"
MAX_CURSOR = 1 << 62  # a seq; larger numbers cannot be one (and overflow SQLite's integers)


def _parse_limit(_ctx: click.Context, param: click.Parameter, value: str) -> int | None:
    """A count from 1 to ``MAX_LIMIT``, or ``all`` (None)."""
    from mfn_tracker.query import MAX_LIMIT

    text = value.strip().lower()
    if text == "all":
        return None
    if text.isdigit() and 1 <= int(text) <= MAX_LIMIT:
        return int(text)
    raise click.BadParameter(f"{value!r} is not a number from 1 to {MAX_LIMIT} (or 'all')")


def _api_key_option(func: F) -> F:
    return click.option(
        "--api-key",
        metavar="KEY",
        help="Your API key (better: set MFN_API_KEY, so it stays out of `ps`).",
    )(func)


def _filter_options(*, dates: bool = True) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        options = [
            click.option("--type", "types", multiple=True, help="Event type (repeatable)."),
            click.option("--status", help="success, failure, pending or in_progress."),
            click.option("--user", help="Only this user's events (admins only; users: own)."),
            click.option("--repo", help="Only events of this repository (absolute path)."),
        ]
        if dates:
            options += [
                click.option("--date", help="One UTC day: YYYY-MM-DD, today, yesterday."),
                click.option("--since", help="From: ISO date/time, 2h, 7d, yesterday."),
                click.option("--until", help="Until (exclusive): same forms as --since."),
            ]
        for option in reversed(options):
            func = option(func)
        return _api_key_option(func)

    return decorate


class _Read(NamedTuple):  # not a dataclass: defining one adds ~1 ms to every command's start
    settings: Settings
    caller: Caller
    query: Query
    filters: dict[str, object]
    note: str | None = None
    requested_user: str | None = None  # the --user asked for, before scoping


def _open_read(api_key: str | None, **filters: Any) -> _Read:
    """Authenticate, validate the filters and scope them to the caller: every read starts here."""
    from mfn_tracker.access import authenticate, scope
    from mfn_tracker.logger import build_query

    settings = load_settings()
    caller = authenticate(settings, api_key or settings.api_key, channel="cli")
    types = filters.pop("types", None) or None
    query = build_query(
        event_type=list(types) if types else None,
        user_id=filters.pop("user", None),
        **filters,
    )
    requested_user = query.user
    query, note = scope(caller, query)
    if note:
        click.echo(f"mfn-tracker: note: {note}", err=True)
    shown: dict[str, object] = {
        "since": query.since,
        "until": query.until,
        "types": query.types,
        "status": query.status,
        "user": query.user,
        "repo": query.repo,
    }
    return _Read(settings, caller, query, shown, note, requested_user)


def _record(read: _Read, command: str, **extra: object) -> None:
    from mfn_tracker.access import record_read

    record_read(
        read.settings,
        read.caller,
        command=command,
        filters={**read.filters, **extra},
        requested_user=read.requested_user,
    )


def _fail_on_problems(problems: Iterable[Problem]) -> None:
    found = list(problems)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise TrackerError(
            f"{len(found)} unreadable line(s) skipped: {found[0]}{more}; "
            "run `mfn-tracker verify` for details"
        )


def _width() -> int:
    if not sys.stdout.isatty():
        return 0
    import shutil  # only for a terminal: it loads bz2 and lzma, which a pipe does not need

    return shutil.get_terminal_size().columns


@click.group()
def events() -> None:
    """Query the audit log (needs an API key: --api-key or MFN_API_KEY)."""
    # The interpreter's last garbage collection, over every object of every module loaded,
    # took 20 ms of each command's 0.15-0.2 s (measured) and frees nothing the exit does not:
    # objects frozen at exit are left to the OS. Files are closed and atexit hooks run as usual.
    atexit.register(gc.freeze)


@events.command("list")
@_filter_options()
@click.option("--limit", default="100", callback=_parse_limit, help="N (default 100) or all.")
@click.option("--offset", type=click.IntRange(0, 10**9), default=0, help="Skip N matches.")
@click.option(
    "--cursor", type=click.IntRange(0, MAX_CURSOR), help="Continue after this seq (next_cursor)."
)
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "jsonl", "csv"]), default="table"
)
def list_command(
    *,
    api_key: str | None,
    limit: int | None,
    offset: int,
    cursor: int | None,
    oldest_first: bool,
    fmt: str,
    **filters: Any,
) -> None:
    """List matching events, newest first (default: today, 100 events)."""
    from mfn_tracker.access import plain_filters
    from mfn_tracker.query import list_events, output

    read = _open_read(
        api_key, limit=limit, offset=offset, cursor=cursor, newest_first=not oldest_first, **filters
    )
    page = list_events(read.settings, read.query)
    _record(read, "events list", limit=limit, offset=offset, cursor=cursor)
    if fmt == "json":
        document = output.json_document(
            page.events,
            next_cursor=page.next_cursor,
            filters_applied=plain_filters(read.filters),
            note=read.note,
            problems=[str(p) for p in page.problems],
        )
        click.echo(document)
    elif fmt == "jsonl":
        _echo_lines(output.jsonl_lines(page.events))
    elif fmt == "csv":
        _echo_lines(output.csv_lines(page.events))
    else:
        _echo_lines(output.table_lines(page.events, width=_width()))
        if not page.events and not page.problems:
            click.echo("mfn-tracker: no matching events", err=True)
    if page.next_cursor is not None and fmt == "table":
        click.echo(f"mfn-tracker: more: --cursor {page.next_cursor}", err=True)
    _fail_on_problems(page.problems)


def _echo_lines(lines: Iterable[str]) -> None:
    """Write lines a thousand at a time: with an unbuffered stdout (PYTHONUNBUFFERED), one
    write per line costs a system call each."""
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) == 1000:
            sys.stdout.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        sys.stdout.write("\n".join(batch) + "\n")
    sys.stdout.flush()


@events.command("types")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def types_command(fmt: str) -> None:
    """Every event type with its description (no key needed: nothing from the log is shown)."""
    from mfn_tracker.query import output
    from mfn_tracker.types import EVENT_DESCRIPTIONS

    if fmt == "json":
        rows = [{"event_type": k, "description": v} for k, v in EVENT_DESCRIPTIONS.items()]
        click.echo(output.json_text(rows))
    else:
        _echo_lines(output.key_value_lines(EVENT_DESCRIPTIONS))


@events.command("stats")
@_filter_options()
@click.option("--by", "bucket", type=click.Choice(["hour", "day"]), default="day")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def stats_command(api_key: str | None, bucket: str, fmt: str, **filters: Any) -> None:
    """The seed's figures over a day or range (default: today): totals, by type, status, user
    (admins), repo, and per hour or day."""
    from mfn_tracker.query import compute_stats, output

    read = _open_read(api_key, **filters)
    stats = compute_stats(
        read.settings, read.query, include_users=read.caller.is_admin, bucket=bucket
    )
    _record(read, "events stats", bucket=bucket)
    problems = stats.pop("problems")
    if fmt == "json":
        click.echo(output.json_text({**stats, "problems": problems}))
    else:
        _echo_lines(output.stats_lines(stats))
    if problems:
        raise TrackerError(f"{len(problems)} unreadable line(s) skipped: {problems[0]}")


@events.command("tail")
@_filter_options(dates=False)
@click.option("-n", "--lines", "count", type=click.IntRange(1, 10_000), default=10)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they arrive.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table")
def tail_command(api_key: str | None, count: int, follow: bool, fmt: str, **filters: Any) -> None:
    """The last N events, then (with --follow) new ones as they are written. Ctrl-C stops.
    Following ends (exit 3) once the key is revoked."""
    from mfn_tracker.access import AccessDenied, KeyCheck
    from mfn_tracker.query import output, tail_events

    read = _open_read(api_key, since=ALL_TIME, **filters)
    _record(read, "events tail", count=count, follow=follow)
    problems: list[Problem] = []
    key = KeyCheck(read.settings, read.caller)
    stream = tail_events(
        read.settings,
        read.query,
        count=count,
        follow=follow,
        problems=problems.append,
        stop=lambda: not key.still_valid(),
    )
    width = _width()
    render = output.jsonl_line if fmt == "jsonl" else partial(output.row_line, width=width)
    try:
        for event in stream:
            click.echo(render(event))
            sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C is how one stops following: not an error
        pass
    if key.revoked:
        raise AccessDenied("access denied: the key was revoked")
    _fail_on_problems(problems)


@click.command()
@_api_key_option
@click.option("--window", default="15m", show_default=True, help="How far back: 15m, 2h, 1d.")
@click.option("--auth-warn", type=click.IntRange(1), default=5, show_default=True)
@click.option("--auth-crit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--error-rate-warn", type=click.FloatRange(0, 100), default=5.0, show_default=True)
@click.option("--error-rate-crit", type=click.FloatRange(0, 100), default=20.0, show_default=True)
@click.option("--rate-warn", type=click.FloatRange(0), help="Events per minute at or above.")
@click.option("--rate-crit", type=click.FloatRange(0), help="Events per minute at or above.")
@click.option("--min-events-warn", type=click.IntRange(0), help="Events in window at or below.")
@click.option("--min-events-crit", type=click.IntRange(0), help="Events in window at or below.")
@click.option("--storage-warn", help="Day files' total size at or above (e.g. 5G).")
@click.option("--storage-crit", help="Day files' total size at or above (e.g. 10G).")
def check(*, api_key: str | None, window: str, **limits: Any) -> None:
    """Monitoring plugin (Nagios/Icinga): exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

    Needs an admin key: it measures every user's activity.
    """
    from mfn_tracker.access import AccessDenied
    from mfn_tracker.query.check import Limit, Thresholds, parse_size, run_check
    from mfn_tracker.store.timestamps import format_ms, now_ms
    from mfn_tracker.timerange import parse_span

    read = _open_read(api_key, since=ALL_TIME)
    if not read.caller.is_admin:
        raise AccessDenied("check needs an admin key (it measures every user's activity)")
    try:
        storage = [
            parse_size(v) if v else None for v in (limits["storage_warn"], limits["storage_crit"])
        ]
        thresholds = Thresholds(
            window_ms=parse_span(window),
            auth_failures=Limit(limits["auth_warn"], limits["auth_crit"]),
            error_rate_pct=Limit(limits["error_rate_warn"], limits["error_rate_crit"]),
            events_per_min=Limit(limits["rate_warn"], limits["rate_crit"]),
            min_events=Limit(limits["min_events_warn"], limits["min_events_crit"], low=True),
            storage_bytes=Limit(storage[0], storage[1]),
        )
        result = run_check(read.settings, read.query, thresholds)
        read.filters["since"] = format_ms(now_ms() - thresholds.window_ms)
        _record(read, "check", window=window)
    except TrackerError as exc:
        click.echo(f"MFN-TRACKER UNKNOWN - {exc}")
        sys.exit(3)
    click.echo(result.line)
    sys.exit(result.code)
