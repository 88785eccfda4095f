"""One event in the shapes SIEMs and spreadsheets take: CSV rows, ECS documents, OCSF events.

ECS: Elastic Common Schema 8.11 field names and categorization values. OCSF 1.1: git operations
and API calls are API Activity (6003), authentication is Authentication (3002), working-tree
changes are File System Activity (1001), the rest Base Event (0). Whatever has no standard
field goes under ``mfn`` (ECS custom field set) or ``unmapped`` (OCSF), so nothing is lost.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any

from mfn_tracker._version import __version__
from mfn_tracker.query.output import csv_text, csv_untext
from mfn_tracker.store.timestamps import parse_timestamp

ECS_VERSION = "8.11.0"
OCSF_VERSION = "1.1.0"
PRODUCT = {"name": "mfn-tracker", "vendor_name": "mfn-tracker", "version": __version__}

# -- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "seq",
    "event_id",
    "timestamp",
    "event_type",
    "status",
    "user_id",
    "action_description",
    "repo",
    "host",
    "source_ip",
    "request_id",
    "duration_ms",
    "files_changed",
    "comments",
    "metadata",
    "system_event",
    "prev",
)
_JSON_COLUMNS = frozenset({"files_changed", "metadata", "system_event", "seq", "duration_ms"})


def csv_cell(column: str, value: Any) -> str:
    """A cell; text that a spreadsheet would run as a formula gets a leading ``'`` (reversibly)."""
    if value is None:
        return ""
    if column in _JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return csv_text(str(value))


def csv_value(column: str, cell: str) -> Any:
    """The inverse of :func:`csv_cell` (an empty cell is an absent field)."""
    if cell == "":
        return None
    if column in _JSON_COLUMNS:
        return json.loads(cell)
    return csv_untext(cell)


def csv_row(event: Mapping[str, Any]) -> list[str]:
    return [csv_cell(column, event.get(column)) for column in CSV_COLUMNS]


def event_from_csv(row: Mapping[str, str]) -> dict[str, Any]:
    out = {}
    for column in CSV_COLUMNS:
        value = csv_value(column, row.get(column, ""))
        if value is not None:
            out[column] = value
    return out


# -- shared ---------------------------------------------------------------------------------------

_GIT_TYPES = frozenset(
    {"commit", "push", "merge", "rewrite", "clone", "fetch", "pull_request", "review", "comment"}
)
_API_TYPES = frozenset({"api_request", "api_response", "api_error"})
_FILE_TYPES = frozenset({"file_create", "file_change", "file_delete", "file_move"})
_AUTH_TYPES = frozenset({"auth_login", "auth_logout", "auth_api_key", "auth_failure"})


def _outcome(event: Mapping[str, Any]) -> str:
    if event.get("event_type") in ("auth_failure", "api_error"):
        return "failure"
    return {"success": "success", "failure": "failure"}.get(str(event.get("status")), "unknown")


def _meta(event: Mapping[str, Any]) -> dict[str, Any]:
    meta = event.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _first_file(event: Mapping[str, Any]) -> str | None:
    files = event.get("files_changed")
    return files[0] if isinstance(files, list) and files and isinstance(files[0], str) else None


def _drop_empty(value: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        kept = _drop_empty(item) if isinstance(item, dict) else item
        if kept not in (None, {}, [], ""):
            out[key] = kept
    return out


# -- ECS ------------------------------------------------------------------------------------------

_ECS_CATEGORY: dict[str, tuple[str, str]] = {
    "auth_login": ("authentication", "start"),
    "auth_logout": ("authentication", "end"),
    "auth_api_key": ("authentication", "info"),
    "auth_failure": ("authentication", "start"),
    "file_create": ("file", "creation"),
    "file_change": ("file", "change"),
    "file_delete": ("file", "deletion"),
    "file_move": ("file", "change"),
    "commit": ("api", "change"),
    "push": ("api", "change"),
    "merge": ("api", "change"),
    "rewrite": ("api", "change"),
    "clone": ("api", "access"),
    "fetch": ("api", "access"),
    "pull_request": ("api", "creation"),
    "review": ("api", "info"),
    "comment": ("api", "info"),
    "api_request": ("api", "access"),
    "api_response": ("api", "access"),
    "api_error": ("api", "info"),
    "system_start": ("process", "start"),
    "system_stop": ("process", "end"),
    "system_config": ("configuration", "change"),
    "retention": ("file", "deletion"),
}


def to_ecs(event: Mapping[str, Any]) -> dict[str, Any]:
    """An Elastic Common Schema document (one per line in the export)."""
    kind = str(event.get("event_type"))
    category, ecs_type = _ECS_CATEGORY.get(kind, ("host", "info"))
    meta = _meta(event)
    path = _first_file(event)
    repo = event.get("repo")
    duration = event.get("duration_ms")
    doc = {
        "@timestamp": event.get("timestamp"),
        "ecs": {"version": ECS_VERSION},
        "message": event.get("action_description"),
        "event": {
            "kind": "event",
            "id": event.get("event_id"),
            "sequence": event.get("seq"),
            "action": kind,
            "category": [category],
            "type": [ecs_type],
            "outcome": _outcome(event),
            "module": "mfn_tracker",
            "dataset": "mfn_tracker.events",
            "duration": int(duration * 1_000_000) if isinstance(duration, (int, float)) else None,
            "hash": event.get("prev"),
        },
        "user": {"name": event.get("user_id")},
        "host": {"name": event.get("host"), "hostname": event.get("host")},
        "source": {"ip": event.get("source_ip")},
        "file": {
            "path": posixpath.join(repo, path) if isinstance(repo, str) and path else path,
            "name": posixpath.basename(path) if path else None,
        },
        "http": {"request": {"id": event.get("request_id"), "method": meta.get("method")}},
        "url": {"path": meta.get("endpoint")},
        "related": {"user": [event.get("user_id")], "hosts": [event.get("host")]},
        "mfn": {
            "repo": repo,
            "status": event.get("status"),
            "files_changed": event.get("files_changed"),
            "comments": event.get("comments"),
            "metadata": meta,
        },
    }
    return _drop_empty(doc)


# -- OCSF -----------------------------------------------------------------------------------------

_OCSF_CLASSES = {
    3002: ("Authentication", 3, "Identity & Access Management"),
    6003: ("API Activity", 6, "Application Activity"),
    1001: ("File System Activity", 1, "System Activity"),
    0: ("Base Event", 0, "Uncategorized"),
}
_AUTH_ACTIVITY = {
    "auth_login": (1, "Logon"),
    "auth_logout": (2, "Logoff"),
    "auth_failure": (1, "Logon"),
}
_FILE_ACTIVITY = {
    "file_create": (1, "Create"),
    "file_change": (3, "Update"),
    "file_delete": (4, "Delete"),
    "file_move": (5, "Rename"),
}
_GIT_ACTIVITY = {"clone": 2, "fetch": 2, "pull_request": 1, "comment": 1, "review": 1}
_HTTP_ACTIVITY = {"GET": 2, "HEAD": 2, "POST": 1, "PUT": 3, "PATCH": 3, "DELETE": 4}
_API_NAMES = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}


