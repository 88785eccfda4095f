"""Roles and keys: every read of the audit log asks this package who the caller is and what it
may see (DESIGN.md, "Roles")."""

from __future__ import annotations

from mfn_tracker.access.caller import (
    ADMIN,
    USER,
    Caller,
    Unauthenticated,
    authenticate,
    plain_filters,
    record_read,
    scope,
)
from mfn_tracker.access.recheck import KeyCheck
from mfn_tracker.errors import AccessDenied

__all__ = [
    "ADMIN",
    "USER",
    "AccessDenied",
    "Caller",
    "KeyCheck",
    "Unauthenticated",
    "authenticate",
    "plain_filters",
    "record_read",
    "scope",
]
