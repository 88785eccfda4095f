"""Query speed on a generated 1,000,000-event log (7 days, 50 users, every type), side by side
with ``jq`` (the anchor) and ``grep -F | jq`` (the floor) doing the same work.

    .venv/bin/python bench/bench_query.py [--events N] [--runs R] [--keep DIR]

Prints the medians and ratios; the first read (index build) of the fresh log is timed apart.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mfn_tracker.settings import Settings
from mfn_tracker.store.timestamps import format_ms, now_ms
from mfn_tracker.store.writer import GENESIS_HASH
from mfn_tracker.types import EVENT_TYPE_VALUES, STATUS_VALUES

DAY_MS = 86_400_000
HOST = "bench-host"
USERS = [f"user{i:02d}" for i in range(50)]
REPOS = [f"/srv/git/project-{i}" for i in range(12)]
TARGET_USER = "user07"


def _bodies(rng: random.Random) -> list[str]:
    """Pre-rendered event bodies (type, user, status, repo...), in the writer's field order."""
    bodies = []
    statuses = sorted(STATUS_VALUES)
    for event_type in sorted(EVENT_TYPE_VALUES):
        for user in USERS:
            for _ in range(8):
                extra = (
                    f',"duration_ms":{rng.uniform(1, 900):.3f}'
                    if event_type.startswith("api_")
                    else ""
                )
                bodies.append(
                    f'"event_type":"{event_type}","user_id":"{user}",'
                    f'"action_description":"{event_type} {user} #%d",'
                    f'"status":"{rng.choice(statuses)}",'
                    f'"files_changed":["src/mod_{rng.randrange(400)}.py"]{extra},'
                    f'"repo":"{rng.choice(REPOS)}","host":"{HOST}"'
                )
    return bodies


