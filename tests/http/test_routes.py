"""The route table: whole paths and segments, never substrings."""

from __future__ import annotations

import pytest

from mfn_tracker.errors import TrackerError
from mfn_tracker.http.routes import RouteMap

TABLE = RouteMap.from_mapping(
    {
        "/repos/{repo}": "fetch",
        "POST /repos/{repo}": "push",
        "/repos/special": "clone",
        "/login": "auth_login",
    }
)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/login", "auth_login"),
        ("GET", "/login/", "auth_login"),
        ("GET", "/author", None),
        ("GET", "/auth", None),
        ("GET", "/loginx", None),
        ("GET", "/repos/x", "fetch"),
        ("POST", "/repos/x", "push"),
        ("GET", "/repos/special", "clone"),
        ("GET", "/repos/x/y", None),
        ("GET", "/repos", None),
    ],
)
def test_matching(method: str, path: str, expected: str | None) -> None:
    assert TABLE.event_type(method, path) == expected


@pytest.mark.parametrize(
    "rule", [{"/x": "autho"}, {"FETCH /x": "fetch"}, {"x": "fetch"}, {"GET": "fetch"}]
)
def test_bad_rules_are_usage_errors(rule: dict[str, str]) -> None:
    with pytest.raises(TrackerError) as caught:
        RouteMap.from_mapping(rule)
    assert caught.value.exit_code == 2
