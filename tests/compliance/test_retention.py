"""``retention apply``: whole days compressed or deleted, each recorded; verify stays clean."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mfn_tracker.compliance.checkpoints import attest, create_checkpoint
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events
from tests.compliance.logs import kinds, lines_of, make_log, verify
from tests.helpers.cli import run_cli

ADMIN = {"MFN_ADMIN_KEYS": "admin-secret-key-1234567890"}
KEY = ["--api-key", "admin-secret-key-1234567890"]


def keep_lines(path: Path, keep: slice) -> None:
    """Rewrite a compressed day with only some of its lines, as someone tampering would."""
    with gzip.open(path, "rb") as stream:
        lines = stream.read().split(b"\n")[:-1]
    with gzip.open(path, "wb") as stream:
        stream.write(b"".join(line + b"\n" for line in lines[keep]))


def _days_ago(*ages: int) -> tuple[str, ...]:
    today = datetime.now(timezone.utc).date()
    return tuple((today - timedelta(days=age)).isoformat() for age in ages)


@pytest.fixture
def old_log(settings: Settings) -> tuple[str, ...]:
    days = _days_ago(400, 30, 10, 2)
    make_log(settings, per_day=5, days=days)
    return days


def test_apply_compresses_deletes_and_records_each_action(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    storage = settings.storage_path
    before = lines_of(storage / f"events_{old_log[1]}.jsonl")
    result = run_cli("retention", "apply", *KEY, env=ADMIN)
    assert result.code == 0, result.err
    assert f"deleted events_{old_log[0]}.jsonl (5 lines, head seq 5)" in result.out
    names = sorted(p.name for p in storage.glob("events_*"))
    assert f"events_{old_log[0]}.jsonl" not in " ".join(names)
    assert f"events_{old_log[1]}.jsonl.gz" in names and f"events_{old_log[2]}.jsonl.gz" in names
    assert f"events_{old_log[3]}.jsonl" in names  # 2 days old: below --compress-after 7d
    with gzip.open(storage / f"events_{old_log[1]}.jsonl.gz", "rb") as stream:
        assert stream.read().split(b"\n")[:-1] == before
    assert oct((storage / f"events_{old_log[1]}.jsonl.gz").stat().st_mode & 0o777) == "0o600"
    records = [
        e for e in iter_events(storage, Query(), ReadReport()) if e["event_type"] == "retention"
    ]
    deleted = next(r["metadata"] for r in records if r["metadata"]["action"] == "delete")
    assert deleted["lines"] == 5 and deleted["first_seq"] == 1 and deleted["head_seq"] == 5
    assert len(deleted["head_hash"]) == 64 and deleted["policy"]["delete_after_days"] == 365
    assert {r["user_id"] for r in records} == {"admin"}
    # Reads keep working across compressed files, and the log still verifies clean.
    old = list(iter_events(storage, Query(since=f"{old_log[1]}T00:00:00.000Z"), ReadReport()))
    assert any(e["timestamp"].startswith(old_log[1]) for e in old)
    report = verify(settings)
    assert report.ok, report.findings
    assert report.retention_actions == 3
    assert run_cli("verify").code == 0


def test_verify_after_retention_still_catches_tampering(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    os.unlink(settings.storage_path / f"events_{old_log[3]}.jsonl")  # not a policy action
    assert [k for k, _, _ in kinds(verify(settings))] == ["missing-day"]


def test_compressed_file_that_lost_lines_is_caught(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    keep_lines(settings.storage_path / f"events_{old_log[1]}.jsonl.gz", slice(None, -1))
    found = {k for k, _, _ in kinds(verify(settings))}
    assert "truncated" in found


def test_checkpoints_survive_retention(settings: Settings, old_log: tuple[str, ...]) -> None:
    create_checkpoint(settings)
    assert run_cli("retention", "apply", "--compress-after", "1d", *KEY, env=ADMIN).code == 0
    report = verify(settings)
    assert report.ok, report.findings
    assert report.checkpoints == 1


def test_dry_run_changes_nothing(settings: Settings, old_log: tuple[str, ...]) -> None:
    before = sorted(p.name for p in settings.storage_path.iterdir())
    result = run_cli("retention", "apply", "--dry-run", *KEY, env=ADMIN)
    assert result.code == 0
    assert f"would delete events_{old_log[0]}.jsonl" in result.out
    assert f"would compress events_{old_log[1]}.jsonl" in result.out
    assert sorted(p.name for p in settings.storage_path.iterdir()) == before


def test_never_touches_today_or_the_chain_head(settings: Settings) -> None:
    days = _days_ago(20, 0)
    make_log(settings, per_day=2, days=days)
    result = run_cli("retention", "apply", "--compress-after", "1d", *KEY, env=ADMIN)
    assert result.code == 0
    assert (settings.storage_path / f"events_{days[1]}.jsonl").exists()


def test_retention_is_admin_only(settings: Settings, old_log: tuple[str, ...]) -> None:
    result = run_cli("retention", "apply")
    assert result.code == 3 and "API key" in result.err
    issued = run_cli("keys", "create", "--user", "bob", "--role", "user")
    assert issued.code == 0, issued.err
    user_key = issued.out.strip().splitlines()[0]
    result = run_cli("retention", "apply", "--api-key", user_key)
    assert result.code == 3 and "admin" in result.err
    assert (settings.storage_path / f"events_{old_log[0]}.jsonl").exists()


def test_bad_spans_are_usage_errors(settings: Settings) -> None:
    result = run_cli("retention", "apply", "--delete-after", "2h", *KEY, env=ADMIN)
    assert result.code == 2 and "whole days" in result.err
    result = run_cli("retention", "apply", "--compress-after", "soon", *KEY, env=ADMIN)
    assert result.code == 2


def test_recorded_facts_match_the_file(settings: Settings) -> None:
    days = _days_ago(30, 1)
    make_log(settings, per_day=3, days=days)
    original = (settings.storage_path / f"events_{days[0]}.jsonl").read_bytes()
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    last = json.loads(lines_of(sorted(settings.storage_path.glob("events_*.jsonl"))[-1])[-1])
    meta = last["metadata"]
    import hashlib

    assert meta["sha256"] == hashlib.sha256(original).hexdigest()
    assert meta["bytes"] == len(original) and meta["lines"] == 3
    assert meta["head_hash"] == hashlib.sha256(original.split(b"\n")[-2]).hexdigest()
    assert date.fromisoformat(meta["day"]) == date.fromisoformat(days[0])


def test_damaged_compressed_file_is_reported_not_a_crash(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    path = settings.storage_path / f"events_{old_log[1]}.jsonl.gz"
    path.write_bytes(path.read_bytes()[:-30])
    result = run_cli("verify")
    assert result.code == 1 and "Traceback" not in result.err
    assert f"{path.name}" in result.out and "truncated" in result.out


# -- regressions (review 3) -------------------------------------------------------------------


def test_records_are_signed_and_the_cli_says_what_it_did(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    result = run_cli("retention", "apply", *KEY, env=ADMIN)
    assert result.code == 0, result.err
    assert f"compressed events_{old_log[1]}.jsonl (5 lines" in result.out
    assert "compressd" not in result.out
    records = [
        e["metadata"]
        for e in iter_events(settings.storage_path, Query(), ReadReport())
        if e["event_type"] == "retention"
    ]
    assert all(len(r["attestation"]["sig"]) == 128 for r in records)
    assert {r["attestation"]["action"] for r in records} == {"compress", "delete"}


def test_refuses_to_delete_or_compress_a_tampered_day(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    path = settings.storage_path / f"events_{old_log[0]}.jsonl"
    lines = lines_of(path)
    lines[2] = lines[2].replace(b"Commit 2", b"Commit 9")
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    result = run_cli("retention", "apply", *KEY, env=ADMIN)
    assert result.code == 1
    assert f"refusing to delete {path.name}: verify reports 1 finding(s)" in result.err
    assert path.exists()  # the evidence stays
    assert ("modified", path.name, 3) in kinds(verify(settings))


def test_failed_record_deletes_nothing(settings: Settings, old_log: tuple[str, ...]) -> None:
    key = settings.config_dir / "checkpoint.key"
    assert run_cli("checkpoint", "keygen").code == 0
    os.chmod(key, 0o644)  # the record cannot be signed now
    result = run_cli("retention", "apply", "--compress-after", "never", *KEY, env=ADMIN)
    assert result.code == 1 and "checkpoint.key" in result.err
    assert (settings.storage_path / f"events_{old_log[0]}.jsonl").exists()
    os.chmod(key, 0o600)
    assert verify(settings).ok


def test_torn_tail_of_a_closed_day_compresses_without_false_findings(settings: Settings) -> None:
    days = _days_ago(30, 20, 2)
    make_log(settings, per_day=4, days=days[:1])
    with open(settings.storage_path / f"events_{days[0]}.jsonl", "ab") as stream:
        stream.write(b'{"system_event":true,"event_id":"01a2')  # a writer killed mid-line
    make_log(settings, per_day=4, days=days[1:])
    result = run_cli("retention", "apply", "--delete-after", "never", *KEY, env=ADMIN)
    assert result.code == 0, result.err
    assert f"compressed events_{days[0]}.jsonl (5 lines" in result.out
    report = verify(settings)
    assert [(f.kind, f.tamper) for f in report.findings] == [("torn", False)]


def test_policy_deletion_explains_only_its_own_span(
    settings: Settings, old_log: tuple[str, ...]
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    # The attacker then removes the first lines of the next day too: the gap grows past
    # what retention signed, so it is not a policy deletion any more.
    keep_lines(settings.storage_path / f"events_{old_log[1]}.jsonl.gz", slice(2, None))
    found = {k for k, _, _ in kinds(verify(settings))}
    assert "deleted" in found or "missing-day" in found


def test_checkpoint_of_a_deleted_day_must_agree_with_the_retention_record(
    settings: Settings, old_log: tuple[str, ...], tmp_path: Path
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    payload = {"file": f"events_{old_log[0]}.jsonl", "bytes": 900, "lines": 9, "head_seq": 9}
    signed = attest(settings, {**payload, "head_hash": "0" * 64, "time": "t"})
    claim = tmp_path / "claim.json"  # a signed checkpoint saw 9 lines; retention recorded 5
    claim.write_text(json.dumps({"checkpoint": signed}))
    result = run_cli("verify", "--checkpoint", str(claim))
    assert result.code == 1
    assert "retention recorded seq 1..5 (5 lines)" in result.out


def test_records_signed_before_a_key_rotation_verify_with_both_public_keys(
    settings: Settings, old_log: tuple[str, ...], tmp_path: Path
) -> None:
    assert run_cli("retention", "apply", *KEY, env=ADMIN).code == 0
    old_pub, new_pub = tmp_path / "old.pem", tmp_path / "new.pem"
    old_pub.write_text(run_cli("checkpoint", "public-key").out)
    assert run_cli("checkpoint", "keygen", "--force").code == 0
    new_pub.write_text(run_cli("checkpoint", "public-key").out)
    create_checkpoint(settings)
    mine = verify(settings)  # the own (new) key cannot vouch for the old records
    assert "missing-day" in {f.kind for f in mine.findings}
    assert any("retention record(s) not checked" in n for n in mine.notes)
    result = run_cli("verify", "--public-key", str(old_pub), "--public-key", str(new_pub))
    assert result.code == 0, result.out
