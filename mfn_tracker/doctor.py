"""``mfn-tracker doctor``: the seed's troubleshooting steps as checks that say what to do."""

from __future__ import annotations

import os
import stat
from importlib import import_module
from typing import NamedTuple

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.layout import check_storage_dir, list_day_files


class Check(NamedTuple):
    name: str
    state: str  # ok | warn | fail
    detail: str


# Each area adds its own checks in a ``doctor`` module with ``checks(settings) -> list[Check]``.
CHECK_MODULES = (
    "mfn_tracker.git.doctor",
    "mfn_tracker.watch.doctor",
    "mfn_tracker.access.doctor",
    "mfn_tracker.compliance.doctor",
)


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        _storage(settings),
        Check("fsync", "ok", f"MFN_EVENT_FSYNC={settings.fsync}"),
        _config_dir(settings),
        Check("ip-redaction", "ok" if settings.ip_mode != "full" else "warn", settings.ip_mode),
    ]
    for name in CHECK_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that area is not part of this installation
            raise
        checks.extend(module.checks(settings))
    return checks


def _storage(settings: Settings) -> Check:
    path = settings.storage_path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Check("storage", "warn", f"{path} does not exist yet (created on first event)")
    try:
        check_storage_dir(path, st)
    except TrackerError as exc:
        return Check("storage", "fail", str(exc))
    if not os.access(path, os.W_OK | os.X_OK):
        return Check("storage", "fail", f"{path} is not writable by you")
    files = list_day_files(path)
    mode = stat.S_IMODE(st.st_mode)
    return Check("storage", "ok", f"{path} (mode {mode:o}, {len(files)} day files)")


def _config_dir(settings: Settings) -> Check:
    path = settings.config_dir
    if not path.exists():
        return Check("config", "ok", f"{path} (not created yet)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check("config", "warn", f"{path} is mode {mode:o}; secrets want 700")
    return Check("config", "ok", f"{path} (mode {mode:o})")
