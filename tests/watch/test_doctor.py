"""`mfn-tracker doctor` reports the inotify limits the watcher depends on."""

from __future__ import annotations

from mfn_tracker.settings import Settings
from mfn_tracker.watch.doctor import checks


def test_checks_name_the_limits(settings: Settings) -> None:
    found = {c.name: c for c in checks(settings)}
    assert "fs.inotify.max_user_watches=" in found["inotify-watches"].detail
    assert "fs.inotify.max_queued_events=" in found["inotify-queue"].detail
    assert found["watch-baselines"].detail.startswith("0 watched tree")
