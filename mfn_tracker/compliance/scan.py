"""One streaming pass over a day file: the linked runs of lines it holds, and what breaks them.

A *segment* is a maximal run of lines in which each line's ``seq`` is the previous line's + 1
and its ``prev`` is the previous line's SHA-256. An untouched log is one segment per day file
(a few more when callers backdate events into older days). Classifying a break needs the whole
log (the missing seq may live in another day), so this module only records where runs start and
end; :mod:`mfn_tracker.compliance.verify` stitches them together. The loop is the hot path of
``verify``: one orjson decode and one SHA-256 per line, nothing else.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from mfn_tracker.errors import TrackerError
from mfn_tracker.store.layout import DayFile
from mfn_tracker.store.timestamps import TIMESTAMP_RE

_CHUNK = 8 * 1024 * 1024
_SPECIAL_TYPES = frozenset({"checkpoint", "retention"})
WRITER_PREFIX = b'{"system_event":true,"event_id":"'
_MAX_DISORDER = 100
_RETRY_SECONDS = 0.02


@dataclass
class Segment:
    """A linked run of lines inside one file (line numbers are 1-based, inclusive)."""

    file: int
    start_line: int
    first_seq: int
    first_prev: str
    first_hash: str
    end_line: int = 0
    last_seq: int = 0
    last_hash: str = ""
    last_prev: str = ""


@dataclass(frozen=True)
class BadLine:
    """A line that is not an event (not JSON, not an object, fields missing)."""

    file: int
    line: int
    complete: bool  # newline-terminated
    writer_like: bool  # what a torn write leaves: a prefix of a writer line, or NUL fill


def writer_like(line: bytes) -> bool:
    """A fragment an interrupted write can leave: the start of a writer line, or zeros."""
    body = line.lstrip(b"\x00")
    return not body or body.startswith(WRITER_PREFIX) or WRITER_PREFIX.startswith(body)


@dataclass
class FileScan:
    day_file: DayFile
    index: int
    size: int = 0
    lines: int = 0
    segments: list[Segment] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    special: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, event)
    disorder: list[tuple[int, int]] = field(default_factory=list)  # (line, seq): time went back
    misplaced: list[tuple[int, int]] = field(default_factory=list)  # (line, seq): another day's
    malformed: list[tuple[int, int, str]] = field(default_factory=list)  # chained, fields wrong
    error: str | None = None  # a compressed file that cannot be read to its end


def _open(day_file: DayFile) -> tuple[IO[bytes], IO[bytes], int, int | None]:
    """(stream, raw file, size, raw fd of a plain file for re-reading a line being written)."""
    try:
        fd = os.open(day_file.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise TrackerError(f"cannot read {day_file.path}: {exc.strerror}") from None
    size = os.fstat(fd).st_size
    raw = os.fdopen(fd, "rb", buffering=0)
    if day_file.compressed:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, size, None  # type: ignore[return-value]
    return raw, raw, size, fd


def _reader(stream: IO[bytes], result: FileScan) -> Callable[[], bytes]:
    """``stream.read`` that turns a damaged compressed file into ``result.error``."""

    def read() -> bytes:
        try:
            return stream.read(_CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            result.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return b""

    return read


def scan_file(  # noqa: PLR0912, PLR0915 - one tight loop, kept in one frame on purpose (speed)
    index: int, day_file: DayFile, *, on_progress: Callable[[int], None] | None = None
) -> FileScan:
    """Read one day file once and summarise its linked runs, bad lines and special events."""
    result = FileScan(day_file, index)
    try:
        stream, raw, result.size, fd = _open(day_file)
    except FileNotFoundError:  # retention compressed it since the listing: read that copy
        twin = DayFile(day_file.day, day_file.path.with_name(day_file.path.name + ".gz"), True)
        if day_file.compressed or not twin.path.exists():
            raise TrackerError(f"{day_file.path} vanished while being verified") from None
        result.day_file = day_file = twin
        stream, raw, result.size, fd = _open(day_file)
    read = _reader(stream, result)
    loads = orjson.loads
    sha = hashlib.sha256
    special = _SPECIAL_TYPES
    this_day = re.compile(re.escape(day_file.day) + r"T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z").match
    str_ = str
    segments = result.segments
    seg: Segment | None = None
    last_seq, last_hash, last_ts, last_prev = -1, "", "", ""
    line_no = line_no_last = 0
    retries = 3
    carry = b""

    def bad(line: bytes, *, complete: bool) -> None:
        result.bad.append(BadLine(index, line_no, complete, writer_like(line)))

    def odd(line_no: int, seq: int, ev: dict[str, Any]) -> None:
        """A chained line whose fields are not what the writer writes (off the fast path)."""
        why = field_problem(ev)
        if why is not None:
            if len(result.malformed) < _MAX_DISORDER:
                result.malformed.append((line_no, seq, why))
        elif ev["timestamp"][:10] != day_file.day and len(result.misplaced) < _MAX_DISORDER:
            result.misplaced.append((line_no, seq))

    with raw, stream:
        while True:
            chunk = read()
            if not chunk:
                if carry and fd is not None and retries:  # a writer may be mid-line right now
                    retries -= 1
                    time.sleep(_RETRY_SECONDS)
                    continue
                break
            lines = (carry + chunk).split(b"\n") if carry else chunk.split(b"\n")
            carry = lines.pop()
            for line in lines:
                line_no += 1
                try:
                    ev = loads(line)
                    seq = ev["seq"]
                    prev = ev["prev"]
                    ts = ev["timestamp"]
                    etype = ev["event_type"]
                    if (
                        type(ev["user_id"]) is not str_
                        or type(ev["action_description"]) is not str_
                        or type(ev["status"]) is not str_
                        or type(etype) is not str_
                        or type(ts) is not str_
                        or this_day(ts) is None
                    ):
                        if type(seq) is not int or type(prev) is not str:
                            raise TypeError("field types")
                        odd(line_no, seq, ev)
                        ts, etype = str(ts), etype if type(etype) is str_ else ""
                    is_special = etype in special
                    if seq != last_seq + 1 or prev != last_hash:
                        if type(seq) is not int or type(prev) is not str:
                            raise TypeError("field types")
                        if seg is not None:
                            seg.end_line, seg.last_seq = line_no_last, last_seq
                            seg.last_hash, seg.last_prev = last_hash, last_prev
                        last_hash = sha(line).hexdigest()
                        seg = Segment(index, line_no, seq, prev, last_hash)
                        segments.append(seg)
                    else:
                        if ts < last_ts and len(result.disorder) < _MAX_DISORDER:
                            result.disorder.append((line_no, seq))
                        last_hash = sha(line).hexdigest()
                    last_seq, last_ts, last_prev, line_no_last = seq, ts, prev, line_no
                    if is_special:
                        result.special.append((line_no, ev))
                except (ValueError, KeyError, TypeError, IndexError):
                    bad(line, complete=True)
            if on_progress is not None:
                on_progress(len(chunk))
    if carry:  # an unterminated last line: an incomplete write
        line_no += 1
        bad(carry, complete=False)
    if seg is not None:
        seg.end_line, seg.last_seq = line_no_last, last_seq
        seg.last_hash, seg.last_prev = last_hash, last_prev
    result.lines = line_no
    return result


def field_problem(ev: Mapping[str, Any]) -> str | None:
    """Why an event's required fields are not as the writer writes them (None: they are)."""
    for name in ("event_type", "user_id", "action_description", "status", "timestamp"):
        if type(ev.get(name)) is not str:
            return f"{name} is not a string"
    if TIMESTAMP_RE.match(ev["timestamp"]) is None:
        return "timestamp is not YYYY-MM-DDTHH:MM:SS.mmmZ"
    return None


def scan_files(
    files: Sequence[DayFile], *, on_progress: Callable[[int], None] | None = None
) -> list[FileScan]:
    """Scan every file in turn (one process: on 2 cores a pool measured slower, not faster)."""
    return [scan_file(i, f, on_progress=on_progress) for i, f in enumerate(files)]


def read_line(day_file: DayFile, line_no: int) -> bytes | None:
    """One line by number (slow; only for explaining a finding)."""
    opener = gzip.open if day_file.compressed else open
    try:
        with opener(day_file.path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                if number == line_no:
                    return bytes(raw).rstrip(b"\n")
    except OSError:
        return None
    return None
