"""``mfn-tracker verify``: prove that no line was altered, removed, added or moved.

The chain (DESIGN.md): ``seq`` grows by one per line across day files and ``prev`` is the SHA-256
of the previous line's exact bytes (64 zeros before seq 1). Each day file is scanned once
(:mod:`.scan`); the linked runs found there are put in seq order and every break between them is
named: modified, deleted, inserted, duplicated, reordered, torn (an incomplete write, not
tampering), truncated, missing-day. Retention events tell policy deletion from tampering; the
writers' head record and signed checkpoints catch what a consistent chain cannot show on its own
(a clean truncation, a rewritten history).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import IO, TYPE_CHECKING, Any

from mfn_tracker.compliance.head import HeadRecord, read_head_record
from mfn_tracker.compliance.scan import FileScan, Segment, scan_file, scan_files
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import DayFile, day_file_name, list_day_files
from mfn_tracker.store.tail import last_valid_line
from mfn_tracker.store.writer import GENESIS_HASH, line_hash

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ATTESTATION = "attestation"  # metadata key of a retention event's signed facts

TAMPER_KINDS = (
    "modified",
    "deleted",
    "inserted",
    "duplicated",
    "reordered",
    "truncated",
    "missing-day",
    "rewritten",
    "bad-signature",
    "unsigned",
    "misplaced",
    "two-copies",
)
NOT_TAMPER_KINDS = ("torn",)  # an incomplete write (a writer died mid-line)


@dataclass(frozen=True)
class Finding:
    kind: str
    file: str
    line: int | None
    detail: str
    seq: int | None = None

    @property
    def tamper(self) -> bool:
        return self.kind not in NOT_TAMPER_KINDS

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        label = "incomplete write (not tampering)" if self.kind == "torn" else self.kind
        return f"{where}: {label}: {self.detail}"


@dataclass
class VerifyReport:
    files: list[str] = field(default_factory=list)
    lines: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: int = 0
    checkpoints_signed: bool = False
    retention_actions: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["findings"] = [{**asdict(f), "tamper": f.tamper} for f in self.findings]
        return data


@dataclass(frozen=True)
class RetentionRecord:
    """What a retention event attests, read only from its signed part (anyone can log one)."""

    action: str  # compress | delete
    file: str
    lines: int
    first_seq: int | None
    head_seq: int | None
    head_hash: str | None
    first_prev: str | None = None  # the hash of the line before the file's first line
    seq: int = 0  # the retention event's own seq: the latest record of a file wins

    @classmethod
    def from_event(
        cls, event: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
    ) -> RetentionRecord | None:
        """The record, if its attestation verifies under one of ``keys``; else None."""
        from mfn_tracker.compliance.checkpoints import signature_ok

        meta = event.get("metadata") if isinstance(event, Mapping) else None
        att = meta.get(ATTESTATION) if isinstance(meta, dict) else None
        if not isinstance(att, dict) or not isinstance(att.get("file"), str):
            return None
        key = keys.get(str(att.get("key_id")))
        if key is None or not signature_ok(att, key):
            return None
        return cls(
            str(att.get("action")),
            att["file"],
            _int(att.get("lines")) or 0,
            _int(att.get("first_seq")),
            _int(att.get("head_seq")),
            att.get("head_hash") if isinstance(att.get("head_hash"), str) else None,
            att.get("first_prev") if isinstance(att.get("first_prev"), str) else None,
            _int(event.get("seq")) or 0,
        )


def _other_key(event: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> bool:
    """Signed, but by a key not among ``keys``."""
    meta = event.get("metadata")
    att = meta.get(ATTESTATION) if isinstance(meta, dict) else None
    return (
        isinstance(att, dict) and isinstance(att.get("sig"), str) and att.get("key_id") not in keys
    )


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def select_files(
    storage: os.PathLike[str] | str, days: tuple[str, str] | None
) -> tuple[list[DayFile], list[Finding], list[str]]:
    """Day files in range, oldest first, with findings and notes about days kept twice.

    A day both plain and compressed is retention's crash window when the two hold the same
    bytes (it counts once); otherwise both are scanned, since readers return both.
    """
    from pathlib import Path

    chosen: list[DayFile] = []
    findings: list[Finding] = []
    notes: list[str] = []
    for day_file in list_day_files(Path(storage)):
        if days is not None and not days[0] <= day_file.day <= days[1]:
            continue
        twin = next((f for f in chosen if f.day == day_file.day), None)
        if twin is None:
            chosen.append(day_file)
        elif (differs := _first_difference(twin, day_file)) is None:
            notes.append(f"{day_file.path.name} and {twin.path.name} hold the same lines")
        else:
            chosen.append(day_file)
            names = sorted((twin.path.name, day_file.path.name))
            findings.append(
                Finding("two-copies", names[0], differs, f"{names[1]} holds other lines from here")
            )
    chosen.sort(key=lambda f: (f.day, not f.compressed))
    return chosen, findings, notes


def _first_difference(a: DayFile, b: DayFile) -> int | None:
    """The first line (1-based) where two copies of a day differ; None when they are the same."""
    import gzip
    import itertools
    import zlib

    def opened(f: DayFile) -> IO[bytes]:
        return gzip.open(f.path, "rb") if f.compressed else open(f.path, "rb")  # type: ignore[return-value]

    number = 1
    try:
        with opened(a) as one, opened(b) as two:
            for number, (x, y) in enumerate(itertools.zip_longest(one, two), 1):
                if x != y:
                    return number
    except (OSError, EOFError, zlib.error):
        return number
    return None


def verify_log(
    settings: Settings,
    *,
    days: tuple[str, str] | None = None,
    public_keys: Sequence[bytes] = (),
    extra_checkpoints: Sequence[Mapping[str, Any]] = (),
    on_progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check every line of the day files in ``days`` (inclusive, YYYY-MM-DD), or of all."""
    from mfn_tracker.compliance.checkpoints import check_claims, local_checkpoints, trusted_keys

    keys, named = trusted_keys(settings, public_keys)  # a bad key file fails now, not after a scan

    # Read what claims the log's extent before the files: they only grow meanwhile.
    head = read_head_record(settings)
    known = [*local_checkpoints(settings), *extra_checkpoints]
    files, twins, notes = select_files(settings.storage_path, days)
    report = VerifyReport(files=[f.path.name for f in files], findings=twins, notes=notes)
    scans = scan_files(files, on_progress=on_progress)
    report.lines = sum(s.lines for s in scans)
    checker = _Checker(settings, scans, report, ranged=days is not None, keys=keys, named=named)
    checker.run()
    if head is not None:
        checker.check_head(head)
    checker.check_retention()
    check_claims(settings, checker, public_keys=public_keys, known=known)
    report.findings.sort(key=lambda f: (f.file, f.line or 0))
    return report


