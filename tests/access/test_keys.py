"""The key registry keeps hashes only, in private files, and refuses unsafe ones."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mfn_tracker.access.keys import (
    KEYS_FILE,
    create_key,
    find_key,
    hash_key,
    load_keys,
    match_admin_key,
    revoke_key,
)
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings


def test_a_key_is_random_shown_once_and_stored_as_a_hash(settings: Settings) -> None:
    record, key = create_key(settings, user_id="alice", role="user")
    other_record, other = create_key(settings, user_id="alice", role="user")
    assert key != other and record.key_id != other_record.key_id
    assert len(key) >= 40
    registry = (settings.config_dir / KEYS_FILE).read_text()
    assert key not in registry and other not in registry
    assert hash_key(key) in registry
    assert find_key(settings, key) == record
    assert find_key(settings, key + "x") is None


def test_registry_is_private(settings: Settings) -> None:
    create_key(settings, user_id="alice", role="admin")
    assert stat.S_IMODE(settings.config_dir.stat().st_mode) == 0o700
    for path in settings.config_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("target", ["file", "dir"])
def test_registry_others_can_read_is_refused(settings: Settings, target: str) -> None:
    _record, key = create_key(settings, user_id="alice", role="admin")
    path = settings.config_dir / KEYS_FILE if target == "file" else settings.config_dir
    path.chmod(0o644 if target == "file" else 0o755)
    with pytest.raises(TrackerError, match="gives others access"):
        find_key(settings, key)


def test_registry_symlink_is_refused(settings: Settings, tmp_path: Path) -> None:
    create_key(settings, user_id="alice", role="admin")
    real = tmp_path / "real.json"
    os.replace(settings.config_dir / KEYS_FILE, real)
    (settings.config_dir / KEYS_FILE).symlink_to(real)
    with pytest.raises(TrackerError, match="cannot read key registry"):
        load_keys(settings)


def test_a_damaged_registry_is_an_error_not_an_empty_list(settings: Settings) -> None:
    create_key(settings, user_id="alice", role="admin")
    (settings.config_dir / KEYS_FILE).write_text("{not json")
    with pytest.raises(TrackerError, match="damaged"):
        load_keys(settings)


def test_revoke_keeps_the_record_and_marks_it(settings: Settings) -> None:
    record, key = create_key(settings, user_id="bob", role="user")
    revoked = revoke_key(settings, record.key_id)
    assert revoked.revoked is not None
    found = find_key(settings, key)
    assert found is not None and not found.active
    with pytest.raises(TrackerError, match="already revoked"):
        revoke_key(settings, record.key_id)
    with pytest.raises(TrackerError, match="no key with id"):
        revoke_key(settings, "nope")


@pytest.mark.parametrize(
    ("user_id", "role"), [("alice", "root"), ("", "user"), ("a\nb", "user"), ("x" * 300, "user")]
)
def test_bad_user_or_role_is_refused(settings: Settings, user_id: str, role: str) -> None:
    with pytest.raises(TrackerError):
        create_key(settings, user_id=user_id, role=role)
    assert not (settings.config_dir / KEYS_FILE).exists()


def test_bootstrap_admin_keys_match_exactly(settings: Settings) -> None:
    boot = settings.with_changes(admin_keys=("first-long-secret-key", "second-long-secret-key"))
    assert match_admin_key(boot, "second-long-secret-key") == 2
    assert match_admin_key(boot, "second-long-secret-ke") is None
    assert match_admin_key(boot, "second-long-secret-key ") is None
    assert match_admin_key(boot, "admin") is None
    assert match_admin_key(settings, "first-long-secret-key") is None
