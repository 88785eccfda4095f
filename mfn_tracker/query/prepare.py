"""What every read does first: let announced events land, and put filters in on-disk form."""

from __future__ import annotations

from dataclasses import replace

from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query

PENDING_TIMEOUT = 2.0  # seconds a read waits for events a detached git hook announced


def wait_for_writes(settings: Settings, *, timeout: float = PENDING_TIMEOUT) -> None:
    """Wait (briefly) for events announced by detached hooks, so a read right after
    ``git push`` sees the push."""
    from mfn_tracker.store.pending import wait_for_pending

    wait_for_pending(settings.storage_path, timeout=timeout)


def storage_query(settings: Settings, query: Query) -> Query:
    """The query as lines store it: user ids are pseudonyms when ``MFN_PSEUDONYMIZE`` is on."""
    if not settings.pseudonymize or query.user is None:
        return query
    from mfn_tracker.privacy import pseudonymize_user

    return replace(query, user=pseudonymize_user(query.user, settings))
