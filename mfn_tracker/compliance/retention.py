"""``retention apply``: compress, then delete, whole day files, leaving evidence of each action.

Each action is recorded as a ``retention`` event carrying the file's final line count, first and
last seq and head hash, signed with the checkpoint key (anyone may log a ``retention`` event;
``verify`` believes only signed ones), so it can tell a policy deletion from a deleted day.
A file is verified (its chain and its links to the neighbouring days) before it is touched:
retention never destroys evidence of tampering. A deletion is recorded before the file goes,
so a failed record leaves the file in place. Files are compressed outside the writers' lock
(it can take seconds) and swapped in under it, after checking that nobody appended meanwhile:
gzip to a temporary name, fsync, atomic rename. Today's file and the chain head's are never
touched.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any

from mfn_tracker.compliance.head import read_head_record
from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import DayFile, list_day_files
from mfn_tracker.store.timestamps import now_ms
from mfn_tracker.store.writer import EventWriter, line_hash

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Policy:
    compress_after_days: int | None = 7
    delete_after_days: int | None = 365


@dataclass(frozen=True)
class Planned:
    action: str  # compress | delete
    day_file: DayFile
    age_days: int


@dataclass(frozen=True)
class Facts:
    """What the retention event records about a file before it changes or goes."""

    file: str
    day: str
    lines: int
    bytes: int
    first_seq: int | None
    first_prev: str | None
    head_seq: int | None
    head_hash: str | None
    sha256: str
    torn_tail: bool  # ends in an unterminated fragment (counted in ``lines``, as verify does)


def policy_from_spans(compress_after: str | None, delete_after: str | None) -> Policy:
    """``7d``-style spans in whole days (at least one: a day file is complete once it ends)."""
    from mfn_tracker.timerange import parse_span

    def days(text: str | None) -> int | None:
        if text is None or text.strip().lower() in ("", "never", "off"):
            return None
        value = parse_span(text) // 86_400_000
        if value < 1:
            raise TrackerError(
                f"retention spans are whole days (>= 1d), not {text!r}", exit_code=EXIT_USAGE
            )
        return value

    return Policy(days(compress_after), days(delete_after))


def plan(settings: Settings, policy: Policy, *, today: date | None = None) -> list[Planned]:
    """What the policy asks for now, oldest day first."""
    today = today or datetime.fromtimestamp(now_ms() / 1000, tz=timezone.utc).date()
    head = read_head_record(settings)
    protected = {head.file.removesuffix(".gz")} if head else set()
    out = []
    for day_file in list_day_files(settings.storage_path):
        age = (today - date.fromisoformat(day_file.day)).days
        if age < 1 or day_file.path.name.removesuffix(".gz") in protected:
            continue
        if policy.delete_after_days is not None and age >= policy.delete_after_days:
            out.append(Planned("delete", day_file, age))
        elif (
            policy.compress_after_days is not None
            and age >= policy.compress_after_days
            and not day_file.compressed
        ):
            out.append(Planned("compress", day_file, age))
    return out


def apply(
    settings: Settings, policy: Policy, *, user_id: str, key_id: str, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Carry out the plan; returns one record per action (what was, or would be, done)."""
    done = []
    for item in plan(settings, policy):
        if dry_run:
            done.append({"action": item.action, "file": item.day_file.path.name, "dry_run": True})
            continue
        _refuse_unless_verified(settings, item)
        if item.action == "compress":
            facts, size = _compress(settings, item.day_file)
            record = {"action": "compress", **asdict(facts), "compressed_bytes": size}
            record["policy"] = asdict(policy)
            _record(settings, record, user_id=user_id, key_id=key_id)
        else:
            facts = _facts(item.day_file)
            record = {"action": "delete", **asdict(facts), "policy": asdict(policy)}
            _record(settings, record, user_id=user_id, key_id=key_id)  # raises: nothing deleted
            _delete(settings, item.day_file, facts)
        done.append(record)
    return done


def _refuse_unless_verified(settings: Settings, item: Planned) -> None:
    """Verify the day (chain and links to its neighbours) first: never destroy evidence."""
    from mfn_tracker.compliance.verify import verify_log

    report = verify_log(settings, days=(item.day_file.day, item.day_file.day))
    found = [f for f in report.findings if f.tamper]
    if found:
        raise TrackerError(
            f"refusing to {item.action} {item.day_file.path.name}: verify reports "
            f"{len(found)} finding(s), first: {found[0]} (run `mfn-tracker verify --date "
            f"{item.day_file.day}`; keep the file as evidence)"
        )


