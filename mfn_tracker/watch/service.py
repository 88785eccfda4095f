"""systemd units for the watcher: rendering, and ``mfn-tracker service install``.

Both units are templates whose instance is the escaped repository path (``systemd-escape
--path``), so one tree is one service with its own restarts and journal; ``%f`` gives the path
back. The daemon signs checkpoints (key + checkpoint store in the config directory), so
``ProtectSystem=strict`` must leave that directory writable as well as the storage. The files
in the repository's ``systemd/`` directory are these renderings with the
default command, and a test keeps them identical.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import SYSTEM_CONFIG_DIR, SYSTEM_STORAGE_PATH

UNIT_TEMPLATE_NAME = "mfn-tracker-watch@.service"
DEFAULT_COMMAND = "/usr/bin/python3 -m mfn_tracker"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")

_COMMON_HEAD = """\
[Unit]
Description=mfn-tracker file watcher for %f
StartLimitIntervalSec=120
StartLimitBurst=10

[Service]
Type=notify
NotifyAccess=main
ExecStart={command} watch %f
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
WatchdogSec=30
TimeoutStartSec=600
TimeoutStopSec=90
Environment=PYTHONUNBUFFERED=1
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
PrivateTmp=yes
"""

_SYSTEM_BODY = """\
Environment=MFN_EVENT_STORAGE_PATH={storage}
Environment=MFN_CONFIG_DIR={config}
LogsDirectory=mfn
LogsDirectoryMode=0700
ConfigurationDirectory=mfn-tracker
ConfigurationDirectoryMode=0700
ReadWritePaths={storage_parent} {config}
ProtectHome=read-only
PrivateDevices=yes
PrivateNetwork=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=CAP_DAC_READ_SEARCH
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
"""

_USER_BODY = """\
Environment=MFN_EVENT_STORAGE_PATH=%S/mfn-tracker/events
Environment=MFN_CONFIG_DIR=%E/mfn-tracker
StateDirectory=mfn-tracker
StateDirectoryMode=0700
ConfigurationDirectory=mfn-tracker
ConfigurationDirectoryMode=0700
ReadWritePaths=%S/mfn-tracker %E/mfn-tracker

[Install]
WantedBy=default.target
"""


@dataclass(frozen=True)
class UnitPlan:
    """What ``service install`` will do: the unit file, its path and the instance to enable."""

    scope: str  # "user" | "system"
    unit_path: Path
    instance: str
    text: str


def render_unit(*, scope: str, command: str = DEFAULT_COMMAND) -> str:
    """The unit text; ``command`` is the absolute command that runs ``mfn-tracker``."""
    head = _COMMON_HEAD.format(command=command)
    if scope == "user":
        return head + _USER_BODY
    return head + _SYSTEM_BODY.format(
        storage=SYSTEM_STORAGE_PATH,
        config=SYSTEM_CONFIG_DIR,
        storage_parent=SYSTEM_STORAGE_PATH.parent,
    )


def escape_path(path: Path) -> str:
    """``systemd-escape --path``, in Python (the same rules: '/' -> '-', odd bytes -> \\xNN)."""
    text = str(path).strip("/")
    if not text:
        return "-"
    out: list[str] = []
    for index, byte in enumerate(text.encode("utf-8", "surrogateescape")):
        char = chr(byte)
        if char == "/":
            out.append("-")
        elif (char.isascii() and (char.isalnum() or char in ":_.")) and not (
            index == 0 and char == "."
        ):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


def instance_name(path: Path) -> str:
    return f"mfn-tracker-watch@{escape_path(path)}.service"


def current_command() -> str:
    """This installation's interpreter, so the unit runs the same code the user just ran."""
    return f"{Path(sys.executable).absolute()} -m mfn_tracker"


def plan_install(path: Path, *, scope: str, home: Path | None = None) -> UnitPlan:
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise TrackerError(f"cannot watch {path}: not a directory", exit_code=EXIT_USAGE)
    if scope == "user":
        unit_dir = (home or Path.home()) / ".config" / "systemd" / "user"
    else:
        unit_dir = SYSTEM_UNIT_DIR
    text = render_unit(scope=scope, command=current_command())
    return UnitPlan(scope, unit_dir / UNIT_TEMPLATE_NAME, instance_name(root), text)


def install(plan: UnitPlan, *, enable: bool = True) -> list[str]:
    """Write the unit and enable + start the instance; returns what was done, for the user."""
    plan.unit_path.parent.mkdir(parents=True, exist_ok=True)
    plan.unit_path.write_text(plan.text)
    plan.unit_path.chmod(0o644)
    done = [f"wrote {plan.unit_path}"]
    if not enable:
        return done
    if shutil.which("systemctl") is None:
        raise TrackerError("systemctl not found: the unit was written but not enabled")
    scope_flag = ["--user"] if plan.scope == "user" else []
    for args in (["daemon-reload"], ["enable", "--now", plan.instance]):
        proc = subprocess.run(
            ["systemctl", *scope_flag, *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise TrackerError(
                f"systemctl {' '.join(scope_flag + args)} failed: {detail[-1] if detail else '?'}"
            )
        done.append(f"systemctl {' '.join(scope_flag + args)}")
    return done
