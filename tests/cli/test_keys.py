"""``keys create|list|revoke`` as an operator runs them."""

from __future__ import annotations

import json
import stat

from mfn_tracker.settings import Settings
from tests.helpers.cli import run_cli
from tests.helpers.events import all_events


def test_create_prints_the_key_once_and_keeps_only_its_hash(settings: Settings) -> None:
    created = run_cli("keys", "create", "--user", "alice", "--role", "user")
    assert created.code == 0
    key = created.out.strip()
    assert key.startswith("mfn_") and "\n" not in key
    assert "shown only now" in created.err
    listed = run_cli("keys", "list", "--format", "json")
    [row] = json.loads(listed.out)
    assert (row["user_id"], row["role"], row["revoked"]) == ("alice", "user", None)
    assert key not in listed.out and "hash" not in listed.out
    registry = settings.config_dir / "keys.json"
    assert key not in registry.read_text()
    assert stat.S_IMODE(registry.stat().st_mode) == 0o600
    used = run_cli("events", "list", env={"MFN_API_KEY": key})
    assert used.code == 0, used.err


def test_revoke_denies_later_use_and_both_are_recorded(settings: Settings) -> None:
    key = run_cli("keys", "create", "--user", "bob", "--role", "admin").out.strip()
    [row] = json.loads(run_cli("keys", "list", "--format", "json").out)
    revoked = run_cli("keys", "revoke", row["key_id"])
    assert revoked.code == 0 and row["key_id"] in revoked.out
    table = run_cli("keys", "list").out.splitlines()
    assert table[0].split() == ["KEY_ID", "USER_ID", "ROLE", "CREATED", "REVOKED"]
    assert table[1].split()[-1] != "-"
    denied = run_cli("events", "list", env={"MFN_API_KEY": key})
    assert (denied.code, denied.out) == (3, "")
    kinds = [
        (e["event_type"], e.get("metadata", {}).get("action"))
        for e in all_events(settings.storage_path)
    ]
    assert kinds == [
        ("auth_api_key", "created"),
        ("auth_api_key", "revoked"),
        ("auth_failure", None),
    ]


def test_bad_requests_are_one_line(settings: Settings) -> None:
    for args in (
        ("keys", "create", "--user", "x", "--role", "root"),
        ("keys", "create", "--role", "user"),
        ("keys", "revoke", "nope"),
    ):
        result = run_cli(*args)
        assert result.code in (1, 2) and result.out == "" and "Traceback" not in result.err


def test_an_unsafe_config_directory_is_refused(settings: Settings) -> None:
    run_cli("keys", "create", "--user", "alice", "--role", "user")
    settings.config_dir.chmod(0o777)
    result = run_cli("keys", "list")
    settings.config_dir.chmod(0o700)
    assert result.code == 1 and "refusing config directory" in result.err
