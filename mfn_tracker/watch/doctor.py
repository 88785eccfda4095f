"""``mfn-tracker doctor`` checks for the file watcher: inotify limits and saved baselines."""

from __future__ import annotations

from pathlib import Path

from mfn_tracker.doctor import Check
from mfn_tracker.settings import Settings
from mfn_tracker.watch.baseline import BASELINE_DIR
from mfn_tracker.watch.observer import watch_limit

MAX_QUEUED_EVENTS = Path("/proc/sys/fs/inotify/max_queued_events")
LOW_WATCH_LIMIT = 65536


def checks(settings: Settings) -> list[Check]:
    return [_watch_limit(), _queue_size(), _baselines(settings)]


def _watch_limit() -> Check:
    limit = watch_limit()
    if limit is None:
        return Check("inotify-watches", "warn", "cannot read fs.inotify.max_user_watches")
    if limit < LOW_WATCH_LIMIT:
        return Check(
            "inotify-watches",
            "warn",
            f"fs.inotify.max_user_watches={limit}: one watch per directory; for big trees run "
            f"sudo sysctl -w fs.inotify.max_user_watches={LOW_WATCH_LIMIT * 4}",
        )
    return Check("inotify-watches", "ok", f"fs.inotify.max_user_watches={limit}")


def _queue_size() -> Check:
    try:
        size = int(MAX_QUEUED_EVENTS.read_text().strip())
    except (OSError, ValueError):
        return Check("inotify-queue", "warn", "cannot read fs.inotify.max_queued_events")
    state = "ok" if size >= 16384 else "warn"
    return Check(
        "inotify-queue", state, f"fs.inotify.max_queued_events={size} (overflow -> rescan)"
    )


def _baselines(settings: Settings) -> Check:
    folder = settings.storage_path / BASELINE_DIR
    count = len(list(folder.glob("*.json"))) if folder.is_dir() else 0
    return Check("watch-baselines", "ok", f"{count} watched tree(s) with a saved baseline")
