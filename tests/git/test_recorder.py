"""Real git, a bare remote and two clones: each git command gives exactly the expected events."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfn_tracker.store.pending import list_markers, pending_lock
from mfn_tracker.store.reader import Query, iter_events
from tests.helpers.events import chain_ok
from tests.helpers.git import (
    Recorded,
    clone,
    commit,
    git,
    git_run,
    head,
    install,
    pending_markers,
    seeded_remote,
)

USER = getpass.getuser()


@pytest.fixture
def world(tmp_path: Path, storage: Path) -> tuple[Path, Path, Path, Recorded]:
    """remote (one commit), clone ``alice`` and clone ``bob``, both with our hooks."""
    remote = seeded_remote(tmp_path)
    alice = clone(remote, tmp_path / "alice")
    bob = clone(remote, tmp_path / "bob")
    install(alice)
    install(bob)
    return remote, alice, bob, Recorded(storage)


def only(events: list[dict], event_type: str) -> dict:
    assert [e["event_type"] for e in events] == [event_type], events
    return events[0]


def diverge(repo: Path, main_file: str = "m") -> str:
    """A ``topic`` branch with one commit and ``main`` with another: a merge to come. Returns
    main's new commit."""
    git(repo, "checkout", "-q", "-b", "topic")
    commit(repo, "t", {"t": "1\n"})
    git(repo, "checkout", "-q", "main")
    return commit(repo, main_file, {main_file: "1\n"})


