"""``events list|stats|tail|types`` and ``check`` as users run them: every role on every read."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mfn_tracker.access.keys import create_key, revoke_key
from mfn_tracker.settings import Settings
from mfn_tracker.store.timestamps import format_ms, now_ms
from mfn_tracker.store.writer import EventWriter
from tests.helpers.cli import CliResult, run_cli
from tests.helpers.events import all_events

DAY_MS = 86_400_000
CLI = [sys.executable, "-m", "mfn_tracker"]


@dataclass(frozen=True)
class Keys:
    admin: str
    alice: str
    bob: str
    revoked: str


def _log(settings: Settings) -> None:
    """Three users, two days, several types, statuses and repos."""
    writer = EventWriter(settings)
    yesterday = format_ms(now_ms() - DAY_MS)
    try:
        for i, (user, kind, status, repo) in enumerate(
            [
                ("alice", "commit", "success", "/r/one"),
                ("alice", "push", "failure", "/r/two"),
                ("alice", "fetch", "success", None),
                ("bob", "commit", "success", "/r/one"),
                ("bob", "push", "success", "/r/one"),
                ("carol", "merge", "failure", "/r/two"),
                ("carol", "push", "success", None),
            ]
        ):
            for when in (None, yesterday):
                writer.write(
                    {
                        "event_type": kind,
                        "user_id": user,
                        "action_description": f"{kind} number {i}",
                        "status": status,
                        "repo": repo,
                        "duration_ms": 10 * i,
                        "timestamp": when,
                    }
                )
    finally:
        writer.close()


@pytest.fixture
def keys(settings: Settings) -> Keys:
    _log(settings)
    _r, admin = create_key(settings, user_id="root", role="admin")
    _r, alice = create_key(settings, user_id="alice", role="user")
    _r, bob = create_key(settings, user_id="bob", role="user")
    record, revoked = create_key(settings, user_id="bob", role="user")
    revoke_key(settings, record.key_id)
    return Keys(admin, alice, bob, revoked)


def _as(key: str | None, *args: str) -> CliResult:
    env = {"MFN_API_KEY": key} if key else None
    return run_cli(*args, env=env)


def _jsonl(result: CliResult) -> list[dict[str, Any]]:
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


READS = [
    ("events", "list", "--since", "7d"),
    ("events", "stats", "--since", "7d"),
    ("events", "tail"),
    ("check",),
]


@pytest.mark.parametrize("command", READS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("who", ["anonymous", "unknown", "revoked"])
def test_denied_callers_get_exit_3_and_nothing(
    settings: Settings, keys: Keys, command: tuple[str, ...], who: str
) -> None:
    key = {"anonymous": None, "unknown": "mfn_not-a-real-key-000000000", "revoked": keys.revoked}
    before = len(all_events(settings.storage_path))
    result = _as(key[who], *command)
    assert result.code == 3
    assert result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    after = all_events(settings.storage_path)
    new = after[before:]
    if who == "anonymous":
        assert new == []
    else:
        [failure] = new
        assert failure["event_type"] == "auth_failure"
        assert failure["metadata"]["key_hash_prefix"]
        assert "api_request" not in {e["event_type"] for e in new}


def test_a_bad_key_on_the_command_line_is_denied_too(keys: Keys) -> None:
    result = run_cli("events", "list", "--api-key", "wrong")
    assert (result.code, result.out) == (3, "")


def test_admin_sees_everything_on_every_read(settings: Settings, keys: Keys) -> None:
    listed = _jsonl(_as(keys.admin, "events", "list", "--since", "7d", "--format", "jsonl"))
    assert {e["user_id"] for e in listed} >= {"alice", "bob", "carol"}
    stats = json.loads(_as(keys.admin, "events", "stats", "--since", "7d", "--format", "json").out)
    assert set(stats["by_user"]) >= {"alice", "bob", "carol"}
    assert stats["total"] >= 14
    other = _jsonl(_as(keys.admin, "events", "list", "--user", "carol", "--format", "jsonl"))
    assert other and {e["user_id"] for e in other} == {"carol"}
    tail = _jsonl(_as(keys.admin, "events", "tail", "-n", "50", "--format", "jsonl"))
    assert {e["user_id"] for e in tail} >= {"alice", "bob", "carol"}
    check = _as(keys.admin, "check")
    assert check.code == 0 and check.out.startswith("MFN-TRACKER OK - ") and "|" in check.out


FILTERS = [
    (),
    ("--user", "carol"),
    ("--user", "alice"),
    ("--type", "push"),
    ("--type", "merge", "--type", "commit"),
    ("--status", "failure"),
    ("--repo", "/r/one"),
    ("--user", "bob", "--type", "push", "--repo", "/r/one"),
]


def _expected(storage: Path, user: str, filters: tuple[str, ...]) -> int:
    """How many of ``user``'s original events (not audit records) the filters keep."""
    pairs = dict(zip(filters[::2], filters[1::2], strict=True))
    types = [v for k, v in zip(filters[::2], filters[1::2], strict=True) if k == "--type"]
    return sum(
        1
        for e in all_events(storage)
        if e["user_id"] == user
        and e["event_type"] not in ("api_request", "auth_api_key")
        and (not types or e["event_type"] in types)
        and e["status"] == pairs.get("--status", e["status"])
        and e.get("repo") == pairs.get("--repo", e.get("repo"))
    )


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: " ".join(f) or "none")
def test_a_user_sees_only_its_own_events_through_every_filter(
    settings: Settings, keys: Keys, filters: tuple[str, ...]
) -> None:
    expected = _expected(settings.storage_path, "alice", filters)
    base = ("--since", "7d", *filters)
    listed = _jsonl(_as(keys.alice, "events", "list", *base, "--format", "jsonl"))
    assert {e["user_id"] for e in listed} <= {"alice"}
    assert len([e for e in listed if e["event_type"] != "api_request"]) == expected
    stats = _as(keys.alice, "events", "stats", *base, "--format", "json")
    figures = json.loads(stats.out)
    assert "by_user" not in figures
    assert figures["unique_users"] <= 1
    assert figures["total"] - figures["by_type"].get("api_request", 0) == expected
    tail = _jsonl(_as(keys.alice, "events", "tail", "-n", "100", *filters, "--format", "jsonl"))
    assert {e["user_id"] for e in tail} <= {"alice"}
    assert len([e for e in tail if e["event_type"] != "api_request"]) == expected
    if "--user" in filters and "alice" not in filters:
        assert "not" in stats.err and "alice" in stats.err  # the note says it was overridden
        as_json = json.loads(_as(keys.alice, "events", "list", *base, "--format", "json").out)
        assert as_json["note"] and as_json["filters_applied"]["user"] == "alice"


