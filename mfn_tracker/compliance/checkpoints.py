"""Signed checkpoints: Ed25519 statements of how far the log reached, kept where edits show.

A checkpoint says "day file F had L lines and B bytes; its last line was seq S with hash H",
with the time, the previous checkpoint's hash and a signature. It is recorded as a
``checkpoint`` event through the writer and appended to ``<config>/checkpoints.jsonl``; the
latest one can be shipped off the host (``checkpoint export``). ``verify`` then catches what a
self-consistent chain hides: a clean truncation, or a history rewritten with fresh hashes.
The private key stays in the config directory (0600); reviewers need only the public key.
``cryptography`` is imported only when a checkpoint is made or checked, never on the write path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfn_tracker.compliance.head import read_head_record
from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.privacy import ensure_private_dir
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import DayFile, list_day_files
from mfn_tracker.store.timestamps import format_ms, now_ms
from mfn_tracker.store.writer import GENESIS_HASH, EventWriter, line_hash

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from mfn_tracker.compliance.verify import _Checker

KEY_FILE = "checkpoint.key"
STORE_FILE = "checkpoints.jsonl"
EVERY_EVENTS = 1000
EVERY_SECONDS = 3600.0
_THROTTLE_SECONDS = 1.0
_MAX_CLAIM = 1 << 48  # no day file holds more bytes, lines or seqs: a bigger claim is bogus
_log = logging.getLogger("mfn_tracker.checkpoints")


@dataclass(frozen=True)
class Head:
    file: str
    lines: int
    bytes: int
    seq: int
    hash: str


# -- keys -------------------------------------------------------------------------------------


def key_path(settings: Settings) -> Path:
    return settings.config_dir / KEY_FILE


def generate_key(settings: Settings, *, force: bool = False) -> Path:
    """Create the signing key (0600 in a 0700 directory); refuses to replace one unless forced."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(settings)
    ensure_private_dir(path.parent)
    if os.path.lexists(path) and not force:
        raise TrackerError(
            f"{path} exists; pass --force to replace it "
            "(old checkpoints then verify only with the old public key)"
        )
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def load_private_key(settings: Settings, *, create: bool) -> Ed25519PrivateKey | None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = key_path(settings)
    if not path.exists():
        if not create:
            return None
        generate_key(settings)
    st = path.lstat()
    if st.st_mode & 0o077 or st.st_uid != os.geteuid():
        raise TrackerError(f"refusing signing key {path}: it must be yours and mode 600")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise TrackerError(f"{path} is not an Ed25519 private key")
    return key


def public_key_pem(settings: Settings) -> bytes:
    """The public half, for reviewers (``verify --public-key``)."""
    from cryptography.hazmat.primitives import serialization

    key = load_private_key(settings, create=False)
    if key is None:
        raise TrackerError(f"no signing key yet ({key_path(settings)}): run `checkpoint keygen`")
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise TrackerError("not a PEM public key", exit_code=EXIT_USAGE) from None
    if not isinstance(key, Ed25519PublicKey):
        raise TrackerError("the public key is not an Ed25519 key")
    return key


