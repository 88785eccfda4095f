"""``verify`` against real logs tampered with in every way the issue lists (and a crash)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import GENESIS_HASH, EventWriter
from tests.compliance.logs import (
    DAYS,
    append_chained,
    day_path,
    event,
    kinds,
    lines_of,
    make_log,
    verify,
    write_lines,
)
from tests.helpers.cli import run_cli

DAY2 = f"events_{DAYS[1]}.jsonl"


def test_untouched_log_verifies_clean(settings: Settings) -> None:
    make_log(settings)
    result = run_cli("verify")
    assert result.code == 0, result.out + result.err
    assert result.out.strip().splitlines()[-1].startswith("OK: 24 lines in 3 day files")
    data = json.loads(run_cli("verify", "--format", "json").out)
    assert data["ok"] is True and data["findings"] == [] and data["last_seq"] == 24


def test_empty_storage_verifies_clean(settings: Settings) -> None:
    assert verify(settings).ok


def test_edited_byte_is_named_modified_at_its_line(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    lines[3] = lines[3].replace(b"Commit 3", b"Commit 9")
    write_lines(path, lines)
    result = run_cli("verify", "--format", "json")
    assert result.code == 1
    found = [
        (f["kind"], f["file"], f["line"], f["tamper"]) for f in json.loads(result.out)["findings"]
    ]
    assert found == [("modified", DAY2, 4, True)]


def test_edit_that_breaks_the_json_is_modified(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    lines[2] = lines[2][:-5]
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("modified", DAY2, 3)]


def test_edited_prev_field_is_one_finding_at_that_line(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    lines[4] = lines[4][:-10] + b"0000000" + lines[4][-3:]
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("modified", DAY2, 5)]


def test_edited_seq_is_modified_not_deleted(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    seq = event(lines[4])["seq"]
    lines[4] = lines[4].replace(f'"seq":{seq},'.encode(), b'"seq":999,')
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("modified", DAY2, 5)]


def test_deleted_line_is_named_at_the_next_line(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    del lines[3]
    write_lines(path, lines)
    report = verify(settings)
    assert kinds(report) == [("deleted", DAY2, 4)]
    assert "seq 12..12" in report.findings[0].detail


def test_swapped_lines_are_reordered(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("reordered", DAY2, 3)]


def test_inserted_copy_is_duplicated_at_the_copy(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    lines.insert(3, lines[2])
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("duplicated", DAY2, 4)]


def test_copy_of_the_last_line_is_duplicated(settings: Settings) -> None:
    path = make_log(settings)[2]
    lines = lines_of(path)
    lines.append(lines[-1])
    write_lines(path, lines)
    assert ("duplicated", f"events_{DAYS[2]}.jsonl", 9) in kinds(verify(settings))


def test_forged_line_is_inserted(settings: Settings) -> None:
    path = make_log(settings)[1]
    lines = lines_of(path)
    forged = event(lines[3])
    forged["action_description"] = "nothing happened"
    forged["prev"] = hashlib.sha256(lines[2]).hexdigest()
    lines.insert(3, json.dumps(forged, separators=(",", ":")).encode())
    write_lines(path, lines)
    assert kinds(verify(settings)) == [("inserted", DAY2, 4)]


def test_clean_truncation_is_caught_by_the_head_record(settings: Settings) -> None:
    path = make_log(settings)[2]
    write_lines(path, lines_of(path)[:-3])
    report = verify(settings)
    assert [k for k, _, _ in kinds(report)] == ["truncated"]
    assert report.findings[0].file == path.name


def test_truncation_mid_line_is_truncated_and_torn(settings: Settings) -> None:
    path = make_log(settings)[2]
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    found = {k for k, _, _ in kinds(verify(settings))}
    assert found == {"truncated", "torn"}


def test_torn_write_is_an_incomplete_write_not_tampering(settings: Settings) -> None:
    make_log(settings)
    path = day_path(settings, DAYS[2])
    with open(path, "ab") as stream:  # a writer killed mid-line
        stream.write(lines_of(path)[-1][:50])
    writer = EventWriter(settings)  # the next writer steps over the fragment
    writer.write(
        {
            "event_type": "comment",
            "user_id": "x",
            "action_description": "after",
            "timestamp": f"{DAYS[2]}T11:00:00.000Z",
        }
    )
    writer.close()
    report = verify(settings)
    assert kinds(report) == [("torn", path.name, 9)]
    assert not report.findings[0].tamper
    result = run_cli("verify")
    assert result.code == 1 and "incomplete write (not tampering)" in result.out


def test_removed_day_is_a_missing_day(settings: Settings) -> None:
    paths = make_log(settings)
    os.unlink(paths[1])
    report = verify(settings)
    assert [(f.kind, f.file) for f in report.findings] == [("missing-day", DAY2)]
    result = run_cli("verify")
    assert result.code == 1 and f"{DAY2}: missing-day" in result.out


def test_removed_first_day_is_a_missing_day(settings: Settings) -> None:
    paths = make_log(settings)
    os.unlink(paths[0])
    assert [f.kind for f in verify(settings).findings] == ["missing-day"]


def test_day_rewritten_with_a_fresh_chain_is_rewritten(settings: Settings) -> None:
    path = make_log(settings)[1]
    prev, out = GENESIS_HASH, []
    for seq, line in enumerate(lines_of(path), 1):
        record = event(line)
        record.update(seq=seq, prev=prev, user_id="mallory")
        new = json.dumps(record, separators=(",", ":")).encode()
        prev = hashlib.sha256(new).hexdigest()
        out.append(new)
    write_lines(path, out)
    assert ("rewritten", DAY2, 1) in kinds(verify(settings))


def test_backdated_events_interleave_days_and_still_verify(settings: Settings) -> None:
    make_log(settings)
    writer = EventWriter(settings)
    for day in (DAYS[0], DAYS[2], DAYS[1]):
        writer.write(
            {
                "event_type": "comment",
                "user_id": "x",
                "action_description": "late",
                "timestamp": f"{day}T23:00:00.000Z",
            }
        )
    writer.close()
    report = verify(settings)
    assert report.ok, report.findings
    assert report.last_seq == 27


def test_backdated_event_is_a_note_not_tampering(settings: Settings) -> None:
    """The chain proves the order; a caller's explicit timestamp is only its claim."""
    make_log(settings)
    writer = EventWriter(settings)
    writer.write(
        {
            "event_type": "comment",
            "user_id": "x",
            "action_description": "early",
            "timestamp": f"{DAYS[2]}T01:00:00.000Z",
        }
    )
    writer.close()
    report = verify(settings)
    assert report.ok, report.findings
    assert any(
        n.startswith(f"events_{DAYS[2]}.jsonl:9: seq 25 carries a timestamp earlier")
        for n in report.notes
    ), report.notes
    result = run_cli("verify")
    assert result.code == 0 and "backdated" in result.out


