"""Ask git about commits and reflogs from a detached recorder: stdlib only, never a hook's env.

A hook inherits ``GIT_INDEX_FILE``, ``GIT_WORK_TREE`` and friends from the git command that ran
it; by the time a detached recorder runs they may point at files git has removed, or at the wrong
repository (submodules, worktrees). :class:`Git` pins the repository by its absolute git dir and
drops the rest.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

# Variables git sets for hooks that must not reach the git commands we run ourselves.
_LEAKY = (
    "GIT_DIR",
    "GIT_INDEX_FILE",
    "GIT_WORK_TREE",
    "GIT_PREFIX",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_NAMESPACE",
    "GIT_EDITOR",
    "GIT_REFLOG_ACTION",
)
_TIMEOUT = 30.0
_REFLOG_TAIL = 256 * 1024


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the variables a hook leaks into child git commands."""
    base = dict(os.environ if env is None else env)
    for name in _LEAKY:
        base.pop(name, None)
    base["GIT_TERMINAL_PROMPT"] = "0"
    base["GIT_OPTIONAL_LOCKS"] = "0"  # never take index.lock behind the user's back
    return base


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: str
    subject: str
    files: tuple[str, ...]


def resolve_git_dir(cwd: str, env: dict[str, str]) -> Path | None:
    """The hook's repository as an absolute git dir (``GIT_DIR`` may be relative to ``cwd``)."""
    given = env.get("GIT_DIR")
    if given:
        path = Path(given) if os.path.isabs(given) else Path(cwd) / given
        return Path(os.path.normpath(path))
    out = run_git(["rev-parse", "--absolute-git-dir"], cwd=cwd, git_dir=None)
    return Path(out.strip()) if out else None


def run_git(args: list[str], *, cwd: str, git_dir: Path | None) -> str | None:
    """``git ARGS`` output (text, surrogate-escaped), or None when git fails."""
    env = clean_env()
    if git_dir is not None:
        env["GIT_DIR"] = str(git_dir)
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd if os.path.isdir(cwd) else "/",
            env=env,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Git:
    """One repository, addressed by its absolute git dir."""

    git_dir: Path
    cwd: str

    def run(self, *args: str) -> str | None:
        return run_git(list(args), cwd=self.cwd, git_dir=self.git_dir)

    def commit(self, sha: str) -> Commit | None:
        out = self.run(
            "-c",
            "core.quotePath=false",
            "show",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--format=%H%x00%P%x00%ae%x00%s%x00",
            "--name-only",
            "-z",
            "--diff-merges=first-parent",
            "--no-renames",
            sha,
            "--",
        )
        if out is None:
            return None
        fields = out.split("\0")
        if len(fields) < 4:
            return None
        files = tuple(f.strip("\n") for f in fields[4:] if f.strip("\n"))
        return Commit(fields[0], tuple(fields[1].split()), fields[2], fields[3], files)

    def changed_files(self, old: str, new: str) -> tuple[str, ...]:
        args = ["diff", "--no-ext-diff", "--name-only", "-z", old, new, "--"]
        out = self.run("-c", "core.quotePath=false", *args)
        return tuple(f for f in (out or "").split("\0") if f)

    def reflog_message(self, ref: str, new: str) -> str | None:
        """The reflog message of the entry that set ``ref`` to ``new`` (most recent first).

        Read from ``logs/<ref>`` directly: a push of 1,000 refs must not cost 1,000 git runs.
        """
        # HEAD's reflog is per worktree; refs/... reflogs are shared by all worktrees.
        path = (self.git_dir if ref == "HEAD" else self.common_dir) / "logs" / ref
        try:
            with path.open("rb") as stream:
                size = stream.seek(0, os.SEEK_END)
                stream.seek(max(0, size - _REFLOG_TAIL))
                tail = stream.read().decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            return self._reflog_message_by_git(ref, new)
        except OSError:
            return None
        for line in reversed(tail.splitlines()):
            head, _, message = line.partition("\t")
            fields = head.split(" ", 2)
            if len(fields) == 3 and fields[1] == new:
                return message
        return None

    def _reflog_message_by_git(self, ref: str, new: str) -> str | None:
        out = self.run("reflog", "show", "-n", "20", "--format=%H %gs", ref, "--")
        for line in (out or "").splitlines():
            sha, _, message = line.partition(" ")
            if sha == new:
                return message
        return None

    def upstream(self) -> str | None:
        """What ``git pull`` merged: the current branch's upstream (``origin/main``)."""
        out = self.run("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
        return out.strip() if out else None

    def remote_url(self, remote: str) -> str | None:
        out = self.run("config", "--get", f"remote.{remote}.url")
        return out.strip() if out else None

    def remotes(self) -> list[str]:
        """Configured remote names (they may contain ``/``)."""
        return (self.run("remote") or "").split()

    def is_bare(self) -> bool:
        return (self.run("rev-parse", "--is-bare-repository") or "").strip() == "true"

    def work_tree(self) -> str | None:
        out = self.run("rev-parse", "--show-toplevel")
        return out.strip() if out else None

    @cached_property
    def common_dir(self) -> Path:
        out = self.run("rev-parse", "--path-format=absolute", "--git-common-dir")
        return Path(out.strip()) if out else self.git_dir


def short(sha: str) -> str:
    return sha[:7]


def is_sha(value: str) -> bool:
    """A full object id (SHA-1 or SHA-256 repositories)."""
    return len(value) in (40, 64) and all(c in "0123456789abcdef" for c in value)


def is_null(value: str) -> bool:
    return is_sha(value) and set(value) == {"0"}
