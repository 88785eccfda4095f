"""``mfn-tracker report``: one page a reviewer reads without writing code.

Who did what, when, where and with what result; activity over time (an inline SVG chart);
authentication failures and API errors; pushes per repository; whether the range verifies.
The HTML is one self-contained file: inline CSS and SVG, no script, no external URL, and a
Content-Security-Policy that forbids every fetch, so opening it contacts nobody. ``--format
text`` prints the figures like ``aureport --summary``.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mfn_tracker.compliance.export import scoped_events
from mfn_tracker.compliance.verify import VerifyReport, verify_log
from mfn_tracker.settings import Settings
from mfn_tracker.store.reader import Query, ReadReport
from mfn_tracker.store.timestamps import format_ms, now_ms

_LIST_CAP = 200  # rows kept per list section (the counts stay exact)
_TIMELINE_CAP = 500
_GIT = ("commit", "push", "merge", "fetch", "clone", "rewrite", "pull_request")
_FILES = ("file_create", "file_change", "file_delete", "file_move")


@dataclass
class ReportData:
    since: str | None
    until: str | None
    scope: Mapping[str, Any]
    generated_at: str = field(default_factory=lambda: format_ms(now_ms()))
    total: int = 0
    failed: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    by_user: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    hosts: Counter[str] = field(default_factory=Counter)
    repos: Counter[str] = field(default_factory=Counter)
    buckets: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    bucket_width: int = 13  # 13: per hour, 10: per day
    # Per repository: [attempted (pre-push, pending), confirmed (success), failed]; a git push
    # is recorded twice (attempt, then confirmation), so counting events would double it.
    pushes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    auth_failures: list[dict[str, Any]] = field(default_factory=list)
    api_errors: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    verification: VerifyReport | None = None
    unreadable: list[str] = field(default_factory=list)

    def add(self, event: Mapping[str, Any]) -> None:
        kind, ts = str(event["event_type"]), str(event["timestamp"])
        failed = event.get("status") == "failure" or kind in ("auth_failure", "api_error")
        self.total += 1
        self.failed += failed
        self.by_type[kind] += 1
        self.by_user[str(event["user_id"])][kind] += 1
        self.hosts[str(event.get("host") or "-")] += 1
        repo = event.get("repo")
        if repo:
            self.repos[str(repo)] += 1
        self.buckets[ts[: self.bucket_width]][1 if failed else 0] += 1
        if kind == "push":
            column = {"pending": 0, "in_progress": 0, "success": 1}.get(str(event["status"]), 2)
            self.pushes[str(repo or "-")][column] += 1
        if kind == "auth_failure" and len(self.auth_failures) < _LIST_CAP:
            self.auth_failures.append(dict(event))
        if kind == "api_error" and len(self.api_errors) < _LIST_CAP:
            self.api_errors.append(dict(event))
        self.timeline.append(dict(event))
        if len(self.timeline) > _TIMELINE_CAP:
            del self.timeline[0]  # keep the newest
        self.first = self.first or ts
        self.last = ts


def collect(
    settings: Settings,
    query: Query,
    *,
    scope: Mapping[str, Any],
    verify_days: tuple[str, str] | None,
) -> ReportData:
    """One pass over the scoped events, plus ``verify`` of the day files the range touches."""
    wide = (
        query.since is None
        or query.until is None
        or query.since[:10] < _days_before(query.until, 3)
    )
    data = ReportData(query.since, query.until, scope, bucket_width=10 if wide else 13)
    report = ReadReport()
    for event in scoped_events(settings, query, report):
        data.add(event)
    data.unreadable = [str(p) for p in report.problems]
    data.verification = verify_log(settings, days=verify_days)
    return data


def _days_before(timestamp: str, days: int) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(timestamp[:10]) - timedelta(days=days)).isoformat()


# -- text ---------------------------------------------------------------------------------


def render_text(data: ReportData) -> str:
    t = data.by_type
    attempted, confirmed, push_fail = [
        sum(counts[i] for counts in data.pushes.values()) for i in range(3)
    ]
    rows = [
        ("Range of time in report", f"{data.since or 'start'} - {data.until or 'now'}"),
        ("Events found", f"{data.first or '-'} - {data.last or '-'}"),
        ("Selected for", f"{data.scope.get('user')} ({data.scope.get('role')})"),
        ("Number of events", data.total),
        ("Number of failed events", data.failed),
        ("Number of users", len(data.by_user)),
        ("Number of hosts", len(data.hosts)),
        ("Number of repositories", len(data.repos)),
        ("Number of commits", t["commit"]),
        ("Number of pushes", f"{confirmed} confirmed, {attempted} attempted, {push_fail} failed"),
        ("Number of merges", t["merge"]),
        ("Number of fetches and clones", t["fetch"] + t["clone"]),
        ("Number of history rewrites", t["rewrite"]),
        ("Number of file changes", sum(t[k] for k in _FILES)),
        ("Number of logins", t["auth_login"]),
        ("Number of authentication failures", t["auth_failure"]),
        ("Number of API requests", t["api_request"]),
        ("Number of API errors", t["api_error"]),
        ("Verification of the range", _verdict(data.verification)),
    ]
    out = ["", "Summary Report", "=" * 54]
    out += [f"{label}: {value}" for label, value in rows]
    out += ["", "Pushes per repository", "=" * 54]
    out += [
        f"{ok:>6} confirmed {tried:>6} attempted {bad:>4} failed  {repo}"
        for repo, (tried, ok, bad) in sorted(data.pushes.items())
    ]
    out += ["", "Events per user", "=" * 54]
    out += [f"{sum(c.values()):>6}  {user}" for user, c in sorted(data.by_user.items())]
    out += ["", "Authentication failures", "=" * 54]
    out += [_one_line(e) for e in data.auth_failures] or ["none"]
    out += ["", "API errors", "=" * 54]
    out += [_one_line(e) for e in data.api_errors] or ["none"]
    if data.verification is not None and data.verification.findings:
        out += ["", "Verification findings", "=" * 54]
        out += [str(f) for f in data.verification.findings]
    return "\n".join(out) + "\n"


def _one_line(event: Mapping[str, Any]) -> str:
    where = event.get("source_ip") or event.get("host") or "-"
    return f"{event['timestamp']}  {event['user_id']}  {where}  {event['action_description']}"


def _verdict(report: VerifyReport | None) -> str:
    if report is None:
        return "not checked"
    span = f"{report.lines} lines, seq {report.first_seq}..{report.last_seq}"
    if report.ok:
        return f"OK ({span})"
    kinds = Counter(f.kind for f in report.findings)
    return f"FAILED ({', '.join(f'{n} {k}' for k, n in kinds.items())}; {span})"


# -- HTML ---------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d232b;
padding:0 16px}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;
border-bottom:1px solid #d5dae0}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px 8px;text-align:left;
border-bottom:1px solid #eceff2;vertical-align:top}th{background:#f4f6f8}.num{text-align:right}
.ok{color:#176f2c;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#5f6b78}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #d5dae0;border-radius:6px;
padding:8px 12px;min-width:120px}.card b{display:block;font-size:20px}
svg text{font-size:11px;fill:#5f6b78}.wide{overflow-x:auto}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def esc(value: object) -> str:
    """HTML-escaped text; ``://`` is encoded so no URL appears in the source (nothing loads)."""
    return html.escape(str(value), quote=True).replace("://", ":&#47;&#47;")