def test_one_day_range_verifies_and_sees_the_next_day(settings: Settings) -> None:
    paths = make_log(settings)
    assert run_cli("verify", "--date", DAYS[1]).code == 0
    lines = lines_of(paths[1])
    lines[-1] = lines[-1].replace(b"Commit 7", b"Commit 8")
    write_lines(paths[1], lines)
    result = run_cli("verify", "--date", DAYS[1], "--format", "json")
    assert result.code == 1
    assert [(f["kind"], f["line"]) for f in json.loads(result.out)["findings"]] == [("modified", 8)]


def test_bad_range_is_a_usage_error(settings: Settings) -> None:
    make_log(settings)
    result = run_cli("verify", "--date", "2026-02-30")
    assert result.code == 2 and "invalid date" in result.err
    result = run_cli("verify", "--since", "2026-11-22", "--until", "2026-11-20")
    assert result.code == 2


def test_verify_while_writers_append_finds_nothing(settings: Settings) -> None:
    import subprocess
    import sys

    make_log(settings)
    code = (
        "from mfn_tracker.settings import load_settings\n"
        "from mfn_tracker.store.writer import EventWriter\n"
        "w = EventWriter(load_settings())\n"
        "for i in range(3000):\n"
        "    w.write({'event_type': 'comment', 'user_id': 'w', 'action_description': 'x' * 300})\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    try:
        reports = []
        while writer.poll() is None:
            reports.append(verify(settings))
        reports.append(verify(settings))
    finally:
        writer.wait(timeout=120)
    assert writer.returncode == 0
    assert all(r.ok for r in reports), [r.findings for r in reports if not r.ok]
    assert reports[-1].last_seq == 24 + 3000 and len(reports) >= 2


def test_random_damage_is_always_found_and_never_crashes(settings: Settings) -> None:
    import random

    paths = make_log(settings)
    pristine = {p: p.read_bytes() for p in paths}
    rng = random.Random(6)
    for _ in range(60):
        path = rng.choice(paths)
        data = bytearray(pristine[path])
        at = rng.randrange(len(data))
        how = rng.choice(["flip", "cut", "copy"])
        if how == "flip":
            data[at] ^= 1 << rng.randrange(8)
        elif how == "cut":
            del data[at : at + rng.randrange(1, 400)]
        else:
            data[at:at] = data[at : at + rng.randrange(1, 400)]
        path.write_bytes(bytes(data))
        report = verify(settings)
        assert not report.ok, (how, path.name, at)
        path.write_bytes(pristine[path])
    assert verify(settings).ok


def test_day_range_takes_whole_days_and_until_is_exclusive() -> None:
    from mfn_tracker.compliance.verify import day_range

    assert day_range(date_=None, since=None, until=None) is None
    assert day_range(date_="2026-11-21", since=None, until=None) == ("2026-11-21", "2026-11-21")
    assert day_range(date_=None, since="2026-11-20T13:00", until="2026-11-22") == (
        "2026-11-20",
        "2026-11-21",
    )
    assert day_range(date_=None, since="2026-11-20", until="2026-11-22T00:00:01Z") == (
        "2026-11-20",
        "2026-11-22",
    )


def test_since_until_range_on_the_command_line(settings: Settings) -> None:
    make_log(settings)
    result = run_cli("verify", "--since", DAYS[1], "--until", DAYS[2], "--format", "json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    assert data["files"] == [DAY2] and data["first_seq"] == 9 and data["last_seq"] == 16


# -- regressions (review 3) -------------------------------------------------------------------


def _forge_retention(gone: list[bytes], file: str) -> None:
    """What any API caller can do: log an event of type ``retention`` naming deleted lines."""
    from mfn_tracker import log_system_event

    first, last = event(gone[0]), event(gone[-1])
    log_system_event(
        "retention",
        "mallory",
        f"Retention: deleted {file}",
        metadata={
            "action": "delete",
            "file": file,
            "first_seq": first["seq"],
            "head_seq": last["seq"],
            "head_hash": hashlib.sha256(gone[-1]).hexdigest(),
            "lines": len(gone),
        },
    )


def test_forged_retention_event_does_not_explain_deleted_lines(settings: Settings) -> None:
    from mfn_tracker.compliance.checkpoints import create_checkpoint

    paths = make_log(settings)
    create_checkpoint(settings)
    lines = lines_of(paths[1])
    write_lines(paths[1], lines[:2] + lines[5:])
    _forge_retention(lines[2:5], "events_2099-01-01.jsonl")
    found = {(k, f) for k, f, _ in kinds(verify(settings))}
    assert ("deleted", DAY2) in found
    assert any(k == "unsigned" for k, _ in found)
    result = run_cli("verify")
    assert result.code == 1 and "unsigned: a retention event not signed" in result.out


def test_forged_retention_event_does_not_explain_a_deleted_day(
    settings: Settings, tmp_path: Path
) -> None:
    paths = make_log(settings)
    assert run_cli("checkpoint", "create").code == 0
    pub = tmp_path / "pub.pem"
    pub.write_text(run_cli("checkpoint", "public-key").out)
    lines = lines_of(paths[1])
    os.unlink(paths[1])
    _forge_retention(lines, paths[1].name)
    result = run_cli("verify", "--public-key", str(pub))
    assert result.code == 1
    assert f"{DAY2}: missing-day" in result.out and "unsigned" in result.out


def test_day_kept_plain_and_compressed_with_different_lines_is_found(
    settings: Settings,
) -> None:
    paths = make_log(settings)
    data = paths[0].read_bytes()
    gz = paths[0].with_name(paths[0].name + ".gz")
    gz.write_bytes(gzip.compress(data))
    report = verify(settings)  # retention's crash window: the same bytes twice
    assert report.ok, report.findings
    assert any("hold the same lines" in n for n in report.notes)
    paths[0].write_bytes(data.replace(b'"user_id":"alice"', b'"user_id":"mallory"', 1))
    found = kinds(verify(settings))
    assert ("two-copies", paths[0].name, 2) in found  # the first line that differs
    result = run_cli("verify")
    assert result.code == 1 and "two-copies" in result.out


def test_line_moved_to_the_neighbouring_day_is_misplaced(settings: Settings) -> None:
    paths = make_log(settings)
    one, two = lines_of(paths[0]), lines_of(paths[1])
    write_lines(paths[0], [*one, two[0]])  # seq order across files unchanged
    write_lines(paths[1], two[1:])
    assert kinds(verify(settings)) == [("misplaced", f"events_{DAYS[0]}.jsonl", 9)]


@pytest.mark.parametrize(
    "fragment", [b'{"system_event":true,"event_id":"01a2', b'{"system_ev', b"\x00" * 40]
)
def test_any_crash_fragment_is_an_incomplete_write(settings: Settings, fragment: bytes) -> None:
    paths = make_log(settings)
    with open(paths[2], "ab") as stream:
        stream.write(fragment)
    writer = EventWriter(settings)  # the next write starts afresh on a new line
    writer.write({"event_type": "comment", "user_id": "c", "action_description": "after crash"})
    writer.close()
    report = verify(settings)
    assert [(f.kind, f.tamper) for f in report.findings] == [("torn", False)]


def test_well_chained_malformed_line_is_modified(settings: Settings) -> None:
    paths = make_log(settings)
    append_chained(paths[2], timestamp=f"{DAYS[2]}Tgarbage", user_id=["x"])
    append_chained(paths[2], action_description={"a": 1})
    assert kinds(verify(settings)) == [
        ("modified", f"events_{DAYS[2]}.jsonl", 9),
        ("modified", f"events_{DAYS[2]}.jsonl", 10),
    ]