def test_commit(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    parent = head(alice)
    sha = commit(alice, "Fix parser\n\nlong body", {"src/parser.py": "x = 1\n", "b.txt": "b\n"})
    event = only(rec.new(), "commit")
    assert event["user_id"] == USER
    assert event["status"] == "success"
    assert event["repo"] == str(alice)
    assert event["action_description"] == f"Commit {sha[:7]} on main: Fix parser"
    assert sorted(event["files_changed"]) == ["b.txt", "src/parser.py"]
    meta = event["metadata"]
    assert meta == {
        "hook": "post-commit",
        "commit": sha,
        "parents": [parent],
        "branch": "main",
        "author": "test@example.com",
    }
    assert chain_ok(rec.storage)


def test_amend_is_one_rewrite(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    old = commit(alice, "typo", {"a.txt": "a\n"})
    rec.new()
    git(alice, "commit", "-q", "--amend", "-m", "no typo")
    new = head(alice)
    event = only(rec.new(), "rewrite")
    assert event["metadata"]["hook"] == "post-rewrite"
    assert event["metadata"]["kind"] == "amend"
    assert event["metadata"]["rewritten"] == [{"old": old, "new": new}]
    assert event["metadata"]["commit"] == new
    assert event["metadata"]["branch"] == "main"
    assert event["files_changed"] == ["a.txt"]
    assert "no typo" in event["action_description"]


def test_rebase_is_one_rewrite_not_commits(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    git(alice, "checkout", "-q", "-b", "topic")
    t1 = commit(alice, "t1", {"t1": "1\n"})
    t2 = commit(alice, "t2", {"t2": "2\n"})
    git(alice, "checkout", "-q", "main")
    commit(alice, "m1", {"m1": "1\n"})
    git(alice, "checkout", "-q", "topic")
    rec.new()
    git(alice, "rebase", "-q", "main")
    event = only(rec.new(), "rewrite")
    meta = event["metadata"]
    assert meta["kind"] == "rebase"
    assert meta["branch"] == "topic"
    assert [p["old"] for p in meta["rewritten"]] == [t1, t2]
    assert meta["rewritten"][-1]["new"] == head(alice)


def test_push_accepted_then_rejected(world: tuple[Path, Path, Path, Recorded]) -> None:
    remote, alice, bob, rec = world
    old = head(alice)
    sha = commit(alice, "a1", {"a": "1\n"})
    rec.new()
    git(alice, "push", "-q", "origin", "main")
    attempt, confirmed = rec.new()
    assert attempt["event_type"] == confirmed["event_type"] == "push"
    assert attempt["status"] == "pending"
    assert attempt["metadata"]["hook"] == "pre-push"
    assert attempt["metadata"]["remote"] == "origin"
    assert attempt["metadata"]["remote_url"] == str(remote)
    assert attempt["metadata"]["refs"] == [
        {"ref": "refs/heads/main", "old": old, "new": sha, "local_ref": "refs/heads/main"}
    ]
    assert confirmed["status"] == "success"
    assert confirmed["metadata"]["hook"] == "reference-transaction"
    assert confirmed["metadata"]["refs"][0]["ref"] == "refs/heads/main"
    assert confirmed["metadata"]["refs"][0]["new"] == sha

    commit(bob, "b1", {"b": "1\n"})
    rec.new()
    result = git_run(bob, "push", "-q", "origin", "main")
    assert result.returncode != 0  # non-fast-forward: git rejects it
    event = only(rec.new(), "push")  # the attempt, and no false success
    assert event["status"] == "pending"
    assert event["metadata"]["refs"][0]["new"] == head(bob)

    git(bob, "push", "-q", "--dry-run", "origin", "HEAD:refs/heads/dry")
    assert rec.new() == []  # a dry run sends nothing: not an attempt


def test_push_rejected_by_the_remote_leaves_no_success(
    world: tuple[Path, Path, Path, Recorded],
) -> None:
    remote, alice, _, rec = world
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'denied by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    commit(alice, "a1", {"a": "1\n"})
    rec.new()
    assert git_run(alice, "push", "-q", "origin", "main").returncode != 0
    event = only(rec.new(), "push")
    assert event["status"] == "pending"


def test_fetch_is_one_event_per_command(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, bob, rec = world
    sha = diverge(alice, "a")
    git(alice, "push", "-q", "origin", "main", "topic")
    rec.new()
    git(bob, "fetch", "-q")
    event = only(rec.new(), "fetch")
    meta = event["metadata"]
    assert meta["hook"] == "reference-transaction"
    assert meta["remote"] == "origin"
    refs = {r["ref"] for r in meta["refs"]}
    assert refs == {"refs/remotes/origin/main", "refs/remotes/origin/topic"}
    assert {r["new"] for r in meta["refs"] if r["ref"].endswith("/main")} == {sha}
    assert event["repo"] == str(bob)
    git(bob, "fetch", "-q")  # nothing new: no hook fires, no event
    assert rec.new() == []


def test_pull_merge_gives_fetch_and_merge(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, bob, rec = world
    commit(alice, "a", {"a": "1\n"})
    git(alice, "push", "-q", "origin", "main")
    commit(bob, "b", {"b": "1\n"})
    rec.new()
    git(bob, "pull", "-q", "--no-rebase", "--no-edit")
    fetch, merge = rec.new()
    assert fetch["event_type"] == "fetch"
    assert merge["event_type"] == "merge"
    assert merge["metadata"]["hook"] == "post-merge"
    assert merge["metadata"]["squash"] is False
    assert merge["metadata"]["pull"] is True
    assert merge["metadata"]["branch"] == "main"
    assert merge["metadata"]["merged"] == ["origin/main"]
    assert merge["metadata"]["fast_forward"] is False
    assert merge["files_changed"] == ["a"]


def test_pull_rebase_gives_fetch_and_rewrite(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, bob, rec = world
    commit(alice, "a", {"a": "1\n"})
    git(alice, "push", "-q", "origin", "main")
    mine = commit(bob, "b", {"b": "1\n"})
    rec.new()
    git(bob, "pull", "-q", "--rebase")
    fetch, rewrite = rec.new()
    assert fetch["event_type"] == "fetch"
    assert rewrite["event_type"] == "rewrite"
    assert rewrite["metadata"]["kind"] == "rebase"
    assert rewrite["metadata"]["rewritten"] == [{"old": mine, "new": head(bob)}]


@pytest.mark.parametrize(
    ("flags", "squash", "fast_forward"),
    [((), False, True), (("--no-ff",), False, False), (("--squash",), True, None)],
)
def test_merge(
    world: tuple[Path, Path, Path, Recorded],
    flags: tuple[str, ...],
    squash: bool,
    fast_forward: bool | None,
) -> None:
    _, alice, _, rec = world
    git(alice, "checkout", "-q", "-b", "topic")
    commit(alice, "t", {"t.txt": "1\n"})
    git(alice, "checkout", "-q", "main")
    rec.new()
    git(alice, "merge", "-q", "--no-edit", *flags, "topic")
    event = only(rec.new(), "merge")
    meta = event["metadata"]
    assert meta["squash"] is squash
    assert meta.get("fast_forward") is fast_forward
    assert meta["merged"] == ["topic"]
    assert meta["branch"] == "main"
    assert ("commit" in meta) is not squash
    assert event["files_changed"] == ["t.txt"]
    assert "pull" not in meta


def test_clone_from_template(tmp_path: Path, storage: Path) -> None:
    from mfn_tracker.git.template import install_global
    from mfn_tracker.settings import load_settings

    remote = seeded_remote(tmp_path)
    install_global(load_settings())
    rec = Recorded(storage)
    dest = clone(remote, tmp_path / "carol")
    event = only(rec.new(), "clone")
    assert event["metadata"] == {
        "hook": "post-checkout",
        "remote_url": str(remote),
        "commit": head(dest),
    }
    assert event["repo"] == str(dest)
    commit(dest, "c", {"c": "1\n"})
    assert rec.types() == ["commit"]


def test_worktree_commits_record_the_worktree(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    wt = alice.parent / "alice-wt"
    git(alice, "worktree", "add", "-q", "-b", "wt", str(wt))
    assert rec.new() == []  # adding a worktree checks out from the null sha: not a clone
    sha = commit(wt, "in worktree", {"w": "1\n"})
    event = only(rec.new(), "commit")
    assert event["repo"] == str(wt)
    assert event["metadata"]["branch"] == "wt"
    assert event["metadata"]["commit"] == sha


def test_submodule(tmp_path: Path, storage: Path) -> None:
    from mfn_tracker.git.template import install_global
    from mfn_tracker.settings import load_settings

    remote = seeded_remote(tmp_path)
    (tmp_path / "l").mkdir()
    lib = seeded_remote(tmp_path / "l")
    install_global(load_settings())
    rec = Recorded(storage)
    app = clone(remote, tmp_path / "app")
    assert rec.types() == ["clone"]
    git(app, "submodule", "add", "-q", str(lib), "lib")
    clone_event = only(rec.new(), "clone")
    assert clone_event["repo"] == str(app / "lib")
    assert clone_event["metadata"]["remote_url"] == str(lib)
    git(app, "commit", "-q", "-m", "add lib")
    assert only(rec.new(), "commit")["repo"] == str(app)
    sha = commit(app / "lib", "inside lib", {"x": "1\n"})
    event = only(rec.new(), "commit")
    assert event["repo"] == str(app / "lib")
    assert event["metadata"]["commit"] == sha


def test_gc_is_not_a_push(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    commit(alice, "a", {"a": "1\n"})
    git(alice, "push", "-q", "origin", "main")
    rec.new()
    git(alice, "gc", "-q")
    git(alice, "pack-refs", "--all")
    assert rec.new() == []


def test_read_your_writes(world: tuple[Path, Path, Path, Recorded], storage: Path) -> None:
    """Right after each git command returns, the real reader already sees its event."""
    _, alice, bob, _ = world
    for n in range(25):
        commit(alice, f"c{n}")
        newest = next(iter_events(storage, Query(limit=1)))
        assert newest["action_description"].endswith(f": c{n}"), n
        if n % 5 == 4:
            git(alice, "push", "-q", "origin", "main")
            newest = next(iter_events(storage, Query(limit=1)))
            assert (newest["event_type"], newest["status"]) == ("push", "success"), n
            git(bob, "pull", "-q", "--no-rebase", "--no-edit")
            newest_two = list(iter_events(storage, Query(limit=2)))
            assert [e["event_type"] for e in newest_two] == ["merge", "fetch"], n
    assert pending_markers(storage) == []
    assert chain_ok(storage)


def test_nothing_recorded_for_local_noise(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    git(alice, "checkout", "-q", "-b", "topic")
    git(alice, "checkout", "-q", "main")
    git(alice, "tag", "v1")
    git(alice, "branch", "-D", "topic")
    git(alice, "update-ref", "refs/heads/x", "HEAD")
    git(alice, "stash", "list")
    assert rec.new() == []
    assert pending_markers(rec.storage) == []


def test_a_big_fetch_is_one_event(world: tuple[Path, Path, Path, Recorded]) -> None:
    """Thousands of refs arrive in batches: still one event, cut to the line limit if needed."""
    _, alice, bob, rec = world
    sha = head(alice)
    refs = "".join(f"create refs/heads/b{n:04d} {sha}\n" for n in range(300))
    git(alice, "update-ref", "--stdin", input=refs)
    git(alice, "push", "-q", "origin", "refs/heads/*:refs/heads/*")
    rec.new()
    result = git_run(bob, "fetch", "-q")
    assert (result.returncode, result.stderr) == (0, "")
    event = only(rec.new(), "fetch")
    assert event["metadata"]["remote"] == "origin"
    refs_seen = event["metadata"]["refs"]
    assert event["metadata"]["truncated"] is True  # 300 refs do not fit in 16 KiB
    assert len(refs_seen) < 300
    assert event["action_description"] == "Fetch from origin: 300 refs updated"


def test_a_killed_recorder_is_a_recorded_loss(tmp_path: Path, storage: Path) -> None:
    """The recorder waits for git to exit, so a chained hook can kill it before it writes."""
    remote = seeded_remote(tmp_path)
    work = clone(remote, tmp_path / "work")
    killer = work / ".git" / "hooks" / "post-commit"
    killer.write_text(
        "#!/bin/sh\n"
        f'for m in "{storage}"/.pending/*.post-commit; do\n'
        '  kill -9 "$(tr "\\0" "\\n" < "$m" | tail -n 1)"\n'
        "done\n"
    )
    killer.chmod(0o755)
    install(work)
    result = git_run(work, "commit", "-q", "--allow-empty", "-m", "doomed")
    assert (result.returncode, result.stderr) == (0, "")
    events = list(iter_events(storage, Query()))
    assert [e["event_type"] for e in events] == ["events_lost"]
    assert events[0]["metadata"]["hook"] == "post-commit"
    assert events[0]["repo"] == str(work)
    assert events[0]["user_id"] == USER
    assert pending_markers(storage) == []
    (work / ".git" / "hooks" / "post-commit.mfn-orig").unlink()
    commit(work, "next one is fine")
    assert [e["event_type"] for e in iter_events(storage, Query())] == ["commit", "events_lost"]


def test_odd_names_and_secrets_in_messages(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    name = os.fsdecode(b"caf\xe9 \xff.txt")  # not UTF-8
    (alice / name).write_text("x\n")
    git(alice, "add", "-A")
    token = "ghp_" + "a1B2" * 9
    git(alice, "commit", "-q", "-m", f"rotate {token} now")
    event = only(rec.new(), "commit")
    assert token not in json.dumps(event)
    assert len(event["files_changed"]) == 1
    assert "caf" in event["files_changed"][0]
    assert chain_ok(rec.storage)


def test_a_burst_of_commits_is_written_in_order(
    world: tuple[Path, Path, Path, Recorded], storage: Path
) -> None:
    _, alice, _, _ = world
    script = 'for i in $(seq 1 40); do git commit -q --allow-empty -m "burst $i" || exit 1; done'
    subprocess.run(["sh", "-c", script], cwd=alice, check=True, timeout=300)
    events = [
        e for e in iter_events(storage, Query(newest_first=False)) if e["event_type"] == "commit"
    ]
    subjects = [e["action_description"].rsplit(": ", 1)[1] for e in events]
    assert subjects == [f"burst {i}" for i in range(1, 41)]
    assert pending_markers(storage) == []
    assert chain_ok(storage)


def test_an_orphan_lead_file_is_cleaned(
    world: tuple[Path, Path, Path, Recorded], storage: Path
) -> None:
    """A shim killed after announcing itself as leader leaves ``<pid>.lead``: it is cleaned."""
    _, alice, _, rec = world
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = storage / ".pending" / f"{gone.pid}.lead"
    orphan.write_bytes(b"")
    commit(alice, "after the orphan")
    assert rec.types() == ["commit"]
    assert not orphan.exists()
    assert pending_markers(storage) == []


def test_records_without_the_venv_on_path(world: tuple[Path, Path, Path, Recorded]) -> None:
    """GUI clients run git with a bare PATH: the shim's baked interpreter still records."""
    _, alice, _, rec = world
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", "from a GUI"], cwd=alice, env=env, check=True
    )
    assert only(rec.new(), "commit")["action_description"].endswith("from a GUI")


def test_a_repository_cannot_plant_modules_in_the_recorder(
    world: tuple[Path, Path, Path, Recorded],
) -> None:
    _, alice, _, rec = world
    canary = alice.parent / "planted-code-ran"
    payload = f"open({str(canary)!r}, 'w').write('pwned')\n"
    for name in (
        "json.py",
        "subprocess.py",
        "mfn_tracker/__init__.py",
        "mfn_tracker/git/__init__.py",
    ):
        path = alice / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload)
    git(alice, "add", "-A")
    git(alice, "commit", "-q", "-m", "planted")
    assert only(rec.new(), "commit")["metadata"]["branch"] == "main"
    assert not canary.exists()


# --- each git command is recorded with its own environment, whoever's recorder writes it ---


def test_a_gui_git_dir_does_not_leak_into_other_commands(
    world: tuple[Path, Path, Path, Recorded], storage: Path
) -> None:
    """A GUI runs git with GIT_DIR set; its recorder also writes bob's finished commit.

    Deterministic: bob's own recorder is held (pending lock, then SIGSTOP) so alice's recorder,
    started with alice's GIT_DIR, is the one that writes bob's commit.
    """
    _, alice, bob, rec = world
    with pending_lock(storage):
        bob_sha = commit(bob, "b1", {"bf": "1\n"})
        deadline = time.monotonic() + 5
        while not any(m.recorder_pid for m in list_markers(storage)):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        bob_recorder = next(m.recorder_pid for m in list_markers(storage) if m.recorder_pid)
        os.kill(bob_recorder, signal.SIGSTOP)
    try:
        (alice / "af").write_text("1\n")
        git(alice, "add", "af")
        git(alice, "commit", "-q", "-m", "a1", env={"GIT_DIR": str(alice / ".git")})
        alice_sha = head(alice)
        events = rec.new()
    finally:
        os.kill(bob_recorder, signal.SIGCONT)
    assert [e["event_type"] for e in events] == ["commit", "commit"], events
    repos = {e["metadata"]["commit"]: e["repo"] for e in events}
    assert repos == {bob_sha: str(bob), alice_sha: str(alice)}
    for repo in (alice, bob):
        assert not (repo / ".git" / "mfn-tracker-last-error").exists()


def test_a_recursive_clone_records_each_repository_with_its_url(
    tmp_path: Path, storage: Path
) -> None:
    from mfn_tracker.git.template import install_global
    from mfn_tracker.settings import load_settings

    remote = seeded_remote(tmp_path)
    (tmp_path / "l").mkdir()
    lib = seeded_remote(tmp_path / "l")
    app = clone(remote, tmp_path / "app")
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(app, "commit", "-q", "-m", "add lib")
    git(app, "push", "-q", "origin", "main")
    install_global(load_settings())
    rec = Recorded(storage)
    dest = tmp_path / "copy"
    git(
        tmp_path,
        *("-c", "protocol.file.allow=always", "clone", "-q", "--recurse-submodules"),
        *(str(remote), str(dest)),
    )
    events = rec.new()
    assert [e["event_type"] for e in events] == ["clone", "clone"], events
    urls = {e["repo"]: e["metadata"]["remote_url"] for e in events}
    assert urls == {str(dest): str(remote), str(dest / "lib"): str(lib)}


def test_a_running_git_command_does_not_hold_up_reads(
    world: tuple[Path, Path, Path, Recorded], storage: Path
) -> None:
    _, alice, _, rec = world
    for n in range(2):
        commit(alice, f"c{n}", {f"f{n}": "x\n"})
    rec.new()
    rebase = subprocess.Popen(
        ["git", "rebase", "-q", "--no-ff", "-x", "sleep 2", "HEAD~2"],
        cwd=alice,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not pending_markers(storage) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pending_markers(storage)
        started = time.monotonic()
        list(iter_events(storage, Query(limit=1)))
        assert time.monotonic() - started < 1.0  # not the 2 s bound
    finally:
        assert rebase.wait(timeout=30) == 0
    assert rec.types() == ["rewrite"]  # once git returned, its event is there


# --- what git did, judged whole ---


def test_branch_deletions_are_recorded(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, bob, rec = world
    sha = head(alice)
    git(alice, "push", "-q", "origin", "main:topic")
    git(bob, "fetch", "-q")
    rec.new()
    git(alice, "push", "-q", "origin", ":topic")
    attempt, confirmed = rec.new()
    assert attempt["status"] == "pending"
    assert confirmed["status"] == "success"
    assert confirmed["action_description"] == "Push to origin confirmed: topic (deleted)"
    null = "0" * 40
    assert confirmed["metadata"]["refs"] == [{"ref": "refs/heads/topic", "old": sha, "new": null}]
    git(bob, "fetch", "-q", "--prune")
    event = only(rec.new(), "fetch")
    assert event["metadata"]["refs"] == [{"ref": "refs/remotes/origin/topic", "new": null}]


def test_push_confirmation_has_the_old_sha(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    old = head(alice)
    sha = commit(alice, "a1", {"a": "1\n"})
    rec.new()
    git(alice, "push", "-q", "origin", "main")
    _, confirmed = rec.new()
    assert confirmed["metadata"]["refs"] == [{"ref": "refs/heads/main", "old": old, "new": sha}]


def test_remote_names_with_a_slash(world: tuple[Path, Path, Path, Recorded]) -> None:
    remote, alice, bob, rec = world
    git(alice, "remote", "add", "team/up", str(remote))
    git(bob, "remote", "add", "team/up", str(remote))
    sha = commit(alice, "a1", {"a": "1\n"})
    rec.new()
    git(alice, "push", "-q", "team/up", "HEAD:refs/heads/feature/x")
    _, confirmed = rec.new()
    assert confirmed["metadata"]["remote"] == "team/up"
    assert confirmed["metadata"]["refs"][0]["ref"] == "refs/heads/feature/x"
    assert confirmed["action_description"] == "Push to team/up confirmed: feature/x"
    git(bob, "fetch", "-q", "team/up")
    event = only(rec.new(), "fetch")
    assert event["metadata"]["remote"] == "team/up"
    assert {r["ref"]: r["new"] for r in event["metadata"]["refs"]}[
        "refs/remotes/team/up/feature/x"
    ] == sha


def test_a_multi_line_merge_message_is_not_a_branch(
    world: tuple[Path, Path, Path, Recorded],
) -> None:
    _, alice, _, rec = world
    diverge(alice)
    rec.new()
    git(alice, "merge", "-q", "--no-ff", "-m", "Merge topic\n\nbody line", "topic")
    event = only(rec.new(), "merge")
    assert event["metadata"]["merged"] == ["topic"]
    assert event["action_description"] == "Merge of topic into main"


def test_a_merge_concluded_after_a_conflict(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    git(alice, "checkout", "-q", "-b", "c1")
    theirs = commit(alice, "c1", {"cf": "one\n"})
    git(alice, "checkout", "-q", "main")
    ours = commit(alice, "c2", {"cf": "two\n"})
    rec.new()
    assert git_run(alice, "merge", "c1").returncode != 0  # conflict: no hook yet
    (alice / "cf").write_text("both\n")
    git(alice, "add", "cf")
    git(alice, "commit", "-q", "-m", "merged c1 by hand")
    event = only(rec.new(), "merge")
    assert event["metadata"]["parents"] == [ours, theirs]
    assert event["metadata"]["branch"] == "main"
    assert event["files_changed"] == ["cf"]


def test_git_am_is_recorded(world: tuple[Path, Path, Path, Recorded], tmp_path: Path) -> None:
    _, alice, _, rec = world
    commit(alice, "patched", {"p": "1\n"})
    git(alice, "format-patch", "-q", "-1", "HEAD", "-o", str(tmp_path / "patches"))
    git(alice, "reset", "-q", "--hard", "HEAD~1")
    rec.new()
    git(alice, "am", "-q", *map(str, sorted((tmp_path / "patches").iterdir())))
    event = only(rec.new(), "commit")
    assert event["metadata"]["hook"] == "post-applypatch"
    assert event["metadata"]["commit"] == head(alice)
    assert event["files_changed"] == ["p"]


def test_rebase_squash_is_one_rewrite(world: tuple[Path, Path, Path, Recorded]) -> None:
    _, alice, _, rec = world
    for n in range(3):
        commit(alice, f"r{n}", {f"r{n}": "x\n"})
    rec.new()
    env = {"GIT_SEQUENCE_EDITOR": "sed -i -e '2s/^pick/squash/'", "GIT_EDITOR": "true"}
    git(alice, "rebase", "-q", "-i", "HEAD~3", env=env)
    event = only(rec.new(), "rewrite")
    assert event["metadata"]["kind"] == "rebase"


def test_a_hook_reached_through_another_tool_knows_its_git(
    world: tuple[Path, Path, Path, Recorded],
) -> None:
    """pre-commit's chain runs our hook from its python: the git command is still found."""
    _, alice, _, rec = world
    hooks = alice / ".git" / "hooks"
    (hooks / "post-merge").rename(hooks / "post-merge.legacy")
    wrapper = hooks / "post-merge"
    wrapper.write_text(
        f"#!{sys.executable}\nimport subprocess, sys\n"
        "sys.exit(subprocess.call([__file__ + '.legacy', *sys.argv[1:]]))\n"
    )
    wrapper.chmod(0o755)
    diverge(alice)
    rec.new()
    git(alice, "merge", "-q", "--no-ff", "-m", "merge", "topic")
    event = only(rec.new(), "merge")
    assert event["metadata"]["merged"] == ["topic"]


def test_bare_and_mirror_clones_and_a_mirror_fetch(tmp_path: Path, storage: Path) -> None:
    from mfn_tracker.git.template import install_global
    from mfn_tracker.settings import load_settings

    remote = seeded_remote(tmp_path)
    git(tmp_path / "seed", "tag", "v1")
    git(tmp_path / "seed", "push", "-q", "origin", "v1")
    install_global(load_settings())
    rec = Recorded(storage)
    for flag, name in (("--bare", "b.git"), ("--mirror", "m.git")):
        git(tmp_path, "clone", "-q", flag, str(remote), name)
        event = only(rec.new(), "clone")
        assert event["repo"] == str(tmp_path / name)
        assert event["metadata"]["remote_url"] == str(remote)
    sha = commit(tmp_path / "seed", "more", {"m": "1\n"})
    git(tmp_path / "seed", "push", "-q", "origin", "main")
    rec.new()
    git(tmp_path / "m.git", "fetch", "-q")
    event = only(rec.new(), "fetch")
    assert event["repo"] == str(tmp_path / "m.git")
    assert [(r["ref"], r["new"]) for r in event["metadata"]["refs"]] == [("refs/heads/main", sha)]


def test_an_unrecordable_event_is_a_recorded_loss(
    world: tuple[Path, Path, Path, Recorded], tmp_path: Path
) -> None:
    """A commit the recorder cannot read: last error in that repository AND ``events_lost``."""
    from mfn_tracker.git.recorder import record_group
    from mfn_tracker.store.pending import parse_marker

    _, alice, _, rec = world
    bogus = "1" * 40
    data = b"\0".join([b"mfn1", str(alice).encode(), f"{bogus}\nmain".encode(), b"0", b"", b""])
    marker = parse_marker(tmp_path / "1.2.post-commit", data, 1, 2, "post-commit")
    record_group([marker])
    event = only(rec.new(), "events_lost")
    assert event["status"] == "failure"
    assert event["repo"] == str(alice)
    assert bogus in event["action_description"]
    assert bogus in (alice / ".git" / "mfn-tracker-last-error").read_text()


def test_a_push_into_a_bare_remote_with_our_hooks(world: tuple[Path, Path, Path, Recorded]) -> None:
    """The remote's own hooks (receive-pack) are grouped apart and record nothing."""
    remote, alice, _, rec = world
    install(remote)
    commit(alice, "a1", {"a": "1\n"})
    rec.new()
    git(alice, "push", "-q", "origin", "main")
    events = rec.new()
    assert [(e["event_type"], e["status"]) for e in events] == [
        ("push", "pending"),
        ("push", "success"),
    ]
    assert {e["repo"] for e in events} == {str(alice)}
    assert not (remote / "mfn-tracker-last-error").exists()
