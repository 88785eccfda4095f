"""Who is asking, and what they may see: the one place every read path asks for its scope.

admin: every event, any filter. user: only events whose ``user_id`` is its own, whatever it
asked for. anonymous: nothing. An unknown or revoked key is recorded as ``auth_failure`` (with a
prefix of the key's hash, never the key), and every successful read as ``api_request``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mfn_tracker.access.keys import KeyRecord, find_key, key_hash_prefix, match_admin_key
from mfn_tracker.errors import AccessDenied, TrackerError
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query

ADMIN = "admin"
USER = "user"
BOOTSTRAP_ADMIN = "admin"  # the user_id of a caller that used an MFN_ADMIN_KEYS key


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: its role comes from the key's record, never from its spelling."""

    role: str  # "admin" | "user"
    user_id: str
    key_id: str

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


class Unauthenticated(AccessDenied):
    """A key was presented but is unknown or revoked (HTTP 401; anonymous is 403)."""


def authenticate(
    settings: Settings,
    api_key: str | None,
    *,
    channel: str,
    source_ip: str | None = None,
) -> Caller:
    """Resolve a key to a caller; raises ``AccessDenied`` (no key) or ``Unauthenticated``."""
    if not api_key:
        raise AccessDenied("an API key is required: pass --api-key or set MFN_API_KEY")
    position = match_admin_key(settings, api_key)
    if position is not None:
        return Caller(role=ADMIN, user_id=BOOTSTRAP_ADMIN, key_id=f"env:{position}")
    record = find_key(settings, api_key)
    if record is not None and record.active:
        return Caller(role=record.role, user_id=record.user_id, key_id=record.key_id)
    _record_failure(settings, api_key, record, channel=channel, source_ip=source_ip)
    reason = "unknown key" if record is None else "revoked key"
    raise Unauthenticated(f"access denied: {reason}")


def scope(caller: Caller, query: Query) -> tuple[Query, str | None]:
    """The query this caller may run, and a note to show when a filter was overridden."""
    if caller.is_admin:
        return query, None
    if caller.role != USER:
        raise AccessDenied(f"role {caller.role!r} may not read events")
    note = None
    if query.user is not None and query.user != caller.user_id:
        note = (
            f"a user key sees only its own events: showing {caller.user_id!r}, not {query.user!r}"
        )
    return replace(query, user=caller.user_id), note


def record_read(
    settings: Settings,
    caller: Caller,
    *,
    command: str,
    filters: Mapping[str, object],
    channel: str = "cli",
    source_ip: str | None = None,
    request_id: str | None = None,
    requested_user: str | None = None,
) -> None:
    """Record a successful read as ``api_request``: the audit trail covers reads of itself.

    ``requested_user`` is the user filter asked for before ``scope``; when scoping replaced it,
    it is recorded too, so an attempt to read someone else's events stays in the trail.
    """
    from mfn_tracker.access.audit import write_event

    shown = plain_filters(filters)
    if requested_user is not None and requested_user != shown.get("user", shown.get("user_id")):
        shown["requested_user"] = requested_user
    if settings.pseudonymize:
        from mfn_tracker.privacy import pseudonymize_user

        for name in ("user", "user_id", "requested_user"):
            if isinstance(shown.get(name), str):
                shown[name] = pseudonymize_user(shown[name], settings)
    write_event(
        settings,
        {
            "event_type": "api_request",
            "user_id": caller.user_id,
            "action_description": f"Read audit log: {command}",
            "status": "success",
            "metadata": {
                "command": command,
                "channel": channel,
                "role": caller.role,
                "key_id": caller.key_id,
                "filters": shown,
            },
            "source_ip": source_ip,
            "request_id": request_id,
        },
    )


def _record_failure(
    settings: Settings,
    api_key: str,
    record: KeyRecord | None,
    *,
    channel: str,
    source_ip: str | None,
) -> None:
    from mfn_tracker.access.audit import write_event

    reason = "unknown key" if record is None else "revoked key"
    known = {} if record is None else {"key_id": record.key_id}
    try:
        write_event(
            settings,
            {
                "event_type": "auth_failure",
                "user_id": "unknown" if record is None else record.user_id,
                "action_description": f"API key rejected ({reason}) on {channel}",
                "status": "failure",
                "metadata": {
                    "reason": reason,
                    "channel": channel,
                    "key_hash_prefix": key_hash_prefix(api_key),
                    **known,
                },
                "source_ip": source_ip,
            },
        )
    except TrackerError as exc:
        raise Unauthenticated(
            f"access denied: {reason} (and the failure could not be recorded: {exc})"
        ) from None


def plain_filters(filters: Mapping[str, object]) -> dict[str, Any]:
    """Filters as JSON values (None dropped), for audit records and JSON output."""
    return {k: _plain(v) for k, v in filters.items() if v is not None}


def _plain(value: object) -> Any:
    """Filters as JSON values: sets become sorted lists, enums their value."""
    if isinstance(value, (set, frozenset, tuple, list)):
        return sorted(str(v) for v in value)
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
