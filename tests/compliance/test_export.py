"""``export``: every format parses, CSV round-trips, ECS/OCSF carry their required fields, the
manifest's hash matches, and the export is scoped by role and recorded."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from mfn_tracker.compliance.checkpoints import create_checkpoint
from mfn_tracker.compliance.formats import event_from_csv
from mfn_tracker.settings import Settings
from tests.compliance.logs import MIXED_DAY, append_chained, day_path, make_mixed_log
from tests.helpers.cli import run_cli
from tests.helpers.events import all_events

ADMIN = {"MFN_ADMIN_KEYS": "admin-secret-key-1234567890"}
KEY = ["--api-key", "admin-secret-key-1234567890"]

ECS_TYPES_BY_CATEGORY = {  # ECS 8.x: event.type values expected with each event.category
    "api": {"access", "admin", "allowed", "change", "creation", "deletion", "denied", "end",
            "info", "start", "user"},
    "authentication": {"start", "end", "info"},
    "configuration": {"access", "change", "creation", "deletion", "info"},
    "file": {"change", "creation", "deletion", "info", "access"},
    "host": {"access", "change", "end", "info", "start"},
    "process": {"access", "change", "end", "info", "start"},
}  # fmt: skip
OCSF_REQUIRED = {  # OCSF 1.1: required attributes of each class (beyond the base event's)
    3002: ["user"],
    6003: ["actor", "api", "src_endpoint"],
    1001: ["actor", "device", "file"],
    0: [],
}
OCSF_BASE = [
    "activity_id",
    "category_uid",
    "class_uid",
    "metadata",
    "severity_id",
    "time",
    "type_uid",
]


def _export(
    tmp_path: Path, fmt: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / f"export.{fmt}"
    result = run_cli(
        "export", "--date", MIXED_DAY, "--format", fmt, "-o", str(out), *extra, env=env or ADMIN
    )
    assert result.code == 0, result.err
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    return out, manifest


@pytest.fixture
def written(settings: Settings) -> list[dict[str, Any]]:
    return make_mixed_log(settings)


def test_jsonl_export_is_the_events_as_stored(
    tmp_path: Path, written: list[dict[str, Any]]
) -> None:
    out, manifest = _export(tmp_path, "jsonl", *KEY)
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert exported == written
    assert manifest["counts"]["events"] == len(written) == 16
    assert manifest["seq"] == {"first": 1, "last": 16}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_csv_round_trips(tmp_path: Path, written: list[dict[str, Any]]) -> None:
    out, _ = _export(tmp_path, "csv", *KEY)
    rows = list(csv.DictReader(io.StringIO(out.read_text(), newline="")))
    assert [event_from_csv(row) for row in rows] == written
    commit = next(r for r in rows if r["event_type"] == "commit")
    assert commit["action_description"].startswith("'=")  # no formula runs in a spreadsheet


def test_ecs_documents_carry_ecs_fields(tmp_path: Path, written: list[dict[str, Any]]) -> None:
    out, manifest = _export(tmp_path, "ecs", *KEY)
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert manifest["schema"] == {"ecs": "8.11.0"}
    for doc, event in zip(docs, written, strict=True):
        assert doc["@timestamp"] == event["timestamp"] and doc["ecs"]["version"] == "8.11.0"
        assert doc["event"]["kind"] == "event" and doc["event"]["action"] == event["event_type"]
        (category,) = doc["event"]["category"]
        assert set(doc["event"]["type"]) <= ECS_TYPES_BY_CATEGORY[category]
        assert doc["event"]["outcome"] in {"success", "failure", "unknown"}
        assert (
            doc["user"]["name"] == event["user_id"]
            and doc["message"] == event["action_description"]
        )
        assert doc["event"]["id"] == event["event_id"] and doc["host"]["name"] == event["host"]
        if "source_ip" in event:
            assert doc["source"]["ip"] == event["source_ip"]
        if event["event_type"].startswith("file_"):
            assert doc["event"]["category"] == ["file"] and doc["file"]["path"].startswith(
                "/srv/proj/"
            )
    by_action = {d["event"]["action"]: d for d in docs}
    assert by_action["auth_failure"]["event"]["outcome"] == "failure"
    assert by_action["auth_failure"]["event"]["category"] == ["authentication"]
    assert by_action["api_request"]["event"]["duration"] == 12_500_000
    assert by_action["api_request"]["http"]["request"]["method"] == "GET"


def test_ocsf_events_carry_their_classes_required_fields(
    tmp_path: Path, written: list[dict[str, Any]]
) -> None:
    out, _ = _export(tmp_path, "ocsf", *KEY)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    classes = {}
    for record, event in zip(records, written, strict=True):
        for name in OCSF_BASE + OCSF_REQUIRED[record["class_uid"]]:
            assert record.get(name) not in (None, "", {}), (name, record)
        assert record["type_uid"] == record["class_uid"] * 100 + record["activity_id"]
        assert record["category_uid"] == record["class_uid"] // 1000
        assert record["metadata"]["version"] == "1.1.0"
        assert (
            record["metadata"]["product"]["vendor_name"]
            and record["metadata"]["uid"] == event["event_id"]
        )
        classes[event["event_type"]] = record
    assert classes["auth_login"]["class_uid"] == 3002 and classes["auth_login"]["activity_id"] == 1
    assert (
        classes["auth_failure"]["status_id"] == 2
        and classes["auth_failure"]["user"]["name"] == "mallory"
    )
    assert classes["push"]["class_uid"] == 6003 and classes["push"]["api"]["operation"] == "push"
    assert classes["clone"]["activity_id"] == 2 and classes["commit"]["activity_id"] == 3
    assert classes["api_error"]["api"]["operation"] == "POST /events"
    assert (
        classes["file_create"]["class_uid"] == 1001
        and classes["file_create"]["file"]["name"] == "new.txt"
    )
    assert (
        classes["file_create"]["file"]["type_id"] == 1
        and classes["file_create"]["device"]["hostname"]
    )
    assert classes["file_move"]["activity_id"] == 5 and classes["file_delete"]["activity_id"] == 4
    assert classes["system_start"]["class_uid"] == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "ecs", "ocsf"])
def test_manifest_hash_matches_the_export(
    settings: Settings, tmp_path: Path, fmt: str, written: list[dict[str, Any]]
) -> None:
    create_checkpoint(settings)
    out, manifest = _export(tmp_path, fmt, *KEY)
    data = out.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["bytes"] == len(data)
    assert manifest["range"] == {
        "since": f"{MIXED_DAY}T00:00:00.000Z",
        "until": "2026-11-25T00:00:00.000Z",
    }
    assert manifest["checkpoint"]["head_seq"] == 16 and len(manifest["checkpoint"]["sig"]) == 128
    assert manifest["chain_head"]["seq"] == 17  # the checkpoint event
    assert manifest["scope"]["role"] == "admin" and manifest["format"] == fmt
    assert stat.S_IMODE(out.with_name(out.name + ".manifest.json").stat().st_mode) == 0o600


def test_export_to_stdout(written: list[dict[str, Any]]) -> None:
    result = run_cli("export", "--date", MIXED_DAY, "--type", "push", *KEY, env=ADMIN)
    assert result.code == 0, result.err
    assert [json.loads(line)["event_type"] for line in result.out.splitlines()] == ["push", "push"]
    assert "exported 2 events, sha256" in result.err


def test_user_key_exports_only_its_own_events(
    settings: Settings, tmp_path: Path, written: list[dict[str, Any]]
) -> None:
    issued = run_cli("keys", "create", "--user", "bob", "--role", "user")
    assert issued.code == 0, issued.err
    bob = issued.out.strip().splitlines()[0]
    out, manifest = _export(tmp_path, "jsonl", "--user", "alice", "--api-key", bob, env={})
    users = {json.loads(line)["user_id"] for line in out.read_text().splitlines()}
    assert users == {"bob"} and manifest["scope"]["role"] == "user"
    reads = [
        e
        for e in all_events(settings.storage_path)
        if e["event_type"] == "api_request" and e["metadata"].get("command") == "export"
    ]
    assert reads and reads[-1]["user_id"] == "bob"


def test_export_without_a_key_is_denied(written: list[dict[str, Any]]) -> None:
    result = run_cli("export", "--date", MIXED_DAY)
    assert result.code == 3 and result.out == ""


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "ecs", "ocsf"])
def test_malformed_chained_line_is_skipped_as_a_problem_not_a_crash(
    settings: Settings, tmp_path: Path, written: list[dict[str, Any]], fmt: str
) -> None:
    bad = append_chained(
        day_path(settings, MIXED_DAY),
        timestamp=f"{MIXED_DAY}Tgarbage",
        user_id=["x"],
        action_description={"a": 1},
    )
    out, manifest = _export(tmp_path, fmt, *KEY)
    assert manifest["counts"]["events"] == len(written)
    assert any(f"seq {bad['seq']}" in p for p in manifest["unreadable_lines"])
    assert b"garbage" not in out.read_bytes()
