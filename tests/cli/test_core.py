"""The CLI skeleton: help, version, doctor, and one clear line for bad input."""

from __future__ import annotations

from pathlib import Path

from mfn_tracker import __version__
from mfn_tracker.logger import get_event_logger
from tests.helpers.cli import run_cli


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("schema", "doctor"):
        assert command in result.out


def test_version() -> None:
    assert run_cli("--version").out.strip().endswith(__version__)


def test_doctor_reports_storage_and_settings(storage: Path) -> None:
    get_event_logger().log_commit("u", "c")
    result = run_cli("doctor")
    assert result.code == 0, result.err
    assert f"storage: {storage}" in result.out
    assert "fsync: MFN_EVENT_FSYNC=never" in result.out


def test_doctor_fails_on_unsafe_storage(storage: Path) -> None:
    storage.mkdir(mode=0o700)
    storage.chmod(0o777)
    result = run_cli("doctor")
    assert result.code == 1
    assert "writable by other users" in result.out
    assert result.err.startswith("mfn-tracker: error:") and result.err.count("\n") == 1


def test_bad_settings_give_one_line_and_usage_exit() -> None:
    result = run_cli("doctor", env={"MFN_EVENT_FSYNC": "sometimes"})
    assert result.code == 2
    assert result.err == "mfn-tracker: error: MFN_EVENT_FSYNC='sometimes' is not one of: " \
        "always, batch, never\n"  # fmt: skip
    assert "Traceback" not in result.err


def test_unknown_command_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.code == 2 and "Traceback" not in result.err
