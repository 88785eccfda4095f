"""The seed's Python API: ``SystemEventLogger``, ``get_event_logger`` and ``log_system_event``.

Names and behaviour follow the "System Event Logging" document; every write goes through the one
writer, and errors reach the caller instead of being swallowed.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mfn_tracker.settings import Settings, load_settings
from mfn_tracker.store.reader import Query, ReadReport, iter_events
from mfn_tracker.store.timestamps import format_ms, now_ms
from mfn_tracker.store.writer import EventWriter, InvalidEvent, new_event_id, render
from mfn_tracker.types import (
    AUTH_TYPES,
    EventStatus,
    EventType,
)

if TYPE_CHECKING:
    from mfn_tracker.model import SystemEvent

_FILE_ACTIONS = {
    "created": EventType.FILE_CREATE,
    "create": EventType.FILE_CREATE,
    "added": EventType.FILE_CREATE,
    "modified": EventType.FILE_CHANGE,
    "modify": EventType.FILE_CHANGE,
    "changed": EventType.FILE_CHANGE,
    "change": EventType.FILE_CHANGE,
    "deleted": EventType.FILE_DELETE,
    "delete": EventType.FILE_DELETE,
    "removed": EventType.FILE_DELETE,
    "moved": EventType.FILE_MOVE,
    "renamed": EventType.FILE_MOVE,
}
_MEMORY_EVENTS = 10_000  # what a logger without storage keeps for get_events()
_CHECKPOINT_LOOK_SECONDS = 1.0
_BATCH_EVENTS = 1_000  # events per write_many() in log_events: one lock, bounded memory


class SystemEventLogger:
    """Records events through the one writer and reads them back.

    With ``storage_enabled=False`` nothing touches the disk: events are validated, scrubbed and
    kept in memory (the last 10,000), which suits tests and short-lived tools.
    """

    def __init__(
        self,
        storage_path: str | os.PathLike[str] | None = None,
        storage_enabled: bool = True,
        *,
        settings: Settings | None = None,
    ) -> None:
        settings = settings or load_settings()
        if storage_path is not None:
            settings = settings.with_changes(storage_path=Path(storage_path).absolute())
        self.settings = settings
        self.storage_enabled = storage_enabled
        self._writer = EventWriter(settings) if storage_enabled else None
        self._memory: deque[dict[str, Any]] = deque(maxlen=_MEMORY_EVENTS)
        self._memory_lock = threading.Lock()
        self.last_read_report = ReadReport()
        self._next_checkpoint_look = 0.0

    @property
    def storage_path(self) -> Path:
        return self.settings.storage_path

    # -- writing -------------------------------------------------------------------------------

    def log_event(
        self,
        event_type: EventType | str,
        user_id: str,
        action_description: str,
        status: EventStatus | str = EventStatus.SUCCESS,
        **fields: Any,
    ) -> SystemEvent:
        """Record one event; raises ``InvalidEvent`` (a ValueError) or ``WriteError``."""
        event = {
            "event_type": event_type,
            "user_id": user_id,
            "action_description": action_description,
            "status": status,
            **fields,
        }
        if self._writer is None:
            return _as_model(self._remember(event))
        record = self._writer.write(event)
        self._maybe_checkpoint()
        return _as_model(record)

    def log_events(self, events: Iterable[Mapping[str, Any]]) -> list[str]:
        """Record many events at once; returns their event ids, in order.

        For importers, daemons and other bulk writers: each batch of 1,000 costs one lock and
        one ``write()``. A batch is validated whole before it is written: a bad event raises
        ``InvalidEvent`` naming its position, and nothing of its batch is stored (the message
        says how many events of earlier batches were). Ids rather than records or models come
        back because building those would cost a good part of the write; ``get_events`` reads
        them back.
        """
        if self._writer is None:
            return [self._remember(dict(event))["event_id"] for event in events]
        ids: list[str] = []
        stream = iter(events)
        while batch := list(itertools.islice(stream, _BATCH_EVENTS)):
            try:
                ids += self._writer.write_many(batch)
            except InvalidEvent as exc:
                if not ids:
                    raise
                raise InvalidEvent(f"{exc} ({len(ids)} events before it were written)") from None
        self._maybe_checkpoint()
        return ids

    def _maybe_checkpoint(self) -> None:
        """Signed checkpoints after writes: looked at once a second, so a write rarely pays."""
        now = time.monotonic()
        if now >= self._next_checkpoint_look:
            self._next_checkpoint_look = now + _CHECKPOINT_LOOK_SECONDS
            from mfn_tracker.compliance.checkpoints import maybe_checkpoint

            maybe_checkpoint(self.settings)

    def _remember(self, event: dict[str, Any]) -> dict[str, Any]:
        timestamp, _, rest = render(event, self.settings)
        ms = now_ms()
        record = {"system_event": True, "event_id": new_event_id(ms)}
        record |= {"timestamp": timestamp or format_ms(ms), **rest}
        with self._memory_lock:
            self._memory.append(record)
        return record

    def log_commit(
        self,
        user_id: str,
        description: str,
        files_changed: Sequence[str] | None = None,
        **kw: Any,
    ) -> SystemEvent:
        return self.log_event(
            EventType.COMMIT, user_id, description, files_changed=files_changed, **kw
        )

    def log_push(self, user_id: str, description: str, **kw: Any) -> SystemEvent:
        return self.log_event(EventType.PUSH, user_id, description, **kw)

    def log_pull_request(self, user_id: str, description: str, **kw: Any) -> SystemEvent:
        return self.log_event(EventType.PULL_REQUEST, user_id, description, **kw)

    def log_clone(self, user_id: str, description: str, **kw: Any) -> SystemEvent:
        return self.log_event(EventType.CLONE, user_id, description, **kw)

    def log_fetch(self, user_id: str, description: str, **kw: Any) -> SystemEvent:
        return self.log_event(EventType.FETCH, user_id, description, **kw)

    def log_merge(self, user_id: str, description: str, **kw: Any) -> SystemEvent:
        return self.log_event(EventType.MERGE, user_id, description, **kw)

    def log_file_change(
        self, user_id: str, file_path: str, action: str = "modified", **kw: Any
    ) -> SystemEvent:
        """created / modified / deleted (and moved) become file_create / file_change / ..."""
        event_type = _FILE_ACTIONS.get(str(action).lower())
        if event_type is None:
            raise InvalidEvent(
                f"invalid event: file action {action!r} is not one of {', '.join(_FILE_ACTIONS)}"
            )
        verb = event_type.value.removeprefix("file_")
        return self.log_event(
            event_type, user_id, f"File {verb}: {file_path}", files_changed=[file_path], **kw
        )

    def log_comment(
        self, user_id: str, comment_text: str, target: str | None = None, **kw: Any
    ) -> SystemEvent:
        description = f"Comment on {target}" if target else "Comment"
        metadata = {**(kw.pop("metadata", None) or {}), **({"target": target} if target else {})}
        return self.log_event(
            EventType.COMMENT,
            user_id,
            description,
            comments=comment_text,
            metadata=metadata or None,
            **kw,
        )

    def log_authentication(
        self,
        user_id: str,
        auth_type: EventType | str = EventType.AUTH_LOGIN,
        success: bool = True,
        **kw: Any,
    ) -> SystemEvent:
        """Only auth types are accepted; a failed attempt is recorded as ``auth_failure``."""
        kind = str(auth_type.value if isinstance(auth_type, EventType) else auth_type)
        if kind not in AUTH_TYPES:
            raise InvalidEvent(
                f"invalid event: auth_type {kind!r} is not one of {', '.join(sorted(AUTH_TYPES))}"
            )
        if success:
            return self.log_event(kind, user_id, f"Authentication ({kind}) succeeded", **kw)
        metadata = {**(kw.pop("metadata", None) or {}), "attempted": kind}
        return self.log_event(
            EventType.AUTH_FAILURE,
            user_id,
            f"Authentication ({kind}) failed",
            EventStatus.FAILURE,
            metadata=metadata,
            **kw,
        )

    def log_api_request(
        self, user_id: str, endpoint: str, method: str = "GET", **kw: Any
    ) -> SystemEvent:
        metadata = {**(kw.pop("metadata", None) or {}), "endpoint": endpoint, "method": method}
        return self.log_event(
            EventType.API_REQUEST, user_id, f"{method} {endpoint}", metadata=metadata, **kw
        )

    # -- reading -------------------------------------------------------------------------------

    def get_events(
        self,
        date: str | None = None,
        event_type: EventType | str | Sequence[EventType | str] | None = None,
        user_id: str | None = None,
        *,
        status: EventStatus | str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[SystemEvent]:
        """Events of a day (today by default) or a ``since``/``until`` range, newest first.

        ``limit`` keeps the newest N (the seed returned the oldest). Malformed lines are skipped
        and listed in ``last_read_report``.
        """
        query = build_query(
            date=date,
            event_type=event_type,
            user_id=user_id,
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
        )
        self.last_read_report = ReadReport()
        if self.storage_enabled:
            records = list(iter_events(self.storage_path, query, self.last_read_report))
        else:
            with self._memory_lock:
                memory = list(self._memory)
            ordered = reversed(memory) if newest_first else iter(memory)
            matching = [r for r in ordered if query.matches(r) and query.past_cursor_by_seq(r)]
            end = None if limit is None else offset + limit
            records = matching[offset:end]
        return [_as_model(r) for r in records]

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _as_model(record: dict[str, Any]) -> SystemEvent:
    """A stored record as a model without validating it again (the writer already did)."""
    from mfn_tracker.model import trusted_event  # pydantic loads on first use only

    return trusted_event(record)


def build_query(
    *,
    date: str | None = None,
    event_type: EventType | str | Sequence[EventType | str] | None = None,
    user_id: str | None = None,
    status: EventStatus | str | None = None,
    since: str | None = None,
    until: str | None = None,
    repo: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    cursor: int | None = None,
    newest_first: bool = True,
) -> Query:
    """One place that turns user-facing filters into a validated reader ``Query``."""
    from mfn_tracker.errors import EXIT_USAGE, TrackerError
    from mfn_tracker.store import validate
    from mfn_tracker.timerange import day_bounds, parse_day, parse_instant

    if date is not None and (since is not None or until is not None):
        raise TrackerError("give either a date or a since/until range", exit_code=EXIT_USAGE)
    if date is None and since is None and until is None:
        date = format_ms(now_ms())[:10]
    if date is not None:
        since, until = day_bounds(parse_day(date))
    else:
        since = parse_instant(since) if since is not None else None
        until = parse_instant(until) if until is not None else None
    types = None
    if event_type is not None:
        raw = [event_type] if isinstance(event_type, (str, EventType)) else list(event_type)
        try:
            types = frozenset(validate.check_event_type(t) for t in raw) or None
            status = validate.check_status(status) if status is not None else None
        except validate.EventValueError as exc:
            raise TrackerError(str(exc), exit_code=EXIT_USAGE) from None
    elif status is not None:
        try:
            status = validate.check_status(status)
        except validate.EventValueError as exc:
            raise TrackerError(str(exc), exit_code=EXIT_USAGE) from None
    if (limit is not None and limit < 0) or offset < 0:
        raise TrackerError("limit and offset must be >= 0", exit_code=EXIT_USAGE)
    for name, text in (("user", user_id), ("repo", repo)):
        if text is not None and not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise TrackerError(f"{name} filter is not UTF-8", exit_code=EXIT_USAGE) from None
    return Query(
        since=since,
        until=until,
        types=types,
        status=str(status) if status is not None else None,
        user=user_id,
        repo=repo,
        newest_first=newest_first,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )


_default_logger: SystemEventLogger | None = None
_default_pid = 0
_default_lock = threading.Lock()


def get_event_logger() -> SystemEventLogger:
    """The process's logger (one per process, rebuilt after fork; thread-safe)."""
    global _default_logger, _default_pid  # noqa: PLW0603 - the seed's one-per-process logger
    with _default_lock:
        if _default_logger is None or _default_pid != os.getpid():
            _default_logger = SystemEventLogger()
            _default_pid = os.getpid()
        return _default_logger


def reset_event_logger() -> None:
    """Forget the process's logger (tests, or after changing ``MFN_*`` variables)."""
    global _default_logger  # noqa: PLW0603
    with _default_lock:
        if _default_logger is not None:
            _default_logger.close()
        _default_logger = None


def log_system_event(
    event_type: EventType | str, user_id: str, action_description: str, **kw: Any
) -> SystemEvent:
    """Record one event through the process's logger (the seed's one-call API)."""
    return get_event_logger().log_event(event_type, user_id, action_description, **kw)
