"""``GET /events/stream``: server-sent events fed by ``query.tail_events`` on a thread of its own.

A follow loop runs for as long as a dashboard stays connected, so it gets a dedicated thread
(never a slot of the threadpool the other endpoints need). Events cross to the event loop through
an ``asyncio.Queue``; a disconnect sets a flag the follow loop checks between polls, and so does
a revoked key (checked every poll: one ``stat`` of the key registry), which ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import orjson

from mfn_tracker.errors import TrackerError
from mfn_tracker.query import tail_events
from mfn_tracker.query.lines import seq_of
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query

log = logging.getLogger("mfn_tracker.http")

KEEPALIVE_SECONDS = 15.0
RESUME_WINDOW = 1000  # events a reconnecting client (Last-Event-ID) can catch up on
_END = object()


class StreamSlots:
    """A cap on concurrent streams: each holds a thread and a poll loop."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._free = limit

    def has_room(self) -> bool:
        return self._free > 0

    def take(self) -> bool:
        with self._lock:
            if self._free <= 0:
                return False
            self._free -= 1
            return True

    def give(self) -> None:
        with self._lock:
            self._free += 1


def sse_message(event: dict[str, Any]) -> bytes:
    """One SSE message; the event's ``seq`` is its id, so EventSource resumes after it."""
    data = orjson.dumps(event)  # one line: JSON escapes every newline inside strings
    return b"id: %d\nevent: event\ndata: %s\n\n" % (seq_of(event), data)


class _Feed:
    """The follow loop's thread and the queue it fills; ``stop`` ends both."""

    def __init__(
        self,
        settings: Settings,
        query: Query,
        *,
        count: int,
        after: int | None,
        allowed: Callable[[], bool],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
        self.stop = threading.Event()
        self.following = threading.Event()  # set just before the follow loop takes its marks
        self.lagging = threading.Event()
        self.settings = settings
        self.query = replace(query, until=None, limit=None, cursor=None)
        self.count = count
        self.after = after
        self.allowed = allowed
        self.revoked = threading.Event()

    def start(self, slots: StreamSlots) -> None:
        def run() -> None:
            try:
                self._pump()
            finally:
                self._put(_END)
                slots.give()

        threading.Thread(target=run, name="mfn-tracker-sse", daemon=True).start()

    def _pump(self) -> None:
        try:
            events = tail_events(
                self.settings, self.query, count=self.count, follow=True, stop=self._should_stop
            )
            self.following.set()
            for event in events:
                if self.after is None or seq_of(event) > self.after:
                    self._put(event)
        except TrackerError as exc:
            log.error("mfn-tracker: event stream stopped: %s", exc)
            self._put(exc)
        except Exception as exc:  # a bug: end this stream, keep the server
            log.exception("mfn-tracker: event stream failed")
            self._put(exc)

    def _should_stop(self) -> bool:
        if not self.stop.is_set() and not self.allowed():
            self.revoked.set()
            self.stop.set()
        return self.stop.is_set()

    def _put(self, item: object) -> None:
        try:
            self.loop.call_soon_threadsafe(self._deliver, item)
        except RuntimeError:  # the event loop is closed: the server is gone
            self.stop.set()

    def _deliver(self, item: object) -> None:  # on the event loop
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:  # a client this slow reconnects with Last-Event-ID
            self.lagging.set()
            self.stop.set()


async def event_stream(
    settings: Settings,
    query: Query,
    *,
    last: int,
    after: int | None,
    slots: StreamSlots,
    keepalive: float = KEEPALIVE_SECONDS,
    allowed: Callable[[], bool] = lambda: True,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes: the ``last`` newest matching events, or those after seq ``after``, then
    every new one. ``query`` is scoped already. Ends when the client leaves, or with an
    ``error`` event once ``allowed()`` turns false (the caller's key was revoked)."""
    if not slots.take():  # checked before the response too; this is the binding check
        yield _error("too many open streams")
        return
    count = RESUME_WINDOW if after is not None else last
    feed = _Feed(settings, query, count=count, after=after, allowed=allowed)
    feed.start(slots)
    try:
        for _ in range(100):  # "open" once the follow loop is about to take its starting marks
            if feed.following.is_set():
                break
            await asyncio.sleep(0.01)
        yield b": stream open\n\n"
        while True:
            if feed.lagging.is_set() and feed.queue.empty():
                yield _error("client too slow; reconnect")
                return
            try:
                item = await asyncio.wait_for(feed.queue.get(), keepalive)
            except asyncio.TimeoutError:
                yield b": keepalive\n\n"
                continue
            if feed.revoked.is_set():
                yield _error("access denied: the key was revoked")
                return
            if isinstance(item, Exception):
                yield _error("event stream stopped")
            if item is _END or isinstance(item, Exception):
                return
            if isinstance(item, dict):
                yield sse_message(item)
    finally:
        feed.stop.set()


def _error(detail: str) -> bytes:
    return b"event: error\ndata: %s\n\n" % orjson.dumps({"detail": detail})
