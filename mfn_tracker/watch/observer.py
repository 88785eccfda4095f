"""watchdog's inotify observer, filtered, with the two failures it keeps quiet made loud.

watchdog 7 drops watches that fail to register (``max_user_watches``) and, on a queue overflow,
tells handlers nothing and re-registers every watch (which can overflow again, FACTS.md). Here a
watch group reports both to a :class:`Trouble` callback and only adds the watches it is missing.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyEmitter, InotifyWatchGroup
from watchdog.observers.inotify_c import (
    DEFAULT_EVENT_BUFFER_SIZE,
    InotifyConstants,
    InotifyEvent,
    InotifyFD,
)
from watchdog.observers.inotify_move_event_grouper import GroupedInotifyEvent, PathedInotifyEvent

from mfn_tracker.watch.reducer import DirtySet

# No opened / closed_no_write / directory-modified events: `git status` alone would send
# hundreds of them, and none says a file changed.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
# Changes below .git that matter: rules, the tracked list, and the end of a git command.
GIT_SIGNALS = frozenset({".git/index", ".git/index.lock", ".git/info/exclude"})
# Events about a directory or a watch itself keep watchdog's handling (watches to add, move or
# drop); every other event names a file in a watched directory and only marks it dirty.
_WATCHDOG_MASK = (
    InotifyConstants.IN_ISDIR
    | InotifyConstants.IN_Q_OVERFLOW
    | InotifyConstants.IN_IGNORED
    | InotifyConstants.IN_DELETE_SELF
    | InotifyConstants.IN_MOVE_SELF
    | InotifyConstants.IN_UNMOUNT
)
# After each read under load, let events pile up this long: one read, one lock and one
# mark_many per few hundred events instead of a poll and a read per event (and far fewer
# hand-overs of the GIL to and from the reducer). Small next to the settle period.
READ_PAUSE_SECONDS = 0.01
_HEADER = struct.Struct("iIII")  # struct inotify_event, before its name


@dataclass
class Trouble:
    """What the daemon must hear about: a lost queue, or directories without a watch."""

    on_overflow: Callable[[], None]
    on_watch_failed: Callable[[str, int], None]  # (absolute path, errno)


def watch_limit() -> int | None:
    try:
        return int(MAX_USER_WATCHES.read_text().strip())
    except (OSError, ValueError):
        return None


def watch_limit_advice(needed: int) -> str:
    limit = watch_limit()
    want = max(needed * 2, 65536)
    return (
        f"inotify watch limit reached (fs.inotify.max_user_watches={limit}, this tree needs "
        f"about {needed}); raise it: sudo sysctl -w fs.inotify.max_user_watches={want} "
        "(persist it in /etc/sysctl.d/); until then the unwatched directories are rescanned"
    )


@dataclass
class _Group(InotifyWatchGroup):
    trouble: Trouble | None = field(default=None)
    marker: MarkHandler | None = field(default=None)

    def on_event(self, event: InotifyEvent) -> None:
        # watchdog holds an IN_MOVED_FROM back 0.5 s waiting for its IN_MOVED_TO, which never
        # comes when the target directory was created just before (its watch came too late):
        # marking the source now lets the reducer pair it with the target (one file_move).
        if event.is_moved_from and self.marker is not None:
            with self._lock:
                path = self._build_event_source_path(event) if self.is_active else None
            if path is not None:
                self.marker.mark_path(path)
        super().on_event(event)

    def file_path(self, wd: int, name: bytes) -> bytes | None:
        """The path of a file event, or None when the watch is not (or no longer) ours.

        Called by the reading thread, which is the one that adds and moves watches (the
        emitter only drops those of a directory moved out); one dict lookup needs no lock.
        """
        directory = self._active_callbacks_by_watch.get(wd) if self._is_active else None  # type: ignore[call-overload]
        return None if directory is None else directory + b"/" + name

    def on_queue_overflow(self) -> None:
        # Re-add only missing watches: removing and re-adding all of them queues one IN_IGNORED
        # per watch, which can overflow the queue again, forever.
        with self._lock:
            if not self.is_active:
                return
            self._move_event_grouper.discard_pending_events()
            if self.is_recursive:
                self._add_missing_callbacks()
        if self.trouble is not None:
            self.trouble.on_overflow()

    def forget_moved_out(self, path: bytes) -> None:
        """Drop the watches of a directory moved out of the tree, its own and those below.

        watchdog keeps them (its TODO for an unpaired IN_MOVED_FROM): they would leak one
        watch per directory, towards ``max_user_watches``, and report paths that are gone.
        """
        with self._lock:
            if not self.is_active or path == self.path or os.path.isdir(path):
                return  # a directory back at the same path keeps its watches
            prefix = path + b"/"
            wds = [
                wd
                for p, wd in self._active_callbacks_by_path.items()
                if p == path or p.startswith(prefix)
            ]
            if wds:
                self._remove_callbacks(wds)

    def _add_missing_callbacks(self) -> None:
        for root, dirnames, _files in os.walk(self.path):
            for name in dirnames:
                path = os.path.join(root, name)
                if path not in self._active_callbacks_by_path and not os.path.islink(path):
                    self._add_callback(path)

    def _add_callback(self, path: bytes) -> None:
        try:
            wd = self._inotify_fd.add_callback(path, self.event_mask, self._callback, self._id)
        except OSError as exc:
            if path == self.path:
                raise
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return  # removed while we walked; its parent's events cover it
            if self.trouble is not None:
                self.trouble.on_watch_failed(os.fsdecode(path), exc.errno or 0)
            return
        self._active_callbacks_by_path[path] = wd
        self._active_callbacks_by_watch[wd] = path


class _Emitter(InotifyEmitter):
    """Marks paths straight from inotify's grouped events.

    Building watchdog event objects and passing them through the observer's queue and thread
    cost more CPU than judging the files (two threads per raw event, three raw events per new
    file), and under a burst the reducer starved. The filter still sets the inotify mask; what
    the event *was* does not matter here, only where it happened.
    """

    def __init__(
        self, *args: Any, trouble: Trouble, marks: dict[str, MarkHandler], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._trouble = trouble
        self._handler = marks.get(os.fsdecode(self.watch.path))

    def build_and_queue_event(
        self, event: GroupedInotifyEvent, *, full_events: bool = False
    ) -> None:
        handler = self._handler
        if handler is None:
            super().build_and_queue_event(event, full_events=full_events)
            return
        if not isinstance(event, PathedInotifyEvent):
            for part in event:  # a paired move: both ends are dirty
                handler.mark_path(part.path)
            return
        ev = event.ev
        if ev.is_moved_from and ev.is_directory and isinstance(self._inotify, _Group):
            self._inotify.forget_moved_out(event.path)  # unpaired: it left the tree
        if ev.is_delete_self and os.fsdecode(event.path) == os.fsdecode(self.watch.path):
            super().build_and_queue_event(event, full_events=full_events)  # the root went away
        elif not ev.is_directory or ev.is_create or ev.is_delete or ev.is_move:
            handler.mark_path(event.path)  # (a directory's attrib/modify says nothing new)

    def on_thread_start(self) -> None:
        self._inotify = _Group(
            self._inotify_fd,
            os.fsencode(self.watch.path),
            is_recursive=self.watch.is_recursive,
            event_mask=self.get_event_mask_from_filter(),
            follow_symlink=self.watch.follow_symlink,
            trouble=self._trouble,
            marker=self._handler,
        )


class _BatchingFD(InotifyFD):
    """Reads inotify in batches; file events mark their paths here, in the reading thread.

    watchdog turns each raw event into objects, a delay queue entry and a hand-over to the
    emitter thread: about 70 us per event, three events per new file, and under a burst that
    thread starved the reducer. A file event only needs its path marked dirty, a few hundred
    at a time; directory and watch events still take watchdog's path (watches to manage).
    """

    def run(self) -> None:
        while self.should_keep_running():
            buffer = self._read_event_buffer(DEFAULT_EVENT_BUFFER_SIZE)
            if not buffer:
                continue
            if not self._dispatch(buffer) and len(buffer) < DEFAULT_EVENT_BUFFER_SIZE // 2:
                time.sleep(READ_PAUSE_SECONDS)  # (a fuller buffer: the queue is filling, read on)

    def _dispatch(self, buffer: bytes) -> bool:
        """Mark what the buffer names; True when it held a directory event.

        After a new directory, the next read comes at once: watchdog lists its contents now
        (its watch came late), and a file moved into it must not be marked (as created) well
        before its source is (as gone), or the move is split into a create and a delete.
        """
        directories = False
        pending: dict[MarkHandler, dict[bytes, None]] = {}
        previous: tuple[int, bytes] | None = None
        at, end = 0, len(buffer)
        while at + _HEADER.size <= end:
            wd, mask, cookie, length = _HEADER.unpack_from(buffer, at)
            start = at + _HEADER.size
            name = buffer[start : start + length].rstrip(b"\0")
            at = start + length
            if name and not mask & _WATCHDOG_MASK:
                if (wd, name) == previous:
                    continue  # a new file's create, modify and close: one mark
                previous = (wd, name)
                watch = self._watch_for_wd.get(wd)
                for group in watch.callbacks.values() if watch is not None else ():
                    if isinstance(group, _Group) and group.marker is not None:
                        path = group.file_path(wd, name)
                        if path is not None:
                            pending.setdefault(group.marker, {})[path] = None
                    else:
                        group.on_event(InotifyEvent(wd, mask, cookie, name))
                if mask & InotifyConstants.IN_MOVED_FROM:
                    _flush(pending)  # the source of a move: marked before anything that follows
                continue
            previous = None
            _flush(pending)  # in order: a directory event may move the watches that follow
            directories = True
            if wd != -1 or mask & InotifyConstants.IN_Q_OVERFLOW:
                self.handle_event(InotifyEvent(wd, mask, cookie, name))
        _flush(pending)
        return directories


def _flush(pending: dict[MarkHandler, dict[bytes, None]]) -> None:
    for marker, paths in pending.items():
        marker.mark_many(list(paths))
    pending.clear()


class Observer(BaseObserver):
    """An inotify observer with its own inotify instance and the loud watch group."""

    def __init__(self, trouble: Trouble, marks: dict[str, MarkHandler]) -> None:
        self._inotify_fd = _BatchingFD()
        self._inotify_fd.start()
        super().__init__(_Emitter, inotify_fd=self._inotify_fd, trouble=trouble, marks=marks)

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self._inotify_fd.stop()
        self._inotify_fd.join()


class MarkHandler(FileSystemEventHandler):
    """Marks paths dirty, nothing more: what happened is decided later, against the baseline."""

    def __init__(self, root: Path, dirty: DirtySet) -> None:
        self._prefix = str(root).rstrip("/") + "/"
        self._root = str(root)
        self._dirty = dirty

    def _rel(self, path: str | bytes) -> str | None:
        text = os.fsdecode(path)
        if text == self._root:
            return ""
        if not text.startswith(self._prefix):
            return None
        rel = text[len(self._prefix) :]
        if rel.startswith(".git/") and rel not in GIT_SIGNALS:
            return None
        return rel

    def mark_path(self, path: str | bytes) -> None:
        rel = self._rel(path)
        if rel is not None:
            self._dirty.mark(rel)

    def mark_many(self, paths: list[bytes]) -> None:
        rels = [rel for rel in map(self._rel, paths) if rel is not None]
        if rels:
            self._dirty.mark_many(rels)

    def dispatch(self, event: FileSystemEvent) -> None:
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.mark_path(path)


def start_observer(roots: dict[Path, DirtySet], trouble: Trouble) -> Observer:
    """Watch each root recursively; every event marks its path dirty in ``roots[root]``."""
    handlers = {str(root): MarkHandler(root, dirty) for root, dirty in roots.items()}
    observer = Observer(trouble, handlers)
    for root, handler in handlers.items():
        observer.schedule(handler, root, recursive=True, event_filter=EVENT_FILTER)
    observer.start()
    return observer
