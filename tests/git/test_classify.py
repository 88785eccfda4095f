"""The pure parts of classification: what the shim captured, which git command ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfn_tracker.git.classify import Context, events_for, git_subcommand, parse_extra
from mfn_tracker.git.refs import Git
from mfn_tracker.store.pending import Marker


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


def test_push_attempt_strips_credentials_and_reads_refs(tmp_path: Path) -> None:
    sha = "b" * 40
    marker = Marker(
        tmp_path / "1.2.pre-push",
        1,
        2,
        "pre-push",
        cwd="/repo",
        extra="0\nmfn-cmdline\ngit\npush\nhttps://alice:s3cret@example.com/r.git",
        args=("https://alice:s3cret@example.com/r.git", "https://alice:s3cret@example.com/r.git"),
        stdin=f"refs/heads/main {sha} refs/heads/main {'0' * 40}\n",
        complete=True,
    )
    ctx = Context(git=Git(tmp_path, str(tmp_path)), user="alice", repo="/repo")
    [event] = events_for([marker], ctx)
    assert "s3cret" not in json.dumps(event)
    assert event["metadata"]["remote_url"] == "https://example.com/r.git"
    assert event["metadata"]["refs"] == [
        {"ref": "refs/heads/main", "old": "0" * 40, "new": sha, "local_ref": "refs/heads/main"}
    ]
    assert event["status"] == "pending"
