"""git's ignore rules as the watcher applies them."""

from __future__ import annotations

from pathlib import Path

from mfn_tracker.watch.ignore import IgnoreRules, is_editor_temp
from tests.watch.conftest import git, make_repo


def test_gitignore_layers_and_tracked_files(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {".gitignore": "*.log\n!keep.log\nbuild/\n", "sub/.gitignore": "*.tmp\n", "a.py": ""},
    )
    (repo / ".git" / "info" / "exclude").write_text("local-only\n")
    (tmp_path / "global-ignore").write_text("*.bak\n")
    git(repo, "config", "core.excludesFile", str(tmp_path / "global-ignore"))
    (repo / "build").mkdir()
    (repo / "build" / "tracked.txt").write_text("t")
    git(repo, "add", "-f", "build/tracked.txt")
    rules = IgnoreRules(repo)
    assert rules.ignored("x.log") and not rules.ignored("keep.log")
    assert rules.ignored("build/out.o") and not rules.ignored("build/tracked.txt")
    assert rules.ignored("sub/x.tmp") and not rules.ignored("x.tmp")
    assert rules.ignored("local-only") and rules.ignored("f.bak")
    assert rules.ignored(".git/config") and not rules.ignored("a.py")
    assert rules.ignored("vendor/lib/.git/HEAD") and rules.ignored("sub/.git")
    (repo / "sub" / ".gitignore").write_text("")
    assert rules.rules_changed("sub/.gitignore") and not rules.ignored("sub/x.tmp")


def test_editor_temporaries() -> None:
    for name in (".a.py.swp", ".a.py.swo", "4913", "a.py~", "a.py___jb_tmp___", ".#a.py", "#a#"):
        assert is_editor_temp(name), name
    for name in ("a.py", "swap.py", "4914", "notes.md"):
        assert not is_editor_temp(name), name
