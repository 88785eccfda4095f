"""``mfn-tracker hooks install|uninstall|status``: thin click wrappers over mfn_tracker.git."""

from __future__ import annotations

from pathlib import Path

import click

from mfn_tracker.git.install import HookChange
from mfn_tracker.git.status import HooksReport
from mfn_tracker.settings import load_settings

_REPO = click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Repository (any directory inside it).",
)
_GLOBAL = click.option(
    "--global",
    "is_global",
    is_flag=True,
    help="Every future clone and git init (through git's init.templateDir).",
)


@click.group()
def hooks() -> None:
    """Record commits, pushes, merges, fetches, clones and rewrites with git hooks."""


def _print_changes(where: Path, changes: list[HookChange]) -> None:
    click.echo(f"hooks dir: {where}")
    for change in changes:
        detail = f" ({change.detail})" if change.detail else ""
        click.echo(f"  {change.hook:<22} {change.action}{detail}")


@hooks.command()
@_REPO
@_GLOBAL
def install(repo: Path, is_global: bool) -> None:
    """Install the hooks; an existing hook is kept and still runs (uninstall restores it)."""
    from mfn_tracker.git import install as inst
    from mfn_tracker.git import template

    settings = load_settings()
    if is_global:
        where, changes = template.install_global(settings)
        _print_changes(where / "hooks", changes)
        if template.global_hooks_path():
            click.echo("warning: a global core.hooksPath is set; git ignores template hooks")
        return
    directory = inst.hooks_dir(repo.absolute())
    _print_changes(directory, inst.install_hooks(directory, settings))
    click.echo(f"events go to {settings.storage_path}")
    if not directory.is_relative_to(inst.common_dir(repo.absolute())):
        click.echo(
            f"note: core.hooksPath is set: every repository whose hooks live in {directory} "
            "now runs these hooks"
        )


@hooks.command()
@_REPO
@_GLOBAL
def uninstall(repo: Path, is_global: bool) -> None:
    """Remove our hooks and put back exactly what was there before."""
    from mfn_tracker.git import install as inst
    from mfn_tracker.git import template

    if is_global:
        where, changes = template.uninstall_global(load_settings())
        if where is None:
            click.echo("no init.templateDir is configured: nothing to remove")
            return
        _print_changes(where / "hooks", changes)
        return
    directory = inst.hooks_dir(repo.absolute())
    _print_changes(directory, inst.uninstall_hooks(directory))


@hooks.command()
@_REPO
@_GLOBAL
def status(repo: Path, is_global: bool) -> None:
    """Per hook: installed or not, what it chains, its interpreter and storage; the last error."""
    from mfn_tracker.git import install as inst
    from mfn_tracker.git import status as st
    from mfn_tracker.git import template

    settings = load_settings()
    if is_global:
        where = template.configured_template_dir()
        if where is None:
            click.echo("global: not installed (no init.templateDir)")
            return
        report = st.HooksReport(where / "hooks", st.hook_states(where / "hooks", settings))
        if template.global_hooks_path():
            report = st.HooksReport(
                report.where,
                report.hooks,
                warnings=("a global core.hooksPath is set: git ignores template hooks",),
            )
    else:
        root = repo.absolute()
        report = st.repo_report(inst.hooks_dir(root), inst.common_dir(root), settings)
    _print_report(report)


def _print_report(report: HooksReport) -> None:
    click.echo(f"hooks dir: {report.where}")
    for state in report.hooks:
        click.echo(f"  {state.hook:<22} {state.state}")
        if state.chained:
            click.echo(f"    runs previous hook: {state.chained}")
        if state.python:
            click.echo(f"    python: {state.python}")
        if state.storage:
            click.echo(f"    storage: {state.storage}")
        for problem in state.problems:
            click.echo(f"    problem: {problem}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"last error: {report.last_error or 'none'}")