def test_a_user_may_not_run_the_monitoring_check(keys: Keys) -> None:
    result = _as(keys.bob, "check")
    assert (result.code, result.out) == (3, "")


def test_every_successful_read_is_recorded(settings: Settings, keys: Keys) -> None:
    _as(keys.bob, "events", "list", "--type", "push", "--user", "carol")
    _as(keys.admin, "events", "stats", "--date", "today")
    reads = [e for e in all_events(settings.storage_path) if e["event_type"] == "api_request"]
    assert [r["user_id"] for r in reads] == ["bob", "root"]
    bob, root = (r["metadata"] for r in reads)
    assert bob["command"] == "events list" and bob["role"] == "user"
    assert bob["filters"]["user"] == "bob" and bob["filters"]["types"] == ["push"]
    assert root["command"] == "events stats" and "user" not in root["filters"]


def test_keys_are_never_stored_in_plain_text(settings: Settings, keys: Keys) -> None:
    for key in (keys.admin, keys.alice, keys.revoked, "mfn_guess-guess-guess-guess-guess"):
        _as(key, "events", "list")
    stored = b"".join(
        p.read_bytes()
        for root in (settings.storage_path, settings.config_dir)
        for p in root.rglob("*")
        if p.is_file()
    )
    for key in (keys.admin, keys.alice, keys.bob, keys.revoked):
        assert key.encode() not in stored
        assert key[4:20].encode() not in stored


def test_types_need_no_key_and_list_every_type() -> None:
    from mfn_tracker.types import EVENT_DESCRIPTIONS

    result = run_cli("events", "types", "--format", "json")
    assert result.code == 0
    assert [t["event_type"] for t in json.loads(result.out)] == list(EVENT_DESCRIPTIONS)


def test_table_output_is_aligned(keys: Keys) -> None:
    result = _as(keys.admin, "events", "list", "--date", "today", "--limit", "5")
    lines = result.out.splitlines()
    assert lines[0].startswith("TIME (UTC)") and len(lines) == 6
    column = lines[0].index("TYPE")
    assert all(line[column - 2 : column] == "  " for line in lines)


