"""The one user-facing error type; the CLI turns it into a line on stderr and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3


class TrackerError(Exception):
    """An expected failure with a message meant for a person (no traceback needed).

    ``exit_code`` follows the contract: 1 error, 2 usage, 3 access denied.
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AccessDenied(TrackerError):
    """The caller may not see what it asked for."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_DENIED)
