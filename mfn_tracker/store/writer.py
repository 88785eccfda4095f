"""The one writer: every event, from every source, reaches disk through :class:`EventWriter`.

One line per event, appended with a single ``write()`` on an ``O_APPEND`` descriptor while an
exclusive ``flock`` on ``<storage>/.chain`` is held. ``.chain`` also caches the chain head (seq,
hash, file, end offset) so a writer need not read day files; it is checked against the day file's
size on every append and rebuilt from the files whenever it disagrees, so it is never trusted
blindly. Standard library only: this is the hot path of every git hook.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store import scrub, validate
from mfn_tracker.store.layout import CHAIN_FILE, day_file_name, list_day_files, open_storage_dir
from mfn_tracker.store.timestamps import day_of, format_ms, normalize_timestamp, now_ms

MAX_LINE_BYTES = 16 * 1024
GENESIS_HASH = "0" * 64
_HEAD_RECORD_BYTES = 512
_BATCH_EVENTS = 256
_BATCH_SECONDS = 1.0
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_HOST = os.uname().nodename


class WriteError(TrackerError):
    """An event could not be written; nothing already on disk was changed."""


class InvalidEvent(WriteError, ValueError):
    """An event no one may write (unknown type, empty user, ...): the message names the field."""


def new_event_id(ms: int) -> str:
    """A UUIDv7 (time-ordered) without importing uuid: 48-bit ms, version, variant, randomness."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def line_hash(line: bytes) -> str:
    """The chain link: SHA-256 of a line's exact bytes without its newline."""
    return hashlib.sha256(line).hexdigest()


class _Head:
    """Where the chain ends: the last complete line ever written."""

    __slots__ = ("end", "file", "hash", "seq", "ts")

    def __init__(self, seq: int, hash_: str, file: str, end: int, ts: str) -> None:
        self.seq, self.hash, self.file, self.end, self.ts = seq, hash_, file, end, ts

    def encode(self) -> bytes:
        record = {"seq": self.seq, "hash": self.hash, "file": self.file, "end": self.end}
        data = json.dumps({**record, "ts": self.ts}).encode()
        return data.ljust(_HEAD_RECORD_BYTES - 1) + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> _Head | None:
        try:
            r = json.loads(data)
            return cls(int(r["seq"]), str(r["hash"]), str(r["file"]), int(r["end"]), str(r["ts"]))
        except (ValueError, KeyError, TypeError):
            return None


GENESIS = _Head(0, GENESIS_HASH, "", 0, "")


def prepare(fields: Mapping[str, Any], settings: Settings) -> tuple[str | None, dict[str, Any]]:
    """Validate, scrub and order an event's fields; returns (timestamp or None, the rest).

    Raises ``validate.EventValueError`` naming the bad field.
    """
    validate.check_unknown_fields(fields)
    rest: dict[str, Any] = {
        "event_type": validate.check_event_type(fields.get("event_type")),
        "user_id": validate.check_required_text("user_id", fields.get("user_id")),
        "action_description": scrub.scrub_text(
            validate.check_required_text("action_description", fields.get("action_description"))
        ),
        "status": validate.check_status(fields.get("status", "success")),
    }
    files = validate.check_files_changed(fields.get("files_changed"))
    if files:
        rest["files_changed"] = files
    comments = validate.check_optional_text("comments", fields.get("comments"))
    if comments:
        rest["comments"] = scrub.scrub_text(comments)
    metadata = validate.check_metadata(fields.get("metadata"))
    if metadata:
        rest["metadata"] = scrub.scrub_value(metadata)
    request_id = validate.check_optional_text("request_id", fields.get("request_id"))
    if request_id:
        rest["request_id"] = scrub.scrub_text(request_id)
    source_ip = validate.check_optional_text("source_ip", fields.get("source_ip"))
    if source_ip:
        rest["source_ip"] = scrub.redact_ip(source_ip, settings.ip_mode)
    duration = validate.check_duration(fields.get("duration_ms"))
    if duration is not None:
        rest["duration_ms"] = duration
    repo = validate.check_optional_text("repo", fields.get("repo"))
    if repo:
        rest["repo"] = repo
    rest["host"] = _HOST
    if settings.pseudonymize:
        from mfn_tracker.privacy import pseudonymize_user

        rest["user_id"] = pseudonymize_user(rest["user_id"], settings)
    raw_ts = fields.get("timestamp")
    try:
        timestamp = None if raw_ts is None else normalize_timestamp(raw_ts)
    except ValueError as exc:
        raise validate.EventValueError(str(exc)) from None
    return timestamp, rest


