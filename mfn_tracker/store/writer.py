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
import itertools
import json
import mmap
import os
import re
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store import scrub, validate
from mfn_tracker.store.layout import (
    CHAIN_FILE,
    day_file_name,
    list_day_files,
    open_storage_dir,
)
from mfn_tracker.store.timestamps import (
    day_of,
    format_ms,
    normalize_timestamp,
    now_ms,
)
from mfn_tracker.types import EVENT_TYPE_VALUES, STATUS_VALUES

MAX_LINE_BYTES = 16 * 1024  # the whole line, newline included
# What the writer adds around the body: system_event, event_id, seq (up to 20 digits),
# timestamp, prev, braces, the newline and a possible leading newline after a torn line.
_ENVELOPE_BYTES = 256
_FUTURE_SKEW_MS = 5 * 60 * 1000  # explicit timestamps may run this far ahead of our clock
GENESIS_HASH = "0" * 64
_HEAD_RECORD_BYTES = 512
_BATCH_EVENTS = 256
_BATCH_SECONDS = 1.0
_EVENTS_PER_WRITE = 512  # lines per write(): at most 8 MiB, usually ~200 KiB
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
_HOST = os.uname().nodename
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class WriteError(TrackerError):
    """An event could not be written; nothing already on disk was changed."""


class InvalidEvent(WriteError, ValueError):
    """An event no one may write (unknown type, empty user, ...): the message names the field."""


_ID_COUNTER = itertools.count(1)  # next() on it is atomic under the GIL
_MASK_62, _MASK_48 = 2**62 - 1, 2**48 - 1


class _IdRandom:
    """Per-process random parts of event ids, drawn again after fork."""

    rand_a = ""  # 12 bits, as 3 hex digits
    base = 0  # 62 bits; rand_b is this plus a counter

    @classmethod
    def draw(cls) -> None:
        cls.rand_a = f"{int.from_bytes(os.urandom(2), 'big') & 0xFFF:03x}"
        cls.base = int.from_bytes(os.urandom(8), "big")


_IdRandom.draw()
os.register_at_fork(after_in_child=_IdRandom.draw)


def new_event_id(ms: int) -> str:
    """A UUIDv7 (time-ordered, RFC 9562) without a syscall per event."""
    return new_event_ids(ms, 1)[0]


def new_event_ids(ms: int, count: int) -> list[str]:
    """``count`` UUIDv7s of one millisecond: a prefix shared by them all, then the variant and
    62 bits that are random across processes and unique within one (a counter added to a
    random base)."""
    h = f"{ms:012x}"
    prefix = f"{h[:8]}-{h[8:]}-7{_IdRandom.rand_a}-"
    base = _IdRandom.base
    ids = []
    for i in itertools.islice(_ID_COUNTER, count):
        rand = (base + i) & _MASK_62
        ids.append(f"{prefix}{0x8000 | rand >> 48:04x}-{rand & _MASK_48:012x}")
    return ids


def chain_line(event_id: str, seq: int, timestamp: str, body: str, prev: str) -> bytes:
    """One stored line: the writer's envelope around an event's serialized fields (``body``)."""
    return (
        f'{{"system_event":true,"event_id":"{event_id}","seq":{seq},"timestamp":"{timestamp}",'
        f'{body[1:-1]},"prev":"{prev}"}}'
    ).encode()


def line_hash(line: bytes) -> str:
    """The chain link: SHA-256 of a line's exact bytes without its newline."""
    return _sha256(line).hexdigest()


_sha256 = hashlib.sha256


class ChainHead:
    """Where the chain ends: the last complete line ever written."""

    __slots__ = ("end", "file", "hash", "seq", "ts")

    def __init__(self, seq: int, hash_: str, file: str, end: int, ts: str) -> None:
        self.seq, self.hash, self.file, self.end, self.ts = seq, hash_, file, end, ts

    # A fixed-width text record ("v1 seq hash end ts file"): parsing it is a split, not JSON.
    def encode(self) -> bytes:
        data = f"v1 {self.seq} {self.hash} {self.end} {self.ts or '-'} {self.file or '-'}"
        return data.encode().ljust(_HEAD_RECORD_BYTES - 1) + b"\n"

    @classmethod
    def decode(cls, data: bytes) -> ChainHead | None:
        parts = data.split()
        if len(parts) != 6 or parts[0] != b"v1":
            return None
        try:
            seq, end = int(parts[1]), int(parts[3])
            ts, name = parts[4].decode(), parts[5].decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return cls(
            seq, parts[2].decode(), "" if name == "-" else name, end, "" if ts == "-" else ts
        )

    @classmethod
    def genesis(cls) -> ChainHead:
        return cls(0, GENESIS_HASH, "", 0, "")


