"""``GET /events/stream``: server-sent events fed by ``query.tail_events`` on a thread of its own.

A follow loop runs for as long as a dashboard stays connected, so it gets a dedicated thread
(never a slot of the threadpool the other endpoints need). Events cross to the event loop through
an ``asyncio.Queue``; a disconnect sets a flag the follow loop checks between polls.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import orjson

from mfn_tracker.errors import TrackerError
from mfn_tracker.query import tail_events
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
    return b"id: %d\nevent: event\ndata: %s\n\n" % (int(event.get("seq", 0)), data)


async def event_stream(
    settings: Settings,
    query: Query,
    *,
    last: int,
    after: int | None,
    slots: StreamSlots,
    keepalive: float = KEEPALIVE_SECONDS,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes: the ``last`` newest matching events, or those after seq ``after``, then
    every new one. ``query`` is scoped already. Ends when the client leaves."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=10_000)
    stop = threading.Event()
    live = replace(query, until=None, limit=None, cursor=None)

    def put(item: object) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            count = RESUME_WINDOW if after is not None else last
            for event in tail_events(settings, live, count=count, follow=True, stop=stop.is_set):
                if after is None or int(event.get("seq", 0)) > after:
                    put(event)
        except TrackerError as exc:
            log.error("mfn-tracker: event stream stopped: %s", exc)
            put(exc)
        except Exception as exc:  # a bug: end this stream, keep the server
            log.exception("mfn-tracker: event stream failed")
            put(exc)
        finally:
            put(_END)
            slots.give()

    if not slots.take():  # checked before the response too; this is the binding check
        yield b'event: error\ndata: {"detail": "too many open streams"}\n\n'
        return
    thread = threading.Thread(target=pump, name="mfn-tracker-sse", daemon=True)
    thread.start()
    try:
        yield b": stream open\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), keepalive)
            except asyncio.TimeoutError:
                yield b": keepalive\n\n"
                continue
            if item is _END:
                return
            if isinstance(item, Exception):
                yield b'event: error\ndata: {"detail": "event stream stopped"}\n\n'
                return
            if isinstance(item, dict):
                yield sse_message(item)
    finally:
        stop.set()
