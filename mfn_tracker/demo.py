"""``make demo``: the main job end to end on a throwaway repository and a throwaway log."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _run(*args: str, env: dict[str, str], cwd: Path | None = None) -> None:
    print(f"$ {' '.join(args)}", flush=True)
    subprocess.run(args, env=env, cwd=cwd, check=True)


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="mfn-demo-"))
    env = {
        **os.environ,
        "MFN_EVENT_STORAGE_PATH": str(work / "events"),
        "MFN_CONFIG_DIR": str(work / "config"),
    }
    os.environ.update(env)
    from mfn_tracker import EventType, get_event_logger

    logger = get_event_logger()
    print(f"Storage: {logger.storage_path}")
    logger.log_commit("alice", "Commit 1a2b3c4 on main: Fix parser", ["src/parser.py"])
    logger.log_push("alice", "Pushed main to origin", metadata={"remote": "origin"})
    logger.log_file_change("bob", "docs/index.md", "created")
    logger.log_authentication("mallory", EventType.AUTH_LOGIN, success=False)
    for event in logger.get_events(limit=10):
        print(
            f"  #{event.seq} {event.timestamp} {event.event_type} {event.user_id}: "
            f"{event.action_description}"
        )
    cli = [sys.executable, "-m", "mfn_tracker"]
    _run(*cli, "doctor", env=env)
    print(f"\nDemo files are in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