def render_html(data: ReportData) -> str:
    t = data.by_type
    cards = [
        ("Events", data.total),
        ("Failed", data.failed),
        ("Users", len(data.by_user)),
        ("Repositories", len(data.repos)),
        ("Commits", t["commit"]),
        ("Pushes confirmed", sum(counts[1] for counts in data.pushes.values())),
        ("Auth failures", t["auth_failure"]),
        ("API errors", t["api_error"]),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Audit report {esc(data.since or '')} - {esc(data.until or '')}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>mfn-tracker audit report</h1>",
        f'<p class="muted">Range {esc(data.since or "start")} to {esc(data.until or "now")} (UTC)'
        f" &middot; generated {esc(data.generated_at)} &middot; for {esc(data.scope.get('user'))}"
        f" ({esc(data.scope.get('role'))})</p>",
        '<section id="summary"><h2>Summary</h2><div class="cards">',
        *(f'<div class="card"><b>{n}</b>{esc(label)}</div>' for label, n in cards),
        "</div></section>",
        _verification_section(data.verification),
        '<section id="activity"><h2>Activity over time</h2>',
        _chart(data),
        "</section>",
        _who_section(data),
        _event_section("auth-failures", "Authentication failures", data.auth_failures),
        _event_section("api-errors", "API errors", data.api_errors),
        _pushes_section(data),
        _event_section(
            "timeline", "Who did what, when, where, with what result", data.timeline[::-1]
        ),
    ]
    if data.unreadable:
        parts.append(
            f'<p class="bad">{len(data.unreadable)} unreadable line(s) skipped; run verify.</p>'
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _verification_section(report: VerifyReport | None) -> str:
    if report is None:
        return '<section id="verification"><h2>Verification</h2><p>not checked</p></section>'
    css = "ok" if report.ok else "bad"
    rows = "".join(
        f"<tr><td>{esc(f.kind)}</td><td>{esc(f.file)}</td><td class='num'>{esc(f.line or '')}</td>"
        f"<td>{esc(f.detail)}</td></tr>"
        for f in report.findings[:_LIST_CAP]
    )
    table = (
        f"<table><tr><th>Kind</th><th>File</th><th>Line</th><th>Detail</th></tr>{rows}</table>"
        if rows
        else ""
    )
    checkpoints = f"{report.checkpoints} signed checkpoint(s) " + (
        "verified" if report.checkpoints_signed else "(signatures not checked)"
    )
    return (
        f'<section id="verification"><h2>Verification</h2><p class="{css}">'
        f"{esc(_verdict(report))}</p><p class='muted'>{len(report.files)} day file(s); "
        f"{esc(checkpoints)}; {report.retention_actions} retention action(s).</p>{table}</section>"
    )


def _chart(data: ReportData) -> str:
    """Bars per hour (or day): successes in blue, failures stacked in red."""
    items = [(key, data.buckets.get(key, [0, 0])) for key in _bucket_keys(data)]
    if not items:
        return '<p class="muted">No events in this range.</p>'
    width, height, left, bottom = 1000, 220, 40, 30
    top = max(sum(v) for _, v in items)
    step = (width - left) / len(items)
    bar = max(1.0, step * 0.8)
    out = [
        f'<svg role="img" aria-label="Events per {"day" if data.bucket_width == 10 else "hour"}" '
        f'viewBox="0 0 {width} {height}" width="100%" height="{height}">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        'stroke="#9aa5b1"/>',
        f'<text x="0" y="12">{top}</text><text x="0" y="{height - bottom}">0</text>',
    ]
    scale = (height - bottom - 10) / top
    for i, (bucket, (ok, bad)) in enumerate(items):
        x = left + i * step
        h_ok, h_bad = ok * scale, bad * scale
        y_ok = height - bottom - h_ok
        label = f"{bucket}: {ok + bad} events, {bad} failed"
        out.append(
            f'<g><title>{esc(label)}</title><rect x="{x:.1f}" y="{y_ok:.1f}" width="{bar:.1f}" '
            f'height="{h_ok:.1f}" fill="#3b6fb6"/><rect x="{x:.1f}" y="{y_ok - h_bad:.1f}" '
            f'width="{bar:.1f}" height="{h_bad:.1f}" fill="#c9372c"/></g>'
        )
    for i in sorted({0, len(items) // 2, len(items) - 1}):
        x = left + i * step
        out.append(f'<text x="{x:.1f}" y="{height - 10}">{esc(items[i][0])}</text>')
    out.append("</svg>")
    return "".join(out)


def _bucket_keys(data: ReportData) -> list[str]:
    """Every hour (or day) from the first event to the last, so quiet periods show as gaps."""
    from datetime import datetime, timedelta

    if not data.buckets:
        return []
    hourly = data.bucket_width == 13
    fmt, step = ("%Y-%m-%dT%H", timedelta(hours=1)) if hourly else ("%Y-%m-%d", timedelta(days=1))
    first, last = min(data.buckets), max(data.buckets)
    moment, end = datetime.strptime(first, fmt), datetime.strptime(last, fmt)
    keys: list[str] = []
    while moment <= end and len(keys) < 2000:
        keys.append(moment.strftime(fmt))
        moment += step
    return keys


def _who_section(data: ReportData) -> str:
    kinds = [k for k, _ in data.by_type.most_common()]
    head = "".join(f"<th class='num'>{esc(k)}</th>" for k in kinds)
    rows = "".join(
        f"<tr><td>{esc(user)}</td><td class='num'>{sum(c.values())}</td>"
        + "".join(f"<td class='num'>{c[k] or ''}</td>" for k in kinds)
        + "</tr>"
        for user, c in sorted(data.by_user.items(), key=lambda kv: -sum(kv[1].values()))
    )
    return (
        '<section id="who"><h2>Who did what</h2><div class="wide"><table><tr><th>User</th>'
        f"<th class='num'>Total</th>{head}</tr>{rows}</table></div></section>"
    )


def _pushes_section(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td>{esc(repo)}</td><td class='num'>{tried}</td><td class='num'>{ok}</td>"
        f"<td class='num'>{bad}</td></tr>"
        for repo, (tried, ok, bad) in sorted(data.pushes.items(), key=lambda kv: -kv[1][1])
    )
    body = rows or "<tr><td colspan='4' class='muted'>No pushes.</td></tr>"
    return (
        '<section id="pushes"><h2>Pushes per repository</h2><table><tr><th>Repository</th>'
        "<th class='num'>Attempted</th><th class='num'>Confirmed</th>"
        f"<th class='num'>Failed</th></tr>{body}</table></section>"
    )


def _event_section(anchor: str, title: str, events: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{esc(e['timestamp'])}</td><td>{esc(e['user_id'])}</td>"
        f"<td>{esc(e['event_type'])}</td><td>{esc(e['action_description'])}</td>"
        f"<td>{esc(e.get('repo') or e.get('source_ip') or e.get('host') or '')}</td>"
        f"<td class='{'bad' if e.get('status') == 'failure' else ''}'>{esc(e['status'])}</td></tr>"
        for e in events
    )
    body = rows or "<tr><td colspan='6' class='muted'>None.</td></tr>"
    return (
        f'<section id="{anchor}"><h2>{esc(title)}</h2><table><tr><th>When (UTC)</th><th>Who</th>'
        f"<th>What</th><th>Detail</th><th>Where</th><th>Result</th></tr>{body}</table></section>"
    )
