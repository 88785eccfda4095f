"""What the watcher last saw of each file (lstat + SHA-256), persisted between runs.

An event is recorded only when a file differs from its baseline entry, which is what turns
inotify's storms (editor saves, git checkouts) into one event per path, and what lets the daemon
report changes made while it was not running.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.errors import TrackerError

HASH_CAP_BYTES = 64 * 1024 * 1024  # larger files are compared by size and mtime only
BASELINE_DIR = ".watch"  # inside the storage directory: same owner, same 0700 protection
_FORMAT = 2


@dataclass(frozen=True)
class Entry:
    """One file as last seen. ``sha256`` is None above the hash cap or when unreadable."""

    kind: str  # "file" | "symlink"
    size: int
    mtime_ns: int
    ctime_ns: int
    mode: int
    ino: int
    sha256: str | None
    uid: int = -1  # the owner: a hint of who wrote a new file, not proof

    def same_content(self, other: Entry) -> bool:
        """Content and mode equal (what a user calls 'unchanged'); timestamps alone do not count."""
        if self.kind != other.kind or self.mode != other.mode or self.size != other.size:
            return False
        if self.sha256 is None or other.sha256 is None:
            return self.mtime_ns == other.mtime_ns
        return self.sha256 == other.sha256

    @property
    def stamp(self) -> tuple[int, int, int, int]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.ino)

    def same_stat(self, other: Entry) -> bool:
        return self.stamp == other.stamp


def hash_file(path: str, size: int, *, cap: int) -> str | None:
    if size > cap:
        return None
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        # A directory swapped for a symlink after the walk must not make the service (root)
        # publish the hash of a file outside the tree: hash only what sits at ``path``.
        if os.readlink(f"/proc/self/fd/{fd}") != os.path.abspath(path):
            return None
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest.hexdigest()


def read_entry(
    path: str, *, cap: int = HASH_CAP_BYTES, previous: Entry | None = None
) -> Entry | None:
    """lstat + hash of a regular file or symlink; None when absent or anything else (dir, fifo).

    The previous hash is reused when size, mtime, ctime and inode are unchanged, so a rescan of
    an unchanged tree costs one lstat per file.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        kind = "symlink"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    else:
        return None
    stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if previous is not None and previous.kind == kind and previous.stamp == stamp:
        digest = previous.sha256
    elif kind == "symlink":
        try:
            digest = hashlib.sha256(os.fsencode(os.readlink(path))).hexdigest()
        except OSError:
            digest = None
    else:
        digest = hash_file(path, st.st_size, cap=cap)
    mode = stat.S_IMODE(st.st_mode)
    return Entry(
        kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, mode, st.st_ino, digest, st.st_uid
    )


class Baseline:
    """Relative path -> :class:`Entry` for one tree, plus the directories those paths imply."""

    def __init__(self, files: dict[str, Entry] | None = None) -> None:
        self.files: dict[str, Entry] = {}
        self._dirs: set[str] = set()
        for rel, entry in (files or {}).items():
            self.set(rel, entry)

    def get(self, rel: str) -> Entry | None:
        return self.files.get(rel)

    def set(self, rel: str, entry: Entry) -> None:
        self.files[rel] = entry
        parent = rel.rpartition("/")[0]
        while parent and parent not in self._dirs:
            self._dirs.add(parent)
            parent = parent.rpartition("/")[0]

    def remove(self, rel: str) -> None:
        self.files.pop(rel, None)

    def under(self, rel_dir: str) -> Iterator[str]:
        """Known paths below a directory ('' is the root); cheap when the directory is unknown."""
        if not rel_dir:
            yield from list(self.files)
            return
        if rel_dir not in self._dirs:
            return
        prefix = rel_dir + "/"
        yield from [p for p in self.files if p.startswith(prefix)]

    def __len__(self) -> int:
        return len(self.files)


def baseline_path(storage: Path, repo: Path) -> Path:
    """One file per watched tree, named by a hash of its absolute path."""
    key = hashlib.sha256(os.fsencode(str(repo))).hexdigest()[:24]
    return storage / BASELINE_DIR / f"{key}.json"


def load(path: Path, repo: Path) -> Baseline | None:
    """The saved baseline, or None when there is none (first run) or it belongs elsewhere."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TrackerError(f"cannot read watch baseline {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("repo") != str(repo):
        return None
    files = {rel: Entry(*row) for rel, row in data.get("files", {}).items()}
    baseline = Baseline(files)
    _replay(journal_path(path), baseline)
    return baseline


def journal_path(path: Path) -> Path:
    return path.with_suffix(".journal")


def append_journal(
    path: Path, updates: list[tuple[str, Entry | None]], *, dir_mode: int, file_mode: int
) -> None:
    """Record written changes at once (a full save is too slow per batch), so a crash right
    after an event cannot leave the baseline ignorant of it (a later delete would go unseen)."""
    if not updates:
        return
    _ensure_private_dir(path.parent, dir_mode)
    data = "".join(
        json.dumps([rel, None if e is None else _row(e)], separators=(",", ":")) + "\n"
        for rel, e in updates
    )
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(journal_path(path), flags, file_mode)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _replay(journal: Path, baseline: Baseline) -> None:
    try:
        text = journal.read_text()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise TrackerError(f"cannot read watch journal {journal}: {exc}") from None
    for line in text.splitlines():
        try:
            rel, row = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash: its event is reported again, never lost
        if row is None:
            baseline.remove(rel)
        else:
            baseline.set(rel, Entry(*row))


def save(path: Path, repo: Path, baseline: Baseline, *, dir_mode: int, file_mode: int) -> None:
    """Replace the saved baseline atomically (write a temporary file, fsync, rename)."""
    _ensure_private_dir(path.parent, dir_mode)
    rows = {rel: _row(e) for rel, e in baseline.files.items()}
    data = json.dumps({"format": _FORMAT, "repo": str(repo), "files": rows}, separators=(",", ":"))
    # (ensure_ascii keeps undecodable names as \\udcXX escapes, which load() restores)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, file_mode
    )
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(journal_path(path))


def _row(e: Entry) -> list[object]:
    return [e.kind, e.size, e.mtime_ns, e.ctime_ns, e.mode, e.ino, e.sha256, e.uid]


def _ensure_private_dir(path: Path, mode: int) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode, parents=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o002:
        raise TrackerError(f"refusing watch baseline directory {path}: not a private directory")
