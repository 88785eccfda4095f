"""Install, uninstall and status: never clobber, chain what was there, restore it exactly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.git.install import HOOK_NAMES, install_hooks, is_ours, uninstall_hooks
from mfn_tracker.settings import load_settings
from tests.helpers.cli import run_cli
from tests.helpers.git import (
    Recorded,
    clone,
    commit,
    git,
    git_run,
    install,
    pending_markers,
    seeded_remote,
)

PRE_COMMIT = str(Path(sys.executable).parent / "pre-commit")


def snapshot(directory: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry of a hooks dir: kind, content (or link target) and mode."""
    found = {}
    for entry in sorted(os.listdir(directory)):
        path = directory / entry
        if path.is_symlink():
            found[entry] = ("link", os.readlink(path).encode(), 0)
        elif path.is_dir():
            found[entry] = ("dir", b"", 0)
        else:
            found[entry] = ("file", path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    remote = seeded_remote(tmp_path)
    return remote, clone(remote, tmp_path / "work")


def test_install_is_idempotent_and_uninstall_restores_a_fresh_repo(
    repos: tuple[Path, Path],
) -> None:
    _, work = repos
    hooks = work / ".git" / "hooks"
    before = snapshot(hooks)
    install(work)
    first = snapshot(hooks)
    changes = install_hooks(hooks, load_settings())
    assert {c.action for c in changes} == {"unchanged"}
    assert snapshot(hooks) == first
    for name in HOOK_NAMES:
        assert is_ours(hooks / name)
        assert os.access(hooks / name, os.X_OK)
    uninstall_hooks(hooks)
    assert snapshot(hooks) == before


def test_user_hooks_keep_args_stdin_and_the_verdict(
    repos: tuple[Path, Path], storage: Path
) -> None:
    _, work = repos
    hooks = work / ".git" / "hooks"
    log = work.parent / "user-hook.log"
    (hooks / "pre-push").write_text(
        "#!/bin/sh\n"
        f'printf "args:%s\\n" "$*" >> {log}\n'
        f"cat >> {log}\n"
        f"[ -e {work.parent / 'deny'} ] && exit 7\n"
        "exit 0\n"
    )
    (hooks / "pre-push").chmod(0o750)
    os.symlink("/bin/true", hooks / "post-merge")  # a symlinked hook must come back as a link
    before = snapshot(hooks)
    install(work)
    rec = Recorded(storage)
    sha = commit(work, "one", {"a": "1\n"})
    rec.new()

    (work.parent / "deny").touch()
    result = git_run(work, "push", "origin", "main")
    assert result.returncode != 0  # the user's hook still decides
    assert "failed to push" in result.stderr
    blocked = rec.new()
    assert [e["status"] for e in blocked] == ["failure"]
    assert blocked[0]["metadata"]["blocked_by_hook"] is True

    (work.parent / "deny").unlink()
    git(work, "push", "-q", "origin", "main")
    assert [(e["event_type"], e["status"]) for e in rec.new()] == [
        ("push", "pending"),
        ("push", "success"),
    ]
    text = log.read_text()
    assert text.count(f"args:origin {work.parent / 'remote.git'}") == 2
    assert text.count(f"refs/heads/main {sha} refs/heads/main ") == 2

    uninstall_hooks(hooks)
    assert snapshot(hooks) == before


def test_install_refuses_rather_than_overwrite_a_saved_hook(repos: tuple[Path, Path]) -> None:
    _, work = repos
    hooks = work / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho mine\n")
    (hooks / "post-commit.mfn-orig").write_text("#!/bin/sh\necho older\n")
    before = snapshot(hooks)
    with pytest.raises(TrackerError, match="already exists"):
        install_hooks(hooks, load_settings())
    assert snapshot(hooks) == before  # all or nothing: no other hook was installed either


def _pre_commit(repo: Path, *args: str) -> None:
    subprocess.run([PRE_COMMIT, *args], cwd=repo, check=True, capture_output=True, timeout=120)


PRE_COMMIT_CONFIG = """\
repos:
- repo: local
  hooks:
  - id: note-push
    name: note push
    entry: sh -c 'echo pushed >> ../pre-commit-ran; [ ! -e ../deny ]'
    language: system
    stages: [pre-push]
    pass_filenames: false
    always_run: true
  - id: note-commit
    name: note commit
    entry: sh -c 'echo committed >> ../pre-commit-ran'
    language: system
    stages: [post-commit]
    pass_filenames: false
    always_run: true
"""


def test_coexists_with_the_pre_commit_framework(repos: tuple[Path, Path], storage: Path) -> None:
    _, work = repos
    (work / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG)
    git(work, "add", ".pre-commit-config.yaml")
    git(work, "commit", "-q", "-m", "pre-commit config")
    _pre_commit(work, "install", "-t", "pre-push", "-t", "post-commit")
    hooks = work / ".git" / "hooks"
    before = snapshot(hooks)
    install(work)
    rec = Recorded(storage)
    ran = work.parent / "pre-commit-ran"

    commit(work, "c1", {"a": "1\n"})
    assert rec.types() == ["commit"]
    assert ran.read_text() == "committed\n"
    (work.parent / "deny").touch()
    assert git_run(work, "push", "origin", "main").returncode != 0  # pre-commit said no
    assert [e["status"] for e in rec.new()] == ["failure"]
    (work.parent / "deny").unlink()
    git(work, "push", "-q", "origin", "main")
    assert [e["status"] for e in rec.new()] == ["pending", "success"]
    assert ran.read_text().count("pushed") == 2

    uninstall_hooks(hooks)
    assert snapshot(hooks) == before


def test_pre_commit_installed_after_us_records_once(
    repos: tuple[Path, Path], storage: Path
) -> None:
    """pre-commit keeps our shim as <hook>.legacy and runs it: that is one recording, not two."""
    _, work = repos
    (work / ".pre-commit-config.yaml").write_text(PRE_COMMIT_CONFIG)
    git(work, "add", ".pre-commit-config.yaml")
    git(work, "commit", "-q", "-m", "pre-commit config")
    install(work)
    _pre_commit(work, "install", "-t", "post-commit")
    hooks = work / ".git" / "hooks"
    assert is_ours(hooks / "post-commit.legacy")
    changes = {c.hook: c.action for c in install_hooks(hooks, load_settings())}
    assert changes["post-commit"] == "chained-via-pre-commit"
    assert not (hooks / "post-commit.mfn-orig").exists()
    rec = Recorded(storage)
    rec.new()
    commit(work, "once", {"b": "1\n"})
    assert rec.types() == ["commit"]
    assert (work.parent / "pre-commit-ran").read_text() == "committed\n"

    uninstall_hooks(hooks)
    assert not (hooks / "post-commit.legacy").exists()
    assert "pre-commit" in (hooks / "post-commit").read_text()


def test_our_shim_reached_twice_through_a_chain_records_once(
    repos: tuple[Path, Path], storage: Path
) -> None:
    """our shim -> the hook it chains -> an older copy of our shim: one event, no loop."""
    _, work = repos
    hooks = work / ".git" / "hooks"
    log = work.parent / "wrapper.log"
    (hooks / "post-commit").write_text(
        f'#!/bin/sh\necho wrapper >> {log}\nexec "$(dirname "$0")/post-commit.legacy" "$@"\n'
    )
    (hooks / "post-commit").chmod(0o755)
    install(work)
    assert (hooks / "post-commit.mfn-orig").read_text().startswith("#!/bin/sh\necho wrapper")
    shutil.copy2(hooks / "post-commit", hooks / "post-commit.legacy")
    rec = Recorded(storage)
    commit(work, "once", {"c": "1\n"})
    assert rec.types() == ["commit"]
    assert log.read_text() == "wrapper\n"
    assert pending_markers(storage) == []


HUSKY_H = """#!/usr/bin/env sh
n=$(basename "$0")
s=$(dirname "$(dirname "$0")")/$n
[ ! -f "$s" ] && exit 0
sh -e "$s" "$@"
"""


def test_coexists_with_husky_style_hooks_path(repos: tuple[Path, Path], storage: Path) -> None:
    _, work = repos
    husky = work / ".husky"
    (husky / "_").mkdir(parents=True)
    (husky / "_" / "h").write_text(HUSKY_H)
    for name in ("pre-push", "post-commit"):
        stub = husky / "_" / name
        stub.write_text('#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
        stub.chmod(0o755)
    (husky / "post-commit").write_text(f"echo husky-post-commit >> {work.parent / 'husky-ran'}\n")
    (husky / "pre-push").write_text(f'echo "husky-pre-push $1" >> {work.parent / "husky-ran"}\n')
    git(work, "config", "core.hooksPath", ".husky/_")
    before = snapshot(husky / "_")
    directory = install(work)
    assert directory == husky / "_"
    rec = Recorded(storage)
    commit(work, "h1", {"h": "1\n"})
    assert rec.types() == ["commit"]
    git(work, "push", "-q", "origin", "main")
    assert rec.types() == ["push", "push"]
    ran = (work.parent / "husky-ran").read_text()
    assert ran == "husky-post-commit\nhusky-pre-push origin\n"
    uninstall_hooks(directory)
    assert snapshot(husky / "_") == before
    assert git(work, "config", "core.hooksPath").strip() == ".husky/_"


def test_global_uses_template_dir_and_leaves_hooks_path_alone(
    tmp_path: Path, storage: Path
) -> None:
    git(tmp_path, "config", "--global", "core.hooksPath", "/nonexistent/global-hooks")
    result = run_cli("hooks", "install", "--global")
    assert result.code == 0, result.err
    assert "core.hooksPath" in result.out
    template = Path(git(tmp_path, "config", "--global", "init.templateDir").strip())
    assert all(is_ours(template / "hooks" / name) for name in HOOK_NAMES)
    assert git(tmp_path, "config", "--global", "core.hooksPath").strip() == (
        "/nonexistent/global-hooks"
    )
    status = run_cli("hooks", "status", "--global")
    assert status.code == 0
    assert "post-commit" in status.out and "installed" in status.out
    result = run_cli("hooks", "uninstall", "--global")
    assert result.code == 0, result.err
    assert git_run(tmp_path, "config", "--global", "init.templateDir").returncode == 1
    assert not any(p.name in HOOK_NAMES for p in (template / "hooks").iterdir())


def test_status_via_cli(repos: tuple[Path, Path], storage: Path) -> None:
    _, work = repos
    (work / ".git" / "hooks" / "post-merge").write_text("#!/bin/sh\nexit 0\n")
    (work / ".git" / "hooks" / "post-merge").chmod(0o755)
    assert run_cli("hooks", "install", "--repo", str(work)).code == 0
    result = run_cli("hooks", "status", "--repo", str(work))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert any(line.split()[:2] == ["post-commit", "installed"] for line in lines)
    assert f"python: {sys.executable}" in result.out
    assert f"storage: {storage}" in result.out
    assert "runs previous hook: script" in result.out
    assert "last error: none" in result.out
    removed = run_cli("hooks", "uninstall", "--repo", str(work))
    assert removed.code == 0, removed.err
    assert "post-merge" in removed.out and "restored" in removed.out
    assert (work / ".git" / "hooks" / "post-merge").read_text() == "#!/bin/sh\nexit 0\n"
    assert not (work / ".git" / "hooks" / "post-commit").exists()
    bad = run_cli("hooks", "status", "--repo", str(work.parent))
    assert bad.code == 1
    assert bad.err.startswith("mfn-tracker: error: not a git repository")
    assert "Traceback" not in bad.err


def test_refuses_to_move_hooks_tracked_by_git(repos: tuple[Path, Path]) -> None:
    """husky 4-8 style: core.hooksPath=.husky with the hook files committed."""
    _, work = repos
    husky = work / ".husky"
    husky.mkdir()
    (husky / "post-commit").write_text("#!/bin/sh\necho team hook\n")
    (husky / "post-commit").chmod(0o755)
    git(work, "add", ".husky")
    git(work, "commit", "-q", "-m", "team hooks")
    git(work, "config", "core.hooksPath", ".husky")
    before = snapshot(husky)
    result = run_cli("hooks", "install", "--repo", str(work))
    assert result.code == 1
    assert "tracked by git (post-commit)" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert snapshot(husky) == before
    assert git(work, "status", "--porcelain") == ""
