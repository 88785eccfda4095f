"""Who may see what: authentication, scoping, and the audit of every read."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfn_tracker.access import (
    AccessDenied,
    Caller,
    Unauthenticated,
    authenticate,
    record_read,
    scope,
)
from mfn_tracker.access.keys import create_key, key_hash_prefix, revoke_key
from mfn_tracker.logger import build_query
from mfn_tracker.settings import Settings
from tests.helpers.events import all_events, chain_ok


def _everything(*roots: Path) -> bytes:
    return b"".join(p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_is_denied_without_a_record(settings: Settings, key: str | None) -> None:
    with pytest.raises(AccessDenied) as caught:
        authenticate(settings, key, channel="cli")
    assert not isinstance(caught.value, Unauthenticated)
    assert caught.value.exit_code == 3
    assert not settings.storage_path.exists() or not all_events(settings.storage_path)


def test_unknown_key_is_denied_and_recorded_by_hash_prefix(settings: Settings) -> None:
    create_key(settings, user_id="alice", role="admin")
    guess = "mfn_this-is-a-guessed-key-0123456789abcdef"
    with pytest.raises(Unauthenticated):
        authenticate(settings, guess, channel="http", source_ip="203.0.113.9")
    [event] = all_events(settings.storage_path)
    assert event["event_type"] == "auth_failure" and event["status"] == "failure"
    assert event["metadata"]["key_hash_prefix"] == key_hash_prefix(guess)
    assert event["metadata"]["channel"] == "http"
    assert event["source_ip"] == "203.0.113.0"
    assert guess.encode() not in _everything(settings.storage_path, settings.config_dir)


def test_revoked_key_is_denied_and_recorded_with_its_id(settings: Settings) -> None:
    record, key = create_key(settings, user_id="bob", role="user")
    assert authenticate(settings, key, channel="cli") == Caller("user", "bob", record.key_id)
    revoke_key(settings, record.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(settings, key, channel="cli")
    [event] = all_events(settings.storage_path)
    assert event["user_id"] == "bob" and event["metadata"]["key_id"] == record.key_id
    assert key.encode() not in _everything(settings.storage_path, settings.config_dir)


def test_role_comes_from_the_record_not_the_spelling(settings: Settings) -> None:
    record, key = create_key(settings, user_id="admin", role="user")
    caller = authenticate(settings, key, channel="cli")
    assert caller.role == "user" and not caller.is_admin
    boot = settings.with_changes(admin_keys=("a-very-long-bootstrap-key",))
    assert authenticate(boot, "a-very-long-bootstrap-key", channel="cli").is_admin
    with pytest.raises(Unauthenticated):
        authenticate(boot, "admin", channel="cli")
    assert record.key_id


def test_a_user_is_forced_to_its_own_events() -> None:
    caller = Caller("user", "bob", "k1")
    for asked in (None, "bob", "alice"):
        query, note = scope(caller, build_query(date="2026-03-01", user_id=asked))
        assert query.user == "bob"
        assert (note is not None) == (asked == "alice")
    query, note = scope(Caller("admin", "root", "k2"), build_query(user_id="alice"))
    assert query.user == "alice" and note is None
    query, _ = scope(Caller("admin", "root", "k2"), build_query())
    assert query.user is None


def test_an_unknown_role_reads_nothing() -> None:
    with pytest.raises(AccessDenied):
        scope(Caller("guest", "x", "k"), build_query())


def test_every_read_is_recorded_with_caller_and_filters(settings: Settings) -> None:
    caller = Caller("user", "bob", "k1")
    query, _ = scope(caller, build_query(date="2026-03-01", event_type="push"))
    record_read(
        settings,
        caller,
        command="events list",
        filters={"user": query.user, "types": query.types, "since": query.since, "none": None},
    )
    [event] = all_events(settings.storage_path)
    assert event["event_type"] == "api_request" and event["user_id"] == "bob"
    meta = event["metadata"]
    assert meta["command"] == "events list" and meta["key_id"] == "k1" and meta["role"] == "user"
    assert meta["filters"] == {
        "user": "bob",
        "types": ["push"],
        "since": "2026-03-01T00:00:00.000Z",
    }
    assert chain_ok(settings.storage_path)


def test_recorded_user_filter_is_pseudonymized_when_names_are(settings: Settings) -> None:
    private = settings.with_changes(pseudonymize=True)
    record_read(
        private, Caller("admin", "root", "k"), command="events list", filters={"user": "alice"}
    )
    [event] = all_events(settings.storage_path)
    assert event["metadata"]["filters"]["user"].startswith("p1:")
    assert b"alice" not in _everything(settings.storage_path)


def test_a_requested_user_is_recorded_when_scoping_replaced_it(settings: Settings) -> None:
    private = settings.with_changes(pseudonymize=True)
    bob = Caller("user", "bob", "k1")
    asked = build_query(date="2026-03-01", user_id="carol")
    query, note = scope(bob, asked)
    assert note and query.user == "bob"
    record_read(
        settings,
        bob,
        command="events list",
        filters={"user": query.user},
        requested_user=asked.user,
    )
    record_read(settings, bob, command="events list", filters={"user": "bob"}, requested_user="bob")
    record_read(
        private, bob, command="events list", filters={"user": "bob"}, requested_user="carol"
    )
    first, same, hidden = (e["metadata"]["filters"] for e in all_events(settings.storage_path))
    assert first == {"user": "bob", "requested_user": "carol"}
    assert same == {"user": "bob"}
    assert hidden["requested_user"].startswith("p1:")
