"""``mfn-tracker doctor`` checks for the git hooks of the current repository and the template."""

from __future__ import annotations

from pathlib import Path

from mfn_tracker.doctor import Check
from mfn_tracker.errors import TrackerError
from mfn_tracker.settings import Settings


def checks(settings: Settings) -> list[Check]:
    from mfn_tracker.git import install, status, template

    found: list[Check] = []
    try:
        here = Path.cwd()
        report = status.repo_report(install.hooks_dir(here), install.common_dir(here), settings)
    except TrackerError:
        found.append(Check("git-hooks", "ok", "not inside a git repository: nothing to check"))
    else:
        missing = [h.hook for h in report.hooks if h.state in ("missing", "foreign")]
        problems = [p for h in report.hooks for p in h.problems]
        outdated = [h.hook for h in report.hooks if h.state == "outdated"]
        if missing:
            found.append(
                Check(
                    "git-hooks",
                    "warn",
                    f"not installed: {', '.join(missing)} (run `mfn-tracker hooks install`)",
                )
            )
        elif problems or outdated:
            detail = "; ".join(problems) or f"outdated: {', '.join(outdated)} (install again)"
            found.append(Check("git-hooks", "warn", detail))
        else:
            found.append(Check("git-hooks", "ok", f"all installed in {report.where}"))
        if report.last_error:
            found.append(Check("git-hooks-last-error", "warn", report.last_error))
    try:
        if template.global_hooks_path():
            found.append(
                Check("git-template", "warn", "global core.hooksPath set: template hooks unused")
            )
    except TrackerError as exc:
        found.append(Check("git-template", "warn", str(exc)))
    return found