class _Checker:
    """Stitches the scanned runs in seq order and names every break."""

    def __init__(
        self,
        settings: Settings,
        scans: list[FileScan],
        report: VerifyReport,
        *,
        ranged: bool,
        keys: Mapping[str, Ed25519PublicKey] | None = None,
        named: bool = False,
    ) -> None:
        self.settings = settings
        self.scans = scans
        self.report = report
        self.ranged = ranged
        self.keys = dict(keys or {})
        self.named = named  # keys the reviewer gave (else: this installation's own)
        self.names = [s.day_file.path.name for s in scans]
        self.segments = sorted(
            (seg for s in scans for seg in s.segments),
            key=lambda g: (g.first_seq, g.file, g.start_line),
        )
        self.retention = self._trusted_retention()
        self.known_files = {r.file for r in self.retention} | {
            str(ev["metadata"]["checkpoint"].get("file"))
            for s in scans
            for _, ev in s.special
            if ev.get("event_type") == "checkpoint"
            and isinstance(ev.get("metadata"), dict)
            and isinstance(ev["metadata"].get("checkpoint"), dict)
        }  # day files the log itself says existed
        self.explained: set[tuple[int, int]] = set()  # (file, line) accounted for
        self._outside_loaded = False  # retention events outside a range: read only if needed
        self.max_seq = 0
        self.last_hash = GENESIS_HASH

    def _trusted_retention(self) -> list[RetentionRecord]:
        """Retention records signed with a trusted key; any other retention event is a finding.

        Without keys, or signed by a key other than this installation's own (one rotated away),
        a record is only noted: either way it explains nothing, so no gap hides behind it.
        """
        out: list[RetentionRecord] = []
        unchecked = 0
        for scan in self.scans:
            for line, ev in scan.special:
                if ev.get("event_type") != "retention":
                    continue
                record = RetentionRecord.from_event(ev, self.keys)
                if record is not None:
                    out.append(record)
                elif not self.keys or (not self.named and _other_key(ev, self.keys)):
                    unchecked += 1
                else:
                    self.add(
                        "unsigned",
                        scan.index,
                        line,
                        "a retention event not signed by a trusted key: it explains nothing",
                        _int(ev.get("seq")),
                    )
        if unchecked:
            self.report.notes.append(
                f"{unchecked} retention record(s) not checked (no public key, or another key: "
                "--public-key): they explain nothing"
            )
        return out

    def deleted_record(self, name: str) -> RetentionRecord | None:
        """The latest signed record of deleting day file ``name`` (which must be gone)."""
        plain = name.removesuffix(".gz")
        storage = self.settings.storage_path
        if (storage / plain).exists() or (storage / (plain + ".gz")).exists():
            return None
        found = [r for r in self._all_retention() if r.action == "delete" and r.file == plain]
        return max(found, key=lambda r: r.seq) if found else None

    # -- helpers --------------------------------------------------------------------------------

    def add(
        self, kind: str, file: int | str, line: int | None, detail: str, seq: int | None = None
    ) -> None:
        name = self.names[file] if isinstance(file, int) else file
        self.report.findings.append(Finding(kind, name, line, detail, seq))

    def file_index(self, name: str) -> int | None:
        for index, scan in enumerate(self.scans):
            if scan.day_file.path.name in (name, name + ".gz") or name == (
                scan.day_file.path.name.removesuffix(".gz")
            ):
                return index
        return None

    def deleted_by_policy(self, first: int, last: int) -> bool:
        """[first, last] is exactly the seq spans of whole day files retention deleted."""
        spans = {
            r.first_seq: r.head_seq
            for r in self._all_retention()
            if r.action == "delete"
            and r.first_seq is not None
            and r.head_seq is not None
            and self.deleted_record(r.file) is r
        }
        need = first
        while need in spans:
            need = spans[need] + 1
            if need == last + 1:
                return True
        return False

    def _all_retention(self) -> list[RetentionRecord]:
        if self.ranged and not self._outside_loaded:
            self._outside_loaded = True
            self.retention.extend(_retention_outside(self.settings, set(self.names), self.keys))
        return self.retention

    # -- stitching --------------------------------------------------------------------------------

    def run(self) -> None:
        segs = self.segments
        if not segs:
            self._classify_bad_lines()
            return
        cur_seq, cur_hash = self._anchor(segs[0])
        cur: Segment | None = None
        max_pos: dict[int, int] = {}
        skip: set[int] = set()
        for index, seg in enumerate(segs):
            if id(seg) in skip:
                continue
            gap = seg.first_seq - (cur_seq + 1)
            if gap == 0:
                if seg.first_prev != cur_hash:
                    nxt = segs[index + 1] if index + 1 < len(segs) else None
                    self._mismatch(cur, seg, nxt)
                elif seg.file in max_pos and seg.start_line < max_pos[seg.file]:
                    self.add(
                        "reordered",
                        seg.file,
                        seg.start_line,
                        f"seq {seg.first_seq} stands before a line with a lower seq ({cur_seq})",
                        seg.first_seq,
                    )
            elif gap > 0:
                self._gap(cur, seg, cur_seq, cur_hash, skip)
            elif not self._overlap(cur, seg, cur_seq, cur_hash):
                continue
            max_pos[seg.file] = max(max_pos.get(seg.file, 0), seg.end_line)
            if cur is None or seg.last_seq >= cur_seq:
                cur, cur_seq, cur_hash = seg, seg.last_seq, seg.last_hash
        self.max_seq, self.last_hash = cur_seq, cur_hash
        self.report.first_seq = segs[0].first_seq
        self.report.last_seq, self.report.head_hash = cur_seq, cur_hash
        if cur is not None:
            self._check_forward(cur)
        self._classify_bad_lines()

    def _anchor(self, first: Segment) -> tuple[int, str]:
        """What precedes the first line: genesis, or the end of the day files before the range."""
        if not self.ranged or first.first_seq == 1:
            return 0, GENESIS_HASH
        earlier = [
            f for f in list_day_files(self.settings.storage_path)
            if f.path.name not in self.names and f.day < self.scans[first.file].day_file.day
        ]  # fmt: skip
        for day_file in reversed(earlier[-3:]):
            found = last_valid_line(day_file.path)
            if found is not None and found.seq == first.first_seq - 1:
                return found.seq, line_hash(found.line)
        self.report.notes.append(
            f"the range starts at seq {first.first_seq}; the line before it was not found"
        )
        return first.first_seq - 1, first.first_prev

    def _check_forward(self, last: Segment) -> None:
        """In a range, the first line after it must point at the range's last line."""
        if not self.ranged:
            return
        later = [
            f for f in list_day_files(self.settings.storage_path)
            if f.path.name not in self.names and f.day > self.scans[last.file].day_file.day
        ]  # fmt: skip
        for day_file in later[:1]:
            scan = scan_file(-1, day_file)
            for seg in scan.segments:
                if seg.first_seq == self.max_seq + 1 and seg.first_prev != self.last_hash:
                    self.add(
                        "modified",
                        last.file,
                        last.end_line,
                        f"seq {last.last_seq} does not match the prev of the next line "
                        f"({day_file.path.name}:{seg.start_line})",
                        last.last_seq,
                    )

    def _mismatch(self, cur: Segment | None, seg: Segment, nxt: Segment | None) -> None:
        """Consecutive seq, wrong prev: a line was changed after its successor was written."""
        if cur is None:
            self.add(
                "modified",
                seg.file,
                seg.start_line,
                "the first line's prev is wrong",
                seg.first_seq,
            )
            return
        single = seg.start_line == seg.end_line
        if (
            single
            and nxt is not None
            and nxt.first_seq == seg.last_seq + 1
            and nxt.first_prev != seg.last_hash
        ):  # one changed line explains both breaks: its own prev field was edited
            self.add(
                "modified",
                seg.file,
                seg.start_line,
                f"seq {seg.first_seq}: its prev does not match the line before it",
                seg.first_seq,
            )
            nxt.first_prev = seg.last_hash  # the break after it is the same finding
            return
        self.add(
            "modified",
            cur.file,
            cur.end_line,
            f"seq {cur.last_seq}: its hash does not match the prev of the next line "
            f"({self.names[seg.file]}:{seg.start_line})",
            cur.last_seq,
        )

    def _gap(
        self, cur: Segment | None, seg: Segment, cur_seq: int, cur_hash: str, skip: set[int]
    ) -> None:
        first, last = cur_seq + 1, seg.first_seq - 1
        count = last - first + 1
        if cur is not None and cur.file == seg.file and cur.end_line < seg.start_line:
            between = seg.start_line - cur.end_line - 1
            if between == count:  # the missing lines are physically there, but changed
                for line in range(cur.end_line + 1, seg.start_line):
                    self.explained.add((seg.file, line))
                for other in self.segments:
                    if other.file == seg.file and cur.end_line < other.start_line < seg.start_line:
                        skip.add(id(other))
                self.add(
                    "modified",
                    seg.file,
                    cur.end_line + 1,
                    f"{count} line(s) where seq {first}..{last} should be are not intact",
                    first,
                )
                return
        if self.deleted_by_policy(first, last):
            self.report.notes.append(f"seq {first}..{last} removed by the retention policy")
            recorded = {r.head_hash for r in self._all_retention() if r.head_seq == last}
            if recorded and seg.first_prev not in recorded:
                self.add(
                    "modified",
                    seg.file,
                    seg.start_line,
                    f"its prev does not match the head hash retention recorded for seq {last}",
                    seg.first_seq,
                )
            before = {r.first_prev for r in self._all_retention() if r.first_seq == first}
            if cur is not None and before and cur_hash not in before:
                self.add(
                    "modified",
                    cur.file,
                    cur.end_line,
                    f"seq {cur.last_seq} is not the line retention recorded before seq {first}",
                    cur.last_seq,
                )
            return
        missing = self._missing_days(cur, seg)
        if missing or (cur is None and not self.ranged):
            what = ", ".join(missing) if missing else "the day files before it"
            self.add(
                "missing-day",
                what if missing else seg.file,
                None if missing else seg.start_line,
                f"seq {first}..{last} ({count} lines{'' if missing else ', before this file'}) "
                "are gone and no retention event explains it",
                first,
            )
            return
        self.add(
            "deleted",
            seg.file,
            seg.start_line,
            f"{count} line(s) missing before this line (seq {first}..{last})",
            first,
        )

    def _missing_days(self, cur: Segment | None, seg: Segment) -> list[str]:
        if cur is None or cur.file == seg.file:
            return []
        a = date.fromisoformat(self.scans[cur.file].day_file.day)
        b = date.fromisoformat(self.scans[seg.file].day_file.day)
        present = {s.day_file.day for s in self.scans}
        absent: list[str] = []
        day = a + timedelta(days=1)
        while day < b:
            if day.isoformat() not in present:
                absent.append(day_file_name(day.isoformat()))
            day += timedelta(days=1)
        known = [name for name in absent if name in self.known_files]
        if known or len(absent) <= 1:
            return known or absent
        return [f"{absent[0]}..{absent[-1]} (one or more)"]

    def _overlap(self, cur: Segment | None, seg: Segment, cur_seq: int, cur_hash: str) -> bool:
        """A seq seen before; returns True when ``seg`` carries the chain on from here."""
        if seg.first_seq == 1 and seg.first_prev == GENESIS_HASH:
            self.add(
                "rewritten",
                seg.file,
                seg.start_line,
                f"a second chain starts here at seq 1 (the log had reached seq {cur_seq})",
                1,
            )
            return seg.last_seq > cur_seq
        if cur is None:  # only in a range whose anchor lies past this line
            self.add(
                "inserted", seg.file, seg.start_line, "seq before the range's start", seg.first_seq
            )
            return seg.last_seq > cur_seq
        if seg.first_seq == cur_seq and seg.first_hash == cur_hash:
            self.add(
                "duplicated",
                seg.file,
                seg.start_line,
                f"a copy of seq {cur_seq} ({self.names[cur.file]}:{cur.end_line})",
                cur_seq,
            )
            return seg.last_seq > cur_seq
        if seg.first_seq == cur_seq and seg.first_prev == cur.last_prev:
            intruder_is_cur = seg.last_seq > cur_seq
            where = (cur.file, cur.end_line) if intruder_is_cur else (seg.file, seg.start_line)
            self.add("inserted", *where, f"a second line with seq {cur_seq}", cur_seq)
            return intruder_is_cur
        self.add(
            "inserted",
            seg.file,
            seg.start_line,
            f"seq {seg.first_seq}..{min(seg.last_seq, cur_seq)} appear a second time",
            seg.first_seq,
        )
        return seg.last_seq > cur_seq

    def _classify_bad_lines(self) -> None:
        by_file: dict[int, list[tuple[int, int]]] = {}
        for seg in self.segments:
            by_file.setdefault(seg.file, []).append((seg.start_line, seg.end_line))
        for spans in by_file.values():
            spans.sort()
        for scan in self.scans:
            for bad in scan.bad:
                if (bad.file, bad.line) in self.explained:
                    continue
                spans = by_file.get(bad.file, [])
                i = bisect.bisect_left(spans, (bad.line, 0)) - 1
                inside = i >= 0 and spans[i][0] < bad.line < spans[i][1]
                if not bad.complete:
                    self.add("torn", bad.file, bad.line, "the last line was cut off mid-write")
                elif inside and bad.writer_like:
                    self.add(
                        "torn", bad.file, bad.line, "a fragment of a write that never finished"
                    )
                elif inside:
                    self.add("inserted", bad.file, bad.line, "a line that is not an event")
                else:
                    self.add("modified", bad.file, bad.line, "not a valid event line")
            if scan.error is not None:
                self.add(
                    "truncated", scan.index, scan.lines, f"cannot be read to its end ({scan.error})"
                )
        self._odd_lines()

    def _odd_lines(self) -> None:
        for scan in self.scans:
            for line, seq in scan.disorder:  # the chain proves order; a timestamp is a claim
                self.report.notes.append(
                    f"{self.names[scan.index]}:{line}: seq {seq} carries a timestamp earlier "
                    "than the line before (a backdated event)"
                )
            for line, seq in scan.misplaced:
                self.add("misplaced", scan.index, line, "its timestamp belongs to another day", seq)
            for line, seq, why in scan.malformed:
                self.add("modified", scan.index, line, f"not as the writer writes it: {why}", seq)

    # -- cross-checks ---------------------------------------------------------------------------

    def check_head(self, head: HeadRecord) -> None:
        """The writers' head record: the log must reach it, with the same last line."""
        index = self.file_index(head.file)
        if self.ranged and index is None:
            return
        line = self.scans[index].lines if index is not None else None
        if head.seq > self.max_seq:
            if index is None and self.deleted_record(head.file) is None:
                self.add(
                    "missing-day",
                    head.file,
                    None,
                    f"the writers' head (seq {head.seq}) is in it",
                    head.seq,
                )
                return
            self.add(
                "truncated",
                head.file,
                line,
                f"the log ends at seq {self.max_seq}; the writers' head record says {head.seq}",
                head.seq,
            )
        elif head.seq == self.max_seq and head.hash != self.last_hash:
            self.add(
                "modified",
                head.file,
                line,
                f"the last line (seq {head.seq}) differs from the writers' head record",
                head.seq,
            )
        elif (
            index is not None
            and not self.scans[index].day_file.compressed
            and self.scans[index].size < head.end
        ):
            self.add(
                "truncated",
                index,
                line,
                f"{head.file} is {self.scans[index].size} bytes; the writers left {head.end}",
            )

    def check_retention(self) -> None:
        self.report.retention_actions = len(self.retention)
        latest: dict[str, RetentionRecord] = {}
        for record in sorted(self.retention, key=lambda r: r.seq):
            latest[record.file] = record
        for record in latest.values():
            if record.action != "compress":
                continue
            index = self.file_index(record.file)
            if index is None:
                continue
            scan = self.scans[index]
            if scan.day_file.compressed and scan.lines != record.lines:
                self.add(
                    "truncated" if scan.lines < record.lines else "inserted",
                    index,
                    None,
                    f"holds {scan.lines} lines; retention compressed it with {record.lines}",
                )


