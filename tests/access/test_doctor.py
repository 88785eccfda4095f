"""``doctor`` reports on the key registry."""

from __future__ import annotations

from mfn_tracker.access.doctor import checks
from mfn_tracker.access.keys import create_key
from mfn_tracker.settings import Settings


def test_registry_states(settings: Settings) -> None:
    assert checks(settings)[0].state == "warn"
    create_key(settings, user_id="alice", role="admin")
    assert checks(settings)[0].state == "ok"
    settings.config_dir.chmod(0o755)
    assert checks(settings)[0].state == "fail"


def test_short_bootstrap_keys_are_flagged(settings: Settings) -> None:
    assert checks(settings.with_changes(admin_keys=("short",)))[1].state == "warn"
    assert checks(settings.with_changes(admin_keys=("x" * 32,)))[1].state == "ok"