def _ocsf_class(kind: str) -> int:
    if kind in _AUTH_TYPES:
        return 3002
    if kind in _GIT_TYPES or kind in _API_TYPES:
        return 6003
    if kind in _FILE_TYPES:
        return 1001
    return 0


def _ocsf_activity(kind: str, class_uid: int, meta: Mapping[str, Any]) -> tuple[int, str]:
    if class_uid == 3002:
        return _AUTH_ACTIVITY.get(kind, (99, "Other"))
    if class_uid == 1001:
        return _FILE_ACTIVITY[kind]
    if class_uid == 6003:
        if kind in _API_TYPES:
            activity = _HTTP_ACTIVITY.get(str(meta.get("method", "")).upper(), 99)
        else:
            activity = _GIT_ACTIVITY.get(kind, 3)
        return activity, _API_NAMES[activity]
    return 99, "Other"


def to_ocsf(event: Mapping[str, Any]) -> dict[str, Any]:
    """An OCSF 1.1 event of the class that fits (required attributes always present)."""
    kind = str(event.get("event_type"))
    meta = _meta(event)
    class_uid = _ocsf_class(kind)
    class_name, category_uid, category_name = _OCSF_CLASSES[class_uid]
    activity_id, activity_name = _ocsf_activity(kind, class_uid, meta)
    outcome = _outcome(event)
    status_id = {"success": 1, "failure": 2}.get(outcome, 0)
    user = {"name": event.get("user_id"), "type_id": 1}
    host = event.get("host") or "unknown"
    record: dict[str, Any] = {
        "time": parse_timestamp(str(event.get("timestamp"))),
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "severity_id": 1 if status_id != 2 else 3,
        "severity": "Informational" if status_id != 2 else "Medium",
        "status_id": status_id,
        "status": {1: "Success", 2: "Failure"}.get(status_id, "Unknown"),
        "message": event.get("action_description"),
        "metadata": {
            "version": OCSF_VERSION,
            "product": PRODUCT,
            "uid": event.get("event_id"),
            "sequence": event.get("seq"),
            "original_time": event.get("timestamp"),
            "log_name": "mfn-tracker events",
        },
        "unmapped": _drop_empty(
            {
                "event_type": kind,
                "status": event.get("status"),
                "repo": event.get("repo"),
                "files_changed": event.get("files_changed"),
                "comments": event.get("comments"),
                "metadata": meta,
                "prev": event.get("prev"),
            }
        ),
    }
    endpoint = _drop_empty({"ip": event.get("source_ip"), "hostname": host})
    if class_uid == 3002:
        record["user"] = user
        record["src_endpoint"] = endpoint
        record["dst_endpoint"] = {"hostname": host}
    elif class_uid == 6003:
        record["actor"] = {"user": user}
        record["src_endpoint"] = endpoint
        api = {
            "operation": (
                f"{meta.get('method')} {meta.get('endpoint')}"
                if kind in _API_TYPES and meta.get("endpoint")
                else kind
            ),
            "service": {"name": "http" if kind in _API_TYPES else "git"},
            "request": {"uid": event.get("request_id")},
        }
        record["api"] = _drop_empty(api)
        if event.get("repo"):
            record["resources"] = [{"type": "git repository", "name": event.get("repo")}]
    elif class_uid == 1001:
        path = _first_file(event) or ""
        repo = event.get("repo")
        record["actor"] = {"user": user}
        record["device"] = {"hostname": host, "type_id": 0}
        record["file"] = _drop_empty(
            {
                "name": posixpath.basename(path) or path or "unknown",
                "path": posixpath.join(repo, path) if isinstance(repo, str) else path,
                "type_id": 1,
                "size": meta.get("size"),
                "hashes": (
                    [{"algorithm_id": 3, "value": meta["sha256"]}] if meta.get("sha256") else None
                ),
            }
        )
        record["file"]["type_id"] = 1
    return record
