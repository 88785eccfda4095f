"""Install, remove and inspect our hook shims without ever clobbering anyone else's hook.

Where a hook already exists (a user's script, pre-commit's, husky's), it moves aside to
``<hook>.mfn-orig`` and our shim runs it after recording, with the same arguments and stdin; its
exit status stays git's answer. Uninstall moves it back by ``rename``, so content, mode and
symlinks come back exactly. When another tool later wraps our shim (pre-commit keeps it as
``<hook>.legacy``, lefthook as ``<hook>.old``), that chain counts as installed: never twice.
"""

from __future__ import annotations

import os
import shlex
import sys
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.errors import TrackerError
from mfn_tracker.git.refs import run_git
from mfn_tracker.settings import Settings

HOOK_NAMES = (
    "post-commit",
    "pre-push",
    "post-merge",
    "post-checkout",
    "post-rewrite",
    "post-applypatch",
    "reference-transaction",
)
FINGERPRINT = "mfn-tracker-hook v1"
_FINGERPRINT_ANY = b"fingerprint: mfn-tracker-hook"
ORIG_SUFFIX = ".mfn-orig"
# Where other hook managers keep a hook they found in place (and still run it).
CHAIN_SUFFIXES = {".legacy": "pre-commit", ".old": "lefthook"}
TEMPLATE = Path(__file__).resolve().parent.parent / "hooks" / "mfn-hook.sh"


@dataclass(frozen=True)
class HookChange:
    hook: str
    action: str  # installed updated unchanged chained-via-<tool> removed restored absent
    detail: str = ""


