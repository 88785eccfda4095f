"""The observer's loud failure paths and the event filter."""

from __future__ import annotations

from watchdog.events import FileClosedNoWriteEvent, FileOpenedEvent

from mfn_tracker.watch.observer import EVENT_FILTER, watch_limit, watch_limit_advice


def test_filter_has_no_open_or_close_nowrite() -> None:
    assert FileOpenedEvent not in EVENT_FILTER and FileClosedNoWriteEvent not in EVENT_FILTER


def test_watch_limit_advice_names_the_sysctl() -> None:
    advice = watch_limit_advice(200_000)
    assert f"fs.inotify.max_user_watches={watch_limit()}" in advice
    assert "sudo sysctl -w fs.inotify.max_user_watches=400000" in advice
