"""A short load test on loopback (50 clients x 3 s): no errors, no lost or corrupt lines.

Servers run in processes of their own (as in production, and so the load generator does not share
their interpreter); they are stopped with SIGTERM, whose shutdown must flush every queued event.
``bench/bench_http.py`` runs the same for 20 s and reports requests/s and p99.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from mfn_tracker.access.keys import create_key
from mfn_tracker.settings import Settings
from tests.helpers.events import all_events, chain_ok
from tests.http.conftest import seed_events
from tests.http.load import hammer
from tests.http.server import process

CLIENTS = 50
SECONDS = 3.0


def test_load_on_the_sample_app_with_the_middleware(storage: Path) -> None:
    with process([sys.executable, "-m", "tests.http.sample_server"]) as url:
        result = hammer(f"{url}/hello?page=1", clients=CLIENTS, seconds=SECONDS)
    print(result.line("sample app + middleware"))
    assert result.errors == 0, (result.statuses, result.failures[:3])
    assert result.requests > CLIENTS
    events = all_events(storage)  # fails on any line that is not JSON
    assert len(events) == result.requests  # one event per request: none lost, none doubled
    assert Counter(e["event_type"] for e in events) == {"api_request": result.requests}
    assert len({e["request_id"] for e in events}) == result.requests
    assert chain_ok(storage)


def test_load_on_events(settings: Settings, storage: Path) -> None:
    seed_events(settings)
    _, key = create_key(settings, user_id="alice", role="user")
    argv = [sys.executable, "-m", "mfn_tracker", "serve", "--port", "0", "--log-level", "warning"]
    with process(argv) as url:
        result = hammer(
            f"{url}/events", clients=CLIENTS, seconds=SECONDS, headers={"X-API-Key": key}
        )
    print(result.line("GET /events (user key)"))
    assert result.errors == 0, (result.statuses, result.failures[:3])
    kinds = Counter(e["event_type"] for e in all_events(storage))
    assert kinds["api_request"] == result.requests  # every read recorded by access
    assert kinds["api_response"] == result.requests  # and every response by the middleware
    assert kinds["system_start"] == kinds["system_stop"] == 1
    assert chain_ok(storage)