def _retention_outside(
    settings: Settings, scanned: set[str], keys: Mapping[str, Ed25519PublicKey]
) -> Iterable[RetentionRecord]:
    """Retention events in day files outside a verified range (a cheap byte prefilter)."""
    import gzip

    import orjson

    for day_file in list_day_files(settings.storage_path):
        if day_file.path.name in scanned:
            continue
        opener = gzip.open if day_file.compressed else open
        try:
            with opener(day_file.path, "rb") as stream:
                for raw in stream:
                    if b'"event_type":"retention"' in raw:
                        try:
                            record = RetentionRecord.from_event(orjson.loads(raw), keys)
                        except ValueError:
                            continue
                        if record is not None:
                            yield record
        except OSError:
            continue


def render_text(report: VerifyReport) -> str:
    lines = [str(f) for f in report.findings]
    lines += [f"note: {n}" for n in report.notes]
    span = f"seq {report.first_seq}..{report.last_seq}" if report.first_seq is not None else "empty"
    signed = "signed, verified" if report.checkpoints_signed else "signatures not checked"
    summary = (
        f"{report.lines} lines in {len(report.files)} day files ({span}); "
        f"{report.checkpoints} checkpoints ({signed}); "
        f"{report.retention_actions} retention actions"
    )
    if report.ok:
        lines.append(f"OK: {summary}")
    else:
        tamper = sum(f.tamper for f in report.findings)
        count = len(report.findings)
        lines.append(f"FAILED: {count} finding(s), {tamper} of them tamper evidence; {summary}")
    return "\n".join(lines)


def day_range(*, date_: str | None, since: str | None, until: str | None) -> tuple[str, str] | None:
    """The whole day files a ``--date`` or ``--since/--until`` range touches (None: all)."""
    from mfn_tracker.errors import EXIT_USAGE, TrackerError
    from mfn_tracker.timerange import parse_day, parse_instant

    if date_ is not None:
        if since is not None or until is not None:
            raise TrackerError("give either --date or --since/--until", exit_code=EXIT_USAGE)
        day = parse_day(date_).isoformat()
        return day, day
    if since is None and until is None:
        return None
    first = parse_instant(since)[:10] if since is not None else "0000-00-00"
    last = "9999-99-99"
    if until is not None:
        end = parse_instant(until)
        last = end[:10]
        if end[10:] == "T00:00:00.000Z":  # exclusive: midnight belongs to the day before
            last = (date.fromisoformat(last) - timedelta(days=1)).isoformat()
    if last < first:
        raise TrackerError("--until is before --since", exit_code=EXIT_USAGE)
    return first, last