def read_chain_head(storage: Path) -> ChainHead | None:
    """Where the writers say the chain ends: their cache in ``.chain``, read without the lock.

    A hint, not proof: ``verify`` checks it against the day files.
    """
    try:
        with open(storage / CHAIN_FILE, "rb") as stream:
            return ChainHead.decode(stream.read(_HEAD_RECORD_BYTES))
    except OSError:
        return None


def prepare(fields: Mapping[str, Any], settings: Settings) -> tuple[str | None, dict[str, Any]]:
    """Validate and order an event's fields; returns (timestamp or None, the rest).

    Common values (plain strings, a list of paths, flat metadata) pass inline checks; anything
    else goes to the rule functions in ``validate``, which accept or refuse it with a message
    naming the field. Every git hook and API call pays for this function, so it keeps calls few.
    Scrubbing happens in ``encode_body``, on the serialized text first, which is cheaper.
    """
    if not fields.keys() <= _INPUT_FIELDS:
        validate.check_unknown_fields(fields)
    get = fields.get
    event_type = get("event_type")
    if type(event_type) is not str or event_type not in EVENT_TYPE_VALUES:
        event_type = validate.check_event_type(event_type)
    user_id = get("user_id")
    if type(user_id) is not str or not 0 < len(user_id) <= _MAX_USER_ID or user_id.isspace():
        user_id = validate.check_required_text("user_id", user_id)
    description = get("action_description")
    if type(description) is not str or not description or description.isspace():
        description = validate.check_required_text("action_description", description)
    status = get("status", "success")
    if type(status) is not str or status not in STATUS_VALUES:
        status = validate.check_status(status)
    rest: dict[str, Any] = {
        "event_type": event_type,
        "user_id": user_id,
        "action_description": description,
        "status": status,
    }
    files = get("files_changed")
    if files is not None:
        if type(files) is not list or not set(map(type, files)) <= _STR_ONLY:
            files = validate.check_files_changed(files)
        if files:
            rest["files_changed"] = list(files)
    _put_text(rest, "comments", get("comments"))
    metadata = get("metadata")
    if metadata is not None and (metadata := _metadata(metadata)):
        rest["metadata"] = metadata
    if not fields.keys().isdisjoint(_RARE_FIELDS):
        _add_rare_fields(get, rest, settings)
    _put_text(rest, "repo", get("repo"))
    rest["host"] = _HOST
    if settings.pseudonymize:
        from mfn_tracker.privacy import pseudonymize_user

        rest["user_id"] = pseudonymize_user(user_id, settings)
    raw_ts = get("timestamp")
    return (None if raw_ts is None else _explicit_timestamp(raw_ts)), rest


_INPUT_FIELDS = validate.INPUT_FIELDS
_MAX_USER_ID = validate.MAX_USER_ID
_RARE_FIELDS = frozenset(("request_id", "source_ip", "duration_ms"))


def _metadata(value: object) -> dict[str, Any] | None:
    """A flat dict of plain values (the common case) is copied; anything else checked deeply."""
    if (
        type(value) is dict
        and set(map(type, value)) <= _STR_ONLY
        and set(map(type, value.values())) <= _PLAIN_SCALARS
    ):
        return dict(value)
    return validate.check_metadata(value)


def _put_text(rest: dict[str, Any], name: str, value: object) -> None:
    """An optional text field, kept only when it holds something."""
    if value is not None:
        if type(value) is not str:
            value = validate.check_optional_text(name, value)
        if value:
            rest[name] = value


def _add_rare_fields(get: Callable[[str], Any], rest: dict[str, Any], settings: Settings) -> None:
    """request_id, source_ip and duration_ms, in the contract's order (before repo)."""
    _put_text(rest, "request_id", get("request_id"))
    source_ip = validate.check_optional_text("source_ip", get("source_ip"))
    if source_ip:
        try:
            rest["source_ip"] = scrub.redact_ip(source_ip, settings.ip_mode)
        except ValueError as exc:
            raise validate.EventValueError(str(exc)) from None
    duration = validate.check_duration(get("duration_ms"))
    if duration is not None:
        rest["duration_ms"] = duration


