"""``list_events`` pages and respects pseudonymized user ids."""

from __future__ import annotations

from dataclasses import replace

from mfn_tracker.access import Caller, scope
from mfn_tracker.logger import build_query
from mfn_tracker.query import list_events
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from tests.query.conftest import Write


def test_pages_follow_each_other_without_gaps(settings: Settings, write: Write) -> None:
    for i in range(25):
        write(f"2026-03-0{1 + i % 3}T10:00:{i:02d}.000Z", "alice")
    query = build_query(since="2026-03-01", until="2026-03-04", limit=10)
    seen: list[int] = []
    page = list_events(settings, query)
    while True:
        seen += [e["seq"] for e in page.events]
        if page.next_cursor is None:
            break
        page = list_events(settings, replace(query, cursor=page.next_cursor))
    everything = list_events(settings, build_query(since="2026-03-01", until="2026-03-04"))
    assert seen == [e["seq"] for e in everything.events] and len(seen) == 25


def test_a_user_finds_its_own_events_when_ids_are_pseudonymized(settings: Settings) -> None:
    private = settings.with_changes(pseudonymize=True)
    writer = EventWriter(private)
    for user in ("alice", "bob", "alice"):
        writer.write({"event_type": "commit", "user_id": user, "action_description": "x"})
    writer.close()
    query, _ = scope(Caller("user", "alice", "k"), build_query(user_id="bob"))
    events = list_events(private, query).events
    assert len(events) == 2
    assert {e["user_id"] for e in events} == {events[0]["user_id"]}
    assert events[0]["user_id"].startswith("p1:")
