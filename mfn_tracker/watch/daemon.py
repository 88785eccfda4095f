"""``mfn-tracker watch``: the long-running loop that turns file activity into events.

Order matters for losing nothing: watches are registered before the startup scan (so a change
during the scan is seen live), READY=1 is sent only after the scan, and a stop flushes every
dirty path and sweeps each tree once more before ``system_stop`` is written.
"""

from __future__ import annotations

import errno
import functools
import gc
import os
import pwd
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from mfn_tracker._version import __version__
from mfn_tracker.compliance.checkpoints import maybe_checkpoint
from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from mfn_tracker.watch import baseline as bl
from mfn_tracker.watch.ignore import IgnoreRules
from mfn_tracker.watch.notify import notify, watchdog_interval
from mfn_tracker.watch.observer import Observer, Trouble, start_observer, watch_limit_advice
from mfn_tracker.watch.reducer import (
    LIVE,
    MAX_DELAY_SECONDS,
    RESCAN,
    SETTLE_SECONDS,
    STARTUP_SCAN,
    Change,
    Reducer,
)

ATTRIBUTION = (
    "observed by the watch daemon: user_id is the account the daemon runs as; inotify does not "
    "say which account or process changed the file"
)
IDLE_WAKE_SECONDS = 5.0
BUSY_POLL_SECONDS = 0.02  # while paths wait: how late past its settle period one is taken
SAVE_EVERY_SECONDS = 30.0  # full rewrite; between saves the journal has every change
POLL_UNWATCHED_SECONDS = 10.0
# Changes per write_many: big enough to amortise the writer's lock and write(), small enough
# that the first events of a burst are on disk while the rest are still being written.
WRITE_CHUNK = 256
TAKE_CHUNK = 256  # due paths examined per slice (see _drain)
GC_THRESHOLD = 20_000  # allocations between young collections (Python's default: 700)
_DESCRIPTIONS = {
    "file_create": "File created",
    "file_change": "File changed",
    "file_delete": "File deleted",
    "file_move": "File moved",
}


@dataclass(frozen=True)
class WatchConfig:
    roots: tuple[Path, ...]
    settle: float = SETTLE_SECONDS
    max_delay: float = MAX_DELAY_SECONDS
    hash_cap: int = bl.HASH_CAP_BYTES

    def describe(self, settings: Settings) -> dict[str, Any]:
        return {
            "paths": [str(r) for r in self.roots],
            "settle_ms": round(self.settle * 1000),
            "max_delay_ms": round(self.max_delay * 1000),
            "hash_cap_bytes": self.hash_cap,
            "storage": str(settings.storage_path),
            "fsync": settings.fsync + (" (synced per batch)" if settings.fsync == "always" else ""),
        }


def writer_settings(settings: Settings) -> Settings:
    """``always`` becomes one fsync per batch of changes: a batch is synced before the baseline
    journal records it, so an event lost in a crash is found again by the startup scan. Same
    outcome as an fsync per event, ten times the throughput (bench_watch.py)."""
    return settings.with_changes(fsync="batch") if settings.fsync == "always" else settings


def resolve_roots(paths: list[str] | tuple[str, ...], settings: Settings) -> tuple[Path, ...]:
    """Absolute, symlink-free directories; refuses the storage directory itself or its parents."""
    roots: list[Path] = []
    storage = settings.storage_path.resolve()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise TrackerError(f"cannot watch {raw}: not a directory", exit_code=EXIT_USAGE)
        root = path.resolve()
        if root == storage or storage in root.parents:
            raise TrackerError(f"refusing to watch {root}: it is inside the event storage")
        if root not in roots:
            roots.append(root)
    if not roots:
        raise TrackerError("watch needs at least one PATH", exit_code=EXIT_USAGE)
    for root in roots:
        outer = next((r for r in roots if r in root.parents), None)
        if outer is not None:
            raise TrackerError(
                f"{root} is inside {outer}: watch one of them (events would be doubled)",
                exit_code=EXIT_USAGE,
            )
    return tuple(roots)


def daemon_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _log(message: str) -> None:
    print(f"mfn-tracker watch: {message}", file=sys.stderr, flush=True)


@dataclass
class _Tree:
    reducer: Reducer
    baseline_file: Path
    fresh: bool  # no saved baseline: the first scan is adopted, not reported
    dirty_since_save: bool = False
    journal_unsynced: bool = False


