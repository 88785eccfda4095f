"""mfn-tracker: a tamper-evident audit trail for repository activity.

Importing the package is cheap: the public names below load their modules (and pydantic) only
when first used, because every git hook pays for what this file imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mfn_tracker._version import __version__

if TYPE_CHECKING:
    from mfn_tracker.errors import TrackerError
    from mfn_tracker.logger import (
        SystemEventLogger,
        get_event_logger,
        log_system_event,
        reset_event_logger,
    )
    from mfn_tracker.model import SystemEvent
    from mfn_tracker.types import EventStatus, EventType

__all__ = [
    "EventLoggingMiddleware",
    "EventStatus",
    "EventType",
    "SystemEvent",
    "SystemEventLogger",
    "TrackerError",
    "__version__",
    "get_event_logger",
    "log_system_event",
    "reset_event_logger",
]

_LAZY = {
    "EventType": "mfn_tracker.types",
    "EventStatus": "mfn_tracker.types",
    "SystemEvent": "mfn_tracker.model",
    "SystemEventLogger": "mfn_tracker.logger",
    "get_event_logger": "mfn_tracker.logger",
    "log_system_event": "mfn_tracker.logger",
    "reset_event_logger": "mfn_tracker.logger",
    "TrackerError": "mfn_tracker.errors",
    "EventLoggingMiddleware": "mfn_tracker.http.middleware",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mfn_tracker' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
