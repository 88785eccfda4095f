"""``report``: one self-contained HTML page (rendered by a real headless Chromium) and a text
summary; no external URL, nothing unescaped, scoped by role, verification status included."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from mfn_tracker.settings import Settings
from mfn_tracker.store.writer import EventWriter
from tests.compliance.logs import (
    MIXED_DAY,
    append_chained,
    day_path,
    lines_of,
    make_mixed_log,
    write_lines,
)
from tests.helpers.cli import run_cli

ADMIN = {"MFN_ADMIN_KEYS": "admin-secret-key-1234567890"}
KEY = ["--api-key", "admin-secret-key-1234567890"]
SECTIONS = ("summary", "verification", "activity", "who", "auth-failures", "api-errors",
            "pushes", "timeline")  # fmt: skip


@pytest.fixture
def html_report(settings: Settings, tmp_path: Path) -> Path:
    make_mixed_log(settings)
    writer = EventWriter(settings)
    writer.write(
        {
            "event_type": "comment",
            "user_id": "eve",
            "action_description": "<script>alert(1)</script> see https://evil.example/x.png",
            "timestamp": f"{MIXED_DAY}T21:00:00.000Z",
        }
    )
    writer.close()
    out = tmp_path / "report.html"
    result = run_cli("report", "--date", MIXED_DAY, "-o", str(out), *KEY, env=ADMIN)
    assert result.code == 0, result.err
    return out


def test_html_report_is_self_contained_with_its_sections(html_report: Path) -> None:
    page = html_report.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "<svg" in page and "<rect" in page
    assert re.search(r"https?://", page, re.IGNORECASE) is None
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "default-src 'none'" in page
    assert 'src="' not in page and "<link" not in page
    assert "Verification" in page and 'class="ok">OK (17 lines' in page
    assert "/srv/other" in page  # pushes per repository


def _png_colors(path: Path) -> int:
    """Distinct bytes values of the decoded image data: a blank page has very few."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return len(set(zlib.decompress(idat)))


def test_report_renders_in_headless_chromium(html_report: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    shot = tmp_path / "shot.png"
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1280,1600", html_report.as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    assert _png_colors(shot) > 50


def test_text_report_reads_like_aureport_summary(settings: Settings) -> None:
    make_mixed_log(settings)
    result = run_cli("report", "--date", MIXED_DAY, "--format", "text", *KEY, env=ADMIN)
    assert result.code == 0, result.err
    out = result.out
    assert "Summary Report" in out and "Number of events: 16" in out
    assert "Number of pushes: 1 confirmed, 0 attempted, 1 failed" in out
    assert "Number of authentication failures: 1" in out and "Number of API errors: 1" in out
    assert "Verification of the range: OK (16 lines, seq 1..16)" in out
    assert "mallory  198.51.100.0  Bad key" in out  # the failure, with its (truncated) address


def test_report_shows_a_failed_verification(settings: Settings) -> None:
    make_mixed_log(settings)
    path = day_path(settings, MIXED_DAY)
    lines = lines_of(path)
    lines[3] = lines[3].replace(b'"bob"', b'"eve"')
    write_lines(path, lines)
    out = run_cli("report", "--date", MIXED_DAY, "--format", "text", *KEY, env=ADMIN).out
    assert "Verification of the range: FAILED (1 modified" in out
    assert "modified" in out.split("Verification findings")[1]


def test_user_key_reports_on_its_own_events_only(settings: Settings) -> None:
    make_mixed_log(settings)
    bob = run_cli("keys", "create", "--user", "bob", "--role", "user").out.strip().splitlines()[0]
    out = run_cli("report", "--date", MIXED_DAY, "--format", "text", "--api-key", bob).out
    assert "Selected for: bob (user)" in out and "mallory" not in out
    assert "Number of users: 1" in out


def test_report_without_a_key_is_denied(settings: Settings) -> None:
    result = run_cli("report", "--date", MIXED_DAY)
    assert result.code == 3


def test_malformed_chained_line_is_a_finding_not_a_crash(
    settings: Settings, tmp_path: Path
) -> None:
    make_mixed_log(settings)
    append_chained(day_path(settings, MIXED_DAY), timestamp=f"{MIXED_DAY}Tgarbage", user_id=["x"])
    out = tmp_path / "report.html"
    result = run_cli("report", "--date", MIXED_DAY, "-o", str(out), *KEY, env=ADMIN)
    assert result.code == 0 and "internal error" not in result.err, result.err
    text = run_cli("report", "--date", MIXED_DAY, "--format", "text", *KEY, env=ADMIN)
    assert text.code == 0, text.err
    assert "Number of events: 16" in text.out
    assert "modified: not as the writer writes it" in text.out
