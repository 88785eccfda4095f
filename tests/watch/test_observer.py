"""The observer's loud failure paths and the event filter."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from watchdog.events import FileClosedNoWriteEvent, FileOpenedEvent

from mfn_tracker.watch.observer import EVENT_FILTER, watch_limit, watch_limit_advice
from tests.watch.conftest import make_repo, summary


def test_filter_has_no_open_or_close_nowrite() -> None:
    assert FileOpenedEvent not in EVENT_FILTER and FileClosedNoWriteEvent not in EVENT_FILTER


def test_watch_limit_advice_names_the_sysctl() -> None:
    advice = watch_limit_advice(200_000)
    assert f"fs.inotify.max_user_watches={watch_limit()}" in advice
    assert "sudo sysctl -w fs.inotify.max_user_watches=400000" in advice


def inotify_watches(pid: int) -> int:
    """Watches the process holds, as the kernel lists them (one ``inotify wd:`` line each)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        with contextlib.suppress(OSError):  # an fd closed meanwhile
            count += Path(f"/proc/{pid}/fdinfo/{fd}").read_text().count("inotify wd:")
    return count


def test_directory_moved_out_drops_its_watches(tmp_path: Path, start_watcher) -> None:
    """Moved out of the tree (an unpaired IN_MOVED_FROM): its watches and those below go."""
    repo = make_repo(tmp_path / "repo", {f"m{i}/s/f.txt": f"{i}\n" for i in range(10)})
    outside = tmp_path / "outside"
    outside.mkdir()
    w = start_watcher(repo)
    before = inotify_watches(w.proc.pid)
    for i in range(10):
        (repo / f"m{i}").rename(outside / f"m{i}")
    end = time.monotonic() + 10
    while inotify_watches(w.proc.pid) > before - 20 and time.monotonic() < end:
        time.sleep(0.05)
    assert inotify_watches(w.proc.pid) == before - 20
    (outside / "m0" / "s" / "later.txt").write_text("not ours\n")
    (repo / "m3").mkdir()  # a new directory at a moved-out path is watched again
    (repo / "m3" / "new.txt").write_text("n\n")
    w.wait_for(lambda ev: ("file_create", "m3/new.txt") in summary(ev))
    events = summary(w.settle())
    assert sorted(e for e in events if e[0] == "file_delete") == [
        ("file_delete", f"m{i}/s/f.txt") for i in range(10)
    ]
    assert not [e for e in events if "later.txt" in "".join(e)]
    assert inotify_watches(w.proc.pid) == before - 20 + 1


def test_move_into_a_directory_just_created_is_one_move(tmp_path: Path, start_watcher) -> None:
    """The target's watch comes after the rename: the source must not wait watchdog's 0.5 s."""
    repo = make_repo(tmp_path / "repo", {f"d/x{i}.txt": f"{i}\n" for i in range(3)})
    w = start_watcher(repo)
    for i in range(3):
        (repo / f"e{i}").mkdir()
        (repo / "d" / f"x{i}.txt").rename(repo / f"e{i}" / f"x{i}.txt")
    w.wait_for(lambda ev: len(ev) >= 3)
    assert sorted(summary(w.settle())) == [
        ("file_move", f"e{i}/x{i}.txt", f"d/x{i}.txt") for i in range(3)
    ]
