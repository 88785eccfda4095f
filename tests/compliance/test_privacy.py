"""Pseudonymous user ids: keyed, versioned, stable, and role checks still work on them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.privacy import forget_keys, is_pseudonym, pseudonymize_user
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from tests.helpers.cli import run_cli
from tests.helpers.events import all_events, raw_lines

PSEUDO = {"MFN_PSEUDONYMIZE": "1"}


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_keys()


def test_pseudonym_is_keyed_versioned_and_stable(settings: Settings) -> None:
    alice = pseudonymize_user("alice", settings)
    assert re.fullmatch(r"p1:[0-9a-f]{32}", alice) and is_pseudonym(alice)
    assert pseudonymize_user("alice", settings) == alice != pseudonymize_user("bob", settings)
    assert pseudonymize_user(alice, settings) == alice  # idempotent
    assert hashlib.sha256(b"alice").hexdigest()[:32] not in alice  # never a plain hash
    key = settings.config_dir / "pseudonym.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert stat.S_IMODE(settings.config_dir.stat().st_mode) == 0o700


def test_another_installation_gets_other_pseudonyms(settings: Settings, tmp_path: Path) -> None:
    other = settings.with_changes(config_dir=tmp_path / "other-config")
    assert pseudonymize_user("alice", settings) != pseudonymize_user("alice", other)


def test_racing_processes_agree_on_one_key(settings: Settings) -> None:
    code = (
        "from mfn_tracker.settings import load_settings;"
        "from mfn_tracker.privacy import pseudonymize_user;"
        "print(pseudonymize_user('alice', load_settings()))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(outputs) == 1 and is_pseudonym(outputs.pop())


def test_key_others_can_change_is_refused(settings: Settings) -> None:
    pseudonymize_user("alice", settings)
    forget_keys()
    os.chmod(settings.config_dir / "pseudonym.key", 0o660)
    with pytest.raises(TrackerError, match="others may change it"):
        pseudonymize_user("bob", settings)
    os.chmod(settings.config_dir / "pseudonym.key", 0o600)
    (settings.config_dir / "pseudonym.key").write_bytes(b"short")
    forget_keys()
    with pytest.raises(TrackerError, match="damaged"):
        pseudonymize_user("bob", settings)


def test_writer_stores_pseudonyms_not_names(settings: Settings) -> None:
    writer = EventWriter(settings.with_changes(pseudonymize=True))
    for user in ("alice", "bob", "alice"):
        writer.write({"event_type": "commit", "user_id": user, "action_description": "c"})
    writer.close()
    users = [e["user_id"] for e in all_events(settings.storage_path)]
    assert users[0] == users[2] == pseudonymize_user("alice", settings) != users[1]
    assert not any(
        b'"alice"' in line or b'"bob"' in line for line in raw_lines(settings.storage_path)
    )


def test_role_checks_still_work_for_pseudonymized_users(settings: Settings) -> None:
    writer = EventWriter(settings.with_changes(pseudonymize=True))
    for user in ("alice", "bob", "bob"):
        writer.write({"event_type": "commit", "user_id": user, "action_description": f"by {user}"})
    writer.close()
    bob = run_cli("keys", "create", "--user", "bob", "--role", "user", env=PSEUDO)
    assert bob.code == 0, bob.err
    key = bob.out.strip().splitlines()[0]
    result = run_cli("export", "--api-key", key, env=PSEUDO)
    assert result.code == 0, result.err
    exported = [json.loads(line) for line in result.out.splitlines()]
    assert [e["action_description"] for e in exported] == ["by bob", "by bob"]
    assert {e["user_id"] for e in exported} == {pseudonymize_user("bob", settings)}


def test_key_others_can_read_is_refused_and_nothing_is_written(settings: Settings) -> None:
    pseudonymize_user("alice", settings)
    key = settings.config_dir / "pseudonym.key"
    os.chmod(key, 0o644)  # anyone could recompute every pseudonym
    forget_keys()
    writer = EventWriter(settings.with_changes(pseudonymize=True))
    with pytest.raises(TrackerError, match="others may read it"):
        writer.write({"event_type": "commit", "user_id": "bob", "action_description": "c"})
    writer.close()
    assert raw_lines(settings.storage_path) == []
    os.chmod(key, 0o640)  # the group may read it only in shared mode
    forget_keys()
    with pytest.raises(TrackerError, match=r"chmod 600"):
        pseudonymize_user("bob", settings)
    forget_keys()
    assert is_pseudonym(pseudonymize_user("bob", settings.with_changes(shared=True)))
