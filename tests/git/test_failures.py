"""Hooks never hurt git: whatever fails on our side, git behaves as it would without us."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.git import clone, git, git_run, install, seeded_remote


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    mounted: list[Path] = []
    yield mounted
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def _installed_pair(tmp_path: Path, storage_env: dict[str, str]) -> tuple[Path, Path]:
    remote = seeded_remote(tmp_path)
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    for repo in (alice, bob):
        result = run_cli("hooks", "install", "--repo", str(repo), env=storage_env)
        assert result.code == 0, result.err
    return alice, bob


def _every_git_command_succeeds(alice: Path, bob: Path) -> None:
    """Commit, amend, push, fetch, pull, merge: exit 0 and not a word on stderr."""
    steps = [
        (alice, ["commit", "-q", "--allow-empty", "-m", "a1"]),
        (alice, ["commit", "-q", "--amend", "--allow-empty", "-m", "a1b"]),
        (alice, ["push", "-q", "origin", "main"]),
        (bob, ["fetch", "-q"]),
        (bob, ["commit", "-q", "--allow-empty", "-m", "b1"]),
        (bob, ["pull", "-q", "--no-rebase", "--no-edit"]),
        (bob, ["checkout", "-q", "-b", "topic"]),
        (bob, ["checkout", "-q", "main"]),
        (bob, ["merge", "-q", "--no-ff", "--no-edit", "topic"]),
        (bob, ["push", "-q", "origin", "main"]),
    ]
    for repo, args in steps:
        result = git_run(repo, *args)
        assert (result.returncode, result.stderr) == (0, ""), (args, result.stderr)


def _last_error(repo: Path, env: dict[str, str], want: str) -> str:
    """``hooks status``'s last error once it mentions ``want`` (the recorder is detached)."""
    line = ""
    for _ in range(100):
        result = run_cli("hooks", "status", "--repo", str(repo), env=env)
        line = next(x for x in result.out.splitlines() if x.startswith("last error:"))
        if want in line:
            return line
        time.sleep(0.05)
    return line


def test_storage_refused_by_the_writer(tmp_path: Path) -> None:
    """Storage another user could tamper with (owned by someone else / read-only to us)."""
    storage = tmp_path / "refused"
    env = {"MFN_EVENT_STORAGE_PATH": str(storage)}
    alice, bob = _installed_pair(tmp_path, env)
    if os.geteuid() == 0:
        os.chown(storage, 65534, 65534)  # root writes anywhere; an owner mismatch still refuses
    else:
        storage.chmod(0o500)
    _every_git_command_succeeds(alice, bob)
    want = "owned by uid 65534" if os.geteuid() == 0 else "Permission denied"
    assert want in _last_error(alice, env, want)
    assert not list(storage.glob("events_*"))


def _no_mount_here() -> None:
    """Outside CI a machine may forbid mount(8); in CI (root) this test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail("mount(8) failed in CI, where tests run as root")
    pytest.skip("mount(8) not permitted here: test_storage_refused_by_the_writer covers it")


def test_read_only_storage(tmp_path: Path, mounts: list[Path]) -> None:
    disk = tmp_path / "ro"
    if not _mount_tmpfs(disk, "size=256k,mode=700"):
        _no_mount_here()
    mounts.append(disk)
    env = {"MFN_EVENT_STORAGE_PATH": str(disk / "events")}
    alice, bob = _installed_pair(tmp_path, env)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    _every_git_command_succeeds(alice, bob)
    assert "Read-only file system" in _last_error(alice, env, "Read-only file system")


def test_full_disk(tmp_path: Path, mounts: list[Path]) -> None:
    disk = tmp_path / "tiny"
    if not _mount_tmpfs(disk, "size=64k,mode=700"):
        _no_mount_here()
    mounts.append(disk)
    env = {"MFN_EVENT_STORAGE_PATH": str(disk / "events")}
    alice, bob = _installed_pair(tmp_path, env)
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError as exc:
        assert exc.errno == 28  # ENOSPC: the disk is full now
    finally:
        os.close(fd)
    _every_git_command_succeeds(alice, bob)
    assert "No space left" in _last_error(alice, env, "No space left")


def test_missing_interpreter(tmp_path: Path, storage: Path) -> None:
    remote = seeded_remote(tmp_path)
    alice = clone(remote, tmp_path / "alice")
    hooks = install(alice)
    for hook in hooks.iterdir():
        text = hook.read_text()
        if "mfn_py=" in text:
            lines = [
                "mfn_py=/nonexistent/python3" if line.startswith("mfn_py=") else line
                for line in text.splitlines()
            ]
            hook.write_text("\n".join(lines) + "\n")
    result = git_run(alice, "commit", "-q", "--allow-empty", "-m", "x")
    assert (result.returncode, result.stderr) == (0, "")
    status = run_cli("hooks", "status", "--repo", str(alice))
    assert "interpreter /nonexistent/python3 is missing" in status.out
    assert not list(storage.glob("events_*"))
    git(alice, "push", "-q", "origin", "main")


def test_a_recorder_crash_is_kept_for_status(tmp_path: Path, storage: Path) -> None:
    from mfn_tracker.git.install import recorder_boot

    work = clone(seeded_remote(tmp_path), tmp_path / "work")
    install(work)
    gone = subprocess.Popen(["true"])
    gone.wait()  # a git process that has exited
    stray = tmp_path / "not-a-pending-dir" / f"{gone.pid}.{gone.pid}.post-commit"
    stray.parent.mkdir()
    stray.write_bytes(b"mfn1\0")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", recorder_boot(), "marker", str(stray)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0  # the recorder never reports failure through its exit code
    assert "FileNotFoundError" in _last_error(work, {}, "internal error")