def is_ours(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return _FINGERPRINT_ANY in stream.read(1024)
    except OSError:
        return False


def recorder_boot() -> str:
    """``python -I -S -c`` code that starts the recorder: isolated mode ignores the repository's
    files and PYTHON* variables, so a cloned repository cannot plant modules in our path."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    return (
        f"import sys;sys.path.append({root!r});"
        "from mfn_tracker.git.recorder import main;sys.exit(main(sys.argv[1:]))"
    )


def render_shim(hook: str, settings: Settings) -> str:
    """Our shim for ``hook`` with the interpreter, package and storage baked in (no PATH needed)."""
    boot = recorder_boot()
    env = {
        "MFN_EVENT_STORAGE_PATH": str(settings.storage_path),
        "MFN_CONFIG_DIR": str(settings.config_dir),
        "MFN_EVENT_FSYNC": settings.fsync,
        "MFN_EVENT_SHARED": "1" if settings.shared else "0",
        "MFN_IP_MODE": settings.ip_mode,
        "MFN_PSEUDONYMIZE": "1" if settings.pseudonymize else "0",
    }
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    values = {
        "@HOOK@": hook,
        "@PYTHON@": shlex.quote(sys.executable),
        "@STORAGE@": shlex.quote(str(settings.storage_path)),
        "@BOOT@": shlex.quote(boot),
        "@ENV@": assignments,
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def baked_values(path: Path) -> dict[str, str]:
    """The interpreter and storage an installed shim uses (for ``hooks status``)."""
    found: dict[str, str] = {}
    try:
        lines = path.read_text(errors="replace").splitlines()[:20]
    except OSError:
        return found
    for line in lines:
        for name in ("mfn_py", "mfn_storage"):
            if line.startswith(name + "="):
                try:
                    parts = shlex.split(line.split("=", 1)[1])
                except ValueError:
                    continue
                found[name] = parts[0] if parts else ""
    return found


def _rev_parse(repo: Path, *args: str) -> Path:
    if not repo.is_dir():
        raise TrackerError(f"not a directory: {repo}")
    out = run_git(["rev-parse", *args], cwd=str(repo), git_dir=None)
    if out is None:
        raise TrackerError(f"not a git repository (or git cannot run): {repo}")
    path = Path(out.strip())
    return path if path.is_absolute() else (repo / path).resolve()


def hooks_dir(repo: Path) -> Path:
    """The directory git runs hooks from (respects core.hooksPath, worktrees, submodules)."""
    return _rev_parse(repo, "--git-path", "hooks")


def tracked_hooks(directory: Path) -> list[str]:
    """Our hook names that are files tracked by git in ``directory`` (a core.hooksPath inside
    the work tree, like husky's ``.husky``): moving them aside would change the repository."""
    out = run_git(["ls-files", "-z", "--", *HOOK_NAMES], cwd=str(directory), git_dir=None)
    # None: git failed, e.g. inside .git, where nothing is tracked.
    return [Path(name).name for name in (out or "").split("\0") if name]


def common_dir(repo: Path) -> Path:
    """The git dir shared by all worktrees (where the last hook error is kept)."""
    return _rev_parse(repo, "--git-common-dir")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.mfn-tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o755)
        try:
            os.write(fd, text.encode())
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink()
        raise TrackerError(f"cannot write hook {path}: {exc.strerror}") from None


def our_slot(directory: Path, hook: str) -> Path | None:
    """Where our shim for ``hook`` lives: the hook itself, or inside another tool's chain."""
    path = directory / hook
    if is_ours(path):
        return path
    for suffix in CHAIN_SUFFIXES:
        chained = directory / (hook + suffix)
        if is_ours(chained):
            return chained
    return None


def install_hooks(directory: Path, settings: Settings) -> list[HookChange]:
    """Install (or update) every shim in ``directory``; idempotent; all or nothing.

    Refuses to move aside a hook that is a file tracked by git: that would change the
    repository behind its owners' backs (docs/git-hooks.md, core.hooksPath in the work tree).
    """
    tracked = [name for name in tracked_hooks(directory) if our_slot(directory, name) is None]
    if tracked and directory.is_dir():
        raise TrackerError(
            f"{directory} holds hooks tracked by git ({', '.join(tracked)}): moving them aside "
            "would change the repository; see docs/git-hooks.md (core.hooksPath in the work tree)"
        )
    taken = [
        hook
        for hook in HOOK_NAMES
        if our_slot(directory, hook) is None
        and os.path.lexists(directory / hook)
        and os.path.lexists(directory / (hook + ORIG_SUFFIX))
    ]
    if taken:
        raise TrackerError(
            f"{directory}: {', '.join(taken)} not ours and {taken[0]}{ORIG_SUFFIX} already "
            "exists: move one of them away, then install again"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackerError(f"cannot create {directory}: {exc.strerror}") from None
    _prepare_storage(settings)
    return [_install_one(directory, hook, settings) for hook in HOOK_NAMES]


def _install_one(directory: Path, hook: str, settings: Settings) -> HookChange:
    text = render_shim(hook, settings)
    slot = our_slot(directory, hook)
    if slot is not None:
        if slot.read_text(errors="replace") == text:
            action = "unchanged" if slot.name == hook else _via(slot)
            return HookChange(hook, action)
        _write_atomic(slot, text)
        return HookChange(hook, "updated" if slot.name == hook else _via(slot))
    path = directory / hook
    orig = directory / (hook + ORIG_SUFFIX)
    if os.path.lexists(path):
        try:
            os.rename(path, orig)
        except OSError as exc:
            raise TrackerError(f"cannot move {path} aside: {exc.strerror}") from None
        _write_atomic(path, text)
        return HookChange(hook, "installed", f"chaining the existing {describe(orig)}")
    _write_atomic(path, text)
    return HookChange(hook, "installed")


def _via(slot: Path) -> str:
    suffix = slot.name[slot.name.rfind(".") :]
    return f"chained-via-{CHAIN_SUFFIXES.get(suffix, 'another tool')}"


def uninstall_hooks(directory: Path) -> list[HookChange]:
    """Remove our shims and put back exactly what was there before."""
    changes = []
    for hook in HOOK_NAMES:
        slot = our_slot(directory, hook)
        orig = directory / (hook + ORIG_SUFFIX)
        if slot is None:
            detail = f"{orig.name} left in place (our shim is gone)" if orig.exists() else ""
            changes.append(HookChange(hook, "absent", detail))
            continue
        try:
            if os.path.lexists(orig):
                os.replace(orig, slot)
                changes.append(HookChange(hook, "restored", f"{slot.name} is the previous hook"))
            else:
                slot.unlink()
                changes.append(HookChange(hook, "removed"))
        except OSError as exc:
            raise TrackerError(f"cannot restore {slot}: {exc.strerror}") from None
    return changes


def describe(path: Path) -> str:
    """What kind of hook this is, for people: pre-commit's, husky's, lefthook's or a script."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return "hook (unreadable)"
    kind = "script"
    if b"pre-commit.com" in head or b"hook-impl" in head:
        kind = "pre-commit framework hook"
    elif b"husky" in head or b'/h"' in head:
        kind = "husky hook"
    elif b"lefthook" in head:
        kind = "lefthook hook"
    elif _FINGERPRINT_ANY in head:
        kind = "mfn-tracker shim"
    link = " (symlink)" if path.is_symlink() else ""
    executable = "" if os.access(path, os.X_OK) else ", not executable: git skips it"
    return f"{kind}{link}{executable}"


def _prepare_storage(settings: Settings) -> None:
    """Create the storage and its ``.pending`` directory now, with the writer's safety checks."""
    from mfn_tracker.store.layout import open_storage_dir
    from mfn_tracker.store.pending import pending_dir

    fd = open_storage_dir(settings.storage_path, mode=settings.dir_mode)
    os.close(fd)
    try:
        pending_dir(settings.storage_path).mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise TrackerError(f"cannot create {pending_dir(settings.storage_path)}: {exc}") from None
