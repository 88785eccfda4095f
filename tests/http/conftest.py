"""An API server on 127.0.0.1, keys for each role, and a small log of alice's and bob's events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from mfn_tracker.access.keys import create_key, revoke_key
from mfn_tracker.http.app import create_app
from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from tests.http.server import running

ADMIN_ENV_KEY = "env-admin-key-0123456789abcdef"
PAST_DAY = "2026-03-14"


@dataclass(frozen=True)
class Api:
    url: str
    app: FastAPI
    settings: Settings
    admin: dict[str, str]
    alice: dict[str, str]
    bob: dict[str, str]
    revoked: dict[str, str]

    def flush(self) -> None:
        assert self.app.state.event_writer.flush(10)


def seed_events(settings: Settings) -> None:
    """Five past events (alice 3, bob 2) and four of today."""
    writer = EventWriter(settings)
    try:
        for minute, (user, kind, status) in enumerate(
            [
                ("alice", "commit", "success"),
                ("bob", "push", "success"),
                ("alice", "push", "failure"),
                ("bob", "merge", "success"),
                ("alice", "file_change", "success"),
            ]
        ):
            writer.write(
                {
                    "event_type": kind,
                    "user_id": user,
                    "action_description": f"{kind} by {user}",
                    "status": status,
                    "timestamp": f"{PAST_DAY}T10:{minute:02d}:00.000Z",
                    "duration_ms": 10.0 * (minute + 1),
                }
            )
        for user, kind in [
            ("alice", "commit"),
            ("bob", "commit"),
            ("bob", "fetch"),
            ("alice", "clone"),
        ]:
            writer.write({"event_type": kind, "user_id": user, "action_description": f"{kind} now"})
    finally:
        writer.close()


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.with_changes(admin_keys=(ADMIN_ENV_KEY,))


@pytest.fixture
def api(api_settings: Settings, storage: Path) -> Iterator[Api]:
    seed_events(api_settings)
    _, alice_key = create_key(api_settings, user_id="alice", role="user")
    _, bob_key = create_key(api_settings, user_id="bob", role="user")
    old, old_key = create_key(api_settings, user_id="carol", role="user")
    revoke_key(api_settings, old.key_id)
    app = create_app(api_settings)
    with running(app) as url:
        yield Api(
            url=url,
            app=app,
            settings=api_settings,
            admin={"X-API-Key": ADMIN_ENV_KEY},
            alice={"X-API-Key": alice_key},
            bob={"X-API-Key": bob_key},
            revoked={"X-API-Key": old_key},
        )
