"""``tail_events``: the last N, then new events as they land (new day files, torn and bad lines)."""

from __future__ import annotations

import threading
import time
from typing import Any

from mfn_tracker.logger import build_query
from mfn_tracker.query import tail_events
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Problem
from tests.query.conftest import Write


def test_follow_sees_appends_new_days_and_reports_bad_lines(
    settings: Settings, write: Write
) -> None:
    for i in range(5):
        write(f"2026-03-01T10:00:0{i}.000Z", "alice" if i % 2 else "bob")
    query = build_query(since="1970-01-01", user_id="alice")
    seen: list[dict[str, Any]] = []
    problems: list[Problem] = []
    done = threading.Event()

    def follow() -> None:
        for event in tail_events(
            settings,
            query,
            count=1,
            follow=True,
            poll=0.02,
            stop=done.is_set,
            problems=problems.append,
        ):
            seen.append(event)

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        _wait(lambda: len(seen) == 1)
        assert seen[0]["timestamp"] == "2026-03-01T10:00:03.000Z"  # the last of alice's
        with (settings.storage_path / "events_2026-03-01.jsonl").open("ab") as stream:
            stream.write(b"not an event\n")
        write("2026-03-01T11:00:00.000Z", "bob")
        write("2026-03-01T11:00:01.000Z", "alice")
        write("2026-03-02T00:00:00.000Z", "alice")  # a new day file
        _wait(lambda: len(seen) == 3)
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [e["timestamp"][:19] for e in seen[1:]] == ["2026-03-01T11:00:01", "2026-03-02T00:00:00"]
    assert {e["user_id"] for e in seen} == {"alice"}
    assert [p.kind for p in problems] == ["malformed"]


def test_without_follow_it_is_the_last_n_oldest_first(settings: Settings, write: Write) -> None:
    for i in range(6):
        write(f"2026-03-01T10:00:0{i}.000Z")
    events = list(tail_events(settings, build_query(since="1970-01-01"), count=3))
    assert [e["timestamp"][17:19] for e in events] == ["03", "04", "05"]


def _wait(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_line_with_a_null_seq_is_shown_not_a_crash(settings: Settings, write: Write) -> None:
    """A hand-made or damaged line (``"seq": null``) must not break list, tail or follow."""
    from mfn_tracker.query import list_events

    write("2026-03-01T10:00:00.000Z", "alice")
    odd = (
        b'{"seq":null,"timestamp":"2026-03-01T10:00:01.000Z","event_type":"commit",'
        b'"user_id":"alice","action_description":"odd","status":"success"}\n'
    )
    day = settings.storage_path / "events_2026-03-01.jsonl"
    with day.open("ab") as stream:
        stream.write(odd)
    query = build_query(since="1970-01-01", limit=1)
    page = list_events(settings, query)
    assert [e["action_description"] for e in page.events] == ["odd"]
    assert [e["action_description"] for e in tail_events(settings, query, count=5)][-1] == "odd"
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def follow() -> None:
        for event in tail_events(
            settings, query, count=1, follow=True, poll=0.02, stop=done.is_set
        ):
            seen.append(event)

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        _wait(lambda: len(seen) == 1)
        with day.open("ab") as stream:
            stream.write(odd)
        write("2026-03-01T10:00:02.000Z", "alice")
        _wait(lambda: any(e["timestamp"].endswith("02.000Z") for e in seen))
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