def test_paging_with_cursor_walks_every_event_once(keys: Keys) -> None:
    seen: list[int] = []
    args = ["events", "list", "--since", "7d", "--user", "bob", "--limit", "1", "--format", "json"]
    cursor: int | None = None
    for _ in range(10):
        extra = ["--cursor", str(cursor)] if cursor is not None else []
        page = json.loads(_as(keys.admin, *args, *extra).out)
        seen += [e["seq"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    whole = json.loads(_as(keys.admin, *args[:-4], "--format", "json").out)
    assert seen == [e["seq"] for e in whole["events"]]  # newest day first, each seen once
    assert len(seen) == 4 == len(set(seen))


@pytest.mark.parametrize(
    "args",
    [
        ("--date", "2026-02-30"),
        ("--date", "../../etc"),
        ("--since", "next tuesday"),
        ("--type", "nope"),
        ("--status", "maybe"),
        ("--limit", "-1"),
        ("--limit", "0"),
        ("--limit", "99999999999999999999"),
        ("--offset", "-5"),
        ("--date", "2026-03-01", "--since", "1d"),
        ("--cursor", "99999999999999999999"),
        ("--cursor", str(1 << 63)),
        ("--user", "\udcff"),  # a non-UTF-8 byte on the command line
        ("--repo", "/r/\udcfe\udcff"),
        ("--date", "9999-12-31"),  # its end is past the last representable day
    ],
    ids=" ".join,
)
def test_bad_input_is_one_clear_line(keys: Keys, args: tuple[str, ...]) -> None:
    result = _as(keys.admin, "events", "list", *args)
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err
    assert len([line for line in result.err.splitlines() if "rror" in line]) == 1


def test_a_corrupt_day_file_still_shows_the_rest_and_fails(settings: Settings, keys: Keys) -> None:
    day_file = sorted(settings.storage_path.glob("events_*.jsonl"))[-1]
    with day_file.open("ab") as stream:
        stream.write(b"\x00\xff garbage that is not an event\n")
    result = _as(keys.admin, "events", "list", "--format", "jsonl")
    assert result.code == 1
    assert len(result.out.splitlines()) >= 7
    [line] = result.err.strip().splitlines()
    assert "unreadable line" in line and day_file.name in line


def test_a_corrupt_compressed_day_is_one_clear_line(settings: Settings, keys: Keys) -> None:
    day = format_ms(now_ms() - 3 * DAY_MS)[:10]
    (settings.storage_path / f"events_{day}.jsonl.gz").write_bytes(b"\x1f\x8b not gzip at all")
    result = _as(keys.admin, "events", "list", "--date", day)
    assert result.code == 1 and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_an_unreadable_storage_directory_is_one_clear_line(
    settings: Settings, tmp_path: Path
) -> None:
    """As root, permissions are enforced by dropping the capabilities that bypass them."""
    storage = tmp_path / "locked"
    storage.mkdir(mode=0o700)
    storage.chmod(0)
    prefix = (
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    )
    env = {
        **os.environ,
        "MFN_EVENT_STORAGE_PATH": str(storage),
        "MFN_ADMIN_KEYS": "a-long-enough-bootstrap-admin-key",
        "MFN_API_KEY": "a-long-enough-bootstrap-admin-key",
    }
    proc = subprocess.run(
        [*prefix, *CLI, "events", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    storage.chmod(0o700)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"mfn-tracker: error: cannot list {storage}: Permission denied"
    ]


def test_storage_that_is_not_a_directory_is_one_clear_line(tmp_path: Path) -> None:
    storage = tmp_path / "file"
    storage.write_text("x")
    result = run_cli(
        "events",
        "list",
        env={
            "MFN_EVENT_STORAGE_PATH": str(storage),
            "MFN_ADMIN_KEYS": "a-long-enough-bootstrap-admin-key",
            "MFN_API_KEY": "a-long-enough-bootstrap-admin-key",
        },
    )
    assert result.code == 1 and result.out == "" and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


@pytest.fixture
def follower(keys: Keys) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mfn_tracker",
            "events",
            "tail",
            "-f",
            "-n",
            "1",
            "--format",
            "jsonl",
        ],
        env={**os.environ, "MFN_API_KEY": keys.alice},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def _read_line(proc: subprocess.Popen[str], timeout: float = 20) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no line from tail --follow"
    return json.loads(proc.stdout.readline())  # type: ignore[no-any-return]


def test_tail_follow_shows_new_own_events_only(
    settings: Settings, follower: subprocess.Popen[str]
) -> None:
    first = _read_line(follower)
    assert first["user_id"] == "alice"
    writer = EventWriter(settings)
    try:
        for user in ("carol", "bob", "alice"):
            writer.write(
                {"event_type": "comment", "user_id": user, "action_description": f"hi {user}"}
            )
    finally:
        writer.close()
    new = _read_line(follower)
    assert (new["user_id"], new["action_description"]) == ("alice", "hi alice")
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=10) == 0  # Ctrl-C ends following, as with journalctl -f
    assert follower.stdout is not None and follower.stdout.read() == ""


def test_no_index_where_it_cannot_be_created(settings: Settings, keys: Keys) -> None:
    """A storage directory the reader cannot add files to: the same answer, from the files."""
    expected = _jsonl(_as(keys.admin, "events", "list", "--since", "7d", "--format", "jsonl"))
    index = settings.storage_path / ".index.sqlite3"
    for path in settings.storage_path.glob(".index.sqlite3*"):
        path.unlink()
    settings.storage_path.chmod(0o500)
    no_bypass = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    prefix = no_bypass if os.geteuid() == 0 else []
    try:
        proc = subprocess.run(
            [*prefix, *CLI, "events", "list", "--since", "7d", "--format", "jsonl"],
            env={**os.environ, "MFN_API_KEY": keys.admin},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    finally:
        settings.storage_path.chmod(0o700)
    assert not index.exists()
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e for e in events if e["event_type"] != "api_request"] == [
        e for e in expected if e["event_type"] != "api_request"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("--since", "2026-01-01", "--until", "9999-12-31"),
        ("--since", "8000-01-01"),
        ("--date", "9999-12-30"),
    ],
    ids=" ".join,
)
def test_far_future_dates_are_an_answer_not_an_internal_error(
    keys: Keys, args: tuple[str, ...]
) -> None:
    for command in ("list", "stats"):
        result = _as(keys.admin, "events", command, *args, "--format", "json")
        assert result.code == 0, result.err
        assert "internal error" not in result.err


