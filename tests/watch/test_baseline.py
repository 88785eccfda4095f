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


def test_entry_reader_agrees_with_read_entry(tmp_path: Path) -> None:
    """The batch reader (files opened relative to a checked directory) sees what read_entry
    sees, including a path that leaves the tree through a symlinked directory."""
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"abc")
    (root / "big").write_bytes(b"x" * 10)
    os.symlink("d/f", root / "link")
    os.symlink("/etc", root / "dirlink")
    rels = ["d/f", "big", "link", "d", "missing", "dirlink/passwd", "gone/f"]
    with bl.EntryReader(str(root), cap=4) as reader:
        assert reader.lstat("d/f") is not None and reader.lstat("missing") is None
        got = {rel: reader.read(rel) for rel in rels}
    want = {rel: bl.read_entry(str(root / rel), cap=4) for rel in rels}
    assert got == want
    assert got["d/f"] is not None and got["d/f"].sha256 == hashlib.sha256(b"abc").hexdigest()
    assert got["dirlink/passwd"] is not None and got["dirlink/passwd"].sha256 is None
    previous = got["d/f"]
    with bl.EntryReader(str(root)) as reader:
        assert reader.read("d/f", previous) == previous  # unchanged: hash reused
        (root / "d" / "f").write_bytes(b"abcd")
        changed = reader.read("d/f", previous)
    assert changed is not None and changed.sha256 == hashlib.sha256(b"abcd").hexdigest()


def test_save_load_and_journal_replay(tmp_path: Path) -> None:
    storage, repo = tmp_path / "events", tmp_path / "repo"
    (tmp_path / "x").write_bytes(b"x")
    entry = bl.read_entry(str(tmp_path / "x"))
    assert entry is not None
    path = bl.baseline_path(storage, repo)
    name = os.fsdecode(b"caf\xe9.txt")  # not UTF-8
    bl.save(path, repo, bl.Baseline({"a": entry, name: entry}), dir_mode=0o700, file_mode=0o600)
    odd = 'q"uote\\ \u00e9 ' + name  # JSON escapes, non-ASCII, not UTF-8
    bl.append_journal(
        path, [("a", None), ("b", entry), (odd, entry)], dir_mode=0o700, file_mode=0o600
    )
    with bl.journal_path(path).open("a") as fh:
        fh.write('["torn", [')  # a crash mid-line
    loaded = bl.load(path, repo)
    assert loaded is not None and set(loaded.files) == {name, "b", odd}
    assert loaded.files[odd] == entry
    assert bl.load(path, tmp_path / "other") is None
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_digest_reads_to_the_end_when_the_size_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    want = hashlib.sha256(b"0123456789").hexdigest()
    for size_seen in (10, 4, 0, 25):  # as lstat said; the file has 10 bytes
        fd = os.open(path, os.O_RDONLY)
        try:
            assert bl._digest(fd, size_seen) == want, size_seen
        finally:
            os.close(fd)
