"""Turn what git gave the hooks of ONE git command into events (stdlib only).

The recorder groups markers by git process (the hooks' ``$PPID``) and calls :func:`events_for`
once that process has exited, so a command is judged whole: a rebase's per-commit post-commit
calls fold into one ``rewrite``, a fetch's ref batches into one ``fetch``, and a ``git gc`` that
re-creates remote-tracking refs (whose reflog still says ``update by push``) is not a push.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mfn_tracker.git.refs import Commit, Git, is_null, is_sha, short
from mfn_tracker.store.pending import Marker
from mfn_tracker.store.scrub import strip_url_credentials

Event = dict[str, Any]
_SECTIONS = ("mfn-cmdline", "mfn-files", "mfn-env")
_MERGE_VALUE_OPTIONS = frozenset(
    {"-m", "-F", "-s", "-X", "--message", "--file", "--strategy", "--strategy-option"}
)
_ARG_NEWLINE = "\x1f"  # the shim's stand-in for a newline inside one argument
# git options that take a separate value before the sub-command (git -C dir -c k=v push ...).
_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path"})


@dataclass(frozen=True)
class Extra:
    """What the shim captured besides args and stdin: values, git's argv, staged files."""

    values: tuple[str, ...] = ()
    argv: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # the hook's GIT_DIR, GIT_REFLOG_ACTION...

    def getenv(self, name: str) -> str:
        return next((v for k, v in self.env if k == name), "")


@dataclass(frozen=True)
class Context:
    git: Git
    user: str
    repo: str
    via_pull: bool = False
    argv: tuple[str, ...] = ()  # the git command's argv (the shim of its first hook saved it)
    problems: list[str] = field(default_factory=list)  # kept as the hooks' last error

    @property
    def subcommand(self) -> str:
        return git_subcommand(self.argv)


def parse_extra(text: str) -> Extra:
    sections: dict[str, list[str]] = {"": [], **{name: [] for name in _SECTIONS}}
    current = ""
    for line in text.split("\n"):
        if line in _SECTIONS:
            current = line
            continue
        sections[current].append(line)
    env = (line.partition("=") for line in sections["mfn-env"])
    return Extra(
        tuple(v for v in sections[""] if v),
        tuple(a.replace(_ARG_NEWLINE, "\n") for a in sections["mfn-cmdline"] if a),
        tuple(f for f in sections["mfn-files"] if f),
        tuple((k, v) for k, eq, v in env if eq),
    )


def hook_env(markers: list[Marker]) -> dict[str, str]:
    """The git command's GIT_DIR, GIT_WORK_TREE, GIT_REFLOG_ACTION... as its shim saw them."""
    for marker in markers:
        env = parse_extra(marker.extra).env
        if env:
            return dict(env)
    return {}


def git_subcommand(argv: Iterable[str]) -> str:
    """``push`` for ``git -C x push -q origin``; empty when argv is not a git command line."""
    args = list(argv)[1:]
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return ""


def events_for(markers: list[Marker], ctx: Context) -> list[Event]:
    """Every event one git command produced, in the order git ran the hooks."""
    argv = next((a for a in (parse_extra(m.extra).argv for m in markers) if a), ())
    ctx = replace(ctx, argv=argv)
    rewrites = [m for m in markers if m.hook == "post-rewrite"]
    events: list[Event] = []
    clone_done = False
    for marker in markers:
        extra = parse_extra(marker.extra)
        if marker.hook in ("post-commit", "post-applypatch") and not rewrites:
            events.extend(_commit(marker, extra, ctx))
        elif marker.hook == "post-rewrite" and not _squash_amend(marker, extra):
            events.extend(_rewrite(marker, extra, ctx))
        elif marker.hook == "post-merge":
            events.append(_merge(marker, extra, ctx))
        elif marker.hook == "pre-push" and "--dry-run" not in ctx.argv:
            events.append(_push_attempt(marker, extra, ctx))
        elif marker.hook == "post-checkout" and not clone_done:
            event = _clone_from_checkout(marker, extra, ctx)
            clone_done = event is not None
            events.extend([event] if event else [])
    ref_markers = [m for m in markers if m.hook == "reference-transaction"]
    if ref_markers:
        pushed = [m for m in markers if m.hook == "pre-push"]
        events.extend(_remote_ref_events(ref_markers, pushed, ctx, clone_done=clone_done))
    return events


def _squash_amend(marker: Marker, extra: Extra) -> bool:
    """A rebase's squash/fixup amends its own commits: the rebase's post-rewrite tells it all."""
    action = extra.getenv("GIT_REFLOG_ACTION")
    return bool(marker.args) and marker.args[0] == "amend" and action.startswith("rebase")


