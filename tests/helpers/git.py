"""Real git repositories for tests: a bare remote, clones, commits, our hooks installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from mfn_tracker.git.install import hooks_dir, install_hooks
from mfn_tracker.settings import load_settings
from mfn_tracker.store.pending import wait_for_pending
from tests.helpers.events import all_events


def git(
    cwd: Path,
    *args: str,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """``git ARGS`` in ``cwd``; fails the test (with git's stderr) when ``check`` and git fails.

    ``env``: extra variables (a GUI's GIT_DIR, an editor) on top of the test's environment.
    """
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def git_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def make_bare_remote(base: Path, name: str = "remote.git") -> Path:
    remote = base / name
    git(base, "init", "-q", "--bare", str(remote))
    return remote


def clone(remote: Path, dest: Path, *args: str) -> Path:
    git(dest.parent, "clone", "-q", *args, str(remote), str(dest))
    return dest


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    """Write ``files``, stage them and commit; returns the new sha."""
    for name, content in (files or {}).items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        git(repo, "add", name)
    if files:
        git(repo, "commit", "-q", "-m", message)
    else:
        git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return head(repo)


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def install(repo: Path) -> Path:
    directory = hooks_dir(repo)
    install_hooks(directory, load_settings())
    return directory


def seeded_remote(base: Path) -> Path:
    """A bare remote with one commit on main (pushed without our hooks)."""
    remote = make_bare_remote(base)
    seed = clone(remote, base / "seed")
    commit(seed, "initial", {"README": "hello\n"})
    git(seed, "push", "-q", "origin", "main")
    return remote


class Recorded:
    """Events on disk, read after waiting for the detached recorders (read-your-writes)."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.seen = 0

    def new(self) -> list[dict[str, Any]]:
        """Events written since the last call, in seq order."""
        wait_for_pending(self.storage, timeout=10)
        events = [e for e in all_events(self.storage) if e["seq"] > self.seen]
        if events:
            self.seen = events[-1]["seq"]
        return events

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.new()]


def pending_markers(storage: Path) -> list[str]:
    directory = storage / ".pending"
    return sorted(os.listdir(directory)) if directory.is_dir() else []