def generate(storage: Path, *, events: int, days: int = 7, seed: int = 1) -> None:
    """``days`` day files (the last one is today) in the writer's exact format, hash-chained."""
    rng = random.Random(seed)
    bodies = _bodies(rng)
    storage.mkdir(mode=0o700, parents=True, exist_ok=True)
    end = now_ms() - 60_000
    start = (end // DAY_MS - (days - 1)) * DAY_MS
    step = (end - start) / events
    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    chunks: dict[str, list[bytes]] = {}
    picks = [rng.randrange(len(bodies)) for _ in range(4096)]
    minute, prefix = -1, ""
    getrandbits = rng.getrandbits
    for seq in range(1, events + 1):
        ms = start + int((seq - 1) * step)
        if ms // 60_000 != minute:
            minute = ms // 60_000
            prefix = format_ms(minute * 60_000)[:17]  # "YYYY-MM-DDTHH:MM:"
        stamp = f"{prefix}{ms % 60_000 / 1000:06.3f}Z"
        r = getrandbits(62)
        event_id = (
            f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7{r >> 50:03x}-"
            f"{0x8000 | (r >> 36) & 0x3FFF:04x}-{r & 0xFFFFFFFFF:09x}{seq & 0xFFF:03x}"
        )
        body = bodies[picks[seq % 4096] ^ (seq % 7)] % seq
        line = (
            f'{{"system_event":true,"event_id":"{event_id}","seq":{seq},'
            f'"timestamp":"{stamp}",{body},"prev":"{prev}"}}'
        ).encode()
        prev = sha256(line).hexdigest()
        chunks.setdefault(stamp[:10], []).append(line)
    for day, lines in chunks.items():
        path = storage / f"events_{day}.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        path.chmod(0o600)


def _timed(command: list[str] | str, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall time and CPU time (user + system, children included) of one run, and its number of
    output lines; a string runs in the shell."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(
        command,
        shell=isinstance(command, str),
        env=env,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {command}: {proc.stderr.decode()[-500:]}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu, proc.stdout.count(b"\n")


def _median(command: list[str] | str, runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and median CPU seconds over ``runs`` runs."""
    times = [_timed(command, env)[:2] for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=11, help="runs of our commands (median)")
    parser.add_argument("--anchor-runs", type=int, default=1, help="runs of jq (slow)")
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="mfn-bench-query-"))
    try:
        return _bench(args, root / "events", root / "config")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _bench(args: argparse.Namespace, storage: Path, config: Path) -> int:
    from mfn_tracker.access.keys import create_key
    from mfn_tracker.settings import load_settings

    shutil.rmtree(storage, ignore_errors=True)
    start = time.perf_counter()
    generate(storage, events=args.events)
    files = sorted(str(p) for p in storage.glob("events_*.jsonl"))
    size = sum(Path(f).stat().st_size for f in files)
    print(
        f"generated {args.events:,} events, {len(files)} day files, {size / 1e6:.0f} MB "
        f"(today's, which every read's own api_request event grows: "
        f"{Path(files[-1]).stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s"
    )
    # As installed: bytecode cached (pip compiles it), no MFN_* settings of the caller's.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MFN_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env |= {"MFN_EVENT_STORAGE_PATH": str(storage), "MFN_CONFIG_DIR": str(config)}
    _record, env["MFN_API_KEY"] = create_key(load_settings(env), user_id="bench", role="admin")
    cases = _cases(files, format_ms(now_ms() - 7 * DAY_MS))

    first, used, lines = _timed(cases[0][1], env)
    print(
        f"first read of the fresh log (index build): {first:.2f} s wall, {used:.2f} s CPU "
        f"({lines} events; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    startup, startup_cpu = _median([*CLI, "events", "types"], args.runs, env)
    print(
        f"CLI floor (`events types`: Python start and imports, no read): {startup:.3f} s "
        f"({startup_cpu:.3f} s CPU)\n"
    )
    print(f"{'command':<52}{'ours':>8}{'CPU':>8}{'jq':>9}{'grep|jq':>9}{'jq/ours':>9}")
    for label, ours, anchor, floor in cases:
        mine, mine_cpu = _median(ours, args.runs, env)
        slow = _median(anchor, args.anchor_runs, env)[0]
        fast = f"{_median(floor, args.runs, env)[0]:>8.2f}s" if floor else f"{'-':>9}"
        print(f"{label:<52}{mine:>7.3f}s{mine_cpu:>7.3f}s{slow:>8.2f}s{fast}{slow / mine:>8.0f}x")
    _in_process(load_settings(env), args.runs)
    return 0


def _in_process(settings: Settings, runs: int) -> None:
    """The same reads as function calls: what the query engine costs without starting Python."""
    from mfn_tracker.logger import build_query
    from mfn_tracker.query import compute_stats, list_events

    reads: dict[str, Callable[[], object]] = {
        "list_events(user, since 7d, limit 1000)": lambda: list_events(
            settings, build_query(user_id=TARGET_USER, since="7d", limit=1000)
        ),
        "list_events(type push, all)": lambda: list_events(
            settings, build_query(event_type="push", since="7d")
        ),
        "compute_stats(since 7d)": lambda: compute_stats(
            settings, build_query(since="7d"), include_users=True, bucket="day"
        ),
    }
    print("\nin-process (function calls, no Python start), medians:")
    for label, read in reads.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            read()
            times.append(time.perf_counter() - start)
        print(f"  {label:<44}{statistics.median(times) * 1000:>8.1f} ms")


CLI = [sys.executable, "-m", "mfn_tracker"]


def _cases(files: list[str], since: str) -> list[tuple[str, list[str], str, str | None]]:
    """(label, our command, jq doing the same, grep -F | jq doing the same)."""
    paths = " ".join(shlex.quote(f) for f in files)
    user = f'select(.user_id=="{TARGET_USER}" and .timestamp >= "{since}")'
    push = f'select(.event_type=="push" and .timestamp >= "{since}")'
    stats = (
        f'reduce (inputs | select(.timestamp >= "{since}")) as $e ({{}}; .total += 1 '
        "| .by_type[$e.event_type] += 1 | .by_status[$e.status] += 1 | .users[$e.user_id] += 1 "
        '| .by_repo[$e.repo // "-"] += 1 | .by_day[$e.timestamp[:10]] += 1 '
        "| if $e.duration_ms then .dsum += $e.duration_ms | .dn += 1 else . end)"
    )
    user_needle = shlex.quote(f'"user_id":"{TARGET_USER}"')
    push_needle = shlex.quote('"event_type":"push"')
    return [
        (
            f"events list --user {TARGET_USER} --since 7d --limit 1000",
            [
                *CLI,
                "events",
                "list",
                "--user",
                TARGET_USER,
                "--since",
                "7d",
                "--limit",
                "1000",
                "--format",
                "jsonl",
            ],
            f"jq -c {shlex.quote(user)} {paths} | tail -n 1000",
            f"grep -hF {user_needle} {paths} | jq -c {shlex.quote(user)} | tail -n 1000",
        ),
        (
            "events list --type push --format jsonl (all)",
            [
                *CLI,
                "events",
                "list",
                "--type",
                "push",
                "--since",
                "7d",
                "--limit",
                "all",
                "--format",
                "jsonl",
            ],
            f"jq -c {shlex.quote(push)} {paths}",
            f"grep -hF {push_needle} {paths} | jq -c {shlex.quote(push)}",
        ),
        (
            "events stats --since 7d",
            [*CLI, "events", "stats", "--since", "7d", "--format", "json"],
            f"jq -n {shlex.quote(stats)} {paths}",
            None,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
