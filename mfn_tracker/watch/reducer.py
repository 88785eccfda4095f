"""Dirty paths -> settled -> compared with the baseline -> at most one change per path.

Watchdog handlers only call :meth:`DirtySet.mark`. A path is due once it has been quiet for
the settle period (or dirty for the maximum delay, for files written continuously), and nothing
is due while ``.git/index.lock`` exists, so a checkout is judged only once git has finished.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mfn_tracker.watch.baseline import HASH_CAP_BYTES, Baseline, Entry, EntryReader
from mfn_tracker.watch.ignore import IgnoreRules

SETTLE_SECONDS = 0.2
MAX_DELAY_SECONDS = 3.0
# watchdog holds an unpaired IN_MOVED_FROM this long (InotifyMoveEventGrouper.delay), and
# everything queued behind it: a move's target can arrive that much after its source.
MOVE_WAIT_SECONDS = 0.5
MAX_LOCK_WAIT_SECONDS = 30.0  # a stale index.lock (git killed) must not silence the watcher
MAX_JUDGED = 200_000  # judging times remembered (Reducer._judged), ~100 bytes each

LIVE, STARTUP_SCAN, RESCAN = "live", "startup-scan", "rescan"
_SOURCE_RANK = {RESCAN: 0, STARTUP_SCAN: 1, LIVE: 2}


class Change(NamedTuple):
    """One event to write: ``kind`` is the event type (file_create, file_change, ...)."""

    kind: str
    path: str
    source: str
    entry: Entry | None  # the new state (None for deletes)
    old: Entry | None = None  # the baseline state it replaces
    old_path: str | None = None  # moves only


class DirtySet:
    """Thread-safe set of dirty paths with per-path settle and maximum-delay deadlines."""

    def __init__(
        self,
        *,
        settle: float = SETTLE_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        wakeup: threading.Event | None = None,
    ) -> None:
        self.settle, self.max_delay = settle, max_delay
        self._lock = threading.Lock()
        self._last: OrderedDict[str, float] = OrderedDict()  # ordered by last mark
        self._first: OrderedDict[str, float] = OrderedDict()  # ordered by first mark
        self._source: dict[str, str] = {}
        # When each path was last marked itself (a mark below a directory only refreshes its
        # _last); take_due hands these over in ``marked_at`` for the paths it returns.
        self._own: dict[str, float] = {}
        self.marked_at: dict[str, float] = {}
        self.wakeup = wakeup or threading.Event()

    def mark(self, rel: str, source: str = LIVE, *, now: float | None = None) -> None:
        self.mark_many((rel,), source, now=now)

    def mark_many(
        self, rels: Iterable[str], source: str = LIVE, *, now: float | None = None
    ) -> None:
        """Mark paths dirty at once (one lock, one clock read for a whole inotify read)."""
        now = time.monotonic() if now is None else now
        rank = _SOURCE_RANK[source]
        last, first, sources, own = self._last, self._first, self._source, self._own
        refreshed: set[str] = set()  # parents already kept unsettled in this call
        with self._lock:
            was_clean = not last
            for rel in rels:
                own[rel] = now
                if rel in last:
                    last[rel] = now
                    last.move_to_end(rel)
                else:
                    last[rel] = first[rel] = now
                old = sources.get(rel)
                if old is None or rank > _SOURCE_RANK[old]:
                    sources[rel] = source
                # A dirty directory stays unsettled while anything below it changes, so its
                # walk sees settled files only, and a moved tree is judged in one batch.
                parent = rel
                while parent:
                    parent = parent.rpartition("/")[0]
                    if parent in refreshed:
                        break
                    refreshed.add(parent)
                    if parent in last:
                        last[parent] = now
                        last.move_to_end(parent)
        if was_clean and last:
            self.wakeup.set()

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, rel: object) -> bool:
        return rel in self._last

    def next_deadline(self) -> float | None:
        """Monotonic time at which the earliest path becomes due, or None when clean."""
        with self._lock:
            if not self._last:
                return None
            oldest_last = next(iter(self._last.values()))
            oldest_first = next(iter(self._first.values()))
        return min(oldest_last + self.settle, oldest_first + self.max_delay)

    def take_due(
        self, *, now: float | None = None, everything: bool = False, limit: int | None = None
    ) -> dict[str, str]:
        """Remove and return the due paths with their source tag, at most ``limit`` of them
        (the longest settled first)."""
        now = time.monotonic() if now is None else now
        due: dict[str, str] = {}
        with self._lock:
            if everything:
                due = dict(self._source)
                self.marked_at = dict(self._own)
                self._last.clear()
                self._first.clear()
                self._source.clear()
                self._own.clear()
                return due
            room = len(self._last) if limit is None else limit
            for order, wait in ((self._last, self.settle), (self._first, self.max_delay)):
                for rel, t in order.items():
                    if now - t < wait or len(due) >= room:
                        break
                    due[rel] = self._source[rel]
            for rel in due:
                del self._last[rel], self._first[rel], self._source[rel]
            self.marked_at = {rel: self._own.pop(rel) for rel in due}
        return due


class Reducer:
    """Turns due paths of one tree into changes against its baseline."""

    def __init__(
        self,
        root: Path,
        baseline: Baseline,
        rules: IgnoreRules,
        *,
        hash_cap: int = HASH_CAP_BYTES,
        settle: float = SETTLE_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        move_wait: float = MOVE_WAIT_SECONDS,
        wakeup: threading.Event | None = None,
    ) -> None:
        self.move_wait = move_wait
        self.root, self.baseline, self.rules, self.hash_cap = root, baseline, rules, hash_cap
        self._root = str(root)
        self.dirty = DirtySet(settle=settle, max_delay=max_delay, wakeup=wakeup)
        self._lock_seen: float | None = None
        self.backlog = False  # the last take() stopped at its limit: more paths are due now
        # Path -> when a live take last judged it (lstat, hash). A walk of a directory marked
        # before that skips it: its directory was watched by then (the mark comes after the
        # watch), so any later change of it was marked on its own. Under a burst this saves
        # judging every new file twice (once itself, once when its directory settles).
        self._judged: dict[str, float] = {}
        # Unpaired deletes wait (path -> (change, release time)) for a create to pair with: in
        # a rename chain a -> b -> c, ``a`` settles before ``c`` and is taken alone, and a
        # move into a directory created just before reaches us as create first, delete later.
        self._held: dict[str, tuple[Change, float]] = {}

    def next_deadline(self) -> float | None:
        """Monotonic time of the next due path or held delete, or None when nothing waits."""
        times = [until for _change, until in self._held.values()]
        dirty = self.dirty.next_deadline()
        if dirty is not None:
            times.append(dirty)
        return min(times, default=None)

    def pending(self) -> int:
        return len(self.dirty) + len(self._held)

    def git_busy(self, now: float) -> bool:
        """True while git holds the index lock (up to a limit, for locks left by a killed git)."""
        lock = self.rules.lock_path
        if lock is None or not os.path.exists(lock):
            self._lock_seen = None
            return False
        if self._lock_seen is None:
            self._lock_seen = now
        return now - self._lock_seen < MAX_LOCK_WAIT_SECONDS

    def take(
        self, *, now: float | None = None, everything: bool = False, limit: int | None = None
    ) -> list[Change]:
        """Compare due paths with the baseline; the caller applies each change once written.

        ``limit`` bounds the due paths taken (not the changes: a directory stands for all the
        files below it); :attr:`backlog` then says whether more are due already.
        """
        now = time.monotonic() if now is None else now
        self.backlog = False
        if not everything and self.git_busy(now):
            return []
        due = self.dirty.take_due(now=now, everything=everything, limit=limit)
        self.backlog = limit is not None and len(due) >= limit
        if not due:
            if not any(until <= now for _change, until in self._held.values()):
                return []
            with self._reader() as reader:
                return self.compare({}, reader, now=now)
        self.rules.refresh_tracked()
        for rel, source in list(due.items()):
            if self.rules.rules_changed(rel):
                # The files a rule file covers are re-judged now: a removed rule un-ignores
                # files that had no change of their own (.git/info/exclude covers the tree).
                scope = "" if rel.startswith(".git/") else rel.rpartition("/")[0]
                old = due.get(scope)
                if old is None or _SOURCE_RANK[source] > _SOURCE_RANK[old]:
                    due[scope] = source
        marked = {} if everything else self.dirty.marked_at
        with self._reader() as reader:
            candidates = self._expand(due, reader, marked)
            changes = self.compare(candidates, reader, now=now, hold=not everything)
        if not everything:
            if len(self._judged) > MAX_JUDGED:
                self._judged.clear()  # (walks then judge those files again: slower, not wrong)
            self._judged.update(dict.fromkeys(candidates, now))
        return changes

    def scan_all(self, source: str) -> list[Change]:
        """Compare the whole tree with the baseline (startup, overflow, stop)."""
        self.rules.refresh_tracked()
        with self._reader() as reader:
            return self.compare(self._expand({"": source}, reader), reader, hold=False)

    # -- internals --------------------------------------------------------------------------

    def _reader(self) -> EntryReader:
        return EntryReader(self._root, cap=self.hash_cap)

    def _expand(
        self, due: dict[str, str], reader: EntryReader, marked: dict[str, float] | None = None
    ) -> dict[str, str]:
        """Due paths -> candidate file paths: directories are walked, vanished ones looked up.

        ``marked`` holds when due paths were marked themselves (see ``_judged``).
        """
        out: dict[str, str] = {}
        for rel, source in due.items():
            since = marked.get(rel) if marked else None
            for found in self._candidates(rel, reader, since):
                old = out.get(found)
                if old is None or _SOURCE_RANK[source] > _SOURCE_RANK[old]:
                    out[found] = source
        return out

    def _candidates(self, rel: str, reader: EntryReader, since: float | None = None) -> list[str]:
        """File paths one due path stands for (itself, what is below it now, what was).

        Files below a directory that a live take judged after ``since`` are left out.
        """
        if rel:
            st = reader.lstat(rel)  # kept for compare(): one lstat per path
        else:
            try:
                st = os.stat(self._root)
            except OSError:
                st = None
        # A known file replaced by a directory (or the reverse) is judged as well as the
        # files below: the baseline's entry for ``rel`` and for its old children.
        found = [rel] if rel and self.baseline.get(rel) is not None else []
        if st is not None and stat.S_ISDIR(st.st_mode):
            if rel and self.rules.ignored(rel, is_dir=True):
                return found
            walked = self.walk(rel)
            present = set(walked)
            # a file still being written is judged when it settles
            walked = [f for f in walked if f not in self.dirty]
            if since is not None:
                judged = self._judged
                walked = [f for f in walked if judged.get(f, since) <= since]
            found.extend(walked)
            found.extend(f for f in self.baseline.under(rel) if f not in present)  # gone
            return found
        if st is not None and rel and not found and not self.rules.ignored(rel):
            found.append(rel)
        found.extend(self.baseline.under(rel))  # it was a directory: what was below it
        return found

    def walk(self, rel_dir: str = "") -> list[str]:
        """Files below a directory that are reported or already in the baseline (which
        compare() judges anyway), skipping ``.git`` and ignored directories."""
        found: list[str] = []
        known = self.baseline.files
        top = f"{self._root}/{rel_dir}" if rel_dir else self._root
        stack = [(top, rel_dir)]
        while stack:
            path, rel = stack.pop()
            try:
                it = os.scandir(path)
            except OSError:
                continue
            with it:
                for item in it:
                    child = f"{rel}/{item.name}" if rel else item.name
                    try:
                        is_dir = item.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir:
                        if not self.rules.dir_ignored(child):
                            stack.append((item.path, child))
                    elif child in known or not self.rules.ignored(child):
                        found.append(child)
        return found

    def compare(
        self,
        candidates: dict[str, str],
        reader: EntryReader,
        *,
        now: float | None = None,
        hold: bool = True,
    ) -> list[Change]:
        """Changes for the candidates, moves paired (also with deletes held from earlier).

        With ``hold``, an unpaired delete is held back (a settle period plus ``move_wait``) so
        that a create in a later batch can still pair with it; ``hold=False`` releases them.
        """
        now = time.monotonic() if now is None else now
        previous, self._held = self._held, {}
        release = {rel: until for rel, (_change, until) in previous.items()}
        carried = [change for rel, (change, _) in previous.items() if rel not in candidates]
        created: list[Change] = []
        deleted: list[Change] = []
        changed: list[Change] = []
        get, read = self.baseline.files.get, reader.read
        for rel, source in candidates.items():  # arrival order: the oldest change is written first
            old = get(rel)
            new = read(rel, old)
            if old is None and new is not None:
                created.append(Change("file_create", rel, source, new))
            elif old is not None and new is None:
                deleted.append(Change("file_delete", rel, source, None, old))
            elif old is not None and new is not None:
                if not old.same_content(new):
                    changed.append(Change("file_change", rel, source, new, old))
                elif not old.same_stat(new):
                    self.baseline.set(rel, new)  # touched, same content: remember, no event
        unpaired, out = _pair_moves(created, [*carried, *deleted], changed)
        released: list[Change] = []
        for d in unpaired:
            until = release.get(d.path, now + self.dirty.settle + self.move_wait)
            if hold and now < until and d.old is not None and d.old.sha256 is not None:
                self._held[d.path] = (d, until)
            else:
                released.append(d)
        return [*released, *out]

    def apply(self, change: Change) -> None:
        """Record a written change in the baseline."""
        if change.old_path is not None:
            self.baseline.remove(change.old_path)
        if change.entry is None:
            self.baseline.remove(change.path)
        else:
            self.baseline.set(change.path, change.entry)


def _move_key(e: Entry) -> tuple[int, int, str | None, str]:
    """A rename keeps the inode and the content; requiring both avoids pairing a reused inode."""
    return (e.ino, e.size, e.sha256, e.kind)


def _pair_moves(
    created: list[Change], deleted: list[Change], changed: list[Change]
) -> tuple[list[Change], list[Change]]:
    """(unpaired deletes, creates/changes with the paired ones turned into moves)."""
    gone: dict[tuple[int, int, str | None, str], Change] = {}
    for d in deleted:
        if d.old is not None and d.old.sha256 is not None:
            gone.setdefault(_move_key(d.old), d)
    if not gone:
        return deleted, [*created, *changed]
    moved_from: set[str] = set()
    out: list[Change] = []
    for c in [*created, *changed]:
        src = gone.pop(_move_key(c.entry), None) if c.entry is not None else None
        if src is None:
            out.append(c)
            continue
        moved_from.add(src.path)
        out.append(Change("file_move", c.path, c.source, c.entry, c.old, old_path=src.path))
    return [d for d in deleted if d.path not in moved_from], out