_SIGNED_FACTS = (
    "action",
    "file",
    "lines",
    "first_seq",
    "first_prev",
    "head_seq",
    "head_hash",
    "torn_tail",
)


def _record(settings: Settings, record: dict[str, Any], *, user_id: str, key_id: str) -> None:
    """Log the action with its facts signed by the checkpoint key (what verify believes)."""
    from mfn_tracker.compliance.checkpoints import attest
    from mfn_tracker.compliance.verify import ATTESTATION

    signed = attest(settings, {"v": 1, **{k: record[k] for k in _SIGNED_FACTS}})
    verb = "compressed" if record["action"] == "compress" else "deleted"
    writer = EventWriter(settings)
    try:
        writer.write(
            {
                "event_type": "retention",
                "user_id": user_id,
                "action_description": (
                    f"Retention: {verb} {record['file']} ({record['lines']} lines)"
                ),
                "metadata": {**record, "key_id": key_id, ATTESTATION: signed},
            }
        )
    finally:
        writer.close()


def _stream(day_file: DayFile) -> IO[bytes]:
    if day_file.compressed:
        return gzip.open(day_file.path, "rb")  # type: ignore[return-value]
    return open(day_file.path, "rb")


def _facts(day_file: DayFile, sink: IO[bytes] | None = None) -> Facts:
    """Read the file once: lines, digest, first and last event (optionally copying it out)."""
    digest = hashlib.sha256()
    lines = size = 0
    last_byte = b"\n"
    first: bytes | None = None
    tail = b""
    with _stream(day_file) as stream:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            digest.update(block)
            if sink is not None:
                sink.write(block)
            lines += block.count(b"\n")
            size += len(block)
            last_byte = block[-1:]
            if first is None and b"\n" in tail + block:
                first = (tail + block).split(b"\n", 1)[0]
            tail = (tail + block)[-(17 * 1024) :]
    last = _last_event(tail)
    first_event = _event(first) if first else None
    torn = last_byte != b"\n"
    return Facts(
        file=day_file.path.name,
        day=day_file.day,
        lines=lines + torn,
        bytes=size,
        first_seq=_seq(first_event),
        first_prev=first_event.get("prev") if first_event else None,
        head_seq=_seq(last[1]) if last else None,
        head_hash=line_hash(last[0]) if last else None,
        sha256=digest.hexdigest(),
        torn_tail=torn,
    )


def _event(line: bytes) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        value = json.loads(line)
        return value if isinstance(value, dict) else None
    return None


def _seq(event: dict[str, Any] | None) -> int | None:
    seq = event.get("seq") if event else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _last_event(tail: bytes) -> tuple[bytes, dict[str, Any]] | None:
    for line in reversed(tail.split(b"\n")[:-1]):
        event = _event(line)
        if event is not None and _seq(event) is not None:
            return line, event
    return None


def _compress(settings: Settings, day_file: DayFile) -> tuple[Facts, int]:
    storage = settings.storage_path
    target = storage / (day_file.path.name + ".gz")
    tmp = storage / f".{target.name}.tmp-{os.getpid()}"
    before = os.stat(day_file.path)
    fd = os.open(
        tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, settings.file_mode
    )
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as sink:
            facts = _facts(day_file, sink)  # type: ignore[arg-type]
        with open(tmp, "rb") as check:
            os.fsync(check.fileno())
        _locked_swap(settings, day_file, before, lambda: os.replace(tmp, target))
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return facts, target.stat().st_size


def _delete(settings: Settings, day_file: DayFile, facts: Facts) -> None:
    """Unlink the file the record describes, unless it grew since (writers only append)."""
    before = os.stat(day_file.path)
    if before.st_size != facts.bytes and not day_file.compressed:
        raise TrackerError(f"{day_file.path.name} changed while retention read it; run it again")
    _locked_swap(settings, day_file, before, lambda: None)


def _locked_swap(
    settings: Settings,
    day_file: DayFile,
    before: os.stat_result,
    put_in_place: Callable[[], object],
) -> None:
    """Under the writers' lock: check nobody appended, install the new file, drop the old."""
    writer = EventWriter(settings)
    try:
        with writer.exclusive():
            now = os.stat(day_file.path)
            if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise TrackerError(
                    f"{day_file.path.name} changed while retention read it; run it again"
                )
            put_in_place()
            os.unlink(day_file.path)
            _fsync_dir(settings.storage_path)
    finally:
        writer.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
