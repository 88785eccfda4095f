"""The ``mfn-tracker`` command: thin click wrappers; the work lives in each area's modules.

Sub-commands load lazily (``LAZY_COMMANDS``), so ``mfn-tracker hooks ...`` does not pay for the
HTTP server's imports. ``TrackerError`` becomes one line on stderr and the contract's exit code.
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from typing import Any

import click

from mfn_tracker._version import __version__
from mfn_tracker.errors import EXIT_ERROR, EXIT_USAGE, TrackerError

# command name -> "module:attribute"; each area owns its module.
LAZY_COMMANDS: dict[str, str] = {
    "schema": "mfn_tracker.cli.core:schema",
    "doctor": "mfn_tracker.cli.core:doctor",
    "hooks": "mfn_tracker.cli.hooks:hooks",
    "watch": "mfn_tracker.cli.watch:watch",
    "service": "mfn_tracker.cli.watch:service",
    "events": "mfn_tracker.cli.events:events",
    "keys": "mfn_tracker.cli.keys:keys",
    "check": "mfn_tracker.cli.events:check",
    "verify": "mfn_tracker.cli.compliance:verify",
    "checkpoint": "mfn_tracker.cli.compliance:checkpoint",
    "export": "mfn_tracker.cli.compliance:export",
    "report": "mfn_tracker.cli.compliance:report",
    "retention": "mfn_tracker.cli.compliance:retention",
    "serve": "mfn_tracker.cli.serve:serve",
}


class LazyGroup(click.Group):
    """Imports a sub-command's module only when that command runs (or help lists it)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in LAZY_COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            command = getattr(import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            missing = getattr(exc, "name", None) or ""
            if missing and (module_name.startswith(missing) or missing == attr):
                return None  # an area not built into this installation
            raise
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mfn-tracker")
def cli() -> None:
    """mfn-tracker: the audit trail of commits, pushes, merges, fetches, clones and file changes."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and map every expected failure to one stderr line + exit code."""
    try:
        cli.main(args=argv, prog_name="mfn-tracker", standalone_mode=False)
    except TrackerError as exc:
        click.echo(f"mfn-tracker: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.Abort:
        click.echo("mfn-tracker: aborted", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        sys.stderr.close()  # `mfn-tracker events list | head`: the reader left, not an error
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("MFN_DEBUG"):
            raise
        click.echo(
            f"mfn-tracker: internal error: {type(exc).__name__}: {exc} "
            "(run with MFN_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    sys.exit(0)