def _base(ctx: Context, event_type: str, hook: str, description: str, **meta: Any) -> Event:
    metadata = {"hook": hook, **{k: v for k, v in meta.items() if v is not None}}
    return {
        "event_type": event_type,
        "user_id": ctx.user,
        "action_description": description,
        "status": "success",
        "metadata": metadata,
        "repo": ctx.repo,
    }


def _branch_name(value: str | None) -> str | None:
    return None if not value or value == "HEAD" else value


def _commit(marker: Marker, extra: Extra, ctx: Context) -> list[Event]:
    if not extra.values:
        ctx.problems.append("post-commit: the shim could not read HEAD")
        return []
    sha = extra.values[0]
    branch = _branch_name(extra.values[1] if len(extra.values) > 1 else None)
    commit = ctx.git.commit(sha)
    if commit is None:
        ctx.problems.append(f"post-commit: commit {sha} is not readable")
        return []
    where = f"on {branch}" if branch else "(detached HEAD)"
    if len(commit.parents) > 1:  # `git commit` (or merge --continue) concluding a merge
        return [_concluded_merge(marker, commit, branch, ctx)]
    event = _base(
        ctx,
        "commit",
        marker.hook,
        f"Commit {short(sha)} {where}: {commit.subject}",
        commit=commit.sha,
        parents=list(commit.parents),
        branch=branch,
        author=commit.author,
    )
    event["files_changed"] = list(commit.files)
    return [event]


def _concluded_merge(marker: Marker, commit: Commit, branch: str | None, ctx: Context) -> Event:
    event = _base(
        ctx,
        "merge",
        marker.hook,
        f"Merge into {branch or 'detached HEAD'} (after resolving): {commit.subject}",
        branch=branch,
        squash=False,
        merged=[short(p) for p in commit.parents[1:]],
        commit=commit.sha,
        previous=commit.parents[0],
        parents=list(commit.parents),
        author=commit.author,
        fast_forward=False,
    )
    event["files_changed"] = list(commit.files)
    return event


def _pairs(stdin: str) -> list[dict[str, str]]:
    pairs = []
    for line in stdin.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            pairs.append({"old": parts[0], "new": parts[1]})
    return pairs


def _rewrite(marker: Marker, extra: Extra, ctx: Context) -> list[Event]:
    kind = marker.args[0] if marker.args else "unknown"
    pairs = _pairs(marker.stdin)
    if not pairs:
        return []
    branch = _branch_name(extra.values[0] if extra.values else None)
    on = f" on {branch}" if branch else ""
    if kind == "amend":
        new = pairs[-1]["new"]
        commit = ctx.git.commit(new)
        subject = commit.subject if commit else ""
        event = _base(
            ctx,
            "rewrite",
            marker.hook,
            f"Amend {short(pairs[-1]['old'])} -> {short(new)}{on}: {subject}",
            kind="amend",
            rewritten=pairs,
            commit=new,
            parents=list(commit.parents) if commit else None,
            branch=branch,
            author=commit.author if commit else None,
        )
        event["files_changed"] = list(commit.files) if commit else []
        return [event]
    count = len(pairs)
    event = _base(
        ctx,
        "rewrite",
        marker.hook,
        f"Rebase{on}: {count} commit{'s' if count != 1 else ''} rewritten",
        kind=kind,
        rewritten=pairs,
        branch=branch,
        pull=True if ctx.via_pull else None,
    )
    return [event]


def _merge(marker: Marker, extra: Extra, ctx: Context) -> Event:
    squash = bool(marker.args) and marker.args[0] == "1"
    values = [v for v in extra.values if is_sha(v)]
    names = [v for v in extra.values if v not in values]
    head = values[0] if values else None
    previous = values[1] if len(values) > 1 else None
    branch = _branch_name(names[0] if names else None)
    merged = [ctx.git.upstream() or a if a == "FETCH_HEAD" else a for a in _operands(ctx.argv)]
    fast_forward = None
    if squash:
        files = list(extra.files)
    elif head and previous:
        files = list(ctx.git.changed_files(previous, head))
        message = ctx.git.reflog_message("HEAD", head) or ""
        fast_forward = "Fast-forward" in message
    else:
        files = []
    what = ", ".join(merged) if merged else "upstream"
    flavour = " (squash)" if squash else " (fast-forward)" if fast_forward else ""
    event = _base(
        ctx,
        "merge",
        marker.hook,
        f"Merge of {what} into {branch or 'detached HEAD'}{flavour}",
        branch=branch,
        squash=squash,
        merged=merged or None,
        commit=None if squash else head,  # a squash merge makes no commit (yet)
        previous=None if squash else previous,
        fast_forward=fast_forward,
        pull=True if ctx.via_pull else None,
    )
    event["files_changed"] = files
    return event


