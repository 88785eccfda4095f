"""Writer throughput: mfn-tracker's API vs the floor (json.dumps + write) vs stdlib logging.

Run: ``.venv/bin/python bench/bench_writer.py [N]`` (``make bench`` runs it with N = 100,000).
Each contender writes the same N event dicts to a fresh directory; rounds are interleaved and
the median events/s of each is reported, with ratios to the floor.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfn_tracker.logger import SystemEventLogger
from mfn_tracker.settings import load_settings

ROUNDS = 5


def make_events(n: int) -> list[dict[str, object]]:
    types = ["commit", "push", "fetch", "file_change", "api_request"]
    return [
        {
            "event_type": types[i % len(types)],
            "user_id": f"user{i % 50}",
            "action_description": f"Commit {i:07x} on main: change number {i}",
            "files_changed": [f"src/module_{i % 97}.py"],
            "metadata": {"branch": "main", "commit": f"{i:040x}"},
            "repo": "/home/user/project",
        }
        for i in range(n)
    ]


def floor(events: list[dict[str, object]], where: Path) -> None:
    with open(where / "floor.jsonl", "w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event) + "\n")


def stdlib_logging(events: list[dict[str, object]], where: Path) -> None:
    log = logging.getLogger(f"bench-{where.name}")
    log.propagate = False
    handler = logging.FileHandler(where / "logging.jsonl", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    for event in events:
        log.info(json.dumps(event))
    handler.close()
    log.removeHandler(handler)


def tracker(policy: str, *, batch: int = 1) -> Callable[[list[dict[str, object]], Path], None]:
    """``log_event`` per event (batch 1), or ``log_events`` with ``batch`` events per call."""

    def run(events: list[dict[str, object]], where: Path) -> None:
        settings = load_settings({"HOME": str(where), "MFN_EVENT_FSYNC": policy}).with_changes(
            storage_path=where / "events", config_dir=where / "config"
        )
        logger = SystemEventLogger(settings=settings)
        if batch == 1:
            for event in events:
                logger.log_event(**event)  # type: ignore[arg-type]
        else:
            for start in range(0, len(events), batch):
                logger.log_events(events[start : start + batch])
        logger.close()

    return run


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(run: Callable[[list[dict[str, object]], Path], None], n: int) -> tuple[float, float]:
    """(events per wall-clock second, CPU microseconds per event): CPU time is the steadier
    figure on a shared machine, wall time the one users feel."""
    events = make_events(n)
    where = Path(tempfile.mkdtemp(prefix="mfn-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        start, cpu = time.perf_counter(), _cpu()
        run(events, where)
        return n / (time.perf_counter() - start), (_cpu() - cpu) / n * 1e6
    finally:
        shutil.rmtree(where)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_always = min(n, int(os.environ.get("BENCH_ALWAYS_N", "10000")))
    contenders: list[tuple[str, Callable[[list[dict[str, object]], Path], None], int]] = [
        ("floor: json.dumps + write", floor, n),
        ("stdlib logging (FileHandler)", stdlib_logging, n),
        ("log_event, MFN_EVENT_FSYNC=never", tracker("never"), n),
        ("log_event, MFN_EVENT_FSYNC=batch", tracker("batch"), n),
        ("log_event, MFN_EVENT_FSYNC=always", tracker("always"), n_always),
        ("log_events x1000, MFN_EVENT_FSYNC=never", tracker("never", batch=1000), n),
        ("log_events x1000, MFN_EVENT_FSYNC=always", tracker("always", batch=1000), n),
    ]
    for _, run, _ in contenders:  # imports (pydantic, signing) are paid once per process
        measure(run, 10)
    rates: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for _ in range(ROUNDS):  # interleaved, so load changes hit every contender alike
        for name, run, count in contenders:
            rate, cpu = measure(run, count)
            rates[name].append(rate)
            cpus[name].append(cpu)
    base = statistics.median(rates[contenders[0][0]])
    base_cpu = statistics.median(cpus[contenders[0][0]])
    print(
        f"{'contender':40} {'events':>8} {'median ev/s':>12} {'x floor':>8}"
        f" {'CPU us/ev':>10} {'x floor':>8}"
    )
    for name, _, count in contenders:
        rate, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
        print(
            f"{name:40} {count:>8} {rate:>12,.0f} {base / rate:>8.2f}"
            f" {cpu:>10.1f} {cpu / base_cpu:>8.2f}"
        )


if __name__ == "__main__":
    main()
