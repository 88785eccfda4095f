"""Events written through the real writer, at chosen times, for the query tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter

Write = Callable[..., dict[str, Any]]


@pytest.fixture
def write(settings: Settings) -> Iterator[Write]:
    """``write(ts, user, type, **fields)``: one event through the one writer."""
    writer = EventWriter(settings)

    def one(
        timestamp: str | None,
        user: str = "alice",
        event_type: str = "commit",
        **fields: Any,
    ) -> dict[str, Any]:
        return writer.write(
            {
                "event_type": event_type,
                "user_id": user,
                "action_description": f"{event_type} by {user}",
                "timestamp": timestamp,
                **fields,
            }
        )

    yield one
    writer.close()
