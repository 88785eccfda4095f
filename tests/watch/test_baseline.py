"""The persisted baseline: hashes, the size cap, the journal that survives a crash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mfn_tracker.watch import baseline as bl


def test_entry_hash_cap_and_symlink(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"abc")
    e = bl.read_entry(str(tmp_path / "f"))
    assert e is not None and e.sha256 == hashlib.sha256(b"abc").hexdigest()
    big = bl.read_entry(str(tmp_path / "f"), cap=2)
    assert big is not None and big.sha256 is None and big.size == 3
    os.symlink("/etc/passwd", tmp_path / "link")
    link = bl.read_entry(str(tmp_path / "link"))
    assert link is not None and link.kind == "symlink"
    assert link.sha256 == hashlib.sha256(b"/etc/passwd").hexdigest()  # the target, not followed
    assert bl.read_entry(str(tmp_path)) is None and bl.read_entry(str(tmp_path / "no")) is None
    os.symlink("/etc", tmp_path / "dirlink")  # a path that leaves the tree through a parent
    outside = bl.read_entry(str(tmp_path / "dirlink" / "passwd"))
    assert outside is not None and outside.sha256 is None


def test_save_load_and_journal_replay(tmp_path: Path) -> None:
    storage, repo = tmp_path / "events", tmp_path / "repo"
    (tmp_path / "x").write_bytes(b"x")
    entry = bl.read_entry(str(tmp_path / "x"))
    assert entry is not None
    path = bl.baseline_path(storage, repo)
    name = os.fsdecode(b"caf\xe9.txt")  # not UTF-8
    bl.save(path, repo, bl.Baseline({"a": entry, name: entry}), dir_mode=0o700, file_mode=0o600)
    bl.append_journal(path, [("a", None), ("b", entry)], dir_mode=0o700, file_mode=0o600)
    with bl.journal_path(path).open("a") as fh:
        fh.write('["torn", [')  # a crash mid-line
    loaded = bl.load(path, repo)
    assert loaded is not None and set(loaded.files) == {name, "b"}
    assert bl.load(path, tmp_path / "other") is None
    assert oct(path.stat().st_mode & 0o777) == "0o600"
