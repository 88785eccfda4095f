"""``mfn-tracker doctor`` reports the hooks of the repository it runs in."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.git import clone, install, seeded_remote


def test_doctor_warns_until_hooks_are_installed(tmp_path: Path) -> None:
    work = clone(seeded_remote(tmp_path), tmp_path / "work")
    before = run_cli("doctor", cwd=work)
    assert "git-hooks" in before.out
    assert "not installed" in before.out
    install(work)
    after = run_cli("doctor", cwd=work)
    assert "all installed" in after.out
    outside = run_cli("doctor", cwd=tmp_path)
    assert "not inside a git repository" in outside.out