def test_a_scoped_away_user_filter_is_recorded_as_requested(settings: Settings, keys: Keys) -> None:
    """A user key asking for someone else's events sees its own; the attempt stays in the trail."""
    assert _as(keys.bob, "events", "list", "--user", "carol").code == 0
    assert _as(keys.bob, "events", "stats", "--user", "bob").code == 0
    reads = [e for e in all_events(settings.storage_path) if e["event_type"] == "api_request"]
    asked, own = (r["metadata"]["filters"] for r in reads)
    assert (asked["user"], asked["requested_user"]) == ("bob", "carol")
    assert own["user"] == "bob" and "requested_user" not in own


def test_tail_follow_ends_with_exit_3_once_the_key_is_revoked(
    settings: Settings, keys: Keys, follower: subprocess.Popen[str]
) -> None:
    from mfn_tracker.access.keys import load_keys

    assert _read_line(follower)["user_id"] == "alice"
    (record,) = [k for k in load_keys(settings) if k.user_id == "alice"]
    revoke_key(settings, record.key_id)
    writer = EventWriter(settings)
    try:
        writer.write({"event_type": "comment", "user_id": "alice", "action_description": "after"})
    finally:
        writer.close()
    assert follower.wait(timeout=10) == 3
    assert follower.stdout is not None and follower.stderr is not None
    assert "after" not in follower.stdout.read()
    assert "revoked" in follower.stderr.read()


def test_a_long_listing_is_whole_in_every_format(settings: Settings) -> None:
    """Output goes out a thousand lines per write: nothing lost or doubled at the seams."""
    writer = EventWriter(settings)
    try:
        for i in range(2345):
            writer.write({"event_type": "commit", "user_id": "dave", "action_description": f"#{i}"})
    finally:
        writer.close()
    _r, admin = create_key(settings, user_id="root", role="admin")
    base = ("events", "list", "--user", "dave", "--limit", "all")
    seqs = [e["seq"] for e in _jsonl(_as(admin, *base, "--format", "jsonl"))]
    assert len(seqs) == 2345 and seqs == sorted(set(seqs), reverse=True)
    csv_rows = _as(admin, *base, "--format", "csv").out.splitlines()
    assert len(csv_rows) == 2346 and csv_rows[0].startswith("seq,")
    assert [int(row.split(",")[0]) for row in csv_rows[1:]] == seqs
    table = _as(admin, *base).out.splitlines()
    assert len(table) == 2346 and table[0].startswith("TIME (UTC)")