@dataclass
class _Flags:
    stop: bool = False
    reload: bool = False
    overflow: bool = False
    failed: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class WatchDaemon:
    """One writer, one observer, one reducer per tree."""

    def __init__(self, settings: Settings, config: WatchConfig) -> None:
        self.settings, self.config = settings, config
        self.user = daemon_user()
        self.writer = EventWriter(writer_settings(settings))
        self.wake = threading.Event()
        self.flags = _Flags()
        self.written = 0
        self.trees = [self._open_tree(root) for root in config.roots]
        self._observer: Observer | None = None
        self._last_save = 0.0
        self._unwatched: dict[str, int] = {}

    def _open_tree(self, root: Path) -> _Tree:
        storage = self.settings.storage_path.resolve()
        exclude = (
            frozenset({str(storage.relative_to(root))}) if root in storage.parents else frozenset()
        )
        rules = IgnoreRules(root, exclude=exclude)
        path = bl.baseline_path(self.settings.storage_path, root)
        saved = bl.load(path, root)
        reducer = Reducer(
            root,
            saved or bl.Baseline(),
            rules,
            hash_cap=self.config.hash_cap,
            settle=self.config.settle,
            max_delay=self.config.max_delay,
            wakeup=self.wake,
        )
        return _Tree(reducer, path, fresh=saved is None)

    # -- signals and observer callbacks (other threads / signal context: flags only) --------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # Flags only: wake.set() here could wait forever for the lock of the very wake.wait()
        # the signal interrupted. The wakeup fd (see _relay_signals) wakes the loop instead.
        if signum == signal.SIGHUP:
            self.flags.reload = True
        else:
            self.flags.stop = True

    def _install_signal_handlers(self) -> None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end)  # Python's C-level handler writes each signal here
        threading.Thread(
            target=self._relay_signals, args=(read_end,), name="signal-relay", daemon=True
        ).start()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _relay_signals(self, read_end: int) -> None:
        """Wake the loop for each signal, from a thread that holds no lock the loop holds."""
        while os.read(read_end, 64):
            self.wake.set()

    def _on_overflow(self) -> None:
        self.flags.overflow = True
        self.wake.set()

    def _on_watch_failed(self, path: str, err: int) -> None:
        with self.flags.lock:
            self.flags.failed[path] = err
        self.wake.set()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        self._install_signal_handlers()
        started = time.monotonic()
        trouble = Trouble(self._on_overflow, self._on_watch_failed)
        self._observer = start_observer(
            {t.reducer.root: t.reducer.dirty for t in self.trees}, trouble
        )
        try:
            scans = [self._startup_scan(t) for t in self.trees]
            self._write_event(
                "system_start",
                f"File watcher started for {len(self.trees)} tree(s)",
                {
                    "version": __version__,
                    "pid": os.getpid(),
                    "config": self.config.describe(self.settings),
                    "baselines": [
                        {
                            "repo": str(t.reducer.root),
                            "files": len(t.reducer.baseline),
                            "state": "created" if t.fresh else "loaded",
                            "changes_while_down": len(s),
                        }
                        for t, s in zip(self.trees, scans, strict=True)
                    ],
                    "attribution": ATTRIBUTION,
                },
            )
            for tree, changes in zip(self.trees, scans, strict=True):
                self._write_changes(tree, changes)
            self._save(force=True)
            _tune_gc()
            ready_ms = round((time.monotonic() - started) * 1000)
            notify(f"READY=1\nMAINPID={os.getpid()}\n{self._status()}")
            _log(f"ready in {ready_ms} ms, watching {', '.join(str(r) for r in self.config.roots)}")
            self._loop()
        except TrackerError as exc:  # storage gone or full: exit non-zero, systemd restarts us
            _log(f"stopping on error: {exc}")
            self._stop_observer()
            return 1
        self._shutdown()
        return 0

    def _startup_scan(self, tree: _Tree) -> list[Change]:
        changes = tree.reducer.scan_all(STARTUP_SCAN)
        if tree.fresh:  # first run: adopt the tree as it is, report nothing
            for change in changes:
                tree.reducer.apply(change)
            tree.dirty_since_save = True
            return []
        return changes

    def _loop(self) -> None:
        ping = watchdog_interval()
        last_ping = last_poll = time.monotonic()
        while not self.flags.stop:
            self.wake.wait(self._timeout(ping))
            self.wake.clear()
            if self.flags.stop:
                break
            now = time.monotonic()
            self._handle_trouble()
            if self.flags.reload:
                self._reload()
            for tree in self.trees:
                self._drain(tree, now)
            if self._unwatched and now - last_poll >= POLL_UNWATCHED_SECONDS:
                self._poll_unwatched()
                last_poll = now
            self._save()
            maybe_checkpoint(self.settings)  # signed checkpoints when due (cheap otherwise)
            if ping is not None and time.monotonic() - last_ping >= ping:
                notify(f"WATCHDOG=1\n{self._status()}")
                last_ping = time.monotonic()

    def _drain(self, tree: _Tree, now: float) -> None:
        """Write what is due, a slice at a time: under a burst the first events are on disk
        while later paths are still being examined (and paths that settle meanwhile join)."""
        while True:
            self._write_unsynced(tree, tree.reducer.take(now=now, limit=TAKE_CHUNK))
            if not tree.reducer.backlog or self.flags.stop:
                break
            now = time.monotonic()
        self._sync_journal(tree)

    def _timeout(self, ping: float | None) -> float:
        timeout = IDLE_WAKE_SECONDS if ping is None else min(IDLE_WAKE_SECONDS, ping)
        now = time.monotonic()
        for tree in self.trees:
            deadline = tree.reducer.next_deadline()
            if deadline is not None:
                timeout = min(timeout, max(deadline - now, BUSY_POLL_SECONDS))
        return timeout

    def _handle_trouble(self) -> None:
        if self.flags.overflow:
            self.flags.overflow = False
            _log("inotify queue overflowed: events were lost, rescanning against the baseline")
            self._write_event(
                "watch_rescan",
                "Inotify queue overflowed; file events were lost, rescanning every tree",
                {"reason": "queue_overflow", "attribution": ATTRIBUTION},
            )
            for tree in self.trees:
                tree.reducer.dirty.mark("", RESCAN)
        with self.flags.lock:
            failed, self.flags.failed = self.flags.failed, {}
        if failed:
            self._unwatched.update(failed)
            if errno.ENOSPC in failed.values():
                advice = watch_limit_advice(self._directory_count())
            else:
                advice = "; ".join(sorted({os.strerror(e) for e in failed.values()}))
            _log(f"{len(failed)} directories could not be watched; {advice}")
            self._write_event(
                "watch_rescan",
                f"{len(failed)} directories could not be watched; they are rescanned periodically",
                {
                    "reason": "watch_failed",
                    "count": len(failed),
                    "directories": sorted(failed)[:20],
                    "errno": sorted(set(failed.values())),
                    "advice": advice,
                    "attribution": ATTRIBUTION,
                },
            )
            self._poll_unwatched()

    def _directory_count(self) -> int:
        count = 0
        for tree in self.trees:
            for _dirpath, _dirs, _files in os.walk(tree.reducer.root):
                count += 1
        return count

    def _poll_unwatched(self) -> None:
        for path in self._unwatched:
            for tree in self.trees:
                root = str(tree.reducer.root)
                if path == root or path.startswith(root + "/"):
                    tree.reducer.dirty.mark(path[len(root) + 1 :], RESCAN)

    def _reload(self) -> None:
        self.flags.reload = False
        for tree in self.trees:
            tree.reducer.rules.reload()
            tree.reducer.dirty.mark("", RESCAN)  # files the new rules un-ignore are reported
        _log("configuration reloaded (ignore rules, tracked files)")
        self._write_event(
            "system_config",
            "File watcher reloaded its configuration (SIGHUP)",
            {
                "reloaded": ["ignore rules", "tracked files"],
                "config": self.config.describe(self.settings),
                "attribution": ATTRIBUTION,
            },
        )
        notify(self._status())

    def _shutdown(self) -> None:
        notify("STOPPING=1")
        self._stop_observer()
        swept = 0
        for tree in self.trees:
            tree.reducer.dirty.mark("", RESCAN)  # a final sweep catches what inotify had queued
            changes = tree.reducer.take(everything=True)
            swept += len(changes)
            self._write_changes(tree, changes)
        self._save(force=True)
        maybe_checkpoint(self.settings)
        self._write_event(
            "system_stop",
            "File watcher stopped",
            {
                "version": __version__,
                "pid": os.getpid(),
                "events_written": self.written,
                "flushed_at_stop": swept,
                "paths": [str(r) for r in self.config.roots],
                "attribution": ATTRIBUTION,
            },
        )
        self.writer.close()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=30)
            self._observer = None

    # -- writing -----------------------------------------------------------------------------

    def _write_changes(self, tree: _Tree, changes: list[Change]) -> None:
        self._write_unsynced(tree, changes)
        self._sync_journal(tree)

    def _write_unsynced(self, tree: _Tree, changes: list[Change]) -> None:
        for start in range(0, len(changes), WRITE_CHUNK):
            self._write_chunk(tree, changes[start : start + WRITE_CHUNK])

    def _sync_journal(self, tree: _Tree) -> None:
        """One fsync of the journal for many chunks (each chunk's events were synced first)."""
        if tree.journal_unsynced:
            tree.journal_unsynced = False
            if self.settings.fsync != "never":
                bl.sync_journal(tree.baseline_file)

    def _write_chunk(self, tree: _Tree, changes: list[Change]) -> None:
        """Write changes as one batch, then record them in the baseline and its journal.

        Only a written batch reaches the baseline: if ``write_many`` raises (storage gone,
        disk full), none of its changes is applied, so the startup scan after the restart
        reports them again. Some may then appear twice; none is lost.
        """
        if not changes:
            return
        root, user = tree.reducer.root, self.user
        self.writer.write_many([change_event(c, root, user) for c in changes])
        updates: list[tuple[str, bl.Entry | None]] = []
        for change in changes:
            tree.reducer.apply(change)
            if change.old_path is not None:
                updates.append((change.old_path, None))
            updates.append((change.path, change.entry))
        tree.dirty_since_save = tree.journal_unsynced = True
        self.writer.flush()  # the events are on disk before the journal says they were written
        bl.append_journal(
            tree.baseline_file,
            updates,
            dir_mode=self.settings.dir_mode,
            file_mode=self.settings.file_mode,
            sync=False,
        )
        before, self.written = self.written, self.written + len(changes)
        if before // 1000 != self.written // 1000:
            notify(f"WATCHDOG=1\n{self._status()}")

    def _write_event(self, event_type: str, description: str, metadata: dict[str, Any]) -> None:
        self.writer.write(
            {
                "event_type": event_type,
                "user_id": self.user,
                "action_description": description,
                "status": "success",
                "metadata": metadata,
            }
        )
        self.written += 1

    def _save(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_save < SAVE_EVERY_SECONDS:
            return
        for tree in self.trees:
            if tree.dirty_since_save:
                bl.save(
                    tree.baseline_file,
                    tree.reducer.root,
                    tree.reducer.baseline,
                    dir_mode=self.settings.dir_mode,
                    file_mode=self.settings.file_mode,
                )
                tree.dirty_since_save = False
        self._last_save = now

    def _status(self) -> str:
        files = sum(len(t.reducer.baseline) for t in self.trees)
        pending = sum(t.reducer.pending() for t in self.trees)
        return (
            f"STATUS=watching {len(self.trees)} tree(s), {files} files; "
            f"{self.written} events written, {pending} paths pending"
        )


def _tune_gc() -> None:
    """Fewer collections under a burst: each event leaves a few dozen short-lived containers,
    and at the default threshold (700) most of them were still alive, hence scanned, when a
    collection came (~10 us per event). The baseline loaded at start is frozen out of the
    collector's scans; what it holds are tuples and strings, without cycles."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)


@functools.lru_cache(maxsize=256)
def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def change_event(change: Change, root: Path, user: str) -> dict[str, Any]:
    """The event line for one change (DESIGN.md, "File event details")."""
    entry = change.entry or change.old
    if entry is None:
        raise ValueError(f"change without a file state: {change}")
    metadata: dict[str, Any] = {
        "size": entry.size,
        "sha256": entry.sha256,
        "mode": f"{entry.mode:04o}",
        "kind": entry.kind,
        "source": change.source,
        "attribution": ATTRIBUTION,
    }
    if entry.uid >= 0:
        metadata["owner"] = _owner(entry.uid)  # who owns the file now; a hint, not attribution
    if entry.sha256 is None:
        metadata["hash_skipped"] = "above the size cap or unreadable"
    if change.kind == "file_change" and change.old is not None:
        metadata["previous_sha256"] = change.old.sha256
    if change.old_path is not None:
        metadata["old_path"] = change.old_path
        if change.old is not None:  # the move overwrote a file that was there
            metadata["replaced_sha256"] = change.old.sha256
    description = f"{_DESCRIPTIONS[change.kind]}: {change.path}"
    if change.old_path is not None:
        description = f"File moved: {change.old_path} -> {change.path}"
    return {
        "event_type": change.kind,
        "user_id": user,
        "action_description": description,
        "status": "success",
        "files_changed": [change.path],
        "metadata": metadata,
        "repo": str(root),
    }


def run_watch(settings: Settings, config: WatchConfig) -> int:
    return WatchDaemon(settings, config).run()


__all__ = ["LIVE", "WatchConfig", "WatchDaemon", "change_event", "resolve_roots", "run_watch"]
