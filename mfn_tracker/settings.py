"""Where events go and how they are written: every ``MFN_*`` variable is read here, once.

Everything else receives a :class:`Settings` value, so tests and tools can pass their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mfn_tracker.errors import EXIT_USAGE, TrackerError

FSYNC_POLICIES = ("always", "batch", "never")
IP_MODES = ("truncate", "strict", "full")

SYSTEM_STORAGE_PATH = Path("/var/log/mfn/events")
SYSTEM_CONFIG_DIR = Path("/etc/mfn-tracker")


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; immutable, so it can be shared between threads."""

    storage_path: Path
    config_dir: Path
    fsync: str = "always"
    shared: bool = False
    ip_mode: str = "truncate"
    pseudonymize: bool = False
    admin_keys: tuple[str, ...] = field(default=(), repr=False)
    api_key: str | None = field(default=None, repr=False)  # MFN_API_KEY: the caller's own key

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def dir_mode(self) -> int:
        return 0o750 if self.shared else 0o700

    @property
    def file_mode(self) -> int:
        return 0o640 if self.shared else 0o600


def _xdg(env: Mapping[str, str], var: str, fallback: str) -> Path:
    value = env.get(var, "")
    if value and Path(value).is_absolute():  # the XDG spec says relative values are invalid
        return Path(value)
    home = env.get("HOME") or str(Path.home())
    return Path(home) / fallback


def _choice(env: Mapping[str, str], var: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(var, "").strip().lower() or default
    if value not in choices:
        raise TrackerError(
            f"{var}={value!r} is not one of: {', '.join(choices)}", exit_code=EXIT_USAGE
        )
    return value


def _flag(env: Mapping[str, str], var: str) -> bool:
    return env.get(var, "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve settings from the environment: ``MFN_*`` first, then the XDG base directories."""
    env = os.environ if env is None else env
    storage = env.get("MFN_EVENT_STORAGE_PATH") or str(
        _xdg(env, "XDG_STATE_HOME", ".local/state") / "mfn-tracker" / "events"
    )
    config = env.get("MFN_CONFIG_DIR") or str(
        _xdg(env, "XDG_CONFIG_HOME", ".config") / "mfn-tracker"
    )
    admin_keys = tuple(k.strip() for k in env.get("MFN_ADMIN_KEYS", "").split(",") if k.strip())
    return Settings(
        storage_path=Path(storage).expanduser().absolute(),
        config_dir=Path(config).expanduser().absolute(),
        fsync=_choice(env, "MFN_EVENT_FSYNC", FSYNC_POLICIES, "always"),
        shared=_flag(env, "MFN_EVENT_SHARED"),
        ip_mode=_choice(env, "MFN_IP_MODE", IP_MODES, "truncate"),
        pseudonymize=_flag(env, "MFN_PSEUDONYMIZE"),
        admin_keys=admin_keys,
        api_key=env.get("MFN_API_KEY", "").strip() or None,
    )
