"""``verify`` over 1,000,000 events beside ``sha256sum`` over the same files (the floor).

The log is generated quickly in the writer's exact line format (its own ``prepare`` and
``encode_body`` build the bodies) with a valid chain, spread over 10 day files; one real write
through ``EventWriter`` at the end leaves the writers' head record as a live log would have it.
Target (issue 6): verify within 3x of sha256sum. Run: ``.venv/bin/python bench/bench_verify.py``.
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mfn_tracker.compliance.verify import verify_log
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import day_file_name, list_day_files
from mfn_tracker.store.writer import (
    GENESIS_HASH,
    EventWriter,
    chain_line,
    encode_body,
    new_event_id,
    prepare,
)

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
DAYS = 10
RUNS = 5

_TEMPLATES = [
    {"event_type": "commit", "user_id": "alice",
     "action_description": "Commit 1a2b3c4 on main: Fix parser",
     "files_changed": ["src/parser.py"], "metadata": {"commit": "1a2b3c4d" * 5, "branch": "main"},
     "repo": "/home/alice/proj"},
    {"event_type": "file_change", "user_id": "bob",
     "action_description": "File change: docs/index.md",
     "files_changed": ["docs/index.md"], "metadata": {"size": 1234, "source": "live"},
     "repo": "/home/bob/site"},
    {"event_type": "api_request", "user_id": "carol", "action_description": "GET /events",
     "metadata": {"endpoint": "/events", "method": "GET"}, "source_ip": "10.1.2.3"},
    {"event_type": "push", "user_id": "alice", "action_description": "Push to origin: main",
     "metadata": {"remote": "origin", "refs": [{"ref": "refs/heads/main", "old": "0" * 40,
                                                "new": "1" * 40}]}, "repo": "/home/alice/proj"},
]  # fmt: skip


def generate(settings: Settings, events: int) -> None:
    """Write ``events`` chained lines in the writer's format, ``events // DAYS`` per day."""
    bodies = [encode_body(prepare(t, settings)[1], 16000)[0] for t in _TEMPLATES]
    settings.storage_path.mkdir(mode=0o700, parents=True)
    prev, seq = GENESIS_HASH, 0
    per_day = events // DAYS
    base_ms = 1_790_000_000_000 - 1_790_000_000_000 % 86_400_000
    for day in range(DAYS):
        out = []
        for i in range(per_day):
            seq += 1
            ms = base_ms + day * 86_400_000 + i * (86_400_000 // per_day)
            secs, millis = divmod(ms, 1000)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{millis:03d}Z"
            line = chain_line(new_event_id(ms), seq, ts, bodies[seq % len(bodies)], prev)
            prev = hashlib.sha256(line).hexdigest()
            out.append(line)
        name = day_file_name(time.strftime("%Y-%m-%d", time.gmtime(base_ms // 1000 + day * 86400)))
        (settings.storage_path / name).write_bytes(b"\n".join(out) + b"\n")
    writer = EventWriter(settings)  # one real write: the writer rebuilds its head record
    writer.write({"event_type": "comment", "user_id": "bench", "action_description": "end"})
    writer.close()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            storage_path=Path(tmp) / "events", config_dir=Path(tmp) / "config", fsync="never"
        )
        t0 = time.perf_counter()
        generate(settings, EVENTS)
        files = [str(f.path) for f in list_day_files(settings.storage_path)]
        total = sum(os.path.getsize(f) for f in files)
        print(f"generated {EVENTS:,} events, {total / 1e6:.0f} MB in {len(files)} files "
              f"in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        floor, ours, floor_cpu, ours_cpu = [], [], [], []
        for _ in range(RUNS):  # interleaved, so both see the same machine noise
            start, cpu = time.perf_counter(), _children_cpu()
            subprocess.run(["sha256sum", *files], check=True, capture_output=True)
            floor.append(time.perf_counter() - start)
            floor_cpu.append(_children_cpu() - cpu)
            start, cpu = time.perf_counter(), time.process_time()
            report = verify_log(settings)
            ours.append(time.perf_counter() - start)
            ours_cpu.append(time.process_time() - cpu)
            assert report.ok, report.findings
        f_med, o_med = statistics.median(floor), statistics.median(ours)
        print(
            f"{'sha256sum (floor)':<22} median {f_med:6.2f} s  runs {[round(x, 2) for x in floor]}"
        )
        print(
            f"{'mfn-tracker verify':<22} median {o_med:6.2f} s  runs {[round(x, 2) for x in ours]}"
        )
        cpu_ratio = statistics.median(ours_cpu) / statistics.median(floor_cpu)
        print(
            f"CPU seconds: sha256sum {statistics.median(floor_cpu):.2f}, verify "
            f"{statistics.median(ours_cpu):.2f} (ratio {cpu_ratio:.2f}x; less noisy than wall)"
        )
        ratio = o_med / f_med
        verdict = "OK" if ratio <= 3 else "MISS"
        print(f"ratio verify / sha256sum: {ratio:.2f}x (target <= 3x): {verdict}")
        return 0 if ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
