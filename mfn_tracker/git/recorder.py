"""The detached hook recorder: started by the sh shim, it writes the events of one git command.

Hot path rules (FACTS.md): stdlib only, started as ``python -I -S``, detached from git so git
does not wait. It waits until the git process that ran the hook has exited, then takes every
marker of that process under the ``.pending`` lock, turns them into events
(:mod:`mfn_tracker.git.classify`), writes them through the one writer and removes the markers.
Any failure is kept in the git dir (:mod:`mfn_tracker.git.lasterror`); git never sees it.
"""

from __future__ import annotations

import os
import pwd
import select
import signal
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from mfn_tracker.store.pending import (
    Marker,
    forget_git_command,
    list_markers,
    parse_marker,
    parse_name,
    pending_dir,
    pending_lock,
    pid_alive,
)

if TYPE_CHECKING:
    from mfn_tracker.git.refs import Git

_MAX_WAIT_SECONDS = 12 * 3600  # a git command may wait long for an editor (rebase -i)


def main(argv: list[str]) -> int:
    """``marker <path>`` or ``direct <path> <cwd> <extra> <args...>`` (stdin: the hook's)."""
    _detach()
    try:
        if len(argv) >= 2 and argv[0] == "marker":
            record_marker(Path(argv[1]))
        elif len(argv) >= 4 and argv[0] == "direct":
            stdin = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
            record_direct(Path(argv[1]), argv[2], argv[3], tuple(argv[4:]), stdin)
    except Exception as exc:  # a bug must not vanish: keep it where `hooks status` shows it
        _keep_error(os.getcwd(), "recorder", f"internal error: {type(exc).__name__}: {exc}")
    return 0


def _detach() -> None:
    with suppress(OSError):
        os.setsid()  # out of git's process group: a Ctrl-C after git returns does not kill us
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)


def wait_for_exit(pid: int, *, announced: float, timeout: float = _MAX_WAIT_SECONDS) -> None:
    """Block until process ``pid`` has exited (pidfd when the kernel has it, else polling).

    ``announced`` is when its hook wrote the marker: a process that started later is another
    one that got the same pid, and is not waited for.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (OSError, AttributeError):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.005)
        return
    try:
        if not _started_after(pid, announced + 2):
            select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def _started_after(pid: int, when: float) -> bool:
    """Did process ``pid`` start after ``when`` (epoch seconds)? False when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        with open("/proc/stat") as stat:
            boot = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") > when
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def record_marker(path: Path) -> None:
    """Once our git command has exited, write every finished command's events, oldest first.

    Draining all finished commands (not only ours) keeps the log in the order git ran them:
    ``git pull``'s fetch is written before its merge even if the merge's recorder wins the lock.
    """
    named = parse_name(path.name)
    if named is None:
        return
    try:
        announced = path.stat().st_mtime
    except OSError:
        return  # already written by another recorder of the same git command
    wait_for_exit(named[0], announced=announced)
    storage = path.parent.parent
    with pending_lock(storage):
        # Which git commands have exited, decided BEFORE reading markers: then their groups
        # are whole (a git process writes all its markers before it exits).
        finished = {pid for pid in _git_pids(storage) if pid == named[0] or not pid_alive(pid)}
        groups: dict[int, list[Marker]] = {}
        for marker in list_markers(storage):
            if marker.git_pid in finished and marker.complete:
                groups.setdefault(marker.git_pid, []).append(marker)
        for git_pid, group in groups.items():
            try:
                record_group(group)
            except Exception as exc:  # one command's bug must not silently take its events
                problem = f"internal error: {type(exc).__name__}: {exc}"
                _keep_error(_best_cwd(group), group[0].hook, problem)
                _write_loss(group, _best_cwd(group), [problem])
            finally:
                for marker in group:
                    with suppress(OSError):
                        os.unlink(marker.path)
                forget_git_command(storage, git_pid)
        _forget_orphan_leads(storage)


def _forget_orphan_leads(storage: Path) -> None:
    """``<pid>.lead`` without markers, of an exited process (a shim killed mid-way): remove it,
    or a later git command that gets the same pid would wait for a recorder that never runs."""
    try:
        names = os.listdir(pending_dir(storage))
    except OSError:
        return
    with_markers = {named[0] for named in map(parse_name, names) if named is not None}
    for name in names:
        pid, _, rest = name.partition(".")
        if rest != "lead" or not pid.isdigit() or int(pid) in with_markers:
            continue
        if not pid_alive(int(pid)):
            forget_git_command(storage, int(pid))


def _git_pids(storage: Path) -> set[int]:
    try:
        names = os.listdir(pending_dir(storage))
    except OSError:
        return set()
    return {named[0] for named in map(parse_name, names) if named is not None}


