"""The watcher as users run it: a real process on real trees, real git, real signals."""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import day_file_name
from mfn_tracker.store.timestamps import day_of, format_ms, now_ms
from mfn_tracker.store.writer import WriteError
from mfn_tracker.watch.daemon import WatchConfig, WatchDaemon
from tests.helpers.events import chain_ok
from tests.watch.conftest import git, make_repo, summary


def kinds(events: list[dict], kind: str) -> set[str]:
    return {e["files_changed"][0] for e in events if e["event_type"] == kind}


def test_creates_edits_deletes_moves_and_trees(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo", {"keep.txt": "k\n", "old.txt": "o\n", "gone.txt": "g\n"})
    w = start_watcher(repo)
    (repo / "new.txt").write_text("new\n")
    (repo / "keep.txt").write_text("changed\n")
    (repo / "gone.txt").unlink()
    (repo / "old.txt").rename(repo / "renamed.txt")
    (repo / "a" / "b" / "c").mkdir(parents=True)
    for i in range(5):
        (repo / "a" / "b" / "c" / f"f{i}").write_text(str(i))
    events = w.wait_for(lambda ev: len(ev) >= 9)
    assert sorted(summary(w.settle())) == sorted(
        [
            ("file_create", "new.txt"),
            ("file_change", "keep.txt"),
            ("file_delete", "gone.txt"),
            ("file_move", "renamed.txt", "old.txt"),
            *[("file_create", f"a/b/c/f{i}") for i in range(5)],
        ]
    )
    new = next(e for e in events if e["files_changed"] == ["new.txt"])
    meta = new["metadata"]
    assert meta["size"] == 4 and meta["source"] == "live"
    assert (
        meta["sha256"] == "7aa5a3e7b1ef5bb0a4fea29d0d4ad27b4c36d9f2e2ab2ce8e5c7d5ad6ff9fd7f"
        or len(meta["sha256"]) == 64
    )
    import hashlib

    assert meta["sha256"] == hashlib.sha256(b"new\n").hexdigest()
    assert new["repo"] == str(repo) and new["user_id"] == getpass.getuser()
    assert meta["owner"] == getpass.getuser()
    assert "not say which account" in meta["attribution"]
    # moving a directory moves each file in it; deleting it deletes each
    (repo / "a").rename(repo / "z")
    w.wait_for(lambda ev: len(kinds(ev, "file_move")) >= 6)
    subprocess.run(["rm", "-rf", str(repo / "z")], check=True)
    w.wait_for(lambda ev: len(kinds(ev, "file_delete")) >= 6)
    assert w.stop() == 0
    assert kinds(w.events(), "file_delete") >= {f"z/b/c/f{i}" for i in range(5)}
    assert chain_ok(w.storage)


def test_editor_saves_are_one_change(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo", {"vim.txt": "v1\n", "jb.txt": "j1\n", "atomic.txt": "a\n"})
    w = start_watcher(repo)
    # vim with 'backupcopy=no': swap file, the 4913 probe, target renamed to target~, new target
    (repo / ".vim.txt.swp").write_bytes(b"swap")
    (repo / "4913").write_text("")
    (repo / "4913").unlink()
    (repo / "vim.txt").rename(repo / "vim.txt~")
    (repo / "vim.txt").write_text("v2\n")
    (repo / "vim.txt~").unlink()
    (repo / ".vim.txt.swp").unlink()
    # JetBrains safe-write: write ___jb_tmp___, move the original to ___jb_old___, swap, delete
    (repo / "jb.txt___jb_tmp___").write_text("j2\n")
    (repo / "jb.txt").rename(repo / "jb.txt___jb_old___")
    (repo / "jb.txt___jb_tmp___").rename(repo / "jb.txt")
    (repo / "jb.txt___jb_old___").unlink()
    # write-temp-then-rename (most other editors)
    (repo / ".atomic.txt.tmp123").write_text("b\n")
    (repo / ".atomic.txt.tmp123").rename(repo / "atomic.txt")
    w.wait_for(lambda ev: len(ev) >= 3)
    assert sorted(summary(w.settle())) == [
        ("file_change", "atomic.txt"),
        ("file_change", "jb.txt"),
        ("file_change", "vim.txt"),
    ]


def test_ignored_paths_and_tracked_exceptions(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo", {".gitignore": "*.log\nbuild/\n", "src/a.py": "a\n"})
    (repo / "forced.log").write_text("f\n")
    git(repo, "add", "-f", "forced.log")
    git(repo, "commit", "-qm", "force-add a log")
    w = start_watcher(repo)
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_text("o")
    (repo / "debug.log").write_text("d")
    (repo / "forced.log").write_text("tracked files still count\n")
    (repo / "src" / "b.py").write_text("b\n")
    w.wait_for(lambda ev: len(ev) >= 2)
    assert sorted(summary(w.settle())) == [
        ("file_change", "forced.log"),
        ("file_create", "src/b.py"),
    ]
    # rules reload when .gitignore changes: *.py is now ignored, *.log no longer
    (repo / ".gitignore").write_text("*.py\n")
    w.wait_for(lambda ev: ("file_change", ".gitignore") in summary(ev))
    time.sleep(0.5)
    (repo / "src" / "c.py").write_text("c\n")
    (repo / "later.log").write_text("l\n")
    w.wait_for(lambda ev: ("file_create", "later.log") in summary(ev))
    assert ("file_create", "src/c.py") not in summary(w.settle())


def test_git_checkout_equals_git_diff(tmp_path: Path, start_watcher) -> None:
    files = {f"d{i % 10}/same{i}.txt": f"s{i}\n" for i in range(200)}
    files |= {f"d{i % 10}/mod{i}.txt": f"m{i}\n" for i in range(200)}
    files |= {f"d{i % 10}/del{i}.txt": f"x{i}\n" for i in range(150)}
    repo = make_repo(tmp_path / "repo", files)
    git(repo, "checkout", "-qb", "other")
    for i in range(200):
        (repo / f"d{i % 10}/mod{i}.txt").write_text(f"other {i}\n")
    for i in range(150):
        (repo / f"d{i % 10}/del{i}.txt").unlink()
    for i in range(150):
        (repo / f"n{i % 7}/add{i}.txt").parent.mkdir(exist_ok=True)
        (repo / f"n{i % 7}/add{i}.txt").write_text(f"added {i}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "other")
    git(repo, "checkout", "-q", "main")
    diff = git(repo, "diff", "--name-status", "main", "other").splitlines()
    assert (
        len(diff) == 500
        and diff == git(repo, "diff", "--no-renames", "--name-status", "main", "other").splitlines()
    )
    w = start_watcher(repo)
    git(repo, "checkout", "-q", "other")
    letter = {"file_create": "A", "file_change": "M", "file_delete": "D"}
    w.wait_for(lambda ev: len(ev) >= 500, timeout=60)
    got = sorted(f"{letter[e['event_type']]}\t{e['files_changed'][0]}" for e in w.settle())
    assert got == sorted(diff)


def test_burst_of_10000_files_none_lost(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo")
    w = start_watcher(repo)
    for d in range(10):
        (repo / f"burst{d}").mkdir()
        for i in range(1000):
            (repo / f"burst{d}" / f"f{i}").write_bytes(b"x")
    events = w.wait_for(lambda ev: len(ev) >= 10_000, timeout=120)
    events = w.settle()
    names = Counter(e["files_changed"][0] for e in events)
    assert len(names) == 10_000 and max(names.values()) == 1
    assert {e["event_type"] for e in events} == {"file_create"}
    assert w.stop() == 0 and chain_ok(w.storage)


def test_overflow_while_stopped_is_recovered_by_rescan(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo")
    queue = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    n = max(12_000, queue // 2 + 1000)  # each new file queues 3 events: create, modify, close
    w = start_watcher(repo)
    w.signal(signal.SIGSTOP)  # the kernel queue fills while nobody reads it
    try:
        for i in range(n):
            (repo / f"f{i}").write_bytes(b"y")
        (repo / "README.md").unlink()
    finally:
        w.signal(signal.SIGCONT)
    events = w.wait_for(lambda ev: len(ev) >= n + 1, timeout=120)
    events = w.settle()
    all_events = w.events()
    markers = [e for e in all_events if e["event_type"] == "watch_rescan"]
    assert markers and markers[0]["metadata"]["reason"] == "queue_overflow"
    assert len({e["files_changed"][0] for e in events}) == n + 1 == len(events)
    assert ("file_delete", "README.md") in summary(events)
    assert Counter(e["metadata"]["source"] for e in events)["rescan"] > 0


def test_changes_while_down_and_sigterm_flushes(tmp_path: Path, start_watcher, storage) -> None:
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n", "b.txt": "b\n"})
    first = start_watcher(repo)
    assert first.stop() == 0
    (repo / "a.txt").write_text("edited while down\n")
    (repo / "b.txt").unlink()
    (repo / "c.txt").write_text("created while down\n")
    second = start_watcher(repo)
    scan = [e for e in second.file_events() if e["metadata"]["source"] == "startup-scan"]
    assert sorted(summary(scan)) == [
        ("file_change", "a.txt"),
        ("file_create", "c.txt"),
        ("file_delete", "b.txt"),
    ]
    # written just before SIGTERM, well inside the settle period: still recorded
    for i in range(200):
        (repo / f"late{i}.txt").write_text(str(i))
    assert second.stop() == 0
    events = second.events()
    assert events[-1]["event_type"] == "system_stop"
    assert {f"late{i}.txt" for i in range(200)} <= kinds(events, "file_create")
    starts = [e for e in events if e["event_type"] == "system_start"]
    assert starts[0]["metadata"]["baselines"][0]["state"] == "created"
    assert starts[1]["metadata"]["baselines"][0]["changes_while_down"] == 3


def test_a_batch_the_writer_refuses_is_reported_after_the_restart(
    tmp_path: Path, settings: Settings, storage: Path
) -> None:
    """write_many raising (here: the day is archived) applies nothing: the changes stay out of
    the baseline and its journal, so the next start reports them; none is lost."""
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    config = WatchConfig((repo,), settle=0.01)
    first = WatchDaemon(settings, config)
    tree = first.trees[0]
    assert first._startup_scan(tree) == []  # a fresh tree is adopted
    first._save(force=True)
    for i in range(300):  # more than one write chunk
        (repo / f"n{i}.txt").write_text(f"{i}\n")
    (repo / "a.txt").unlink()
    tree.reducer.dirty.mark("")
    changes = tree.reducer.take(everything=True)
    assert len(changes) == 301
    archived = storage / (day_file_name(day_of(format_ms(now_ms()))) + ".gz")
    archived.write_bytes(b"")
    with pytest.raises(WriteError):
        first._write_changes(tree, changes)
    assert "a.txt" in tree.reducer.baseline.files and "n0.txt" not in tree.reducer.baseline.files
    archived.unlink()
    second = WatchDaemon(settings, config)
    again = second._startup_scan(second.trees[0])
    assert sorted((c.kind, c.path) for c in again) == sorted(
        [("file_delete", "a.txt")] + [("file_create", f"n{i}.txt") for i in range(300)]
    )
    assert {c.source for c in again} == {"startup-scan"}


def test_sighup_reloads_and_sigint_stops(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo")
    w = start_watcher(repo)
    (repo / ".git" / "info" / "exclude").write_text("secret.txt\n")
    w.signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while not any(e["event_type"] == "system_config" for e in w.events()):
        assert time.monotonic() < end, "no system_config after SIGHUP"
        time.sleep(0.05)
    (repo / "secret.txt").write_text("s")
    (repo / "public.txt").write_text("p")
    w.wait_for(lambda ev: ("file_create", "public.txt") in summary(ev))
    w.signal(signal.SIGINT)
    assert w.proc.wait(30) == 0
    assert ("file_create", "secret.txt") not in summary(w.file_events())
    assert any("STATUS=watching 1 tree(s)" in m for m in w.messages)


def test_watch_failure_is_loud(tmp_path: Path, start_watcher) -> None:
    """A directory inotify cannot watch (path beyond PATH_MAX) gives a marker, not silence."""
    repo = make_repo(tmp_path / "repo")
    fd = os.open(repo, os.O_RDONLY)
    try:
        for _ in range(18):
            os.mkdir("d" * 250, dir_fd=fd)
            new = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)
    w = start_watcher(repo)
    end = time.monotonic() + 10
    while not any(e["event_type"] == "watch_rescan" for e in w.events()):
        assert time.monotonic() < end, "no watch_rescan marker for an unwatchable directory"
        time.sleep(0.05)
    marker = next(e for e in w.events() if e["event_type"] == "watch_rescan")
    assert marker["metadata"]["reason"] == "watch_failed" and marker["metadata"]["count"] >= 1


def test_bad_paths_are_clear_errors(tmp_path: Path, storage: Path) -> None:
    from tests.helpers.cli import run_cli

    result = run_cli("watch", str(tmp_path / "missing"))
    assert result.code == 2 and "Traceback" not in result.err
    storage.mkdir(parents=True)
    result = run_cli("watch", str(storage))
    assert result.code == 1 and "inside the event storage" in result.err
    (tmp_path / "outer" / "inner").mkdir(parents=True)
    result = run_cli("watch", str(tmp_path / "outer"), str(tmp_path / "outer" / "inner"))
    assert result.code == 2 and "events would be doubled" in result.err


@pytest.mark.parametrize("settle", ["0", "abc"])
def test_bad_options(settle: str, tmp_path: Path) -> None:
    from tests.helpers.cli import run_cli

    assert run_cli("watch", str(tmp_path), "--settle", settle).code == 2


def test_odd_names_and_storage_inside_the_tree(tmp_path: Path, start_watcher, storage) -> None:
    """Watching a directory that holds the event storage must not record its own writes."""
    tree = tmp_path
    (tree / "plain.txt").write_text("p")
    w = start_watcher(tree)
    odd = os.fsdecode(b"caf\xe9 \n.txt")  # not UTF-8, with a newline
    (tree / odd).write_text("odd")
    (tree / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(tree / "fifo")  # not a file: never opened, never recorded
    shown = os.fsencode(odd).decode("utf-8", "backslashreplace")  # how the writer stores it
    w.wait_for(lambda ev: ("file_create", shown) in summary(ev))
    paths = [p for e in w.settle() for p in e["files_changed"]]  # (+ the watcher's own log)
    assert paths.count(shown) == 1 and "fifo" not in paths
    assert not any(p.startswith("events/") for p in paths)
    assert w.stop() == 0 and chain_ok(storage)


def test_rename_chains_are_one_move_each(tmp_path: Path, start_watcher) -> None:
    """Two `mv` in a row (separate processes, so separate inotify reads): one file_move."""
    repo = make_repo(tmp_path / "repo", {f"src/f{i}.txt": f"{i}\n" for i in range(3)})
    w = start_watcher(repo)
    for i in range(3):
        for src, dst in ((f"f{i}.txt", f"t{i}.txt"), (f"t{i}.txt", f"u{i}.txt")):
            subprocess.run(["mv", src, dst], cwd=repo / "src", check=True)
        w.wait_for(lambda ev, i=i: any(f"src/u{i}.txt" in e["files_changed"] for e in ev))
        time.sleep(0.3)  # past the settle: nothing more may follow (no late delete)
    assert summary(w.settle()) == [
        ("file_move", f"src/u{i}.txt", f"src/f{i}.txt") for i in range(3)
    ]


def test_file_replaced_by_directory_and_back(tmp_path: Path, start_watcher) -> None:
    repo = make_repo(tmp_path / "repo", {"c.txt": "C\n", "keep.txt": "k\n"})
    w = start_watcher(repo)
    (repo / "c.txt").unlink()
    (repo / "c.txt").mkdir()
    (repo / "c.txt" / "inner").write_text("I\n")
    w.wait_for(lambda ev: len(ev) >= 2)
    assert sorted(summary(w.settle())) == [
        ("file_create", "c.txt/inner"),
        ("file_delete", "c.txt"),
    ]
    n = len(w.file_events())
    subprocess.run(["rm", "-rf", str(repo / "c.txt")], check=True)
    (repo / "c.txt").write_text("back\n")
    w.wait_for(lambda ev: len(ev) >= n + 2)
    assert sorted(summary(w.settle()[n:])) == [
        ("file_create", "c.txt"),
        ("file_delete", "c.txt/inner"),
    ]
    assert w.stop() == 0  # the final sweep finds nothing the live events missed
    assert not [e for e in w.file_events() if e["metadata"]["source"] != "live"]


def test_removed_ignore_rules_report_what_they_uncover(tmp_path: Path, start_watcher) -> None:
    """Un-ignored files are reported live, not left for the next restart's startup scan."""
    repo = make_repo(tmp_path / "repo", {".gitignore": "build/\n", "keep.txt": "k\n"})
    (repo / "build").mkdir()
    (repo / "build" / "old.o").write_text("old\n")
    (repo / "sub").mkdir()
    (repo / "sub" / ".gitignore").write_text("*.tmp\n")
    (repo / "sub" / "x.tmp").write_text("x\n")
    (repo / ".git" / "info" / "exclude").write_text("secret.txt\n")
    (repo / "secret.txt").write_text("s\n")
    global_ignore = tmp_path / "global-ignore"
    global_ignore.write_text("*.cache\n")
    git(repo, "config", "core.excludesFile", str(global_ignore))
    (repo / "data.cache").write_text("c\n")
    w = start_watcher(repo)
    (repo / ".gitignore").write_text("\n")
    w.wait_for(lambda ev: ("file_create", "build/old.o") in summary(ev), timeout=10)
    (repo / "sub" / ".gitignore").write_text("\n")
    w.wait_for(lambda ev: ("file_create", "sub/x.tmp") in summary(ev), timeout=10)
    (repo / ".git" / "info" / "exclude").write_text("\n")
    w.wait_for(lambda ev: ("file_create", "secret.txt") in summary(ev), timeout=10)
    global_ignore.write_text("\n")  # outside the tree: the user sends SIGHUP
    w.signal(signal.SIGHUP)
    w.wait_for(lambda ev: ("file_create", "data.cache") in summary(ev), timeout=10)
    sources = {e["files_changed"][0]: e["metadata"]["source"] for e in w.settle()}
    assert [sources[p] for p in ("build/old.o", "sub/x.tmp", "secret.txt")] == ["live"] * 3
    assert sources["data.cache"] == "rescan"
    assert w.stop() == 0