def encode_body(rest: dict[str, Any], budget: int) -> bytes:
    """The line's middle (``"event_type":...,"host":...``), cut to ``budget`` bytes if needed."""
    body = _dumps(rest)
    if len(body) <= budget:
        return body
    limit = 4096
    while limit >= 16:
        cut = _shrink(rest, limit)
        cut.setdefault("metadata", {})
        cut["metadata"] = {**cut["metadata"], "truncated": True, "original_bytes": len(body)}
        shrunk = _dumps(cut)
        if len(shrunk) <= budget:
            return shrunk
        limit //= 2
    raise WriteError("event cannot be cut below the line limit")  # pragma: no cover


def _dumps(rest: dict[str, Any]) -> bytes:
    text = json.dumps(rest, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates from undecodable file names
        data = text.encode("utf-8", "backslashreplace")
    return data[1:-1]


def _shrink(value: Any, limit: int) -> Any:
    """Cut every string to ``limit`` characters and every list to ``limit // 16`` items."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {k[:limit]: _shrink(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        keep = max(1, limit // 16)
        items = [_shrink(v, limit) for v in value[:keep]]
        if len(value) > keep:
            items.append(f"… {len(value) - keep} more")
        return items
    return value


class EventWriter:
    """Appends events to the day files; safe across threads and processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._thread_lock = threading.Lock()
        self._dir_fd: int | None = None
        self._chain_fd: int | None = None
        self._day_fds: dict[str, int] = {}
        self._unsynced: set[int] = set()
        self._unsynced_count = 0
        self._last_sync = time.monotonic()
        self._closed = False

    # -- public -------------------------------------------------------------------------------

    def write(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, scrub and append one event; returns the record exactly as written.

        Raises ``WriteError`` (a ``TrackerError``) when the event is invalid or cannot be stored.
        """
        try:
            timestamp, rest = prepare(fields, self.settings)
        except validate.EventValueError as exc:
            raise InvalidEvent(f"invalid event: {exc}") from None
        ms = now_ms()
        event_id = new_event_id(ms)
        body = encode_body(rest, MAX_LINE_BYTES - 200)
        with self._locked() as head:
            if timestamp is None:  # stamped under the lock, so per-file order follows time
                timestamp = max(format_ms(ms), head.ts)
            prefix = (
                f'{{"system_event":true,"event_id":"{event_id}","seq":{head.seq + 1},'
                f'"timestamp":"{timestamp}",'
            ).encode()
            seq, prev = head.seq + 1, head.hash
            line = prefix + body + f',"prev":"{prev}"}}'.encode()
            self._append(day_file_name(day_of(timestamp)), line, head)
        return {
            "system_event": True,
            "event_id": event_id,
            "seq": seq,
            "timestamp": timestamp,
            **rest,
            "prev": prev,
        }

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writers' lock (retention uses it to swap files no writer is appending to)."""
        with self._locked():
            self._close_day_fds()
            yield

    def flush(self) -> None:
        """fsync what the ``batch`` policy has not yet synced."""
        with self._thread_lock:
            self._sync_pending()

    def close(self) -> None:
        with self._thread_lock:
            self._sync_pending()
            self._close_day_fds()
            for fd in (self._chain_fd, self._dir_fd):
                if fd is not None:
                    os.close(fd)
            self._chain_fd = self._dir_fd = None

    # -- internals ------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[_Head]:
        with self._thread_lock:
            chain_fd = self._open_chain()
            try:
                fcntl.flock(chain_fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise WriteError(f"cannot lock {CHAIN_FILE}: {exc.strerror}") from None
            try:
                yield self._current_head(chain_fd)
            finally:
                fcntl.flock(chain_fd, fcntl.LOCK_UN)

    def _open_chain(self) -> int:
        if self._chain_fd is None:
            s = self.settings
            self._dir_fd = open_storage_dir(s.storage_path, mode=s.dir_mode)
            try:
                self._chain_fd = os.open(
                    CHAIN_FILE,
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                    s.file_mode,
                    dir_fd=self._dir_fd,
                )
            except OSError as exc:
                raise WriteError(
                    f"cannot open {s.storage_path / CHAIN_FILE}: {exc.strerror}"
                ) from None
            atexit.register(self.close)
        return self._chain_fd

    def _current_head(self, chain_fd: int) -> _Head:
        head = _Head.decode(os.pread(chain_fd, _HEAD_RECORD_BYTES, 0))
        if head is None:
            return self._recover_head(None)
        if head.seq == 0:
            return (
                head if not list_day_files(self.settings.storage_path) else self._recover_head(None)
            )
        try:
            size = os.stat(head.file, dir_fd=self._dir_fd, follow_symlinks=False).st_size
        except OSError:
            return self._recover_head(None)
        return head if size == head.end else self._recover_head(head if size > head.end else None)

    def _recover_head(self, known: _Head | None) -> _Head:
        """Rebuild the head from the day files (after a crash, or when the cache disagrees)."""
        from mfn_tracker.store.tail import last_valid_line

        best = GENESIS
        candidates = (
            [(known.file, known.end)]
            if known
            else [(f.path.name, 0) for f in list_day_files(self.settings.storage_path)]
        )
        for name, start in candidates:
            found = last_valid_line(self.settings.storage_path / name, start=start)
            if found is not None and found.seq > best.seq:
                best = _Head(found.seq, line_hash(found.line), name, found.end, found.ts)
        if known is not None and best.seq <= known.seq:
            return known  # only a torn fragment follows the head; the next append steps over it
        return best

    def _append(self, name: str, line: bytes, head: _Head) -> None:
        fd = self._day_fd(name)
        try:
            size = os.fstat(fd).st_size
            # A torn last line (a writer killed mid-write) must not swallow ours: start afresh.
            known_clean = name == head.file and size == head.end
            if size and not known_clean and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            data = line + b"\n"
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write (disk full?)")
            self._sync(fd)
        except OSError as exc:
            raise WriteError(
                f"cannot write event to {self.settings.storage_path / name}: {exc.strerror}"
            ) from None
        head.seq += 1
        head.hash = line_hash(line.lstrip(b"\n"))
        head.file = name
        head.end = size + len(data)
        head.ts = max(head.ts, _timestamp_of(line))
        os.pwrite(self._chain_fd, head.encode(), 0)  # type: ignore[arg-type]

    def _day_fd(self, name: str) -> int:
        fd = self._day_fds.get(name)
        if fd is not None and os.fstat(fd).st_nlink > 0:
            return fd
        if fd is not None:  # the file was removed or replaced (retention): reopen by name
            os.close(self._day_fds.pop(name))
        if len(self._day_fds) >= 3:
            self._close_day_fds()
        try:
            fd = os.open(name, _OPEN_FLAGS, self.settings.file_mode, dir_fd=self._dir_fd)
        except OSError as exc:
            raise WriteError(
                f"cannot open {self.settings.storage_path / name}: {exc.strerror}"
            ) from None
        st = os.fstat(fd)
        if st.st_nlink != 1 or st.st_uid not in (os.geteuid(), 0):
            os.close(fd)
            raise WriteError(f"refusing {self.settings.storage_path / name}: planted link")
        if st.st_size == 0 and self.settings.fsync == "always":
            os.fsync(self._dir_fd)  # type: ignore[arg-type]  # the new name must survive a crash too
        self._day_fds[name] = fd
        return fd

    def _sync(self, fd: int) -> None:
        policy = self.settings.fsync
        if policy == "always":
            os.fsync(fd)
        elif policy == "batch":
            self._unsynced.add(fd)
            self._unsynced_count += 1
            if (
                self._unsynced_count >= _BATCH_EVENTS
                or time.monotonic() - self._last_sync >= _BATCH_SECONDS
            ):
                self._sync_pending()

    def _sync_pending(self) -> None:
        for fd in self._unsynced:
            with contextlib.suppress(OSError):  # closed meanwhile: close() flushed it already
                os.fsync(fd)
        self._unsynced.clear()
        self._unsynced_count = 0
        self._last_sync = time.monotonic()

    def _close_day_fds(self) -> None:
        self._sync_pending()
        for fd in self._day_fds.values():
            os.close(fd)
        self._day_fds.clear()


def _timestamp_of(line: bytes) -> str:
    marker = line.find(b'"timestamp":"')
    return line[marker + 13 : marker + 37].decode() if marker >= 0 else ""
