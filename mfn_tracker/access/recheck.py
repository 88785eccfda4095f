"""Is a caller's key still good? Long reads (``tail --follow``, ``/events/stream``) ask this every
poll, so revoking a key ends them within a second instead of at the next reconnect.

Cheap when nothing changed: one ``stat`` of the registry; it is read again only when its inode,
size or mtime moved (``keys revoke`` replaces the file, so all three do).
"""

from __future__ import annotations

import os
import threading

from mfn_tracker.access.caller import Caller
from mfn_tracker.access.keys import keys_path, load_keys
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings


class KeyCheck:
    """Answers "may this caller still read?" for one caller; once False, always False."""

    def __init__(self, settings: Settings, caller: Caller) -> None:
        self.settings = settings
        self.caller = caller
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int, int] | None = None
        self.revoked = False

    def still_valid(self) -> bool:
        if self.caller.key_id.startswith("env:"):  # MFN_ADMIN_KEYS: fixed for the process
            return True
        with self._lock:
            if not self.revoked:
                self.revoked = not self._valid()
            return not self.revoked

    def _valid(self) -> bool:
        try:
            st = os.stat(keys_path(self.settings))
        except OSError:
            return False  # registry gone or unreadable: no key of it stands
        seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return True
        try:
            records = load_keys(self.settings)
        except TrackerError:
            return False  # damaged or unsafe registry: fail closed
        caller = self.caller
        valid = any(
            r.key_id == caller.key_id
            and r.active
            and (r.role, r.user_id) == (caller.role, caller.user_id)
            for r in records
        )
        if valid:
            self._seen = seen
        return valid
