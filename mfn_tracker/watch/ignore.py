"""Which paths the watcher reports: git's ignore rules, minus tracked files, minus editor debris.

Rules come from ``core.excludesFile``, ``.git/info/exclude`` and every ``.gitignore`` (loaded
lazily, per directory, and dropped when the file changes), with git's precedence: deeper files
win, a negation can re-include, and nothing below an ignored directory is looked at. A tracked
file is reported even when a pattern matches it, as git itself does.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pathspec

GIT_DIR_NAME = ".git"
# vim (swap files, its `4913` write probe, `file~` backups), emacs (`.#lock`, `#autosave#`),
# JetBrains safe-write, gedit and kate temporaries.
_EDITOR_TEMP = re.compile(
    r"""(
        ^\..*\.sw[a-p]x?$ | \.swp$ | \.swo$ | \.swx$ | ^4913$ | ~$
      | ___jb_(tmp|old)___$ | ^\.\# | ^\#.*\#$ | ^\.goutputstream- | \.kate-swp$
    )""",
    re.VERBOSE,
)


# Every pattern above starts with one of these or ends with one of those: most names are
# cleared by two string tests, without the regex.
_TEMP_STARTS = (".", "#")
_TEMP_ENDS = ("~", ".swp", ".swo", ".swx", "___", "-swp", "4913")


def is_editor_temp(name: str) -> bool:
    if not name.startswith(_TEMP_STARTS) and not name.endswith(_TEMP_ENDS):
        return False
    return bool(_EDITOR_TEMP.search(name))


def is_git_internal(rel: str) -> bool:
    """``.git`` anywhere: the tree's own, and those of nested repositories and submodules."""
    return (
        rel == GIT_DIR_NAME
        or rel.startswith(GIT_DIR_NAME + "/")
        or rel.endswith("/" + GIT_DIR_NAME)
        or f"/{GIT_DIR_NAME}/" in rel
    )


def _spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            # safe.directory: the system service (root) reads repositories other users own
            ["git", "-c", f"safe.directory={root}", "-C", str(root), *args],
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return os.fsdecode(proc.stdout)


class IgnoreRules:
    """Decides, for a path relative to the tree's root, whether it is reported."""

    def __init__(self, root: Path, *, exclude: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.exclude = exclude  # directories never reported (the event storage, if inside)
        self.git_dir: Path | None = None
        self._base: list[pathspec.GitIgnoreSpec] = []
        self._per_dir: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._chains: dict[str, list[tuple[str, pathspec.GitIgnoreSpec]]] = {}
        self._dir_cache: dict[str, bool] = {}
        self.tracked: frozenset[str] = frozenset()
        self._tracked_dirs: frozenset[str] = frozenset()
        self._index_mtime: int | None = None
        self.reload()

    # -- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read every rule source and the tracked-file list (start, SIGHUP, rule changes)."""
        out = _git(self.root, "rev-parse", "--absolute-git-dir")
        self.git_dir = Path(out.strip()) if out else None
        self._base = []
        if self.git_dir is not None:
            for source in (self._excludes_file(), self.git_dir / "info" / "exclude"):
                spec = _spec(source) if source else None
                if spec is not None:
                    self._base.append(spec)
        self._per_dir.clear()
        self._chains.clear()
        self._dir_cache.clear()
        self._index_mtime = None
        self.refresh_tracked()

    def _excludes_file(self) -> Path | None:
        configured = _git(self.root, "config", "--path", "core.excludesFile")
        if configured and configured.strip():
            return Path(configured.strip()).expanduser()
        xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(xdg) / "git" / "ignore"

    def refresh_tracked(self) -> bool:
        """Re-list tracked files when git's index changed; True when it did."""
        if self.git_dir is None:
            return False
        try:
            mtime = os.stat(self.git_dir / "index").st_mtime_ns
        except OSError:
            mtime = 0
        if mtime == self._index_mtime:
            return False
        out = _git(self.root, "ls-files", "-z", "--cached")
        if out is None:
            return False
        self._index_mtime = mtime
        tracked = frozenset(p for p in out.split("\0") if p)
        dirs: set[str] = set()
        for rel in tracked:
            parent = rel.rpartition("/")[0]
            while parent and parent not in dirs:
                dirs.add(parent)
                parent = parent.rpartition("/")[0]
        self.tracked, self._tracked_dirs = tracked, frozenset(dirs)
        self._dir_cache.clear()
        return True

    def rules_changed(self, rel: str) -> bool:
        """Drop cached rules a changed path defines; True when ``rel`` was a rule file."""
        name = rel.rpartition("/")[2]
        if name == ".gitignore":
            self._per_dir.pop(rel.rpartition("/")[0], None)
            self._chains.clear()
            self._dir_cache.clear()
            return True
        if rel == f"{GIT_DIR_NAME}/info/exclude":
            self.reload()
            return True
        return False

    @property
    def lock_path(self) -> Path | None:
        """``index.lock`` exists while a git command updates the index and the work tree."""
        return None if self.git_dir is None else self.git_dir / "index.lock"

    # -- deciding ---------------------------------------------------------------------------

    def ignored(self, rel: str, *, is_dir: bool = False) -> bool:
        """True for paths never reported (``.git/``, ignored and untracked, temporaries)."""
        if is_git_internal(rel):
            return True
        if self.exclude and any(rel == x or rel.startswith(x + "/") for x in self.exclude):
            return True
        name = rel.rpartition("/")[2]
        if not is_dir and is_editor_temp(name) and rel not in self.tracked:
            return True
        if rel in self.tracked or (is_dir and rel in self._tracked_dirs):
            return False
        parent = rel.rpartition("/")[0]
        if parent and self.dir_ignored(parent):
            return True
        return self._match(rel, is_dir=is_dir)

    def dir_ignored(self, rel_dir: str) -> bool:
        """A directory is skipped whole, unless a tracked file lives below it."""
        cached = self._dir_cache.get(rel_dir)
        if cached is None:
            cached = self.ignored(rel_dir, is_dir=True)
            self._dir_cache[rel_dir] = cached
        return cached

    def _match(self, rel: str, *, is_dir: bool) -> bool:
        probe = rel + "/" if is_dir else rel
        decision: bool | None = None
        for spec in self._base:
            found = spec.check_file(probe).include
            decision = found if found is not None else decision
        for directory, local in self._specs_above(rel.rpartition("/")[0]):
            sub = probe[len(directory) + 1 :] if directory else probe
            found = local.check_file(sub).include
            decision = found if found is not None else decision
        return bool(decision)

    def _specs_above(self, rel_dir: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """The ``.gitignore`` rules of a directory and of those above it, outermost first."""
        chain = self._chains.get(rel_dir)
        if chain is None:
            chain = self._specs_above(rel_dir.rpartition("/")[0]) if rel_dir else []
            local = self._dir_spec(rel_dir)
            if local is not None:
                chain = [*chain, (rel_dir, local)]
            self._chains[rel_dir] = chain
        return chain

    def _dir_spec(self, rel_dir: str) -> pathspec.GitIgnoreSpec | None:
        if rel_dir not in self._per_dir:
            self._per_dir[rel_dir] = _spec(self.root / rel_dir / ".gitignore")
        return self._per_dir[rel_dir]
