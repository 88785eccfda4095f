"""Opening the side index safely: a private file beside the day files, never one someone planted,
rebuilt from scratch when damaged or written by another version (it is only a cache)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
from pathlib import Path

from mfn_tracker.query.index import Index, IndexUnavailable, StaleIndex

INDEX_FILE = ".index.sqlite3"
SCHEMA_VERSION = "3"

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files(
    name TEXT PRIMARY KEY, day TEXT NOT NULL, compressed INT NOT NULL,
    dev INT, ino INT, size INT, mtime_ns INT, ctime_ns INT,
    indexed INT NOT NULL, lines INT NOT NULL, digest TEXT);
CREATE TABLE events(
    ord INTEGER PRIMARY KEY, len INT NOT NULL, seq INT NOT NULL, ts TEXT NOT NULL,
    type TEXT NOT NULL, status TEXT NOT NULL, user TEXT NOT NULL, repo TEXT, dur REAL);
CREATE TABLE problems(name TEXT NOT NULL, line INT NOT NULL, kind TEXT, detail TEXT);
CREATE TABLE agg(
    name TEXT NOT NULL, hour TEXT NOT NULL, dim TEXT NOT NULL, value TEXT NOT NULL,
    n INT NOT NULL, dsum REAL NOT NULL, dn INT NOT NULL,
    PRIMARY KEY(name, hour, dim, value)) WITHOUT ROWID
"""


def open_index(storage: Path, *, file_mode: int) -> Index:
    """The storage's index, created if missing and caught up with the day files.

    Raises ``IndexUnavailable`` when it cannot be used; the caller then reads the files.
    """
    path = storage / INDEX_FILE
    for attempt in range(3):
        _ensure_file(path, file_mode)
        try:
            conn = _connect(path)
        except sqlite3.DatabaseError as exc:
            if attempt:
                raise IndexUnavailable(f"index {path}: {exc}") from None
            _remove(path)  # damaged: it is only a cache, so start afresh
            continue
        index = Index(storage, conn)
        try:
            index.catch_up()
        except StaleIndex:
            conn.close()
            continue  # a file changed under the catch-up: look again
        except sqlite3.OperationalError as exc:  # read-only, locked too long, disk full
            conn.close()
            raise IndexUnavailable(f"index {path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            if attempt:
                raise IndexUnavailable(f"index {path}: {exc}") from None
            _remove(path)
            continue
        return index
    raise IndexUnavailable(f"index {path} could not catch up with a changing log")


def _ensure_file(path: Path, file_mode: int) -> None:
    """Create the index file with the storage's file mode; refuse one someone else planted."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, file_mode)
    except FileNotFoundError:
        raise IndexUnavailable("no storage directory yet") from None
    except OSError as exc:
        raise IndexUnavailable(f"cannot open {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.geteuid():
            raise IndexUnavailable(f"refusing index {path}: not a plain file of yours")
        if stat.S_IMODE(st.st_mode) & ~file_mode:
            os.fchmod(fd, file_mode)
    finally:
        os.close(fd)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # a cache: a crash costs a rebuild, not data
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA threads=2")  # index sorting may use the second core
        if _schema_version(conn) != SCHEMA_VERSION:
            _create_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _schema_version(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def _create_schema(conn: sqlite3.Connection) -> None:
    """Start the cache afresh (a new file, or one another version wrote)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(conn) == SCHEMA_VERSION:  # another reader just made it
            conn.execute("COMMIT")
            return
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"')
        for statement in _SCHEMA.split(";"):
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")
