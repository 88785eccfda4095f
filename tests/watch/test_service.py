"""The systemd units: what `service install` renders, what systemd-analyze says about them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mfn_tracker.watch.service import escape_path, instance_name, render_unit
from tests.helpers.cli import run_cli

UNITS = Path(__file__).resolve().parents[2] / "systemd"
UNIT = "mfn-tracker-watch@.service"


@pytest.mark.parametrize("scope", ["user", "system"])
def test_committed_units_are_the_rendering(scope: str) -> None:
    assert (UNITS / scope / UNIT).read_text() == render_unit(scope=scope)


@pytest.mark.parametrize("scope", ["user", "system"])
def test_units_are_hardened_notify_services(scope: str) -> None:
    text = render_unit(scope=scope)
    for line in (
        "Type=notify",
        "Restart=on-failure",
        "WatchdogSec=30",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "ExecStart=/usr/bin/python3 -m mfn_tracker watch %f",
    ):
        assert line in text.splitlines()
    # The daemon writes the storage and, for signed checkpoints, the config directory (key +
    # checkpoints.jsonl): both must stay writable under ProtectSystem=strict.
    if scope == "system":
        wanted = [
            "ReadWritePaths=/var/log/mfn /etc/mfn-tracker",
            "Environment=MFN_CONFIG_DIR=/etc/mfn-tracker",
        ]
    else:
        wanted = [
            "ReadWritePaths=%S/mfn-tracker %E/mfn-tracker",
            "Environment=MFN_CONFIG_DIR=%E/mfn-tracker",
        ]
    for line in [*wanted, "ConfigurationDirectory=mfn-tracker", "ConfigurationDirectoryMode=0700"]:
        assert line in text.splitlines()


def test_systemd_analyze_verify_prints_nothing(tmp_path: Path) -> None:
    """Both units, as systemd loads them; verify exits 0 on bad keys, so any output fails."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing in CI (Debian package: systemd)")
        pytest.skip("systemd-analyze not installed (Debian package: systemd)")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    for scope in ("system", "user"):
        unit = tmp_path / scope / "mfn-tracker-watch@srv-repo.service"
        unit.parent.mkdir()
        shutil.copy(UNITS / scope / UNIT, unit)
        args = [tool, *(["--user"] if scope == "user" else []), "verify", str(unit)]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
        assert (proc.returncode, proc.stdout + proc.stderr) == (0, ""), scope


@pytest.mark.parametrize(
    "path", ["/work/main", "/home/a b/x-y", "/srv/ümlaut/.hidden", "/x_y:z", "/.dot"]
)
def test_escape_matches_systemd_escape(path: str) -> None:
    tool = shutil.which("systemd-escape")
    expected = (
        subprocess.run(
            [tool, "--path", path], capture_output=True, text=True, check=True
        ).stdout.strip()
        if tool
        else None
    )
    if expected is None:
        pytest.skip("systemd-escape not installed")
    assert escape_path(Path(path)) == expected


def test_service_install_print(tmp_path: Path) -> None:
    repo = tmp_path / "my repo"
    repo.mkdir()
    result = run_cli("service", "install", "--system", str(repo), "--print")
    assert result.code == 0, result.err
    assert f"enable: {instance_name(repo)}" in result.out
    assert "/etc/systemd/system/mfn-tracker-watch@.service" in result.out
    assert "ProtectSystem=strict" in result.out
    user = run_cli("service", "install", "--user", str(repo), "--print")
    assert ".config/systemd/user/mfn-tracker-watch@.service" in user.out
    assert run_cli("service", "install", str(tmp_path / "nope"), "--print").code == 2