_STR_ONLY = frozenset((str,))
# JSON as they are (floats need a finiteness check, containers a deep one).
_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))


def _explicit_timestamp(value: object) -> str:
    """A caller's own timestamp, normalized; one far in the future would mislabel its day."""
    try:
        timestamp = normalize_timestamp(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise validate.EventValueError(str(exc)) from None
    if timestamp > format_ms(now_ms() + _FUTURE_SKEW_MS):
        raise validate.EventValueError(f"timestamp {timestamp} is in the future")
    return timestamp


def render(fields: Mapping[str, Any], settings: Settings) -> tuple[str | None, str, dict[str, Any]]:
    """An event's fields as they will be stored: validated, scrubbed and cut to the line limit.

    Returns (timestamp or None, the serialized fields as a JSON object, the ordered fields).
    Raises ``InvalidEvent``.
    """
    try:
        timestamp, rest = prepare(fields, settings)
    except validate.EventValueError as exc:
        raise InvalidEvent(f"invalid event: {exc}") from None
    body, rest = encode_body(rest, MAX_LINE_BYTES - _ENVELOPE_BYTES)
    return timestamp, body, rest


def encode_body(rest: dict[str, Any], budget: int) -> tuple[str, dict[str, Any]]:
    """The fields as one JSON object (``{"event_type":...,"host":...}``), scrubbed and cut to
    ``budget`` UTF-8 bytes.

    Text rather than bytes: the line is encoded once, whole, when the writer adds its envelope.
    Most events hold nothing secret-looking, so the serialized text is screened once and only
    events that might hold a secret are scrubbed field by field and serialized again.
    """
    body = _dumps(rest)
    if not body.isascii():
        try:
            body.encode()
        except UnicodeEncodeError:  # lone surrogates: file names that are not UTF-8
            rest = _undecodable_as_escapes(rest)
            body = _dumps(rest)
    if scrub.might_hold_secret(body, rest.get("metadata")):
        rest = scrub.scrub_value(rest)
        body = _dumps(rest)
    original = _utf8_size(body)
    if original <= budget:
        return body, rest
    limit = 4096
    while limit >= 16:
        cut = _with_truncation_note({k: _shrink(v, limit) for k, v in rest.items()}, original)
        shrunk = _dumps(cut)
        if _utf8_size(shrunk) <= budget:
            return shrunk, cut
        limit //= 2
    # Still too big (e.g. thousands of keys at every level): keep the required fields only.
    required = ("event_type", "user_id", "action_description", "status", "repo", "host")
    cut = _with_truncation_note({k: _shrink(rest[k], 256) for k in required if k in rest}, original)
    return _dumps(cut), cut


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _with_truncation_note(rest: dict[str, Any], original: int) -> dict[str, Any]:
    """Mark a cut event, keeping the contract's field order (metadata before request_id)."""
    metadata = {**(rest.get("metadata") or {}), "truncated": True, "original_bytes": original}
    ordered = {k: v for k, v in rest.items() if k in _BEFORE_METADATA}
    ordered["metadata"] = metadata
    ordered.update((k, v) for k, v in rest.items() if k not in _BEFORE_METADATA and k != "metadata")
    return ordered


_BEFORE_METADATA = frozenset(
    ("event_type", "user_id", "action_description", "status", "files_changed", "comments")
)


def _not_json(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON")


# The C encoder behind json.dumps, made once (json.dumps builds one per call). No cycle check:
# every value reaching it was rebuilt by validation, which refuses nesting past 32 levels.
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
if _C_ENCODER is not None:
    _ENCODE = _C_ENCODER(
        None, _not_json, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
else:  # pragma: no cover - Pythons without the C accelerator
    _ENCODE = json.JSONEncoder(
        ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).iterencode


def _dumps(rest: dict[str, Any]) -> str:
    return "".join(_ENCODE(rest, 0))


def _undecodable_as_escapes(value: Any) -> Any:
    """Show bytes that are not UTF-8 as ``\\xNN`` text, so the line stays strict UTF-8."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the file name's original bytes
        except UnicodeEncodeError:  # other lone surrogates: show their code points
            return value.encode("utf-8", "backslashreplace").decode()
        return raw.decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {_undecodable_as_escapes(k): _undecodable_as_escapes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_undecodable_as_escapes(v) for v in value]
    return value


def _shrink(value: Any, limit: int) -> Any:
    """Cut strings to ``limit`` characters, lists and mappings to ``limit // 16`` items."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        keep = max(1, limit // 16)
        pairs = list(value.items())
        cut = {k[:limit]: _shrink(v, limit) for k, v in pairs[:keep]}
        if len(pairs) > keep:
            cut["…"] = f"{len(pairs) - keep} more"
        return cut
    if isinstance(value, list):
        keep = max(1, limit // 16)
        items = [_shrink(v, limit) for v in value[:keep]]
        if len(value) > keep:
            items.append(f"… {len(value) - keep} more")
        return items
    return value


def _refuse_unless_plain(fd: int, path: Path) -> os.stat_result:
    """A planted symlink is stopped by O_NOFOLLOW; this stops hard links and foreign files."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid not in (os.geteuid(), 0):
        os.close(fd)
        raise WriteError(f"refusing {path}: not a plain file of yours (planted link?)")
    return st


_LIVE_WRITERS: weakref.WeakSet[EventWriter] = weakref.WeakSet()


def _forget_inherited_state() -> None:
    """In a forked child: the parent's descriptors share its flock, so never use them here."""
    for writer in list(_LIVE_WRITERS):
        writer._after_fork_in_child()


os.register_at_fork(after_in_child=_forget_inherited_state)


class EventWriter:
    """Appends events to the day files; safe across threads and processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._thread_lock = threading.Lock()
        self._dir_fd: int | None = None
        self._chain_fd: int | None = None
        self._chain_map: mmap.mmap | None = None  # the head record, shared with other writers
        self._atexit_registered = False
        self._last_head: tuple[bytes, ChainHead] = (b"", ChainHead.genesis())
        self._day_fds: dict[str, int] = {}
        self._unsynced: set[int] = set()
        self._unsynced_count = 0
        self._last_sync = time.monotonic()
        _LIVE_WRITERS.add(self)

    def _after_fork_in_child(self) -> None:
        self._thread_lock = threading.Lock()  # another thread may have held it at fork time
        if self._chain_map is not None:
            self._chain_map.close()
        for fd in [self._chain_fd, self._dir_fd, *self._day_fds.values()]:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)  # the parent's copy keeps its lock; ours is just dropped
        self._chain_fd = self._dir_fd = self._chain_map = None
        self._day_fds.clear()
        self._unsynced.clear()

    # -- public -------------------------------------------------------------------------------

    def write(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, scrub and append one event; returns the record exactly as written.

        Raises ``InvalidEvent`` for a bad event and ``WriteError`` when it cannot be stored;
        either way nothing on disk changed.
        """
        timestamp, body, rest = render(fields, self.settings)
        _, records = self._append_locked([(timestamp, body)], [rest])
        return records[0]

    def write_many(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Append several events in order under one lock; returns their event ids.

        Every event is validated before any is written: one bad event raises ``InvalidEvent``
        (naming its position) and nothing is stored. A batch costs one lock and one ``write()``
        per day file, which is what lets a daemon or an importer keep up with bursts. Ids
        rather than records come back: a record per event would cost a quarter of the write,
        and keeping every event's fields alive until the batch is on disk makes the garbage
        collector walk them again and again.
        """
        rendered: list[tuple[str | None, str]] = []
        add, settings = rendered.append, self.settings
        try:
            for fields in events:
                timestamp, body, _ = render(fields, settings)
                add((timestamp, body))
        except InvalidEvent as exc:
            if not rendered:
                raise
            raise InvalidEvent(f"event {len(rendered) + 1} of the batch: {exc}") from None
        ids, _ = self._append_locked(rendered)
        return ids

    def _append_locked(
        self,
        rendered: list[tuple[str | None, str]],
        rests: list[dict[str, Any]] | None = None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Append under both locks; returns the event ids and, when ``rests`` (the ordered
        fields) are given, the records as written."""
        ids: list[str] = []
        records: list[dict[str, Any]] = []
        with self._thread_lock:
            chain_fd = self._lock_chain()
            try:
                for start in range(0, len(rendered), _EVENTS_PER_WRITE):
                    chunk = slice(start, start + _EVENTS_PER_WRITE)
                    part = None if rests is None else rests[chunk]
                    self._append_events(rendered[chunk], part, ids, records)
            finally:
                fcntl.flock(chain_fd, fcntl.LOCK_UN)
        return ids, records

    def _append_events(
        self,
        rendered: list[tuple[str | None, str]],
        rests: list[dict[str, Any]] | None,
        ids: list[str],
        records: list[dict[str, Any]],
    ) -> None:
        """Append rendered events (the lock is held), one ``write()`` per run of same-day events."""
        head = self._read_head()
        ms = now_ms()
        now = format_ms(ms)
        n, total = 0, len(rendered)
        new_ids = iter(new_event_ids(ms, total))
        while n < total:
            timestamp = rendered[n][0]
            # Stamped under the lock (never before the head's), so each file is in time order.
            stamp = timestamp or max(now, head.ts)
            name = day_file_name(day_of(stamp))
            fd, size = self._day_file(name)
            if not self._head_matches(head, name, size):
                head = self._recover_head(head)
                stamp = timestamp or max(now, head.ts)
                name = day_file_name(day_of(stamp))
                fd, size = self._day_file(name)
            day = stamp[:10]
            # A torn last line (a writer killed mid-write) must not swallow ours: start afresh.
            clean = name == head.file and size == head.end
            lead = b"\n" if size and not clean and os.pread(fd, 1, size - 1) != b"\n" else b""
            seq, prev, clock = head.seq, head.hash, head.ts
            # Every event the writer stamps in this run gets the same stamp, never before the
            # head's; a caller's (backdated) timestamp must not drag later events along.
            ours = max(now, clock)
            lines: list[bytes] = []
            while n < total:
                timestamp, body = rendered[n]
                if timestamp is None:
                    stamp = clock = ours
                else:
                    stamp = timestamp
                if stamp[:10] != day:
                    break
                seq += 1
                event_id = next(new_ids)
                line = chain_line(event_id, seq, stamp, body, prev)
                if rests is not None:
                    records.append(
                        {
                            "system_event": True,
                            "event_id": event_id,
                            "seq": seq,
                            "timestamp": stamp,
                            **rests[n],
                            "prev": prev,
                        }
                    )
                ids.append(event_id)
                lines.append(line)
                prev = _sha256(line).hexdigest()  # line_hash, without a call per event
                n += 1
            data = lead + b"\n".join(lines) + b"\n"
            self._append(fd, name, data, len(lines))
            head = ChainHead(seq, prev, name, size + len(data), clock)
            self._write_head(head)

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
        """Sync and release every descriptor; the writer reopens them if used again."""
        with self._thread_lock:
            self._release()

    def _release(self) -> None:
        self._close_day_fds()
        if self._chain_map is not None:
            self._chain_map.close()
        for fd in (self._chain_fd, self._dir_fd):
            if fd is not None:
                os.close(fd)
        self._chain_fd = self._dir_fd = self._chain_map = None

    # -- the lock and the head -----------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            chain_fd = self._lock_chain()
            try:
                yield
            finally:
                fcntl.flock(chain_fd, fcntl.LOCK_UN)

    def _lock_chain(self) -> int:
        """flock ``.chain``; if someone removed or replaced it meanwhile, lock the new one."""
        for _ in range(3):
            chain_fd = self._open_chain()
            try:
                fcntl.flock(chain_fd, fcntl.LOCK_EX)
                # An unlinked or renamed-over file has no links left: writers must all lock the
                # file that is there now (fstat costs no path lookup).
                st = os.fstat(chain_fd)
                if st.st_nlink > 0:
                    if st.st_size < _HEAD_RECORD_BYTES:  # new, or cut short: a mapped read
                        os.ftruncate(chain_fd, _HEAD_RECORD_BYTES)  # past EOF would be SIGBUS
                    return chain_fd
            except OSError as exc:
                raise WriteError(f"cannot lock {CHAIN_FILE}: {exc.strerror}") from None
            fcntl.flock(chain_fd, fcntl.LOCK_UN)
            self._release()
        raise WriteError(f"{CHAIN_FILE} keeps changing under the writer")

    def _open_chain(self) -> int:
        if self._chain_fd is None:
            s = self.settings
            try:
                self._dir_fd = open_storage_dir(s.storage_path, mode=s.dir_mode)
            except WriteError:
                raise
            except TrackerError as exc:  # callers catch one type for "not stored"
                raise WriteError(str(exc)) from None
            try:
                fd = os.open(
                    CHAIN_FILE,
                    os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                    s.file_mode,
                    dir_fd=self._dir_fd,
                )
            except OSError as exc:
                raise WriteError(
                    f"cannot open {s.storage_path / CHAIN_FILE}: {exc.strerror}"
                ) from None
            _refuse_unless_plain(fd, s.storage_path / CHAIN_FILE)
            self._chain_fd = fd
            if not self._atexit_registered:
                atexit.register(self.close)
                self._atexit_registered = True
        return self._chain_fd

    def _read_head(self) -> ChainHead:
        chain = self._map_chain()
        record = chain[:_HEAD_RECORD_BYTES] if chain is not None else b""
        if record == self._last_head[0]:  # unchanged since we wrote it: no parsing needed
            return self._last_head[1]
        head = ChainHead.decode(record) if record else None
        return head or self._recover_head(None)

    def _write_head(self, head: ChainHead) -> None:
        chain = self._map_chain()
        if chain is not None:
            record = head.encode()
            chain[:_HEAD_RECORD_BYTES] = record
            self._last_head = (record, head)

    def _map_chain(self) -> mmap.mmap | None:
        """Map ``.chain`` so reading and updating the head costs no system call."""
        if self._chain_map is None:
            fd = self._chain_fd
            assert fd is not None  # noqa: S101 - _locked() opened it and sized it
            try:
                self._chain_map = mmap.mmap(fd, _HEAD_RECORD_BYTES)
            except OSError as exc:
                raise WriteError(f"cannot map {CHAIN_FILE}: {exc.strerror}") from None
        return self._chain_map

    def _head_matches(self, head: ChainHead, name: str, size: int) -> bool:
        """The cached head is trusted only while its file ends exactly where it says."""
        if head.seq == 0:
            return size == 0 and not list_day_files(self.settings.storage_path)
        if head.file == name:
            return size == head.end
        if size:  # lines the head does not know of (a writer died after appending them)
            return False
        try:
            st = os.stat(head.file, dir_fd=self._dir_fd, follow_symlinks=False)
        except OSError:
            return False
        return st.st_size == head.end

    def _recover_head(self, cached: ChainHead | None) -> ChainHead:
        """Rebuild the head from the day files (after a crash, or when the cache disagrees)."""
        from mfn_tracker.store.tail import last_valid_line

        best = ChainHead.genesis()
        files = list_day_files(self.settings.storage_path)
        plain = [f for f in files if not f.compressed]
        # Compressed days are old; read them only when no plain file holds a line.
        for day_file in plain + ([] if any(f.path.stat().st_size for f in plain) else files):
            found = last_valid_line(day_file.path)
            if found is not None and found.seq > best.seq:
                name, link = day_file.path.name, line_hash(found.line)
                best = ChainHead(found.seq, link, name, found.end or 0, found.ts)
        if cached is not None and cached.seq > best.seq:
            # The files lost lines the head remembers (truncated or edited): keep counting from
            # the head so seq never repeats; `verify` reports the gap.
            return cached
        return best

    # -- day files -----------------------------------------------------------------------------

    def _day_file(self, name: str) -> tuple[int, int]:
        """The open descriptor for a day file and its size (reopened if the file was replaced)."""
        fd = self._day_fds.get(name)
        if fd is not None:
            st = os.fstat(fd)
            if st.st_nlink > 0:
                return fd, st.st_size
            os.close(self._day_fds.pop(name))  # removed or replaced (retention): reopen by name
        if len(self._day_fds) >= 3:
            self._close_day_fds()
        try:
            os.stat(name + ".gz", dir_fd=self._dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:  # a second, plain copy of an archived day would split that day in two
            raise WriteError(f"{name[7:17]} is archived (compressed by retention): not appending")
        try:
            fd = os.open(name, _OPEN_FLAGS, self.settings.file_mode, dir_fd=self._dir_fd)
        except OSError as exc:
            raise WriteError(
                f"cannot open {self.settings.storage_path / name}: {exc.strerror}"
            ) from None
        st = _refuse_unless_plain(fd, self.settings.storage_path / name)
        if st.st_size == 0 and self.settings.fsync == "always":
            os.fsync(self._dir_fd)  # type: ignore[arg-type]  # the new name must survive a crash
        self._day_fds[name] = fd
        return fd, st.st_size

    def _append(self, fd: int, name: str, data: bytes, events: int) -> None:
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(28, "short write (disk full?)")
            self._sync(fd, events)
        except OSError as exc:
            raise WriteError(
                f"cannot write event to {self.settings.storage_path / name}: {exc.strerror}"
            ) from None

    def _sync(self, fd: int, events: int) -> None:
        policy = self.settings.fsync
        if policy == "always":
            os.fsync(fd)
        elif policy == "batch":
            self._unsynced.add(fd)
            self._unsynced_count += events
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
