"""A rebuildable SQLite side index beside the day files: ``<storage>/.index.sqlite3``.

The day files stay the truth; the index is a cache, caught up before every read in one write
transaction: new files and appended bytes are added; a file that was replaced, shrunk, rewritten
or compressed (its inode, size, times or the fingerprint of its whole indexed range disagree) is
indexed again from scratch; files that disappeared are dropped, with every row they left. Rows
say where a line is (offset, length) and hold the fields queries filter on; events are always
read back from the day files and checked against the query (see ``engine``), so a stale row
makes the read start over instead of showing something wrong.
Hourly counts per type, status, user and repo make ``stats`` cheap.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import xxhash

from mfn_tracker.query.ingest import Parsed, Part, parse_part
from mfn_tracker.store.layout import DayFile, list_day_files
from mfn_tracker.store.reader import Problem

if TYPE_CHECKING:
    from concurrent.futures import Future

# Read size while fingerprinting: a buffer this small comes from the heap; a 1 MiB one is
# mapped fresh, and faulting its pages in cost 10 ms per read of a process here (measured).
_HASH_BLOCK = 64 << 10
# Names the fingerprint function in the stored value: a row written by another version (such
# as the SHA-256 ones before) matches no fingerprint, so that file is simply indexed again.
_FINGERPRINT = "xxh3-128:"
_OFFSET_BITS = 36  # a day file up to 64 GiB
_PART_BYTES = 16 << 20  # work item of a large catch-up
_PARALLEL_BYTES = 48 << 20  # below this, worker processes cost more than they save

# Only users get an index: every user-role read filters by user. Other filters scan rows in file
# order (a limit stops early) and stats use the hourly counts; each more index added ~3 s to the
# first read of a million events (measured).
_USER_INDEX = "CREATE INDEX IF NOT EXISTS events_user ON events(user)"
_UPSERT_AGG = (
    "INSERT INTO agg VALUES(?,?,?,?,?,?,?) ON CONFLICT(name, hour, dim, value) DO UPDATE SET "
    "n = n + excluded.n, dsum = dsum + excluded.dsum, dn = dn + excluded.dn"
)


class IndexUnavailable(Exception):
    """The index cannot be used here (read-only storage, damage): read the files instead."""


class StaleIndex(Exception):
    """A day file changed while it was being indexed or read back: catch up again."""


def ord_base(day_file: DayFile) -> int:
    """Row keys sort as the reader reads: by day, a compressed copy first, then by offset."""
    day = int(day_file.day.replace("-", ""))
    return (day << (_OFFSET_BITS + 1)) | ((0 if day_file.compressed else 1) << _OFFSET_BITS)


_MAX_ORD = 1 << 62  # above every day a row key can name (SQLite integers are 64-bit)


def day_ord_bounds(since: str | None, until: str | None) -> tuple[int, int]:
    """[low, high] row keys of the day files a time range touches (as ``Query.wants_day``);
    clamped, so a far-future date means "everything from then on" rather than an overflow."""
    low = int(since[:10].replace("-", "")) << (_OFFSET_BITS + 1) if since else 0
    high = (int(until[:10].replace("-", "")) + 1) << (_OFFSET_BITS + 1) if until else _MAX_ORD
    return min(low, _MAX_ORD), min(high, _MAX_ORD) - 1


def ord_key(name: str) -> tuple[str, bool] | None:
    """(day, compressed) of a day file's name, None for any other name."""
    for suffix, compressed in ((".jsonl.gz", True), (".jsonl", False)):
        if name.startswith("events_") and name.endswith(suffix):
            return name[len("events_") : -len(suffix)], compressed
    return None


def day_ord_range(day: int) -> tuple[int, int]:
    """[low, high] row keys of one day (YYYYMMDD), its compressed and plain files alike."""
    return day << (_OFFSET_BITS + 1), ((day + 1) << (_OFFSET_BITS + 1)) - 1


