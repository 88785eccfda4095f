"""What our git hooks add to ``git commit``: ours vs no hook (floor) vs a one-line sh hook.

Run: ``.venv/bin/python bench/bench_hooks.py [ROUNDS]`` (default 40; ``--no-pre-commit`` drops
the slow anchor). Each round times ``git commit -q --allow-empty`` once per contender, in a
shuffled order, in one process; medians and the added milliseconds are printed. The issue's
target: our hooks add at most 25 ms. A further contender runs our shims with the recorder
replaced by ``/bin/true``: how much of the cost is git starting the hook processes. Our
recorder is detached, so after each timed commit the script waits (untimed) until the event is
on disk, and reports that delay too: what a reader right after the commit may wait.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfn_tracker.git.install import hooks_dir, install_hooks
from mfn_tracker.settings import load_settings
from mfn_tracker.store.pending import wait_for_pending

TARGET_MS = 25.0
SHIM_ONLY = "mfn-tracker, sh shim only"
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def make_repo(base: Path, name: str) -> Path:
    repo = base / name
    git(base, "init", "-q", str(repo))
    git(repo, "commit", "-q", "--allow-empty", "-m", "root")
    return repo


def shim_only(base: Path) -> Path:
    """Our shims with the recorder replaced by /bin/true: what git pays for the sh part alone."""
    repo = make_repo(base, "shim-only")
    settings = load_settings().with_changes(storage_path=base / "events-shim-only")
    directory = hooks_dir(repo)
    install_hooks(directory, settings)
    for hook in directory.iterdir():
        text = hook.read_text(errors="replace")
        if "mfn_py=" in text:
            lines = [
                "mfn_py=/bin/true" if x.startswith("mfn_py=") else x for x in text.splitlines()
            ]
            hook.write_text("\n".join(lines) + "\n")
    return repo


def timed_commit(repo: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "bench"], cwd=repo, check=True)
    return (time.perf_counter() - started) * 1000


def setup(base: Path, *, with_pre_commit: bool) -> dict[str, Path]:
    home = base / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    os.environ.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        MFN_EVENT_STORAGE_PATH=str(base / "events"),
        MFN_CONFIG_DIR=str(base / "config"),
    )
    for var in [v for v in os.environ if v.startswith(("GIT_DIR", "GIT_INDEX", "GIT_WORK"))]:
        del os.environ[var]
    repos = {"no hooks": make_repo(base, "none"), "sh one-liner": make_repo(base, "sh")}
    hook = repos["sh one-liner"] / ".git" / "hooks" / "post-commit"
    hook.write_text('#!/bin/sh\necho "commit $(date +%s)" >> "$HOME/sh-hook.log"\n')
    hook.chmod(0o755)
    ours = make_repo(base, "ours")
    install_hooks(hooks_dir(ours), load_settings())
    repos["mfn-tracker"] = ours
    repos[SHIM_ONLY] = shim_only(base)
    if with_pre_commit and PRE_COMMIT.exists():
        anchor = make_repo(base, "pre-commit")
        (anchor / ".pre-commit-config.yaml").write_text("repos: []\n")
        subprocess.run(
            [str(PRE_COMMIT), "install", "-t", "post-commit"],
            cwd=anchor,
            check=True,
            capture_output=True,
        )
        repos["pre-commit (repos: [])"] = anchor
    return repos


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rounds = int(args[0]) if args else 40
    base = Path(tempfile.mkdtemp(prefix="bench-hooks-"))
    try:
        repos = setup(base, with_pre_commit="--no-pre-commit" not in sys.argv)
        storage = base / "events"
        times: dict[str, list[float]] = {name: [] for name in repos}
        settle: list[float] = []
        for repo in repos.values():  # warm caches once, untimed
            timed_commit(repo)
        wait_for_pending(storage, timeout=10)
        for _ in range(rounds):
            order = list(repos)
            random.shuffle(order)
            for name in order:
                started = time.perf_counter()
                times[name].append(timed_commit(repos[name]))
                if name == "mfn-tracker":
                    wait_for_pending(storage, timeout=10)
                    settle.append((time.perf_counter() - started) * 1000)
                elif name == SHIM_ONLY:  # nobody records these: drop the markers
                    shutil.rmtree(base / "events-shim-only" / ".pending", ignore_errors=True)
                    (base / "events-shim-only" / ".pending").mkdir(mode=0o700)
        report(times, settle, rounds)
        lines = sum(p.read_bytes().count(b'"event_type":"commit"') for p in storage.glob("ev*"))
        print(f"commit events written: {lines} of {rounds + 1} commits with our hooks")
        return 0 if lines == rounds + 1 else 1
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(times: dict[str, list[float]], settle: list[float], rounds: int) -> None:
    floor = statistics.median(times["no hooks"])
    print(f"git commit --allow-empty, {rounds} interleaved rounds (median wall ms)")
    print(f"{'contender':<26}{'median':>9}{'added':>9}{'p90':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<26}{median:>9.1f}{median - floor:>+9.1f}{p90:>9.1f}")
    ours = statistics.median(times["mfn-tracker"]) - floor
    verdict = "OK" if ours <= TARGET_MS else "OVER TARGET"
    print(f"mfn-tracker adds {ours:.1f} ms (target <= {TARGET_MS:.0f} ms): {verdict}")
    on_disk = statistics.median(settle)
    print(f"commit start -> event on disk (what a reader may wait): median {on_disk:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
