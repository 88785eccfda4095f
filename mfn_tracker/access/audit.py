"""One writer per storage for the access module's own events (reads, failures, key changes).

A long-running server records every request; a writer per request would pile up open files and
exit hooks, so writers are kept per settings (and rebuilt in a forked child).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter

_writers: dict[tuple[int, Settings], EventWriter] = {}
_lock = threading.Lock()


def write_event(settings: Settings, fields: dict[str, Any]) -> dict[str, Any]:
    """Append one event through the process's writer for ``settings``."""
    key = (os.getpid(), settings)
    with _lock:
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = EventWriter(settings)
    return writer.write(fields)
