"""Signed checkpoints: what they record, and what they let ``verify`` catch that a chain cannot."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

from mfn_tracker.compliance import checkpoints
from mfn_tracker.compliance.checkpoints import create_checkpoint, is_due, local_checkpoints
from mfn_tracker.logger import SystemEventLogger
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import CHAIN_FILE
from mfn_tracker.store.writer import EventWriter
from tests.compliance.logs import event, kinds, lines_of, make_log, verify, write_lines
from tests.helpers.cli import run_cli


def _write(settings: Settings, count: int) -> None:
    writer = EventWriter(settings)
    for i in range(count):
        writer.write({"event_type": "comment", "user_id": "carol", "action_description": f"n{i}"})
    writer.close()


def _today_file(settings: Settings) -> Path:
    return sorted(settings.storage_path.glob("events_*.jsonl"))[-1]


def _export(tmp_path: Path) -> tuple[Path, Path]:
    """What a reviewer keeps off the host: the public key and the latest checkpoint."""
    pub, latest = tmp_path / "pub.pem", tmp_path / "latest.json"
    result = run_cli("checkpoint", "public-key")
    assert result.code == 0, result.err
    pub.write_text(result.out)
    result = run_cli("checkpoint", "export")
    assert result.code == 0, result.err
    latest.write_text(result.out)
    return pub, latest


def test_checkpoint_is_a_signed_event_and_a_local_record(settings: Settings) -> None:
    make_log(settings)
    result = run_cli("checkpoint", "create")
    assert result.code == 0, result.err
    assert "seq 24 (8 lines)" in result.out
    key = settings.config_dir / "checkpoint.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.config_dir.stat().st_mode) == 0o700
    last = event(lines_of(_today_file(settings))[-1])
    assert last["event_type"] == "checkpoint" and last["seq"] == 25
    cp = last["metadata"]["checkpoint"]
    assert cp["file"] == "events_2026-11-22.jsonl" and cp["lines"] == 8 and cp["head_seq"] == 24
    day3 = settings.storage_path / "events_2026-11-22.jsonl"
    assert cp["bytes"] == day3.stat().st_size
    assert cp["head_hash"] == hashlib.sha256(lines_of(day3)[-1]).hexdigest()
    assert cp["prev_checkpoint"] == "0" * 64 and len(cp["sig"]) == 128
    assert local_checkpoints(settings)[-1]["checkpoint"] == cp
    exported = json.loads(run_cli("checkpoint", "export").out)
    assert exported["checkpoint"] == cp and "BEGIN PUBLIC KEY" in exported["public_key"]
    assert "PRIVATE" not in run_cli("checkpoint", "public-key").out
    report = verify(settings)
    assert report.ok and report.checkpoints == 1 and report.checkpoints_signed


def test_checkpoints_chain_to_each_other(settings: Settings) -> None:
    make_log(settings)
    first = create_checkpoint(settings)[0]["checkpoint"]
    _write(settings, 3)
    second = create_checkpoint(settings)[0]["checkpoint"]
    assert second["prev_checkpoint"] == checkpoints.checkpoint_hash(first)
    assert create_checkpoint(settings) == []  # nothing new but the checkpoint's own event
    assert verify(settings).ok


def test_clean_truncation_is_caught_with_an_exported_checkpoint(
    settings: Settings, tmp_path: Path
) -> None:
    make_log(settings)
    create_checkpoint(settings)
    _write(settings, 5)
    create_checkpoint(settings)
    pub, latest = _export(tmp_path)
    # The attacker cuts the tail cleanly, drops the head record and the local checkpoint store.
    today = _today_file(settings)
    write_lines(today, lines_of(today)[:2])
    os.unlink(settings.storage_path / CHAIN_FILE)
    os.unlink(settings.config_dir / "checkpoints.jsonl")
    assert verify(settings).ok  # the chain alone cannot tell
    result = run_cli("verify", "--public-key", str(pub), "--checkpoint", str(latest))
    assert result.code == 1
    assert f"{today.name}:2: truncated" in result.out


def test_rewritten_history_is_caught_with_the_public_key(
    settings: Settings, tmp_path: Path
) -> None:
    make_log(settings)
    _write(settings, 4)
    create_checkpoint(settings)
    pub, latest = _export(tmp_path)
    # The attacker rewrites the newest day with a consistent fresh chain.
    today = _today_file(settings)
    lines = lines_of(today)
    prev = event(lines[0])["prev"]
    out = []
    for line in lines:
        record = event(line)
        if record["event_type"] != "checkpoint":
            record["user_id"] = "mallory"
        record["prev"] = prev
        new = json.dumps(record, separators=(",", ":")).encode()
        prev = hashlib.sha256(new).hexdigest()
        out.append(new)
    write_lines(today, out)
    os.unlink(settings.storage_path / CHAIN_FILE)
    result = run_cli("verify", "--public-key", str(pub), "--checkpoint", str(latest))
    assert result.code == 1
    assert "rewritten" in result.out and "history rewritten" in result.out


def test_forged_checkpoint_fails_its_signature(settings: Settings, tmp_path: Path) -> None:
    make_log(settings)
    create_checkpoint(settings)
    pub, _ = _export(tmp_path)
    os.unlink(settings.config_dir / "checkpoint.key")  # the attacker signs with a key of their own
    os.unlink(settings.config_dir / "checkpoints.jsonl")
    _write(settings, 2)
    create_checkpoint(settings)
    report = verify(settings, public_keys=[pub.read_bytes()])
    assert [k for k, _, _ in kinds(report)] == ["bad-signature"]


def test_checkpoint_claim_on_a_removed_day_is_a_missing_day(settings: Settings) -> None:
    paths = make_log(settings)
    create_checkpoint(settings)
    _write(settings, 1)
    os.unlink(paths[2])
    found = {(f.kind, f.file) for f in verify(settings).findings}
    assert ("missing-day", paths[2].name) in found


def test_due_every_n_events_and_when_a_day_closes(settings: Settings) -> None:
    make_log(settings, days=("2026-11-20",))
    assert is_due(settings, every_events=5) == "events"
    assert is_due(settings) is None  # 8 events: below the default 1000
    create_checkpoint(settings)
    assert is_due(settings, every_events=5) is None
    writer = EventWriter(settings)
    writer.write({"event_type": "comment", "user_id": "x", "action_description": "next day",
                  "timestamp": "2026-11-21T00:00:01.000Z"})  # fmt: skip
    writer.close()
    # the checkpoint event itself went to today's file; a day closed either way
    assert is_due(settings, every_events=10_000) == "day-close"
    made = create_checkpoint(settings, reason="day-close")
    assert made and verify(settings).ok


def test_logger_makes_checkpoints_by_itself(settings: Settings) -> None:
    logger = SystemEventLogger(settings=settings)
    for i in range(checkpoints.EVERY_EVENTS):
        logger.log_event("comment", "dave", f"n{i}")
    time.sleep(checkpoints._THROTTLE_SECONDS + 0.1)
    logger.log_event("comment", "dave", "one more")
    logger.close()
    made = local_checkpoints(settings)
    assert len(made) == 1 and made[0]["checkpoint"]["head_seq"] >= checkpoints.EVERY_EVENTS
    assert verify(settings).ok


def test_checkpoint_export_without_one_is_a_clear_error(settings: Settings) -> None:
    result = run_cli("checkpoint", "export")
    assert result.code == 1 and "no checkpoint yet" in result.err
    result = run_cli("checkpoint", "public-key")
    assert result.code == 1 and "checkpoint keygen" in result.err


def test_keygen_refuses_to_replace_a_key(settings: Settings) -> None:
    assert run_cli("checkpoint", "keygen").code == 0
    result = run_cli("checkpoint", "keygen")
    assert result.code == 1 and "--force" in result.err


def test_hidden_checkpoint_breaks_the_checkpoint_chain(settings: Settings) -> None:
    make_log(settings)
    create_checkpoint(settings)
    _write(settings, 2)
    create_checkpoint(settings)
    _write(settings, 2)
    create_checkpoint(settings)
    # The attacker drops the middle checkpoint event and re-chains the lines after it.
    today = _today_file(settings)
    lines = lines_of(today)
    kinds_of = [event(line)["event_type"] for line in lines]
    middle = [i for i, k in enumerate(kinds_of) if k == "checkpoint"][1]
    prev = event(lines[middle])["prev"]
    out = lines[:middle]
    for line in lines[middle + 1 :]:
        record = event(line)
        record.update(seq=record["seq"] - 1, prev=prev)
        new = json.dumps(record, separators=(",", ":")).encode()
        prev = hashlib.sha256(new).hexdigest()
        out.append(new)
    write_lines(today, out)
    os.unlink(settings.storage_path / CHAIN_FILE)
    os.unlink(settings.config_dir / "checkpoints.jsonl")
    found = kinds(verify(settings))
    assert ("deleted", today.name) in [(k, f) for k, f, _ in found], found
    assert {k for k, _, _ in found} <= {"deleted", "rewritten"}  # the later claim moved too


def test_checkpoints_of_another_key_are_skipped_unless_keys_are_named(
    settings: Settings, tmp_path: Path
) -> None:
    make_log(settings)
    create_checkpoint(settings)
    pub, _ = _export(tmp_path)
    os.rename(settings.config_dir / "checkpoint.key", tmp_path / "first.key")
    _write(settings, 1)
    create_checkpoint(settings)  # a second key (another user's config dir, say)
    report = verify(settings)
    assert report.ok and any("other keys" in n for n in report.notes)
    second = tmp_path / "second.pem"
    second.write_text(run_cli("checkpoint", "public-key").out)
    assert verify(settings, public_keys=[pub.read_bytes(), second.read_bytes()]).ok
    assert [k for k, _, _ in kinds(verify(settings, public_keys=[pub.read_bytes()]))] == [
        "bad-signature"
    ]


def test_hostile_inputs_to_verify_are_clear_errors(settings: Settings, tmp_path: Path) -> None:
    make_log(settings)
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    result = run_cli("verify", "--public-key", str(junk))
    assert result.code == 2 and "not a PEM public key" in result.err
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"checkpoint": {"file": "../../etc/passwd", "head_seq": "x", "sig": "zz"}}\n')
    result = run_cli("verify", "--checkpoint", str(bogus))
    assert result.code == 0, result.out + result.err
    bogus.write_text("not json\n")
    result = run_cli("verify", "--checkpoint", str(bogus))
    assert result.code == 1 and "not a checkpoint export" in result.err
    result = run_cli("verify", "--public-key", str(tmp_path / "missing.pem"))
    assert result.code == 2 and "cannot read public key" in result.err


def test_public_key_named_but_no_signed_checkpoint_is_a_finding(
    settings: Settings, tmp_path: Path
) -> None:
    make_log(settings)
    assert run_cli("checkpoint", "keygen").code == 0
    pub = tmp_path / "pub.pem"
    pub.write_text(run_cli("checkpoint", "public-key").out)
    result = run_cli("verify", "--public-key", str(pub))  # the attacker dropped them all
    assert result.code == 1
    assert "unsigned: no checkpoint signed by the given public key" in result.out
    create_checkpoint(settings)
    assert run_cli("verify", "--public-key", str(pub)).code == 0


def test_checkpoint_with_impossible_figures_is_a_finding_not_a_crash(
    settings: Settings, tmp_path: Path
) -> None:
    make_log(settings)
    claim = tmp_path / "claim.json"
    for size in (10**30, 1 << 60):
        cp = {"file": "events_2026-11-20.jsonl", "bytes": size, "lines": 1, "head_seq": 1}
        claim.write_text(json.dumps({"checkpoint": {**cp, "head_hash": "x"}}))
        result = run_cli("verify", "--checkpoint", str(claim))
        assert result.code == 1 and "Traceback" not in result.err and "internal" not in result.err
        assert "claims impossible figures" in result.out
    cp = {"file": "events_2026-11-22.jsonl", "bytes": 10**9, "lines": 1, "head_seq": 24}
    claim.write_text(json.dumps({"checkpoint": {**cp, "head_hash": "x"}}))
    result = run_cli("verify", "--checkpoint", str(claim))
    assert result.code == 1 and "truncated" in result.out
