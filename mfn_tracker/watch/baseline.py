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
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _quote
from pathlib import Path
from typing import NamedTuple

from mfn_tracker.errors import TrackerError

HASH_CAP_BYTES = 64 * 1024 * 1024  # larger files are compared by size and mtime only
BASELINE_DIR = ".watch"  # inside the storage directory: same owner, same 0700 protection
_FORMAT = 2
_CHUNK = 1 << 20
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIRS = 64
_KINDS = {stat.S_IFREG: "file", stat.S_IFLNK: "symlink"}
_IFMT, _IMODE = 0o170000, 0o7777  # stat.S_IFMT() and S_IMODE() as masks (no call per file)


class Entry(NamedTuple):
    """One file as last seen. ``sha256`` is None above the hash cap or when unreadable.

    (A named tuple: a burst creates one per file, at a fifth of a frozen dataclass's cost.)
    """

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
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError:
        return None
    try:
        # A directory swapped for a symlink after the walk must not make the service (root)
        # publish the hash of a file outside the tree: hash only what sits at ``path``.
        if os.readlink(f"/proc/self/fd/{fd}") != os.path.abspath(path):
            return None
        return _digest(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _digest(fd: int, size: int) -> str:
    """SHA-256 of an open file; a small file that did not grow takes one read()."""
    if size < _CHUNK:
        data = os.read(fd, size + 1)
        if len(data) == size:  # all of it, as lstat said: no read() for the end
            return hashlib.sha256(data).hexdigest()
        digest = hashlib.sha256(data)  # it changed meanwhile: read to the end
    else:
        digest = hashlib.sha256()
    while chunk := os.read(fd, _CHUNK):
        digest.update(chunk)
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
    return _judge(
        st,
        previous,
        link_digest=lambda: _link_digest(path),
        content_digest=lambda size: hash_file(path, size, cap=cap),
    )


def _judge(
    st: os.stat_result,
    previous: Entry | None,
    *,
    link_digest: Callable[[], str | None],
    content_digest: Callable[[int], str | None],
) -> Entry | None:
    """The entry for what lstat found; the digest is reused when nothing about it changed."""
    kind = _KINDS.get(st.st_mode & _IFMT)
    if kind is None:
        return None
    if previous is not None and _unchanged(previous, kind, st):
        digest = previous.sha256
    elif kind == "symlink":
        digest = link_digest()
    else:
        digest = content_digest(st.st_size)
    # (a fresh entry even when unchanged: a chmod within the clock tick of the last write
    # leaves ctime as it was, and only the mode shows it)
    return _entry(kind, st, digest)


def _unchanged(previous: Entry, kind: str, st: os.stat_result) -> bool:
    return previous.kind == kind and previous.stamp == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
    )


def _link_digest(path: str, dir_fd: int | None = None) -> str | None:
    try:
        return hashlib.sha256(os.fsencode(os.readlink(path, dir_fd=dir_fd))).hexdigest()
    except OSError:
        return None


def _entry(kind: str, st: os.stat_result, digest: str | None) -> Entry:
    mode = st.st_mode & _IMODE
    return Entry(
        kind, st.st_size, st.st_mtime_ns, st.st_ctime_ns, mode, st.st_ino, digest, st.st_uid
    )


