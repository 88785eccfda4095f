"""``--global``: track every future ``git init`` and ``git clone`` through ``init.templateDir``.

git copies ``<templateDir>/hooks`` into each new repository. A template dir the user already has
is used in place (its hooks are chained like any other); otherwise ours lives in the config dir
and only the ``init.templateDir`` setting we made is removed on uninstall. A global
``core.hooksPath`` is never touched: it makes git ignore per-repository hooks, so we warn.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from mfn_tracker.errors import TrackerError
from mfn_tracker.git.install import HookChange, install_hooks, uninstall_hooks
from mfn_tracker.git.refs import clean_env
from mfn_tracker.settings import Settings

_STATE_FILE = "git-global.json"


def _git_config(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "config", "--global", *args],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TrackerError(f"cannot run git config: {exc}") from None
    if proc.returncode not in (0, 1, 5):
        raise TrackerError(f"git config --global {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else None


def configured_template_dir() -> Path | None:
    value = _git_config("--get", "init.templateDir")
    return Path(os.path.expanduser(value)) if value else None


def global_hooks_path() -> str | None:
    return _git_config("--get", "core.hooksPath")


def _state_path(settings: Settings) -> Path:
    return settings.config_dir / _STATE_FILE


def install_global(settings: Settings) -> tuple[Path, list[HookChange]]:
    template = configured_template_dir()
    set_by_us = template is None
    if template is None:
        template = settings.config_dir / "git-template"
    changes = install_hooks(template / "hooks", settings)
    if set_by_us:
        _git_config("init.templateDir", str(template))
        settings.config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        state = {"template_dir": str(template), "set_by_us": True}
        _state_path(settings).write_text(json.dumps(state) + "\n")
    return template, changes


def uninstall_global(settings: Settings) -> tuple[Path | None, list[HookChange]]:
    template = configured_template_dir()
    if template is None:
        return None, []
    changes = uninstall_hooks(template / "hooks")
    try:
        state = json.loads(_state_path(settings).read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("set_by_us") and state.get("template_dir") == str(template):
        _git_config("--unset", "init.templateDir")
        _state_path(settings).unlink()
    return template, changes
