"""Every endpoint, every role and every bad parameter, through a real uvicorn and httpx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from mfn_tracker.access.keys import create_key
from mfn_tracker.http.app import create_app
from mfn_tracker.settings import Settings
from mfn_tracker.types import EVENT_DESCRIPTIONS
from tests.helpers.events import all_events, chain_ok, raw_lines
from tests.http.conftest import ADMIN_ENV_KEY, PAST_DAY, Api
from tests.http.server import running


def events(api: Api, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{api.url}/events", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def seeded(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(user, type) of the seeded events in a response, leaving out the API's own records."""
    own = {"api_request", "api_response", "auth_failure", "system_start", "system_stop"}
    return [(e["user_id"], e["event_type"]) for e in body["events"] if e["event_type"] not in own]


def test_health_needs_no_key_and_is_not_recorded(api: Api) -> None:
    r = httpx.get(f"{api.url}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    api.flush()
    assert not any(
        e["metadata"].get("path") == "/health"
        for e in all_events(api.settings.storage_path)
        if e.get("metadata")
    )


def test_admin_sees_everything_in_the_seed_response_shape(api: Api) -> None:
    body = events(api, api.admin, date=PAST_DAY)
    assert set(body) >= {"events", "total", "date", "filters_applied", "next_cursor"}
    assert body["date"] == PAST_DAY
    assert body["total"] == len(body["events"]) == 5
    assert seeded(body) == [
        ("alice", "file_change"),
        ("bob", "merge"),
        ("alice", "push"),
        ("bob", "push"),
        ("alice", "commit"),
    ]  # newest first
    assert body["next_cursor"] is None
    assert body["filters_applied"]["since"] == f"{PAST_DAY}T00:00:00.000Z"
    only_bob = events(api, api.admin, date=PAST_DAY, user_id="bob")
    assert {u for u, _ in seeded(only_bob)} == {"bob"}
    assert only_bob["filters_applied"]["user_id"] == "bob"


def test_registry_admin_key_is_admin_too(api: Api) -> None:
    _, key = create_key(api.settings, user_id="dana", role="admin")
    body = events(api, {"X-API-Key": key}, date=PAST_DAY)
    assert {u for u, _ in seeded(body)} == {"alice", "bob"}


def test_today_is_the_default_day(api: Api) -> None:
    body = events(api, api.admin)
    assert body["date"] is not None
    assert sorted(seeded(body)) == [
        ("alice", "clone"),
        ("alice", "commit"),
        ("bob", "commit"),
        ("bob", "fetch"),
    ]


def test_user_is_scoped_to_itself_whatever_it_asks(api: Api) -> None:
    mine = events(api, api.alice, date=PAST_DAY)
    assert {u for u, _ in seeded(mine)} == {"alice"}
    assert len(seeded(mine)) == 3
    asked_for_bob = events(api, api.alice, date=PAST_DAY, user_id="bob")
    assert {u for u, _ in seeded(asked_for_bob)} == {"alice"}
    assert asked_for_bob["filters_applied"]["user_id"] == "alice"
    assert "alice" in asked_for_bob["note"]
    for combo in ({"event_type": "push"}, {"status": "success"}, {"event_type": "merge,push"}):
        body = events(api, api.alice, date=PAST_DAY, **combo)
        assert {u for u, _ in seeded(body)} <= {"alice"}
    stats = httpx.get(f"{api.url}/events/stats", headers=api.alice, params={"date": PAST_DAY})
    assert stats.status_code == 200
    figures = stats.json()
    assert figures["total"] == 3
    assert figures["unique_users"] == 1
    assert "by_user" not in figures


def test_filters_type_status_range_and_repeats(api: Api) -> None:
    assert seeded(events(api, api.admin, date=PAST_DAY, event_type="push")) == [
        ("alice", "push"),
        ("bob", "push"),
    ]
    assert seeded(events(api, api.admin, date=PAST_DAY, status="failure")) == [("alice", "push")]
    both = httpx.get(
        f"{api.url}/events",
        headers=api.admin,
        params=[("date", PAST_DAY), ("event_type", "merge"), ("event_type", "commit")],
    ).json()
    assert seeded(both) == [("bob", "merge"), ("alice", "commit")]
    ranged = events(api, api.admin, since=f"{PAST_DAY}T10:01:00Z", until=f"{PAST_DAY}T10:03:00Z")
    assert ranged["date"] is None
    assert seeded(ranged) == [("alice", "push"), ("bob", "push")]


def test_paging_with_cursor_visits_every_event_once(api: Api) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"date": PAST_DAY, "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        body = events(api, api.admin, **params)
        seen.extend(e["seq"] for e in body["events"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 5


def test_types_lists_every_type_with_its_description(api: Api) -> None:
    r = httpx.get(f"{api.url}/events/types", headers=api.alice)
    assert r.status_code == 200
    listed = {t["event_type"]: t for t in r.json()["event_types"]}
    assert set(listed) == set(EVENT_DESCRIPTIONS)
    assert listed["commit"]["extension"] is False
    assert listed["file_move"]["extension"] is True
    assert r.json()["statuses"] == ["failure", "in_progress", "pending", "success"]


def test_stats_have_the_seed_figures(api: Api) -> None:
    r = httpx.get(f"{api.url}/events/stats", headers=api.admin, params={"date": PAST_DAY})
    assert r.status_code == 200
    figures = r.json()
    assert figures["date"] == PAST_DAY
    assert figures["total"] == 5
    assert figures["by_type"] == {"push": 2, "commit": 1, "file_change": 1, "merge": 1}
    assert figures["by_status"] == {"success": 4, "failure": 1}
    assert figures["unique_users"] == 2
    assert figures["average_duration_ms"] == 30.0
    assert figures["by_user"] == {"alice": 3, "bob": 2}
    hourly = httpx.get(
        f"{api.url}/events/stats", headers=api.admin, params={"date": PAST_DAY, "bucket": "hour"}
    ).json()
    assert hourly["by_hour"] == {f"{PAST_DAY}T10": 5}


@pytest.mark.parametrize("path", ["/events", "/events/types", "/events/stats", "/events/stream"])
def test_anonymous_is_403_and_recorded(api: Api, path: str) -> None:
    r = httpx.get(f"{api.url}{path}")
    assert r.status_code == 403
    assert r.json() == {"detail": "an API key is required (X-API-Key header)"}
    api.flush()
    failures = [
        e for e in all_events(api.settings.storage_path) if e["event_type"] == "auth_failure"
    ]
    assert [(e["user_id"], e["metadata"]["route"]) for e in failures] == [("anonymous", path)]


@pytest.mark.parametrize("path", ["/events", "/events/types", "/events/stats", "/events/stream"])
@pytest.mark.parametrize("who", ["unknown", "revoked"])
def test_unknown_or_revoked_key_is_401_and_auth_failure(api: Api, who: str, path: str) -> None:
    headers = {"X-API-Key": "mfn_not-a-key-at-all"} if who == "unknown" else api.revoked
    r = httpx.get(f"{api.url}{path}", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"detail": "unknown or revoked API key"}
    assert "X-API-Key" in r.headers["www-authenticate"]
    api.flush()
    (failure,) = [
        e for e in all_events(api.settings.storage_path) if e["event_type"] == "auth_failure"
    ]
    assert failure["metadata"]["reason"] == f"{who} key"
    assert failure["metadata"]["channel"] == "http"
    assert failure["source_ip"] == "127.0.0.0"
    assert headers["X-API-Key"].encode() not in b"".join(raw_lines(api.settings.storage_path))


def test_every_read_is_recorded_with_caller_filters_and_request_id(api: Api) -> None:
    r = httpx.get(
        f"{api.url}/events", headers=api.alice, params={"date": PAST_DAY, "user_id": "bob"}
    )
    assert r.status_code == 200
    api.flush()
    storage = api.settings.storage_path
    (read,) = [e for e in all_events(storage) if e["event_type"] == "api_request"]
    assert read["user_id"] == "alice"
    assert read["request_id"] == r.headers["x-request-id"]
    assert read["metadata"]["command"] == "GET /events"
    assert read["metadata"]["channel"] == "http"
    assert read["metadata"]["filters"]["user_id"] == "alice"
    (response,) = [e for e in all_events(storage) if e["event_type"] == "api_response"]
    assert response["request_id"] == read["request_id"]
    assert response["metadata"]["status_code"] == 200
    assert api.alice["X-API-Key"].encode() not in b"".join(raw_lines(storage))
    assert chain_ok(storage)


BAD_PARAMS = [
    ({"limit": "1001"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "lots"}, "limit"),
    ({"cursor": "abc"}, "cursor"),
    ({"cursor": "99999999999999999999"}, "cursor"),
    ({"cursor": str((1 << 62) + 1)}, "cursor"),
    ({"date": "../../etc"}, "date"),
    ({"date": "2026-02-30"}, "date"),
    ({"event_type": "autho"}, "event_type"),
    ({"status": "weird"}, "status"),
    ({"since": "last tuesday-ish"}, "time"),
    ({"date": PAST_DAY, "since": "2026-01-01"}, "date"),
    ({"limt": "5"}, "unknown parameter"),
]


@pytest.mark.parametrize(("params", "named"), BAD_PARAMS)
def test_bad_parameters_are_400_with_a_short_message(
    api: Api, params: dict[str, str], named: str
) -> None:
    r = httpx.get(f"{api.url}/events", headers=api.admin, params=params)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    assert named in detail
    assert len(detail) < 200
    assert str(api.settings.storage_path) not in detail
    assert "Traceback" not in detail


@pytest.mark.parametrize(
    ("path", "params", "headers"),
    [
        ("/events/stats", {"bucket": "week"}, {}),
        ("/events/stats", {"date": "2026-13-01"}, {}),
        ("/events/stats", {"limit": "5"}, {}),
        ("/events/types", {"x": "1"}, {}),
        ("/events/stream", {"last": "5000"}, {}),
        ("/events/stream", {"event_type": "nope"}, {}),
        ("/events/stream", {}, {"Last-Event-ID": "../1"}),
    ],
)
def test_bad_parameters_on_other_endpoints(
    api: Api, path: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    r = httpx.get(f"{api.url}{path}", headers={**api.admin, **headers}, params=params)
    assert r.status_code == 400, r.text
    assert len(r.json()["detail"]) < 200


def test_anonymous_learns_nothing_from_bad_parameters(api: Api) -> None:
    assert httpx.get(f"{api.url}/events", params={"limit": "9999"}).status_code == 403


def test_openapi_docs(api: Api) -> None:
    assert httpx.get(f"{api.url}/docs").status_code == 200
    spec = httpx.get(f"{api.url}/openapi.json").json()
    assert {"/events", "/events/types", "/events/stats", "/events/stream", "/health"} <= set(
        spec["paths"]
    )
    schemes = spec["components"]["securitySchemes"]
    assert any(s.get("name") == "X-API-Key" for s in schemes.values())


def test_unreadable_storage_is_503_without_internals(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    broken = settings.with_changes(storage_path=blocker, admin_keys=(ADMIN_ENV_KEY,))
    app = create_app(broken)
    with running(app) as url:
        r = httpx.get(f"{url}/events", headers={"X-API-Key": ADMIN_ENV_KEY})
    assert r.status_code == 503
    assert r.json() == {"detail": "event storage unavailable"}


def test_cors_for_a_named_dashboard_origin_only(settings: Settings) -> None:
    app = create_app(
        settings.with_changes(admin_keys=(ADMIN_ENV_KEY,)), cors_origins=("https://dash.example",)
    )
    with running(app) as url:
        preflight = httpx.options(
            f"{url}/events",
            headers={
                "Origin": "https://dash.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
        ok = httpx.get(
            f"{url}/events", headers={"Origin": "https://dash.example", "X-API-Key": ADMIN_ENV_KEY}
        )
        assert ok.headers["access-control-allow-origin"] == "https://dash.example"
        other = httpx.get(
            f"{url}/events", headers={"Origin": "https://evil.example", "X-API-Key": ADMIN_ENV_KEY}
        )
        assert "access-control-allow-origin" not in other.headers


def test_far_future_dates_are_an_answer_not_a_500(api: Api) -> None:
    for path in ("/events", "/events/stats"):
        for params in ({"since": "2026-01-01", "until": "9999-12-31"}, {"since": "8000-01-01"}):
            r = httpx.get(f"{api.url}{path}", headers=api.admin, params=params)
            assert r.status_code == 200, r.text


def test_a_scoped_away_user_filter_is_recorded_as_requested(api: Api) -> None:
    for path in ("/events", "/events/stats"):
        r = httpx.get(f"{api.url}{path}", headers=api.alice, params={"user_id": "bob"})
        assert r.status_code == 200
    own = httpx.get(f"{api.url}/events", headers=api.alice, params={"user_id": "alice"})
    assert own.status_code == 200
    api.flush()
    reads = [e for e in all_events(api.settings.storage_path) if e["event_type"] == "api_request"]
    filters = [r["metadata"]["filters"] for r in reads]
    assert [(f["user_id"], f.get("requested_user")) for f in filters] == [
        ("alice", "bob"),
        ("alice", "bob"),
        ("alice", None),
    ]