def _operands(argv: tuple[str, ...]) -> list[str]:
    """Non-option arguments after the sub-command (``git merge --no-ff topic`` -> [topic])."""
    sub = git_subcommand(argv)
    if not sub:
        return []
    rest = list(argv)[list(argv).index(sub) + 1 :]
    out, skip = [], False
    for arg in rest:
        if skip:
            skip = False
        elif arg in _MERGE_VALUE_OPTIONS:
            skip = True
        elif arg.startswith(("-m", "-F", "-s", "-X")) or arg.startswith("--"):
            continue  # -mMSG, --message=MSG, --file=F...: the value is attached
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def _push_attempt(marker: Marker, extra: Extra, ctx: Context) -> Event:
    remote = marker.args[0] if marker.args else ""
    url = strip_url_credentials(marker.args[1]) if len(marker.args) > 1 else None
    verdict = extra.values[0] if extra.values else "0"
    blocked = verdict not in ("", "0")
    refs = []
    for line in marker.stdin.splitlines():
        parts = line.split()
        if len(parts) == 4:
            refs.append({"ref": parts[2], "old": parts[3], "new": parts[1], "local_ref": parts[0]})
    names = ", ".join(r["ref"].removeprefix("refs/heads/") for r in refs) or "nothing to send"
    shown = strip_url_credentials(remote)
    if blocked:
        description = f"Push to {shown} blocked by the pre-push hook (exit {verdict}): {names}"
    else:
        description = f"Push to {shown} attempted: {names}"
    event = _base(
        ctx,
        "push",
        marker.hook,
        description,
        remote=shown,
        remote_url=url,
        refs=refs,
        blocked_by_hook=blocked or None,
    )
    event["status"] = "failure" if blocked else "pending"
    return event


def _clone_from_checkout(marker: Marker, extra: Extra, ctx: Context) -> Event | None:
    if not marker.args or not is_null(marker.args[0]) or ctx.subcommand != "clone":
        return None  # a worktree add also checks out from the null sha: not a clone
    url = ctx.git.remote_url("origin")
    head = marker.args[1] if len(marker.args) > 1 else None
    return _clone_event(ctx, marker.hook, url, head)


def _clone_event(ctx: Context, hook: str, url: str | None, head: str | None) -> Event:
    clean = strip_url_credentials(url) if url else None
    return _base(
        ctx, "clone", hook, f"Clone of {clean or 'a repository'}", remote_url=clean, commit=head
    )


@dataclass(frozen=True)
class _RefUpdate:
    remote: str
    ref: str
    branch: str  # the ref's name on the remote (``topic`` for refs/remotes/team/up/topic)
    old: str
    new: str

    def as_dict(self, *, old: str | None = None) -> dict[str, str]:
        """The update for an event; a deletion's unknown (null) old sha is left out."""
        known = old or self.old
        out = {"ref": self.ref}
        if not (is_null(known) and is_null(self.new)):
            out["old"] = known
        out["new"] = self.new
        return out


def _split_remote(rest: str, remotes: list[str]) -> tuple[str, str]:
    """``team/up/topic`` -> (``team/up``, ``topic``): the longest configured remote prefix."""
    for name in sorted(remotes, key=len, reverse=True):
        if rest.startswith(name + "/"):
            return name, rest[len(name) + 1 :]
    remote, _, branch = rest.partition("/")
    return remote, branch


def _remote_updates(markers: list[Marker], remotes: list[str]) -> list[_RefUpdate]:
    seen: dict[str, _RefUpdate] = {}
    for marker in markers:
        for line in marker.stdin.splitlines():
            parts = line.split()
            if len(parts) != 3 or not parts[2].startswith("refs/remotes/"):
                continue
            remote, branch = _split_remote(parts[2].removeprefix("refs/remotes/"), remotes)
            first = seen.get(parts[2])
            old = first.old if first else parts[0]
            seen[parts[2]] = _RefUpdate(remote, parts[2], branch, old, parts[1])
    # Keep deletions: git reports a tracking ref's delete as null -> null.
    return [u for u in seen.values() if u.old != u.new or is_null(u.new)]


