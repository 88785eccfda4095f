"""The reducer on real files, without the daemon: one change per path, moves, git's lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfn_tracker.watch.baseline import Baseline
from mfn_tracker.watch.ignore import IgnoreRules
from mfn_tracker.watch.reducer import DirtySet, Reducer
from tests.watch.conftest import make_repo


def reducer_for(repo: Path) -> Reducer:
    r = Reducer(repo, Baseline(), IgnoreRules(repo), settle=0.1, max_delay=1.0, move_wait=0.3)
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


def test_rename_chain_across_batches_is_one_move(tmp_path: Path) -> None:
    """a -> b -> c: ``a`` settles first and is taken alone; its delete waits for ``c``."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    r = reducer_for(repo)
    (repo / "a.txt").rename(repo / "b.txt")
    (repo / "b.txt").rename(repo / "c.txt")
    r.dirty.mark("a.txt", now=0.0)
    for rel in ("b.txt", "c.txt"):
        r.dirty.mark(rel, now=0.05)
    assert r.take(now=0.12) == []  # a.txt is due but gone: held until 0.52
    assert r.next_deadline() == pytest.approx(
        0.15
    )  # c.txt settles before the held delete is released
    changes = r.take(now=0.16)
    assert [(c.kind, c.path, c.old_path) for c in changes] == [("file_move", "c.txt", "a.txt")]
    for c in changes:
        r.apply(c)
    assert r.take(now=1.0) == [] and r.pending() == 0


def test_unpaired_delete_is_released_after_settle_and_move_wait(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n", "b.txt": "b\n"})
    r = reducer_for(repo)
    (repo / "a.txt").unlink()
    r.dirty.mark("a.txt", now=0.0)
    assert r.take(now=0.1) == []
    assert r.pending() == 1
    (repo / "a.txt").write_text("back\n")  # recreated meanwhile: judged afresh, no delete
    r.dirty.mark("a.txt", now=0.15)
    assert [(c.kind, c.path) for c in r.take(now=0.3)] == [("file_change", "a.txt")]
    (repo / "b.txt").unlink()
    r.dirty.mark("b.txt", now=1.0)
    assert r.take(now=1.1) == []
    assert r.take(now=1.45) == []
    assert r.next_deadline() == pytest.approx(1.5)
    assert [(c.kind, c.path) for c in r.take(now=1.55)] == [("file_delete", "b.txt")]
    (repo / "a.txt").unlink()  # a stop (everything) never holds
    r.dirty.mark("a.txt", now=2.0)
    assert [(c.kind, c.path) for c in r.take(now=2.0, everything=True)] == [
        ("file_delete", "a.txt")
    ]


def test_marks_in_one_call_keep_their_directory_unsettled() -> None:
    d = DirtySet(settle=0.2, max_delay=5.0)
    d.mark("d", now=0.0)
    d.mark_many(["d/x", "d/y", "d/x"], now=0.15)
    assert d.take_due(now=0.3) == {}  # "d" was refreshed by what changed below it
    assert d.take_due(now=0.4) == {"d": "live", "d/x": "live", "d/y": "live"}


def test_slices_take_the_oldest_first_and_moves_still_pair(tmp_path: Path) -> None:
    """The daemon takes due paths 256 at a time; a move split between slices is one move."""
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    r = reducer_for(repo)
    (repo / "a.txt").rename(repo / "z.txt")
    r.dirty.mark("a.txt", now=0.0)
    r.dirty.mark("z.txt", now=0.01)
    for i in range(3):
        (repo / f"n{i}.txt").write_text(f"{i}\n")
        r.dirty.mark(f"n{i}.txt", now=0.02 + i / 100)
    assert r.take(now=1.0, limit=1) == [] and r.backlog  # a.txt alone: its delete is held
    [move] = r.take(now=1.0, limit=1)
    assert (move.kind, move.path, move.old_path) == ("file_move", "z.txt", "a.txt")
    assert r.backlog
    assert [c.path for c in r.take(now=1.0, limit=2)] == ["n0.txt", "n1.txt"] and r.backlog
    assert [c.path for c in r.take(now=1.0, limit=2)] == ["n2.txt"] and not r.backlog


def test_directory_walk_rejudges_only_files_judged_before_its_own_mark(tmp_path: Path) -> None:
    """A new directory's files were each judged already when the directory settles: its walk
    skips them (their own marks report later changes), unless the directory itself was marked
    after they were judged (moved out and back: changes made meanwhile had no watch)."""
    repo = make_repo(tmp_path / "r")
    r = reducer_for(repo)
    (repo / "d").mkdir()
    r.dirty.mark("d", now=0.0)
    (repo / "d" / "f").write_text("1\n")
    r.dirty.mark("d/f", now=0.01)
    [create] = r.take(now=0.2, limit=1)  # "d" (refreshed by d/f) waits behind it
    assert create.path == "d/f"
    r.apply(create)
    (repo / "d" / "f").write_text("2\n")  # unseen: no mark (a watched file would have one)
    assert r.take(now=0.3) == []  # d's walk does not read d/f again
    r.dirty.mark("d", now=0.4)  # d itself moved out and back: what is below it is re-read
    [change] = r.take(now=0.7)
    assert (change.kind, change.path) == ("file_change", "d/f")
