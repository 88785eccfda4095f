"""GET /events/stream: new events arrive as server-sent events, scoped like every other read."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from mfn_tracker.http.app import create_app
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from tests.http.conftest import ADMIN_ENV_KEY, Api
from tests.http.server import running

ADMIN = {"X-API-Key": ADMIN_ENV_KEY}


def messages(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse SSE messages; comments (``: ...``) come through as ``{"comment": text}``."""
    current: dict[str, Any] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif not line:
            if current:
                yield current
            current = {}
        else:
            field, _, value = line.partition(": ")
            current[field] = json.loads(value) if field == "data" else value


def write(settings: Settings, user: str, kind: str) -> dict[str, Any]:
    writer = EventWriter(settings)
    try:
        return writer.write({"event_type": kind, "user_id": user, "action_description": kind})
    finally:
        writer.close()


def collect(
    api: Api,
    headers: dict[str, str],
    until: Callable[[dict[str, Any]], bool],
    *,
    produce: Callable[[], None] = lambda: None,
    params: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Open a stream; once it is open, call ``produce`` every 0.3 s (on a thread) until an event
    satisfying ``until`` arrives; return every event received."""
    got: list[dict[str, Any]] = []
    done = threading.Event()

    def producer() -> None:
        while not done.wait(0.3):
            produce()

    thread = threading.Thread(target=producer)
    with httpx.stream(
        "GET", f"{api.url}/events/stream", headers=headers, params=params, timeout=10.0
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        try:
            for message in messages(r):
                if message.get("comment") == "stream open":
                    thread.start()
                elif "data" in message:
                    assert message["event"] == "event"
                    assert int(message["id"]) == message["data"]["seq"]
                    got.append(message["data"])
                    if until(message["data"]):
                        break
        finally:
            done.set()
            if thread.is_alive():
                thread.join()
    return got


def test_stream_delivers_a_new_event(api: Api) -> None:
    written: list[int] = []
    got = collect(
        api,
        api.admin,
        until=lambda e: e["event_type"] == "push",
        produce=lambda: written.append(write(api.settings, "bob", "push")["seq"]),
    )
    assert got[-1]["seq"] in written
    assert got[-1]["user_id"] == "bob"


def test_stream_is_scoped_to_the_user(api: Api) -> None:
    def others_then_mine() -> None:
        write(api.settings, "bob", "push")
        write(api.settings, "bob", "merge")
        write(api.settings, "alice", "push")

    got = collect(
        api, api.alice, until=lambda e: e["event_type"] == "push", produce=others_then_mine
    )
    assert got
    assert {e["user_id"] for e in got} == {"alice"}


def test_stream_filters_by_type_and_sends_the_last_n_first(api: Api) -> None:
    got = collect(
        api,
        api.admin,
        until=lambda e: e["event_type"] == "merge",
        params={"event_type": "commit,merge", "last": 2},
        produce=lambda: write(api.settings, "bob", "merge"),
    )
    assert [(e["user_id"], e["event_type"]) for e in got] == [
        ("alice", "commit"),
        ("bob", "commit"),
        ("bob", "merge"),
    ]


def test_reconnect_with_last_event_id_resumes(api: Api) -> None:
    first = write(api.settings, "bob", "fetch")
    second = write(api.settings, "bob", "merge")
    third = write(api.settings, "bob", "clone")
    got = collect(
        api,
        {**api.admin, "Last-Event-ID": str(first["seq"])},
        until=lambda e: e["seq"] == third["seq"],
        params={"user_id": "bob"},
    )
    assert [e["seq"] for e in got] == [second["seq"], third["seq"]]


def test_stream_slots_are_capped_and_released(settings: Settings) -> None:
    app = create_app(settings.with_changes(admin_keys=(ADMIN_ENV_KEY,)), max_streams=1)
    with running(app) as url:
        opened = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with httpx.stream("GET", f"{url}/events/stream", headers=ADMIN, timeout=10) as r:
                lines = r.iter_lines()  # kept: a dropped iterator closes the connection
                next(lines)
                opened.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert opened.wait(10)
        busy = httpx.get(f"{url}/events/stream", headers=ADMIN)
        assert busy.status_code == 503
        release.set()
        holder.join(10)
        deadline = time.monotonic() + 10
        while True:  # the follow loop notices the disconnect within a poll or two
            with httpx.stream("GET", f"{url}/events/stream", headers=ADMIN, timeout=10) as r:
                if r.status_code == 200:
                    break
            assert time.monotonic() < deadline, "stream slot never released"
            time.sleep(0.2)


def test_a_revoked_key_ends_its_open_stream(api: Api) -> None:
    """Revocation is checked every poll, not only when the stream opened."""
    from mfn_tracker.access.keys import load_keys, revoke_key

    (record,) = [k for k in load_keys(api.settings) if k.user_id == "alice" and k.active]
    got: list[dict[str, Any]] = []
    started = time.monotonic()
    with httpx.stream("GET", f"{api.url}/events/stream", headers=api.alice, timeout=10.0) as r:
        assert r.status_code == 200
        for message in messages(r):
            got.append(message)
            if message.get("comment") == "stream open":
                revoke_key(api.settings, record.key_id)
                started = time.monotonic()
                write(api.settings, "alice", "push")
            if message.get("event") == "error":
                break
    assert time.monotonic() - started < 5
    assert got[-1] == {"event": "error", "data": {"detail": "access denied: the key was revoked"}}
    assert not [m for m in got if m.get("event") == "event"]  # nothing after the revocation
    denied = httpx.get(f"{api.url}/events", headers=api.alice)
    assert denied.status_code == 401


def test_a_line_with_a_null_seq_is_sent_not_a_crash(api: Api) -> None:
    write(api.settings, "bob", "fetch")
    day = sorted(api.settings.storage_path.glob("events_*.jsonl"))[-1]
    stamp = f"{day.name[7:17]}T23:59:59.999Z"
    with day.open("ab") as stream:
        stream.write(
            b'{"seq":null,"timestamp":"%s","event_type":"commit","user_id":"bob",'
            b'"action_description":"odd","status":"success"}\n' % stamp.encode()
        )
    params = {"last": 1, "user_id": "bob"}
    with httpx.stream(
        "GET", f"{api.url}/events/stream", headers=api.admin, params=params, timeout=10.0
    ) as r:
        assert r.status_code == 200
        sent = next(m for m in messages(r) if "data" in m)
    assert (sent["event"], sent["id"]) == ("event", "0")
    assert sent["data"]["action_description"] == "odd"