def _remote_ref_events(
    markers: list[Marker], pushed: list[Marker], ctx: Context, *, clone_done: bool
) -> list[Event]:
    command = ctx.subcommand
    updates = _remote_updates(markers, ctx.git.remotes())
    if not updates:
        return _bare_ref_events(markers, ctx, clone_done=clone_done)
    if command == "push":
        return _push_confirmations(updates, _pushed_olds(pushed), ctx)
    if command in ("fetch", "pull", "remote"):
        return _fetch_event(updates, ctx)
    if command == "clone" and not clone_done:
        url = ctx.git.remote_url(updates[0].remote)  # a submodule's clone: no checkout hook
        return [_clone_event(ctx, "reference-transaction", url, None)]
    return []  # gc / pack-refs re-creating refs, or a command we do not record


def _bare_ref_events(markers: list[Marker], ctx: Context, *, clone_done: bool) -> list[Event]:
    """``clone --bare`` / ``--mirror`` and a mirror's fetch write refs/heads and refs/tags
    directly (and a bare repository keeps no reflog to ask): trust the git command's name."""
    command = ctx.subcommand
    if command not in ("clone", "fetch") or clone_done or not ctx.git.is_bare():
        return []
    operands = _operands(ctx.argv)
    remote = operands[0] if command == "fetch" and operands else "origin"
    seen: dict[str, _RefUpdate] = {}
    for marker in markers:
        for line in marker.stdin.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].startswith(("refs/heads/", "refs/tags/")):
                first = seen.get(parts[2])
                old = first.old if first else parts[0]
                seen[parts[2]] = _RefUpdate(remote, parts[2], parts[2], old, parts[1])
    updates = [u for u in seen.values() if u.old != u.new or is_null(u.new)]
    if not updates:
        return []
    if command == "clone":
        return [_clone_event(ctx, "reference-transaction", ctx.git.remote_url("origin"), None)]
    return _fetch_event(updates, ctx, trusted=True)


def _pushed_olds(pushed: list[Marker]) -> dict[tuple[str, str], str]:
    """(remote, remote ref) -> the remote's old sha, from the same command's pre-push stdin."""
    olds = {}
    for marker in pushed:
        remote = marker.args[0] if marker.args else ""
        for line in marker.stdin.splitlines():
            parts = line.split()
            if len(parts) == 4:
                olds[(remote, parts[2])] = parts[3]
    return olds


def _by_remote(updates: list[_RefUpdate]) -> dict[str, list[_RefUpdate]]:
    grouped: dict[str, list[_RefUpdate]] = {}
    for update in updates:
        grouped.setdefault(update.remote, []).append(update)
    return grouped


def _push_confirmations(
    updates: list[_RefUpdate], olds: dict[tuple[str, str], str], ctx: Context
) -> list[Event]:
    events = []
    for remote, group in _by_remote(updates).items():
        confirmed = [
            u
            for u in group
            if is_null(u.new) or ctx.git.reflog_message(u.ref, u.new) == "update by push"
        ]
        if not confirmed:
            continue
        refs = []
        for u in confirmed:
            remote_ref = "refs/heads/" + u.branch
            ref = u.as_dict(old=olds.get((remote, remote_ref)))
            refs.append({**ref, "ref": remote_ref})
        names = ", ".join(
            r["ref"].removeprefix("refs/heads/") + (" (deleted)" if is_null(r["new"]) else "")
            for r in refs
        )
        url = ctx.git.remote_url(remote)
        events.append(
            _base(
                ctx,
                "push",
                "reference-transaction",
                f"Push to {remote} confirmed: {names}",
                remote=remote,
                remote_url=strip_url_credentials(url) if url else None,
                refs=refs,
            )
        )
    return events


def _fetch_event(updates: list[_RefUpdate], ctx: Context, *, trusted: bool = False) -> list[Event]:
    events = []
    for remote, group in _by_remote(updates).items():
        confirmed = [
            u
            for u in group
            if trusted
            or is_null(u.new)
            or (ctx.git.reflog_message(u.ref, u.new) or "").startswith(("fetch", "pull"))
        ]
        if not confirmed:
            continue
        refs = [u.as_dict() for u in confirmed]
        url = ctx.git.remote_url(remote)
        count = len(refs)
        events.append(
            _base(
                ctx,
                "fetch",
                "reference-transaction",
                f"Fetch from {remote}: {count} ref{'s' if count != 1 else ''} updated",
                remote=remote,
                remote_url=strip_url_credentials(url) if url else None,
                refs=refs,
                pull=True if ctx.via_pull else None,
            )
        )
    return events
