"""Day files and the storage directory: names, listing, and the safety rules for opening it."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.errors import TrackerError

DAY_FILE_RE = re.compile(r"^events_(\d{4}-\d{2}-\d{2})\.jsonl(\.gz)?$")
CHAIN_FILE = ".chain"  # the writers' lock and the chain head (seq, hash, file, end offset)
PENDING_DIR = ".pending"  # markers of events announced but not yet written (detached hooks)


@dataclass(frozen=True)
class DayFile:
    day: str  # YYYY-MM-DD
    path: Path
    compressed: bool


def day_file_name(day: str) -> str:
    return f"events_{day}.jsonl"


def list_day_files(storage: Path) -> list[DayFile]:
    """Every day file, oldest day first; a day present both plain and compressed lists both."""
    try:
        names = os.listdir(storage)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TrackerError(f"cannot list {storage}: {exc.strerror}") from None
    files = []
    for name in names:
        match = DAY_FILE_RE.match(name)
        if match:
            files.append(DayFile(match.group(1), storage / name, bool(match.group(2))))
    files.sort(key=lambda f: (f.day, not f.compressed))
    return files


def check_storage_dir(path: Path, st: os.stat_result) -> None:
    """Refuse a storage directory another local user could read, redirect or fill."""
    if stat.S_ISLNK(st.st_mode):
        raise TrackerError(f"refusing storage {path}: it is a symlink")
    if not stat.S_ISDIR(st.st_mode):
        raise TrackerError(f"refusing storage {path}: not a directory")
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        raise TrackerError(f"refusing storage {path}: owned by uid {st.st_uid}, not by you ({uid})")
    if st.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
        raise TrackerError(f"refusing storage {path}: writable by other users (chmod go-w)")


def open_storage_dir(path: Path, *, mode: int, create: bool = True) -> int:
    """Open (creating if needed) the storage directory safely and return its descriptor.

    Files are then opened relative to this descriptor, so a swapped path cannot redirect them.
    """
    if create and not os.path.lexists(path):
        try:
            os.makedirs(path.parent, mode=0o700, exist_ok=True)
            os.mkdir(path, mode)
        except FileExistsError:
            pass  # another writer made it first; the checks below still apply
        except OSError as exc:
            raise TrackerError(f"cannot create storage {path}: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == 40 or os.path.islink(path):  # ELOOP: the last component is a symlink
            raise TrackerError(f"refusing storage {path}: it is a symlink") from None
        raise TrackerError(f"cannot open storage {path}: {exc.strerror}") from None
    try:
        check_storage_dir(path, os.fstat(fd))
    except TrackerError:
        os.close(fd)
        raise
    return fd