class EntryReader:
    """:func:`read_entry` for many paths of one tree, each looked up relative to its directory.

    A directory is opened once (``O_PATH``) and kept only if ``/proc/self/fd`` shows it at its
    own path, with no symlink on the way; its files are then opened by name with
    ``O_NOFOLLOW``: the guarantee of :func:`hash_file`'s check, for four system calls per new
    file instead of seven. Paths below a directory that fails the check (or is gone) take
    :func:`read_entry`. Use as a context manager: it holds up to ``_OPEN_DIRS`` descriptors.
    """

    def __init__(self, root: str, *, cap: int = HASH_CAP_BYTES) -> None:
        self.root, self.cap = root, cap
        self._dirs: dict[str, int | None] = {}
        self._stats: dict[str, os.stat_result | None] = {}

    def __enter__(self) -> EntryReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        for fd in self._dirs.values():
            if fd is not None:
                os.close(fd)
        self._dirs.clear()
        self._stats.clear()

    def lstat(self, rel: str) -> os.stat_result | None:
        """lstat of a path below the root; the result is reused by the next :meth:`read`."""
        directory, _, name = rel.rpartition("/")
        dir_fd = self._dir_fd(directory)
        try:
            st = os.lstat(f"{self.root}/{rel}") if dir_fd is None else os.lstat(name, dir_fd=dir_fd)
        except OSError:
            st = None
        if dir_fd is not None:
            self._stats[rel] = st
        return st

    def read(self, rel: str, previous: Entry | None = None) -> Entry | None:
        directory, _, name = rel.rpartition("/")
        dir_fd = self._dir_fd(directory)
        if dir_fd is None:
            return read_entry(f"{self.root}/{rel}", cap=self.cap, previous=previous)
        if rel in self._stats:
            st = self._stats.pop(rel)
        else:
            try:
                st = os.lstat(name, dir_fd=dir_fd)
            except OSError:
                st = None
        if st is None:
            return None
        cap = self.cap
        return _judge(
            st,
            previous,
            link_digest=lambda: _link_digest(name, dir_fd),
            content_digest=lambda size: None if size > cap else _hash_at(name, dir_fd, size),
        )

    def _dir_fd(self, directory: str) -> int | None:
        if directory in self._dirs:
            return self._dirs[directory]
        path = f"{self.root}/{directory}" if directory else self.root
        fd: int | None
        try:
            fd = os.open(path, _DIR_FLAGS)
        except OSError:
            fd = None
        if fd is not None:
            try:
                plain = os.readlink(f"/proc/self/fd/{fd}") == path
            except OSError:
                plain = False
            if not plain:
                os.close(fd)
                fd = None
        if len(self._dirs) >= _OPEN_DIRS:
            oldest = self._dirs.pop(next(iter(self._dirs)))
            if oldest is not None:
                os.close(oldest)
        self._dirs[directory] = fd
        return fd


def _hash_at(name: str, dir_fd: int, size: int) -> str | None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        return _digest(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


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

    def under(self, rel_dir: str) -> list[str]:
        """Known paths below a directory ('' is the root); cheap when the directory is unknown."""
        if not rel_dir:
            return list(self.files)
        if rel_dir not in self._dirs:
            return []
        prefix = rel_dir + "/"
        return [p for p in self.files if p.startswith(prefix)]

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
    path: Path,
    updates: list[tuple[str, Entry | None]],
    *,
    dir_mode: int,
    file_mode: int,
    sync: bool = True,
) -> None:
    """Record written changes at once (a full save is too slow per batch), so a crash right
    after an event cannot leave the baseline ignorant of it (a later delete would go unseen).

    The caller syncs the events first: a journal line must never reach the disk before its
    event (the startup scan would not report it again). ``sync=False`` leaves the journal's
    own fsync to a later :func:`sync_journal`, once for many batches.
    """
    if not updates:
        return
    _ensure_private_dir(path.parent, dir_mode)
    data = "".join(_journal_line(rel, e) for rel, e in updates)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(journal_path(path), flags, file_mode)
    try:
        os.write(fd, data.encode())
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_journal(path: Path) -> None:
    try:
        fd = os.open(journal_path(path), os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # saved meanwhile: the baseline file itself was synced
    try:
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


def _journal_line(rel: str, e: Entry | None) -> str:
    """``json.dumps([rel, _row(e)])`` without its per-call encoder set-up (a line per event)."""
    name = _quote(rel)
    if e is None:
        return f"[{name},null]\n"
    digest = "null" if e.sha256 is None else f'"{e.sha256}"'
    return (
        f'[{name},["{e.kind}",{e.size},{e.mtime_ns},{e.ctime_ns},{e.mode},{e.ino},'
        f"{digest},{e.uid}]]\n"
    )


def _row(e: Entry) -> list[object]:
    return [e.kind, e.size, e.mtime_ns, e.ctime_ns, e.mode, e.ino, e.sha256, e.uid]


def _ensure_private_dir(path: Path, mode: int) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode, parents=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o002:
        raise TrackerError(f"refusing watch baseline directory {path}: not a private directory")
