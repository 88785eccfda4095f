"""``hooks status``: per hook what is installed, what it chains, where it writes; the last error."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.git.install import (
    HOOK_NAMES,
    ORIG_SUFFIX,
    baked_values,
    describe,
    is_ours,
    our_slot,
    render_shim,
)
from mfn_tracker.git.lasterror import read_error
from mfn_tracker.settings import Settings


@dataclass(frozen=True)
class HookState:
    hook: str
    state: str  # installed | outdated | chained-via-<tool> | foreign | missing
    chained: str | None = None  # the previous hook ours runs, described
    python: str | None = None
    storage: str | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class HooksReport:
    where: Path
    hooks: tuple[HookState, ...]
    last_error: str | None = None
    warnings: tuple[str, ...] = ()


def hook_states(directory: Path, settings: Settings) -> tuple[HookState, ...]:
    return tuple(_state(directory, hook, settings) for hook in HOOK_NAMES)


def _state(directory: Path, hook: str, settings: Settings) -> HookState:
    slot = our_slot(directory, hook)
    orig = directory / (hook + ORIG_SUFFIX)
    chained = describe(orig) if os.path.lexists(orig) else None
    if slot is None:
        path = directory / hook
        if os.path.lexists(path) and not is_ours(path):
            return HookState(hook, "foreign", chained=describe(path))
        return HookState(hook, "missing", chained=chained)
    baked = baked_values(slot)
    problems = []
    python = baked.get("mfn_py")
    if python and not os.access(python, os.X_OK):
        problems.append(f"interpreter {python} is missing: run `mfn-tracker hooks install` again")
    if not os.access(slot, os.X_OK):
        problems.append(f"{slot.name} is not executable: git skips it")
    if slot.name == hook:
        current = slot.read_text(errors="replace") == render_shim(hook, settings)
        state = "installed" if current else "outdated"
    else:
        state = f"chained-via-{'pre-commit' if slot.name.endswith('.legacy') else 'lefthook'}"
    return HookState(hook, state, chained, python, baked.get("mfn_storage"), tuple(problems))


def repo_report(directory: Path, common_dir: Path | None, settings: Settings) -> HooksReport:
    warnings = []
    if common_dir is not None and not directory.is_relative_to(common_dir):
        warnings.append(f"core.hooksPath is set: hooks live in {directory}")
    return HooksReport(
        directory,
        hook_states(directory, settings),
        read_error(common_dir) if common_dir is not None else None,
        tuple(warnings),
    )
