"""Find the last complete, valid line of a day file: how a writer rebuilds the chain head."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.store.timestamps import TIMESTAMP_RE

_BLOCK = 64 * 1024


@dataclass(frozen=True)
class LastLine:
    seq: int
    line: bytes  # without its newline
    end: int  # offset just past its newline (plain files) or 0 (compressed)
    ts: str


def _parse(line: bytes, end: int) -> LastLine | None:
    try:
        record = json.loads(line)
        seq = record["seq"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    ts = record.get("timestamp")
    # A recovered timestamp becomes the writers' clock: only the exact fixed-width form counts.
    return LastLine(seq, line, end, ts if isinstance(ts, str) and TIMESTAMP_RE.match(ts) else "")


def last_valid_line(path: Path, *, start: int = 0) -> LastLine | None:
    """The last newline-terminated line at or after ``start`` that parses and has a seq."""
    if path.name.endswith(".gz"):
        return _last_in_gzip(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        pos = os.fstat(fd).st_size
        buf = b""  # the unexamined bytes file[pos : pos + len(buf)]
        while True:
            end_nl = buf.rfind(b"\n")
            begin_nl = buf.rfind(b"\n", 0, end_nl) if end_nl > 0 else -1
            if (end_nl == -1 or begin_nl == -1) and pos > start:
                step = min(_BLOCK, pos - start)
                pos -= step
                buf = os.pread(fd, step, pos) + buf
                continue
            if end_nl == -1:
                return None
            found = _parse(buf[begin_nl + 1 : end_nl], pos + end_nl + 1)
            if found is not None:
                return found
            buf = buf[: begin_nl + 1]
    finally:
        os.close(fd)


def _last_in_gzip(path: Path) -> LastLine | None:
    last = None
    try:
        with gzip.open(path, "rb") as stream:
            for line in stream:
                if line.endswith(b"\n"):
                    found = _parse(line[:-1], 0)
                    last = found or last
    except (OSError, EOFError):
        pass
    return last
