"""Issuing and revoking keys, each recorded as an ``auth_api_key`` event (who did it, which key)."""

from __future__ import annotations

import getpass

from mfn_tracker.access.keys import KeyRecord, create_key, revoke_key
from mfn_tracker.settings import Settings


def issue_key(settings: Settings, *, user_id: str, role: str) -> tuple[KeyRecord, str]:
    record, api_key = create_key(settings, user_id=user_id, role=role)
    _audit(settings, record, action="created")
    return record, api_key


def withdraw_key(settings: Settings, key_id: str) -> KeyRecord:
    record = revoke_key(settings, key_id)
    _audit(settings, record, action="revoked")
    return record


def _audit(settings: Settings, record: KeyRecord, *, action: str) -> None:
    from mfn_tracker.access.audit import write_event

    write_event(
        settings,
        {
            "event_type": "auth_api_key",
            "user_id": _os_user(),
            "action_description": (
                f"API key {record.key_id} ({record.role} for {record.user_id}) {action}"
            ),
            "status": "success",
            "metadata": {
                "action": action,
                "key_id": record.key_id,
                "role": record.role,
                "for_user": record.user_id,
            },
        },
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"
