"""``check``: Nagios states from the window's figures."""

from __future__ import annotations

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.logger import build_query
from mfn_tracker.query.check import Limit, Thresholds, parse_size, run_check
from mfn_tracker.settings import Settings
from tests.query.conftest import Write

WINDOW = build_query(since="1970-01-01")


def _check(settings: Settings, **limits: Limit) -> tuple[int, str]:
    result = run_check(settings, WINDOW, Thresholds(**limits))  # type: ignore[arg-type]
    return result.code, result.line


def test_quiet_log_is_ok_with_perfdata(settings: Settings, write: Write) -> None:
    write(None, event_type="api_request")
    code, line = _check(settings)
    assert code == 0 and line.startswith("MFN-TRACKER OK - ")
    _status, perf = line.split(" | ")
    assert "auth_failures=0;5;20;0" in perf and "api_error_rate=0%;5;20;0" in perf
    assert "events=1;;;0" in perf


def test_auth_failures_and_error_rate_raise_the_state(settings: Settings, write: Write) -> None:
    for _ in range(6):
        write(None, event_type="auth_failure", status="failure")
    assert _check(settings)[0] == 1
    assert _check(settings, auth_failures=Limit(2, 6))[0] == 2
    for _ in range(3):
        write(None, event_type="api_request")
    write(None, event_type="api_error", status="failure")
    code, line = _check(settings, auth_failures=Limit(100, 200))
    assert code == 2 and "api error rate 33.33%" in line  # 1 error per 3 requests


def test_too_few_events_or_too_much_storage_alerts(settings: Settings, write: Write) -> None:
    write(None)
    assert _check(settings, min_events=Limit(5, 0, low=True))[0] == 1
    assert _check(settings, min_events=Limit(5, 2, low=True))[0] == 2
    assert _check(settings, storage_bytes=Limit(10, None))[0] == 1


def test_window_excludes_older_events(settings: Settings, write: Write) -> None:
    write("2020-01-01T00:00:00.000Z", event_type="auth_failure", status="failure")
    assert "auth_failures=0;" in _check(settings)[1]


@pytest.mark.parametrize(("text", "size"), [("10", 10), ("2K", 2048), ("1.5G", 3 << 29)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_size() -> None:
    with pytest.raises(TrackerError):
        parse_size("lots")
