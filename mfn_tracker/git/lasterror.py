"""The last error a hook met, kept in the repository's git dir where ``hooks status`` reads it.

A hook must never fail git, so its errors cannot go to the terminal; and the storage directory
may be exactly what failed (unwritable, full). The git dir is the place the user already owns.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LAST_ERROR_FILE = "mfn-tracker-last-error"
_MAX_BYTES = 2048


def record_error(common_dir: Path, hook: str, message: str) -> None:
    """Replace the last error (best effort: nothing here may raise into a hook)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{stamp} {hook}: {' '.join(message.split())}"[:_MAX_BYTES] + "\n"
    try:
        fd = os.open(
            common_dir / LAST_ERROR_FILE,
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
    except OSError:
        return
    try:
        os.write(fd, line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass
    finally:
        os.close(fd)


def read_error(common_dir: Path) -> str | None:
    try:
        text = (common_dir / LAST_ERROR_FILE).read_text(errors="replace").strip()
    except OSError:
        return None
    return text or None
