"""The seed's Python API, done right: names, mappings, reads, no-disk mode, one logger."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import mfn_tracker
from mfn_tracker import EventStatus, EventType, SystemEvent, get_event_logger, log_system_event
from mfn_tracker.errors import TrackerError
from mfn_tracker.logger import SystemEventLogger
from mfn_tracker.store.writer import InvalidEvent, WriteError
from tests.helpers.events import all_events


def test_log_system_event_writes_through_the_one_writer(storage: Path) -> None:
    event = log_system_event(
        event_type=EventType.COMMIT,
        user_id="developer",
        action_description="Updated model parameters",
        files_changed=["config.yaml", "model.pt"],
        comments="Improved convergence rate",
    )
    assert isinstance(event, SystemEvent)
    assert event.seq == 1 and event.event_type == "commit"
    (saved,) = all_events(storage)
    assert saved == event.to_dict()
    assert saved["files_changed"] == ["config.yaml", "model.pt"]


def test_convenience_methods_use_the_seed_types(storage: Path) -> None:
    logger = get_event_logger()
    logger.log_commit(user_id="dev", description="c", files_changed=["a"])
    logger.log_push(user_id="p", description="push")
    logger.log_pull_request(user_id="p", description="pr")
    logger.log_clone(user_id="p", description="clone")
    logger.log_fetch(user_id="p", description="fetch")
    logger.log_merge(user_id="p", description="merge")
    logger.log_comment("p", "looks good", "PR-7")
    logger.log_api_request("p", "/validate", "POST")
    types = [e["event_type"] for e in all_events(storage)]
    assert types == ["commit", "push", "pull_request", "clone", "fetch", "merge", "comment",
                     "api_request"]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "expected"),
    [("created", "file_create"), ("modified", "file_change"), ("deleted", "file_delete"),
     ("moved", "file_move")],
)  # fmt: skip
def test_log_file_change_maps_actions_to_types(storage: Path, action: str, expected: str) -> None:
    event = get_event_logger().log_file_change("u", "src/a.py", action)
    assert event.event_type == expected and event.files_changed == ["src/a.py"]


def test_log_file_change_refuses_unknown_actions(storage: Path) -> None:
    with pytest.raises(InvalidEvent, match="file action 'exploded'"):
        get_event_logger().log_file_change("u", "a", "exploded")


def test_log_authentication_accepts_only_auth_types(storage: Path) -> None:
    logger = get_event_logger()
    assert logger.log_authentication("u", EventType.AUTH_LOGIN, True).event_type == "auth_login"
    failed = logger.log_authentication("u", "auth_api_key", success=False)
    assert failed.event_type == "auth_failure" and failed.status == "failure"
    assert failed.metadata == {"attempted": "auth_api_key"}
    with pytest.raises(InvalidEvent, match="auth_type 'commit'"):
        logger.log_authentication("u", EventType.COMMIT, True)


def test_get_events_filters_and_keeps_the_newest(storage: Path) -> None:
    logger = get_event_logger()
    for i in range(5):
        logger.log_event(EventType.COMMIT, "alice", f"c{i}", timestamp=f"2024-12-12T0{i}:00:00Z")
    logger.log_event(EventType.PUSH, "bob", "p", EventStatus.FAILURE, timestamp="2024-12-12T09:00Z")
    assert [e.action_description for e in logger.get_events(date="2024-12-12", limit=2)] == [
        "p",
        "c4",
    ]
    assert len(logger.get_events(date="2024-12-12", event_type=EventType.COMMIT)) == 5
    assert [e.user_id for e in logger.get_events(date="2024-12-12", user_id="bob")] == ["bob"]
    assert len(logger.get_events(date="2024-12-12", status="failure")) == 1
    ranged = logger.get_events(since="2024-12-12T01:00:00Z", until="2024-12-12T03:00:00Z")
    assert [e.action_description for e in ranged] == ["c2", "c1"]
    assert logger.get_events() == []  # today: nothing yet


def test_get_events_rejects_bad_filters(storage: Path) -> None:
    logger = get_event_logger()
    for bad in ({"date": "2024-02-30"}, {"date": "../../etc"}, {"event_type": "nope"}):
        with pytest.raises(TrackerError) as info:
            logger.get_events(**bad)  # type: ignore[arg-type]
        assert info.value.exit_code == 2


def test_storage_disabled_touches_no_disk(tmp_path: Path) -> None:
    logger = SystemEventLogger(storage_path=tmp_path / "never", storage_enabled=False)
    logger.log_commit("u", "c", ["a"])
    logger.log_push("u", "p", metadata={"token": "t0ps3cret"})
    assert not (tmp_path / "never").exists()
    events = logger.get_events()
    assert [e.event_type for e in events] == ["push", "commit"]
    assert events[0].metadata == {"token": "[REDACTED]"}


def test_write_errors_reach_the_caller(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    logger = SystemEventLogger(storage_path=blocker / "events")
    with pytest.raises(WriteError, match="cannot"):
        logger.log_commit("u", "c")


def test_one_logger_per_process_even_across_threads() -> None:
    seen: list[SystemEventLogger] = []
    threads = [threading.Thread(target=lambda: seen.append(get_event_logger())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(logger) for logger in seen}) == 1


def test_importing_the_package_stays_cheap() -> None:
    code = (
        "import sys, mfn_tracker; "
        "print(sorted(m for m in ('pydantic','git','click','watchdog','fastapi','orjson') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert mfn_tracker.__version__


def test_log_events_writes_a_batch_and_returns_the_event_ids(storage: Path) -> None:
    logger = SystemEventLogger()
    events = [
        {"event_type": "file_create", "user_id": "importer", "action_description": f"f{i}"}
        for i in range(2_500)  # more than one write_many() batch
    ]
    ids = logger.log_events(events)
    # after 2,500 events a signed checkpoint follows them, as after any write
    stored = [e for e in all_events(storage) if e["event_type"] != "checkpoint"]
    assert ids == [e["event_id"] for e in stored]
    assert [e["action_description"] for e in stored] == [f"f{i}" for i in range(2_500)]
    assert SystemEvent.model_validate(stored[0]).event_type == EventType.FILE_CREATE


def test_log_events_refuses_a_batch_with_a_bad_event(storage: Path) -> None:
    logger = SystemEventLogger()
    good = {"event_type": "commit", "user_id": "u", "action_description": "ok"}
    with pytest.raises(InvalidEvent, match="event 2 of the batch"):
        logger.log_events([good, {**good, "event_type": "nope"}])
    assert all_events(storage) == []


def test_log_events_without_storage_keeps_them_in_memory(tmp_path: Path) -> None:
    logger = SystemEventLogger(storage_path=tmp_path / "unused", storage_enabled=False)
    ids = logger.log_events(
        [{"event_type": "commit", "user_id": "u", "action_description": "d"}] * 3
    )
    assert [e.event_id for e in logger.get_events(newest_first=False)] == ids
    assert not (tmp_path / "unused").exists()


def test_log_events_says_how_much_of_a_long_stream_was_written(storage: Path) -> None:
    logger = SystemEventLogger()
    good = {"event_type": "commit", "user_id": "u", "action_description": "ok"}
    events = [good] * 1_500 + [{**good, "user_id": ""}]
    with pytest.raises(InvalidEvent, match=r"event 501 of the batch: .*1000 events before it"):
        logger.log_events(iter(events))
    assert len([e for e in all_events(storage) if e["event_type"] == "commit"]) == 1_000
