"""The pure parts of classification: what the shim captured, which git command ran."""

from __future__ import annotations

import pytest

from mfn_tracker.git.classify import git_subcommand, parse_extra


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("git", "push", "-q", "origin"), "push"),
        (("/usr/lib/git-core/git", "fetch", "--update-head-ok"), "fetch"),
        (("git", "-C", "/repo", "-c", "a=b", "pull", "--rebase"), "pull"),
        (("git", "--git-dir", "/x/.git", "gc"), "gc"),
        (("git",), ""),
        ((), ""),
    ],
)
def test_git_subcommand(argv: tuple[str, ...], expected: str) -> None:
    assert git_subcommand(argv) == expected


def test_parse_extra_sections() -> None:
    sha = "a" * 40
    extra = parse_extra(
        f"{sha}\nmain\nmfn-cmdline\ngit\nmerge\n--squash\ntopic\nmfn-files\na.txt\nb c"
    )
    assert extra.values == (sha, "main")
    assert extra.argv == ("git", "merge", "--squash", "topic")
    assert extra.files == ("a.txt", "b c")
    assert parse_extra("") == parse_extra("\n")