def split_ord(value: int) -> tuple[int, bool, int]:
    """(day as YYYYMMDD, compressed, offset) of a row key."""
    offset = value & ((1 << _OFFSET_BITS) - 1)
    plain = (value >> _OFFSET_BITS) & 1
    return value >> (_OFFSET_BITS + 1), not plain, offset


# Records here are NamedTuples: every CLI read defines them, and defining a dataclass costs
# about 1 ms of start-up each (a NamedTuple 0.2 ms; measured).


class _FileState(NamedTuple):
    """What the files table records about one day file."""

    name: str
    day: str
    compressed: bool
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int
    indexed: int  # bytes of complete lines indexed (plain files)
    lines: int
    digest: str | None  # fingerprint of bytes [0, indexed) (plain files): an append keeps them

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> _FileState:
        name, day, compressed, dev, ino, size, mtime_ns, ctime_ns, indexed, lines, digest = row
        stats = (dev, ino, size, mtime_ns, ctime_ns)
        return cls(name, day, bool(compressed), *stats, indexed, lines, digest)

    def same_file(self, st: os.stat_result) -> bool:
        return (self.dev, self.ino) == (st.st_dev, st.st_ino)

    def unchanged(self, st: os.stat_result) -> bool:
        return self.same_file(st) and (self.size, self.mtime_ns, self.ctime_ns) == (
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )


class _Job(NamedTuple):
    """One file to (re)index from ``start``: its parts, and what to record when done."""

    day_file: DayFile
    state: _FileState
    parts: list[Part]