def record_direct(path: Path, cwd: str, extra: str, args: tuple[str, ...], stdin: str) -> None:
    """No marker could be written (storage unwritable or full): record this hook on its own."""
    named = parse_name(path.name)
    if named is None:
        return
    git_pid, shim_pid, hook = named
    wait_for_exit(git_pid, announced=time.time())
    fields = [b"mfn1", cwd.encode(), extra.encode(), str(len(args)).encode()]
    data = b"\0".join([*fields, *(a.encode("utf-8", "surrogateescape") for a in args)])
    data += b"\0" + stdin.encode("utf-8", "surrogateescape") + b"\0"
    marker = parse_marker(path, data, git_pid, shim_pid, hook)
    _keep_error(cwd, hook, f"cannot write marker in {path.parent}: {_why_unwritable(path.parent)}")
    record_group([marker])


def _why_unwritable(directory: Path) -> str:
    """The reason creating a file in ``directory`` fails now (the shell could not say)."""
    probe = directory / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, b"x" * 4096)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        with suppress(OSError):
            os.unlink(probe)
    return "it is writable again"


def record_group(group: list[Marker]) -> None:
    """Classify one git command's hooks and write its events; errors go to the git dir.

    The command may not be ours: every value about it comes from its markers (cwd, GIT_DIR,
    GIT_REFLOG_ACTION as its shim saw them), never from this recorder's environment. An event
    that cannot be written is kept as the hooks' last error AND as an ``events_lost`` event.
    """
    from mfn_tracker.errors import TrackerError
    from mfn_tracker.git.classify import Context, events_for, hook_env
    from mfn_tracker.git.refs import Git, resolve_git_dir
    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter

    first = group[0]
    cwd = _best_cwd(group)
    env = hook_env(group)
    git_dir = resolve_git_dir(first.cwd or cwd, env)
    if git_dir is None or not git_dir.is_dir():
        problem = f"not inside a git repository ({git_dir or cwd})"
        _keep_error(cwd, first.hook, problem)
        _write_loss(group, cwd, [problem])
        return
    git = Git(git_dir, cwd)
    ctx = Context(
        git=git,
        user=_os_user(),
        repo=_repo_path(group, git, env),
        via_pull=env.get("GIT_REFLOG_ACTION", "").startswith("pull"),
    )
    try:
        events = events_for(group, ctx)
        for problem in ctx.problems:
            _keep_error(cwd, first.hook, problem, git_dir=git_dir)
        if ctx.problems:
            events.append(_loss_event(group, ctx.repo, ctx.problems))
        if not events:
            return
        writer = EventWriter(load_settings())
        try:
            for event in events:
                writer.write(event)
        finally:
            writer.close()
    except TrackerError as exc:
        _keep_error(cwd, first.hook, str(exc), git_dir=git_dir)


def _loss_event(group: list[Marker], repo: str, problems: list[str]) -> dict[str, object]:
    hooks = sorted({m.hook for m in group})
    return {
        "event_type": "events_lost",
        "user_id": _os_user(),
        "action_description": f"A git command's events could not be recorded: {problems[0]}",
        "status": "failure",
        "metadata": {
            "hook": hooks[0] if len(hooks) == 1 else hooks,
            "git_pid": group[0].git_pid,
            "problems": problems[:20],
        },
        "repo": repo,
    }


def _write_loss(group: list[Marker], repo: str, problems: list[str]) -> None:
    from mfn_tracker.errors import TrackerError
    from mfn_tracker.settings import load_settings
    from mfn_tracker.store.writer import EventWriter

    try:
        writer = EventWriter(load_settings())
        try:
            writer.write(_loss_event(group, repo, problems))
        finally:
            writer.close()
    except TrackerError as exc:
        _keep_error(repo, group[0].hook, str(exc))


def _best_cwd(group: list[Marker]) -> str:
    """git runs hooks at the work tree's top, except reference-transaction during a clone."""
    for marker in group:
        if marker.hook != "reference-transaction" and marker.cwd:
            return marker.cwd
    return group[0].cwd or os.getcwd()


def _repo_path(group: list[Marker], git: Git, env: dict[str, str]) -> str:
    if any(m.hook != "reference-transaction" for m in group):
        return _best_cwd(group)
    if env.get("GIT_WORK_TREE"):
        return env["GIT_WORK_TREE"]
    if git.git_dir.name == ".git":
        return str(git.git_dir.parent)
    return git.work_tree() or str(git.git_dir)


def _os_user() -> str:
    """The OS account that ran git: the audit's ``user_id`` (the git author is self-declared)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def _keep_error(cwd: str, hook: str, message: str, *, git_dir: Path | None = None) -> None:
    """Keep ``message`` in the repository at ``git_dir`` (else the one ``cwd`` is in): never
    in the one this recorder's own GIT_DIR names, which may be another command's."""
    from mfn_tracker.git.lasterror import record_error
    from mfn_tracker.git.refs import resolve_git_dir, run_git

    git_dir = git_dir or resolve_git_dir(cwd, {})
    if git_dir is None:
        return
    common = run_git(
        ["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=cwd, git_dir=git_dir
    )
    record_error(Path(common.strip()) if common else git_dir, hook, message)