def key_id(public: Ed25519PublicKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- checkpoint values --------------------------------------------------------------------------


def canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def checkpoint_hash(checkpoint: Mapping[str, Any]) -> str:
    """What the next checkpoint names as ``prev_checkpoint`` (signature included)."""
    return hashlib.sha256(canonical(checkpoint)).hexdigest()


def signature_ok(checkpoint: Mapping[str, Any], public: Ed25519PublicKey) -> bool:
    from cryptography.exceptions import InvalidSignature

    payload = {k: v for k, v in checkpoint.items() if k != "sig"}
    try:
        public.verify(bytes.fromhex(str(checkpoint.get("sig", ""))), canonical(payload))
    except (InvalidSignature, ValueError):
        return False
    return True


def _sign(payload: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    return {**payload, "sig": key.sign(canonical(payload)).hex()}


def attest(settings: Settings, facts: Mapping[str, Any]) -> dict[str, Any]:
    """``facts`` signed with the checkpoint key (created if missing), as verify checks them."""
    key = load_private_key(settings, create=True)
    if key is None:  # pragma: no cover - create=True makes one
        raise TrackerError(f"no signing key at {key_path(settings)}")
    return _sign({**facts, "key_id": key_id(key.public_key())}, key)


# -- the local store ------------------------------------------------------------------------------


def store_path(settings: Settings) -> Path:
    return settings.config_dir / STORE_FILE


def local_checkpoints(settings: Settings) -> list[dict[str, Any]]:
    """Every checkpoint this installation made (oldest first); damaged lines are skipped."""
    try:
        data = store_path(settings).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for raw in data.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(raw)
            if isinstance(record, dict) and isinstance(record.get("checkpoint"), dict):
                out.append(record)
    return out


def latest(settings: Settings) -> dict[str, Any] | None:
    found = local_checkpoints(settings)
    return found[-1] if found else None


@contextmanager
def _store_lock(settings: Settings) -> Iterator[int]:
    ensure_private_dir(settings.config_dir)
    fd = os.open(
        store_path(settings),
        os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


# -- making checkpoints ---------------------------------------------------------------------------


def _count_lines(path: Path, start: int, end: int) -> int:
    count = 0
    with open(path, "rb") as stream:
        stream.seek(start)
        left = end - start
        while left > 0:
            block = stream.read(min(left, 1 << 20))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count


def _file_head(path: Path, previous: Mapping[str, Any] | None) -> Head | None:
    """The last complete line of a plain day file, and how many lines lead up to it."""
    from mfn_tracker.store.tail import last_valid_line

    found = last_valid_line(path)
    if found is None:
        return None
    start, base = 0, 0
    if previous and previous.get("file") == path.name and previous.get("bytes", 0) <= found.end:
        start, base = int(previous["bytes"]), int(previous["lines"])
    lines = base + _count_lines(path, start, found.end)
    return Head(path.name, lines, found.end, found.seq, line_hash(found.line))


def _heads(settings: Settings, last: Mapping[str, Any] | None) -> list[tuple[str, Head]]:
    """(reason, head) pairs due now: a closed day's final state, then the current head."""
    storage = settings.storage_path
    plain = [f for f in list_day_files(storage) if not f.compressed]
    if not plain:
        return []
    newest = _head_file(settings, plain) or max(
        plain, key=lambda f: (last_valid_line_seq(f.path), f.day)
    )
    out = []
    if last and last.get("file") != newest.path.name:
        closed = storage / str(last.get("file"))
        if closed.exists():
            head = _file_head(closed, last)
            if head is not None and head.seq > int(last.get("head_seq", 0)):
                out.append(("day-close", head))
    head = _file_head(newest.path, last)
    if head is not None:
        out.append(("head", head))
    return out


def _head_file(settings: Settings, plain: list[DayFile]) -> DayFile | None:
    """The day file the writers' head record points at, when the record is current."""
    head = read_head_record(settings)
    for day_file in plain:
        if head is not None and day_file.path.name == head.file:
            with contextlib.suppress(OSError):
                if day_file.path.stat().st_size == head.end:
                    return day_file
    return None


def last_valid_line_seq(path: Path) -> int:
    from mfn_tracker.store.tail import last_valid_line

    found = last_valid_line(path)
    return found.seq if found else 0


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid:{os.geteuid()}"


def create_checkpoint(settings: Settings, *, reason: str = "manual") -> list[dict[str, Any]]:
    """Sign and record the current head (and a just-closed day's end); returns what was made."""
    key = load_private_key(settings, create=True)
    if key is None:  # pragma: no cover - create=True makes one
        raise TrackerError(f"no signing key at {key_path(settings)}")
    kid = key_id(key.public_key())
    made: list[dict[str, Any]] = []
    with _store_lock(settings) as store_fd:
        previous = latest(settings)
        last = previous["checkpoint"] if previous else None
        last_event_seq = previous.get("event_seq") if previous else None
        writer = EventWriter(settings)
        try:
            with writer.exclusive():  # no writer appends while the head is measured
                heads = _heads(settings, last)
            for why, head in heads:
                if last and head.seq <= int(last.get("head_seq", 0)) and why != "head":
                    continue
                if last and head.seq in (last.get("head_seq"), last_event_seq):
                    continue  # nothing new since the last checkpoint but its own event
                payload = {
                    "v": 1,
                    "file": head.file,
                    "lines": head.lines,
                    "bytes": head.bytes,
                    "head_seq": head.seq,
                    "head_hash": head.hash,
                    "time": format_ms(now_ms()),
                    "prev_checkpoint": checkpoint_hash(last) if last else GENESIS_HASH,
                    "key_id": kid,
                    "reason": reason if why == "head" else why,
                }
                signed = _sign(payload, key)
                record = writer.write(
                    {
                        "event_type": "checkpoint",
                        "user_id": _user(),
                        "action_description": (
                            f"Checkpoint of {head.file}: seq {head.seq}, {head.lines} lines"
                        ),
                        "metadata": {"checkpoint": signed},
                    }
                )
                entry = {"checkpoint": signed, "event_seq": record["seq"]}
                os.write(store_fd, json.dumps(entry, sort_keys=True).encode() + b"\n")
                made.append(entry)
                last, last_event_seq = signed, record["seq"]
        finally:
            writer.close()
    return made


_check_lock = threading.Lock()
_last_check: dict[Path, float] = {}


def is_due(
    settings: Settings, *, every_events: int = EVERY_EVENTS, every_seconds: float = EVERY_SECONDS
) -> str | None:
    """Why a checkpoint is due now (``events``, ``time``, ``day-close``), or None."""
    head = read_head_record(settings)
    if head is None:
        return None
    seq, file = head.seq, head.file
    previous = latest(settings)
    if previous is None:
        return "events" if seq >= every_events else None
    last = previous["checkpoint"]
    done = int(last.get("head_seq", 0))
    if seq <= done + 1:  # nothing but the checkpoint event itself since then
        return None
    if last.get("file") != file:
        return "day-close"
    if seq - done >= every_events:
        return "events"
    age = time.time() - _epoch(str(last.get("time", "")))
    return "time" if age >= every_seconds else None


def _epoch(timestamp: str) -> float:
    from mfn_tracker.store.timestamps import parse_timestamp

    try:
        return parse_timestamp(timestamp) / 1000
    except ValueError:
        return 0.0


def maybe_checkpoint(settings: Settings) -> None:
    """Called after writes: cheap when nothing is due (at most one look per second per process).

    Never raises: the event is already written, and a checkpoint that cannot be made now is
    made next time (a warning goes to the ``mfn_tracker.checkpoints`` logger).
    """
    now = time.monotonic()
    with _check_lock:
        if now - _last_check.get(settings.storage_path, -1e9) < _THROTTLE_SECONDS:
            return
        _last_check[settings.storage_path] = now
    try:
        reason = is_due(settings)
        if reason is not None:
            create_checkpoint(settings, reason=reason)
    except (TrackerError, OSError, ImportError) as exc:
        _log.warning("checkpoint not made: %s", exc)


def export_latest(settings: Settings) -> dict[str, Any]:
    """The latest checkpoint with the public key, for shipping off the host."""
    entry = latest(settings)
    if entry is None:
        raise TrackerError("no checkpoint yet: run `mfn-tracker checkpoint create`")
    return {**entry, "public_key": public_key_pem(settings).decode()}


# -- checking claims (used by verify) ------------------------------------------------------


def _claims(
    checker: _Checker, known: Sequence[Mapping[str, Any]]
) -> list[tuple[dict[str, Any], str, int | None]]:
    """(checkpoint, where it came from, line): the log's own, then those known from elsewhere."""
    out: list[tuple[dict[str, Any], str, int | None]] = []
    for scan in checker.scans:
        for line, event in sorted(scan.special, key=lambda item: item[1].get("seq", 0)):
            meta = event.get("metadata")
            if event.get("event_type") == "checkpoint" and isinstance(meta, dict):
                cp = meta.get("checkpoint")
                if isinstance(cp, dict):
                    out.append((cp, scan.day_file.path.name, line))
    for record in known:
        cp = record.get("checkpoint", record)
        if isinstance(cp, dict):
            out.append((cp, "checkpoint store", None))
    return out


def trusted_keys(
    settings: Settings, public_keys: Sequence[bytes]
) -> tuple[dict[str, Ed25519PublicKey], bool]:
    """Keys by id, and whether the reviewer named them (else: this installation's own key)."""
    if public_keys:
        keys = [load_public_key(pem) for pem in public_keys]
        return {key_id(k): k for k in keys}, True
    with contextlib.suppress(TrackerError, ValueError, OSError):
        own = load_public_key(public_key_pem(settings))
        return {key_id(own): own}, False
    return {}, False


def check_claims(
    settings: Settings,
    checker: _Checker,
    *,
    public_keys: Sequence[bytes] = (),
    known: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Hold the log to every checkpoint it, the local store or the reviewer knows of.

    A claim can only add findings, never hide one; still, only signed claims count when a key
    is known (a forged claim must not raise false alarms), and with keys named by the reviewer
    a checkpoint under any other key is itself a finding.
    """
    claims = _claims(checker, known)
    report = checker.report
    report.checkpoints = len({checkpoint_hash(cp) for cp, _, _ in claims})
    keys, named = trusted_keys(settings, public_keys)
    if named and not any(
        str(cp.get("key_id", "")) in keys and signature_ok(cp, keys[str(cp.get("key_id"))])
        for cp, _, _ in claims
    ):  # the reviewer expects signed checkpoints: a log without any has lost them
        checker.add(
            "unsigned",
            "checkpoints",
            None,
            "no checkpoint signed by the given public key(s) in the log or given with --checkpoint",
        )
    if not claims:
        return
    report.checkpoints_signed = bool(keys)
    if not keys:
        report.notes.append("checkpoint signatures not checked: no public key (--public-key)")
    seen: set[str] = set()
    other = 0
    previous: dict[str, tuple[str, str]] = {}  # key id -> (hash, where) of the last in-log one
    for cp, origin, line in claims:
        digest = checkpoint_hash(cp)
        if digest in seen:
            continue
        seen.add(digest)
        kid = str(cp.get("key_id", ""))
        if keys and kid not in keys:
            if named:
                checker.add(
                    "bad-signature", origin, line, f"checkpoint signed by unknown key {kid}"
                )
            else:
                other += 1
            continue
        if keys and not signature_ok(cp, keys[kid]):
            checker.add("bad-signature", origin, line, "checkpoint signature does not verify")
            continue
        if line is not None:
            _check_sequence(checker, cp, previous.get(kid), origin, line)
            previous[kid] = (digest, f"{origin}:{line}")
        _check_claim(checker, cp)
    if other:
        report.notes.append(f"{other} checkpoint(s) by other keys not checked (--public-key)")


def _check_sequence(
    checker: _Checker,
    cp: Mapping[str, Any],
    before: tuple[str, str] | None,
    origin: str,
    line: int,
) -> None:
    """Checkpoints chain: each names the one before it (a fresh series starts from zeros)."""
    prev = cp.get("prev_checkpoint")
    if before is None or prev == before[0]:
        return
    if prev == GENESIS_HASH:
        checker.report.notes.append(f"a new checkpoint series starts at {origin}:{line}")
        return
    checker.add(
        "deleted",
        origin,
        line,
        f"the checkpoint before this one ({before[1]}) is not the one it names: one is missing",
    )


def _check_claim(checker: _Checker, cp: Mapping[str, Any]) -> None:
    name = str(cp.get("file", ""))
    seq, want = cp.get("head_seq"), cp.get("head_hash")
    size, lines = cp.get("bytes"), cp.get("lines")
    if not isinstance(seq, int) or not isinstance(size, int) or not isinstance(lines, int):
        return
    index = checker.file_index(name)
    when = cp.get("time", "?")
    if not (0 < seq < _MAX_CLAIM and 0 < size < _MAX_CLAIM and 0 < lines < _MAX_CLAIM):
        checker.add(
            "modified",
            index if index is not None else name,
            None,
            f"a checkpoint of {when} claims impossible figures",
            None,
        )
        return
    if index is None:
        if checker.ranged:
            return
        record = checker.deleted_record(name)
        if record is not None:
            _check_against_retention(checker, cp, record)
            return
        if not any(f.kind == "missing-day" and name in f.file for f in checker.report.findings):
            checker.add(
                "missing-day", name, None, f"a checkpoint of {when} saw {lines} lines in it", seq
            )
        return
    scan = checker.scans[index]
    limit = scan.size * 1100 if scan.day_file.compressed else scan.size  # gzip ratio < 1032
    raw = (
        _line_ending_at(scan.day_file.path, size, compressed=scan.day_file.compressed)
        if size <= limit
        else None
    )
    if raw is None:
        if seq > checker.max_seq or (not scan.day_file.compressed and scan.size < size):
            checker.add(
                "truncated",
                index,
                scan.lines,
                f"a checkpoint of {when} saw {lines} lines ({size} bytes, seq {seq})",
                seq,
            )
        else:
            checker.add(
                "rewritten",
                index,
                None,
                f"history rewritten: no line ends at byte {size} where the checkpoint of {when} "
                f"signed seq {seq}",
                seq,
            )
        return
    if line_hash(raw) != want:
        checker.add(
            "rewritten",
            index,
            lines,
            f"seq {seq} is not the line the checkpoint of {when} signed (history rewritten)",
            seq,
        )
    elif not scan.day_file.compressed and scan.size == size and scan.lines != lines:
        checker.add("modified", index, None, f"holds {scan.lines} lines; checkpoint saw {lines}")


def _check_against_retention(checker: _Checker, cp: Mapping[str, Any], record: Any) -> None:
    """A deleted day: the signed retention record must hold what a checkpoint saw in it."""
    seq, lines = int(cp["head_seq"]), int(cp["lines"])
    first, last = record.first_seq, record.head_seq
    agrees = (
        first is not None
        and last is not None
        and first <= seq <= last
        and lines <= record.lines
        and (seq != last or cp.get("head_hash") == record.head_hash)
    )
    if not agrees:
        checker.add(
            "rewritten",
            record.file,
            None,
            f"a checkpoint of {cp.get('time', '?')} saw seq {seq} ({lines} lines) in it; "
            f"retention recorded seq {first}..{last} ({record.lines} lines)",
            seq,
        )


def _line_ending_at(path: Path, offset: int, *, compressed: bool) -> bytes | None:
    """The line whose newline is the byte before ``offset``; None if the file is not so."""
    if offset <= 0:
        return None
    if compressed:
        import gzip

        with gzip.open(path, "rb") as stream:
            data = stream.read(offset)
        if len(data) != offset:
            return None
        window = data[-(17 * 1024) :]
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            start = max(0, offset - 17 * 1024)
            window = os.pread(fd, offset - start, start)
        finally:
            os.close(fd)
        if len(window) != offset - start:
            return None
        window = window if start == 0 else b"\n" + window
    if not window.endswith(b"\n"):
        return None
    body = window[:-1]
    return body[body.rfind(b"\n") + 1 :]