class Index:
    """An open index over one storage directory (caught up by ``open_index``)."""

    def __init__(self, storage: Path, conn: sqlite3.Connection) -> None:
        self.storage = storage
        self.conn = conn

    def catch_up(self) -> None:
        """Bring the index level with the day files, in one transaction."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            known = {
                row[0]: _FileState.from_row(row) for row in self.conn.execute("SELECT * FROM files")
            }
            present = list_day_files(self.storage)
            for name in known.keys() - {f.path.name for f in present}:
                self._forget(known[name].name, known[name].day, known[name].compressed)
            jobs = [job for f in present if (job := self._plan(f, known.get(f.path.name)))]
            self._run(jobs)
            self._purge_orphans()
            self.conn.execute(_USER_INDEX)
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def forget_file(self, name: str) -> None:
        """Drop every row of this file, so the next catch-up indexes it from scratch."""
        key = ord_key(name)
        if key is not None:
            self._forget(name, *key)

    def _plan(self, day_file: DayFile, old: _FileState | None) -> _Job | None:
        try:
            fd = os.open(day_file.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # removed meanwhile; the next read forgets it
        except OSError as exc:
            raise IndexUnavailable(f"cannot read {day_file.path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if old is not None and old.unchanged(st):
                return None
            start, lines, digest = _resume_point(fd, day_file, old, st)
            if start == 0:  # also for a file with no files row: rows may be left of it
                self._forget(day_file.path.name, day_file.day, day_file.compressed)
            end = st.st_size if day_file.compressed else _last_line_end(fd, start, st.st_size)
            fingerprint = None
            if not day_file.compressed:  # what an append leaves alone: checked next time
                _feed(digest, fd, start, end)
                fingerprint = _FINGERPRINT + digest.hexdigest()
            parts = _parts(fd, day_file, ord_base(day_file), start, end)
        finally:
            os.close(fd)
        state = _FileState(
            day_file.path.name,
            day_file.day,
            day_file.compressed,
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            end,
            lines,
            fingerprint,
        )
        return _Job(day_file, state, parts)

    def _run(self, jobs: list[_Job]) -> None:
        """Parse every part (in worker processes when there is much to do) and store it."""
        parts = [(job, part) for job in jobs for part in job.parts]
        total = sum((p.end or _PARALLEL_BYTES) - p.start for _, p in parts)
        parallel = total >= _PARALLEL_BYTES and _may_fork()
        results = _parallel(p for _, p in parts) if parallel else None
        lines = {id(job): job.state.lines for job in jobs}
        for job, part in parts:
            parsed = next(results) if results is not None else parse_part(part)
            if parsed.inode != job.state.ino:
                raise StaleIndex(job.day_file.path.name)
            self._store(job.day_file.path.name, parsed, lines[id(job)])
            lines[id(job)] += parsed.lines
        for job in jobs:
            state = job.state
            self.conn.execute(
                "INSERT OR REPLACE INTO files VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                (
                    state.name,
                    state.day,
                    int(state.compressed),
                    state.dev,
                    state.ino,
                    state.size,
                    state.mtime_ns,
                    state.ctime_ns,
                    state.indexed,
                    lines[id(job)],
                    state.digest,
                ),
            )

    def _store(self, name: str, parsed: Parsed, lines_before: int) -> None:
        insert = "INSERT OR REPLACE INTO events VALUES(?,?,?,?,?,?,?,?,?)"
        self.conn.executemany(insert, parsed.rows)
        self.conn.executemany(_UPSERT_AGG, [(name, *row) for row in parsed.agg])
        self.conn.executemany(
            "INSERT INTO problems VALUES(?,?,'malformed',?)",
            [(name, lines_before + line, detail) for line, detail in parsed.problems],
        )

    def _forget(self, name: str, day: str, compressed: bool) -> None:
        base = ord_base(DayFile(day, self.storage / name, compressed))
        self.conn.execute(
            "DELETE FROM events WHERE ord BETWEEN ? AND ?", (base, base + (1 << _OFFSET_BITS) - 1)
        )
        for table in ("problems", "agg", "files"):
            self.conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # noqa: S608

    def _purge_orphans(self) -> None:
        """Drop rows no ``files`` row owns (left by an older version, or an interrupted forget):
        they would be counted by stats and point reads at files that are gone. Walks the
        distinct files by key ranges, a few lookups per day file, not a table scan."""
        names = {name for (name,) in self.conn.execute("SELECT name FROM files")}
        keys = set()
        for name in names:
            key = ord_key(name)
            if key is not None:
                keys.add(ord_base(DayFile(key[0], self.storage / name, key[1])) >> _OFFSET_BITS)
        low = 0
        while row := self.conn.execute(
            "SELECT ord FROM events WHERE ord >= ? ORDER BY ord LIMIT 1", (low,)
        ).fetchone():
            key = row[0] >> _OFFSET_BITS
            low = (key + 1) << _OFFSET_BITS
            if key not in keys:
                self.conn.execute(
                    "DELETE FROM events WHERE ord BETWEEN ? AND ?", (key << _OFFSET_BITS, low - 1)
                )
        for table in ("agg", "problems"):
            name = ""
            while row := self.conn.execute(
                f"SELECT name FROM {table} WHERE name > ? ORDER BY name LIMIT 1",  # noqa: S608
                (name,),
            ).fetchone():
                name = row[0]
                if name not in names:
                    self.conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))  # noqa: S608

    # -- reading back -------------------------------------------------------------------------

    def problems(self, since: str | None, until: str | None) -> list[Problem]:
        """Malformed lines, and unfinished last lines, of the day files a range touches."""
        low = since[:10] if since else ""
        high = until[:10] if until else "9999"
        found = [
            Problem(self.storage / name, line, kind, detail)
            for name, line, kind, detail in self.conn.execute(
                "SELECT p.name, p.line, p.kind, p.detail FROM problems p JOIN files f "
                "ON f.name = p.name WHERE f.day BETWEEN ? AND ? ORDER BY f.day, p.line",
                (low, high),
            )
        ]
        for name, lines in self.conn.execute(
            "SELECT name, lines FROM files WHERE compressed = 0 AND size > indexed "
            "AND day BETWEEN ? AND ?",
            (low, high),
        ):
            found.append(
                Problem(self.storage / name, lines + 1, "torn-tail", "incomplete last write")
            )
        return found

    def path_of(self, day: int, compressed: bool) -> Path:
        text = f"{day:08d}"
        suffix = ".jsonl.gz" if compressed else ".jsonl"
        return self.storage / f"events_{text[:4]}-{text[4:6]}-{text[6:]}{suffix}"

    def rows(self, sql: str, params: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows in batches, so a million-row answer streams."""
        cursor = self.conn.execute(sql, tuple(params))
        while batch := cursor.fetchmany(4096):
            yield from batch

    def close(self) -> None:
        self.conn.close()


