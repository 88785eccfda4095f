"""``doctor`` checks of the compliance area: keys, checkpoint freshness, the head record."""

from __future__ import annotations

import os

from mfn_tracker.compliance.checkpoints import create_checkpoint
from mfn_tracker.compliance.doctor import checks
from mfn_tracker.settings import Settings
from tests.compliance.logs import lines_of, make_log, write_lines


def _states(settings: Settings) -> dict[str, str]:
    return {c.name: c.state for c in checks(settings)}


def test_fresh_install(settings: Settings) -> None:
    assert _states(settings) == {
        "signing-key": "warn",
        "checkpoint": "ok",
        "pseudonymization": "ok",
        "chain-head": "ok",
    }


def test_after_a_checkpoint_all_ok_and_open_key_fails(settings: Settings) -> None:
    make_log(settings)
    assert _states(settings)["checkpoint"] == "warn"
    create_checkpoint(settings)
    assert set(_states(settings).values()) == {"ok"}
    os.chmod(settings.config_dir / "checkpoint.key", 0o644)
    assert _states(settings)["signing-key"] == "fail"


def test_truncated_head_file_fails(settings: Settings) -> None:
    path = make_log(settings)[-1]
    write_lines(path, lines_of(path)[:-1])
    assert _states(settings)["chain-head"] == "fail"
