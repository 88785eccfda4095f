"""The pydantic model follows the writer's rules, and its schema is what `schema` prints."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from mfn_tracker.model import SystemEvent, json_schema
from mfn_tracker.types import EVENT_DESCRIPTIONS, SEED_EVENT_TYPES, EventType
from tests.helpers.cli import run_cli

VALID = {
    "event_type": "commit",
    "user_id": "u",
    "action_description": "d",
    "timestamp": "2024-12-12T09:20:35.394Z",
}


def test_the_seed_types_are_all_there() -> None:
    assert SEED_EVENT_TYPES == (
        "commit", "push", "pull_request", "file_change", "file_create", "file_delete", "clone",
        "fetch", "merge", "comment", "review", "auth_login", "auth_logout", "auth_api_key",
        "auth_failure", "api_request", "api_response", "api_error", "system_start",
        "system_stop", "system_config",
    )  # fmt: skip
    assert set(EVENT_DESCRIPTIONS) == {t.value for t in EventType}


def test_timestamps_are_normalized_to_one_width() -> None:
    event = SystemEvent(**{**VALID, "timestamp": "2024-12-12T10:20:35+01:00"})
    assert event.timestamp == "2024-12-12T09:20:35.000Z"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"event_type": "deploy"}, "unknown"),
        ({"status": "done"}, "status"),
        ({"user_id": ""}, "non-empty"),
        ({"files_changed": "a.py"}, "list"),
        ({"duration_ms": -5}, "duration_ms"),
        ({"metadata": {"x": {1, 2}}}, "not JSON"),
        ({"source_ip": "not-an-ip"}, "not an IP"),
        ({"timestamp": "2024-13-01"}, "timestamp"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SystemEvent(**{**VALID, **change})


def test_to_dict_and_to_json_leave_out_empty_fields() -> None:
    event = SystemEvent(**VALID)
    assert event.to_dict() == {**VALID, "system_event": True, "status": "success"}
    assert json.loads(event.to_json()) == event.to_dict()


def test_schema_command_prints_the_model_schema() -> None:
    result = run_cli("schema")
    assert result.code == 0
    assert json.loads(result.out) == json_schema()
    assert "event_type" in json_schema()["required"]