def _resume_point(
    fd: int, day_file: DayFile, old: _FileState | None, st: os.stat_result
) -> tuple[int, int, xxhash.xxh3_128]:
    """(offset to index from, lines before it, running fingerprint of the bytes before it):
    where an append continues, else 0.

    An append is told from an edit by fingerprinting the whole indexed range again: any byte
    changed in place, even with the length kept, means its rows are stale (``stats`` never reads
    lines back), and only reading every byte can tell. The running fingerprint then goes on over
    the new part, so nothing is read twice. It is XXH3-128, not a cryptographic hash: it runs at
    memory speed (a 60 MB day in about 10 ms instead of 50), and it guards a cache against
    changes, not against a forger, who could as well rewrite the index file beside the day
    files (same owner, same mode); the hash chain and ``verify`` are what catch forgery.
    """
    fresh = xxhash.xxh3_128()
    if old is None or day_file.compressed or not old.same_file(st) or old.digest is None:
        return 0, 0, fresh
    if st.st_size < old.indexed or st.st_size == old.size:  # shrunk, or rewritten in place
        return 0, 0, fresh
    if not old.digest.startswith(_FINGERPRINT):  # written by another version
        return 0, 0, fresh
    digest = xxhash.xxh3_128()
    _feed(digest, fd, 0, old.indexed)
    if _FINGERPRINT + digest.hexdigest() != old.digest:
        return 0, 0, fresh
    return old.indexed, old.lines, digest


def _last_line_end(fd: int, start: int, size: int) -> int:
    """Offset just past the last newline in [start, size): an unfinished line waits."""
    end = size
    while end > start:
        block = max(start, end - 65536)
        found = os.pread(fd, end - block, block).rfind(b"\n")
        if found >= 0:
            return block + found + 1
        end = block
    return start


def _parts(fd: int, day_file: DayFile, base: int, start: int, end: int) -> list[Part]:
    """[start, end) cut at line ends into pieces of about ``_PART_BYTES``."""
    path = str(day_file.path)
    if day_file.compressed:
        return [Part(path, 0, None, base)]
    parts = []
    while start < end:
        cut = _last_line_end(fd, start, min(end, start + _PART_BYTES))
        if cut <= start:  # no newline inside the window (cannot happen with 16 KiB lines)
            cut = end
        parts.append(Part(path, start, cut, base))
        start = cut
    return parts


def _parallel(parts: Iterable[Part]) -> Iterator[Parsed]:
    """Parsed parts in order, two worker processes ahead of the caller at most."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        ahead: deque[Future[Parsed]] = deque()
        for part in parts:
            ahead.append(pool.submit(parse_part, part))
            if len(ahead) > workers + 1:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _may_fork() -> bool:
    """Parse in worker processes only when a core is idle (on a busy machine they cost more
    than they save: measured) and from a single-threaded process, where a fork cannot copy a lock
    another thread holds. Workers are forked (spawning would re-run the caller's main module),
    never touch the inherited SQLite connection, and leave through ``os._exit``."""
    cores = os.cpu_count() or 1
    return cores > 1 and threading.active_count() == 1 and os.getloadavg()[0] < cores - 0.5


def _feed(digest: xxhash.xxh3_128, fd: int, start: int, end: int) -> None:
    """Fingerprint bytes [start, end) of ``fd`` into ``digest``, a block at a time, read into one
    reused buffer (allocating a fresh block per read costs more than the hashing)."""
    buffer = bytearray(min(_HASH_BLOCK, max(end - start, 0)))
    view = memoryview(buffer)
    while start < end:
        count = os.preadv(fd, [view[: end - start]], start)
        if not count:
            break
        digest.update(view[:count])
        start += count
