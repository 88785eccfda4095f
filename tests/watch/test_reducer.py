"""The reducer on real files, without the daemon: one change per path, moves, git's lock."""

from __future__ import annotations

import os
from pathlib import Path

from mfn_tracker.watch.baseline import Baseline
from mfn_tracker.watch.ignore import IgnoreRules
from mfn_tracker.watch.reducer import DirtySet, Reducer
from tests.watch.conftest import make_repo


def reducer_for(repo: Path) -> Reducer:
    r = Reducer(repo, Baseline(), IgnoreRules(repo), settle=0.1, max_delay=1.0)
    for change in r.scan_all("startup-scan"):
        r.apply(change)
    return r


def test_dirty_set_settles_per_path_and_caps_delay() -> None:
    d = DirtySet(settle=0.2, max_delay=1.0)
    d.mark("a", now=0.0)
    d.mark("b", now=0.15)
    assert d.take_due(now=0.1) == {}
    assert d.take_due(now=0.25) == {"a": "live"}
    for t in (0.3, 0.5, 0.7, 0.9, 1.2):  # written continuously: due at max_delay anyway
        d.mark("b", now=t)
        due = d.take_due(now=t)
    assert due == {"b": "live"}


def test_move_is_one_event_and_same_content_touch_is_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "t.txt": "t\n"})
    r = reducer_for(repo)
    (repo / "a.txt").rename(repo / "b.txt")
    os.utime(repo / "t.txt")
    for rel in ("a.txt", "b.txt", "t.txt"):
        r.dirty.mark(rel)
    changes = r.take(everything=True)
    assert [(c.kind, c.path, c.old_path) for c in changes] == [("file_move", "b.txt", "a.txt")]
    for c in changes:
        r.apply(c)
    (repo / "b.txt").rename(repo / "t.txt")  # a move over an existing file
    r.dirty.mark("b.txt")
    r.dirty.mark("t.txt")
    [move] = r.take(everything=True)
    assert (move.kind, move.path, move.old_path) == ("file_move", "t.txt", "b.txt")
    assert move.old is not None and move.old.size == 2  # what it replaced: "t\n"


def test_nothing_is_due_while_git_holds_the_index_lock(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    r = reducer_for(repo)
    (repo / "new.txt").write_text("n")
    r.dirty.mark("new.txt", now=0.0)
    lock = repo / ".git" / "index.lock"
    lock.write_text("")
    assert r.take(now=10.0) == []
    lock.unlink()
    assert [c.kind for c in r.take(now=10.0)] == ["file_create"]
