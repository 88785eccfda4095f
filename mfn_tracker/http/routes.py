"""Which event type a request is recorded as: an explicit table, never a guess from substrings.

The seed's middleware turned ``/author`` into an authentication event because the path contained
"auth". Here a rule names a whole path (``{name}`` stands for exactly one segment), optionally
with a method: ``{"POST /login": "auth_login", "/repos/{repo}/push": "push"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mfn_tracker.errors import EXIT_USAGE, TrackerError
from mfn_tracker.store import validate

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RouteRule:
    method: str | None  # None: any method
    segments: tuple[str, ...]
    event_type: str

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if not _is_param(s))

    def matches(self, method: str, segments: tuple[str, ...]) -> bool:
        if self.method is not None and self.method != method:
            return False
        if len(segments) != len(self.segments):
            return False
        return all(_is_param(p) or p == s for p, s in zip(self.segments, segments, strict=True))


def _is_param(segment: str) -> bool:
    return len(segment) > 2 and segment[0] == "{" and segment[-1] == "}"


def _split(path: str) -> tuple[str, ...]:
    return tuple(s for s in path.split("/") if s)


@dataclass(frozen=True)
class RouteMap:
    """Ordered rules: the most specific match wins (method given, then more literal segments)."""

    rules: tuple[RouteRule, ...] = ()

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str] | None) -> RouteMap:
        """Parse ``{"[METHOD ]/path": "event_type"}``; a bad rule is a usage error at startup."""
        rules = [_parse_rule(key, value) for key, value in (mapping or {}).items()]
        rules.sort(key=lambda r: (r.method is None, -r.literal_count))
        return cls(tuple(rules))

    def event_type(self, method: str, path: str) -> str | None:
        segments = _split(path)
        for rule in self.rules:
            if rule.matches(method, segments):
                return rule.event_type
        return None


def _parse_rule(key: str, event_type: str) -> RouteRule:
    method, _, path = key.strip().rpartition(" ")
    method = method.strip().upper()
    if method and method not in _METHODS:
        raise TrackerError(f"route rule {key!r}: unknown method {method!r}", exit_code=EXIT_USAGE)
    if not path.startswith("/"):
        raise TrackerError(f"route rule {key!r}: the path must start with /", exit_code=EXIT_USAGE)
    try:
        checked = validate.check_event_type(event_type)
    except validate.EventValueError as exc:
        raise TrackerError(f"route rule {key!r}: {exc}", exit_code=EXIT_USAGE) from None
    return RouteRule(method or None, _split(path), checked)
