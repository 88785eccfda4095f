"""A key revoked while a long read runs is noticed at the next check, cheaply."""

from __future__ import annotations

import os

from mfn_tracker.access import KeyCheck, authenticate
from mfn_tracker.access.keys import create_key, keys_path, revoke_key
from mfn_tracker.settings import Settings


def test_revocation_is_seen_and_sticks(settings: Settings) -> None:
    record, key = create_key(settings, user_id="alice", role="user")
    _other, _ = create_key(settings, user_id="bob", role="user")
    check = KeyCheck(settings, authenticate(settings, key, channel="cli"))
    assert check.still_valid() and check.still_valid()
    revoke_key(settings, _other.key_id)  # another key's change: still valid
    assert check.still_valid()
    revoke_key(settings, record.key_id)
    assert not check.still_valid()
    assert check.revoked
    assert not check.still_valid()


def test_a_missing_or_damaged_registry_fails_closed(settings: Settings) -> None:
    _record, key = create_key(settings, user_id="alice", role="user")
    check = KeyCheck(settings, authenticate(settings, key, channel="cli"))
    assert check.still_valid()
    path = keys_path(settings)
    path.write_bytes(b"{not json")
    assert not check.still_valid()
    os.unlink(path)
    assert not KeyCheck(settings, check.caller).still_valid()


def test_an_unchanged_registry_is_not_read_again(settings: Settings) -> None:
    _record, key = create_key(settings, user_id="alice", role="user")
    check = KeyCheck(settings, authenticate(settings, key, channel="cli"))
    assert check.still_valid()
    path = keys_path(settings)
    st = path.stat()
    with path.open("r+b") as stream:  # same inode, size and mtime: no reason to read it again
        stream.write(b"#" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert check.still_valid()
    path.touch()  # now it changed: read, found damaged, refused
    assert not check.still_valid()


def test_env_admin_keys_stay_valid(settings: Settings) -> None:
    admin = settings.with_changes(admin_keys=("env-admin-key-0123456789",))
    check = KeyCheck(admin, authenticate(admin, "env-admin-key-0123456789", channel="http"))
    assert check.still_valid()
