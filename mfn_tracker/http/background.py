"""Write events on a worker thread, so an event loop never waits for a lock, a disk or an fsync.

One :class:`BackgroundWriter` owns one ``EventWriter``. ``submit`` only appends to a queue;
``flush`` waits until everything submitted so far is on disk (servers call it on shutdown, and it
also runs at interpreter exit). With ``fsync=always`` the worker fsyncs once per batch it drains
(group commit). Nothing is dropped silently: a full queue or a failed write is counted, logged,
and a full queue is itself recorded as ``events_lost`` once it drains.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter, InvalidEvent

log = logging.getLogger("mfn_tracker.http")

DEFAULT_MAX_PENDING = 100_000  # ~30 MB of queued dicts: minutes of a stalled disk at high load
DEFAULT_HIGH_WATER = 2_000  # past this backlog, callers are asked to wait (a second or two of work)


@dataclass(frozen=True)
class WriterStats:
    submitted: int
    written: int
    failed: int
    dropped: int

    @property
    def pending(self) -> int:
        return self.submitted - self.written - self.failed


class BackgroundWriter:
    """A queue in front of one ``EventWriter``; ``submit`` is safe from any thread or event loop."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        high_water: int = DEFAULT_HIGH_WATER,
    ) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self.high_water = high_water
        # Group commit: with fsync=always the worker syncs once per batch it drains (below), so
        # a batch is on stable storage before the next is taken, at one fsync instead of N.
        group = settings.fsync == "always"
        self._sync_batches = group
        self._writer = EventWriter(settings.with_changes(fsync="batch") if group else settings)
        self._queue: deque[Mapping[str, Any]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closing = False
        self._submitted = self._written = self._failed = self._dropped = 0
        self._lost_unreported = 0
        self._atexit_registered = False

    def submit(self, fields: Mapping[str, Any]) -> None:
        """Queue one event (the writer validates and scrubs it); never waits for the disk."""
        with self._cond:
            if self._closing:
                raise TrackerError("event writer is closed")
            if len(self._queue) >= self.max_pending:
                self._dropped += 1
                self._lost_unreported += 1
                if self._lost_unreported == 1:
                    log.error("mfn-tracker: event queue full (%d): dropping", len(self._queue))
                return
            self._queue.append(fields)
            self._submitted += 1
            self._ensure_thread()
            self._cond.notify()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event submitted before this call is written (or failed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._written + self._failed < target:
                if self._thread is None or not self._thread.is_alive():
                    self._ensure_thread()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        self._writer.flush()
        return True

    def backlog(self) -> int:
        """Events queued and not yet taken by the worker (a cheap, lock-free reading)."""
        return len(self._queue)

    def congested(self) -> bool:
        return len(self._queue) >= self.high_water

    def close(self, timeout: float | None = 60.0) -> None:
        """Drain the queue, stop the worker and close the writer (never under a busy worker)."""
        drained = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if drained else 0)
        if thread is not None and thread.is_alive():
            log.error("mfn-tracker: %d events still queued at close", self.stats().pending)
            return
        self._writer.close()

    def stats(self) -> WriterStats:
        with self._cond:
            return WriterStats(self._submitted, self._written, self._failed, self._dropped)

    # -- worker -------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        """Start the worker (again after a fork: threads do not survive one). Caller holds _cond."""
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="mfn-tracker-writer", daemon=True)
        self._thread.start()
        if not self._atexit_registered:
            atexit.register(self.close, 60.0)  # daemon threads still run while atexit does
            self._atexit_registered = True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = list(self._queue)
                self._queue.clear()
                lost, self._lost_unreported = self._lost_unreported, 0
            written, failed = self._write_batch(batch, lost)
            with self._cond:
                self._written += written
                self._failed += failed
                self._cond.notify_all()

    def _write_batch(self, batch: list[Mapping[str, Any]], lost: int) -> tuple[int, int]:
        try:  # one lock and one write() for the whole batch, the usual case
            written, failed = len(self._writer.write_many(batch)), 0
        except InvalidEvent:  # find the bad one: every other event is still written
            written, failed = self._write_one_by_one(batch)
        except TrackerError as exc:
            written, failed = 0, len(batch)
            log.error("mfn-tracker: %d events not written: %s", len(batch), exc)
        except Exception:  # a bug must not kill the worker and strand the queue
            written, failed = 0, len(batch)
            log.exception("mfn-tracker: %d events not written", len(batch))
        if lost:
            self._record_lost(lost)
        if self._sync_batches:
            self._writer.flush()
        return written, failed

    def _write_one_by_one(self, batch: list[Mapping[str, Any]]) -> tuple[int, int]:
        written = failed = 0
        for fields in batch:
            try:
                self._writer.write(fields)
                written += 1
            except TrackerError as exc:
                failed += 1
                log.error("mfn-tracker: event not written: %s", exc)
            except Exception:  # a bug must not kill the worker and strand the queue
                failed += 1
                log.exception("mfn-tracker: event not written")
        return written, failed

    def _record_lost(self, count: int) -> None:
        try:
            self._writer.write(
                {
                    "event_type": "events_lost",
                    "user_id": "mfn-tracker",
                    "action_description": f"HTTP event queue was full: {count} events dropped",
                    "status": "failure",
                    "metadata": {"dropped": count, "max_pending": self.max_pending},
                }
            )
        except TrackerError as exc:
            log.error("mfn-tracker: could not record %d dropped events: %s", count, exc)
