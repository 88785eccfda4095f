"""The one list of event types and statuses; stdlib only, so the hook path can use it."""

from __future__ import annotations

import enum


class EventType(str, enum.Enum):
    """What happened. The first 21 values are the seed's, spelled exactly as it spells them."""

    COMMIT = "commit"
    PUSH = "push"
    PULL_REQUEST = "pull_request"
    FILE_CHANGE = "file_change"
    FILE_CREATE = "file_create"
    FILE_DELETE = "file_delete"
    CLONE = "clone"
    FETCH = "fetch"
    MERGE = "merge"
    COMMENT = "comment"
    REVIEW = "review"
    AUTH_LOGIN = "auth_login"
    AUTH_LOGOUT = "auth_logout"
    AUTH_API_KEY = "auth_api_key"
    AUTH_FAILURE = "auth_failure"
    API_REQUEST = "api_request"
    API_RESPONSE = "api_response"
    API_ERROR = "api_error"
    SYSTEM_START = "system_start"
    SYSTEM_STOP = "system_stop"
    SYSTEM_CONFIG = "system_config"
    # Extensions, for facts the seed has no fitting type for.
    FILE_MOVE = "file_move"
    REWRITE = "rewrite"
    WATCH_RESCAN = "watch_rescan"
    CHECKPOINT = "checkpoint"
    RETENTION = "retention"
    EVENTS_LOST = "events_lost"

    def __str__(self) -> str:
        return self.value


class EventStatus(str, enum.Enum):
    """How it ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"

    def __str__(self) -> str:
        return self.value


SEED_EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)[:21]

EVENT_DESCRIPTIONS: dict[str, str] = {
    "commit": "A commit was created (git post-commit).",
    "push": "A push was attempted (pending) or confirmed by the remote (success).",
    "pull_request": "A pull request was opened, updated or merged.",
    "file_change": "A file's content or mode changed in a working tree.",
    "file_create": "A file appeared in a working tree.",
    "file_delete": "A file disappeared from a working tree.",
    "clone": "A repository was cloned.",
    "fetch": "Remote-tracking refs were updated by fetch (or the fetch half of pull).",
    "merge": "A merge completed (git merge, or the merge half of pull).",
    "comment": "An audit comment or annotation.",
    "review": "A review action.",
    "auth_login": "A user logged in.",
    "auth_logout": "A user logged out.",
    "auth_api_key": "An API key was used, created or revoked.",
    "auth_failure": "Authentication failed (unknown, revoked or malformed key).",
    "api_request": "An API request, including every read of the audit log itself.",
    "api_response": "An API response.",
    "api_error": "An API request ended in a server error.",
    "system_start": "A tracker component started.",
    "system_stop": "A tracker component stopped.",
    "system_config": "A tracker component's configuration changed or was reloaded.",
    "file_move": "Extension: a file was renamed or moved (metadata.old_path).",
    "rewrite": "Extension: commits were rewritten by amend or rebase (old -> new shas).",
    "watch_rescan": "Extension: the file watcher lost events (queue overflow) and rescanned.",
    "checkpoint": "Extension: a signed checkpoint of the hash chain.",
    "retention": "Extension: a day file was compressed or deleted by the retention policy.",
    "events_lost": "Extension: a recorder died before writing an event it had announced.",
}

EXTENSION_TYPES: frozenset[str] = frozenset(
    t.value for t in EventType if t.value not in SEED_EVENT_TYPES
)
EVENT_TYPE_VALUES: frozenset[str] = frozenset(t.value for t in EventType)
STATUS_VALUES: frozenset[str] = frozenset(s.value for s in EventStatus)
AUTH_TYPES: frozenset[str] = frozenset(
    {"auth_login", "auth_logout", "auth_api_key", "auth_failure"}
)
