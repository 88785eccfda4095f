"""Output formats: aligned tables, safe for terminals and spreadsheets, exact for programs."""

from __future__ import annotations

import csv
import io
import json

from mfn_tracker.query import output

EVENTS = [
    {
        "seq": 1,
        "timestamp": "2026-03-01T10:00:00.000Z",
        "event_type": "commit",
        "status": "success",
        "user_id": "alice",
        "repo": "/r/one",
        "action_description": "Commit 1a2b3c4 on main: fix",
        "files_changed": ["a.py", "b,c.py"],
        "metadata": {"branch": "main"},
    },
    {
        "seq": 2,
        "timestamp": "2026-03-01T10:00:01.000Z",
        "event_type": "file_change",
        "status": "failure",
        "user_id": "bob\x1b[31m",
        "action_description": '=HYPERLINK("http://evil")\nsecond line',
    },
]


def test_table_columns_line_up_and_controls_are_escaped() -> None:
    lines = list(output.table_lines(EVENTS))
    assert len(lines) == 3
    starts = [line.index("success") for line in lines[1:2]] + [lines[2].index("failure")]
    assert starts[0] == starts[1] == lines[0].index("STATUS")
    assert "\x1b" not in "".join(lines) and "\\x1b[31m" in lines[2]
    assert "\n" not in lines[2] and "\\x0asecond" in lines[2]


def test_table_cuts_the_description_to_the_terminal() -> None:
    lines = list(output.table_lines(EVENTS, width=90))
    assert all(len(line) <= 90 for line in lines)
    assert lines[2].endswith("…")


def test_jsonl_is_one_exact_object_per_line() -> None:
    lines = list(output.jsonl_lines(EVENTS))
    assert [json.loads(line) for line in lines] == EVENTS


def test_csv_quotes_and_defuses_formulas() -> None:
    rows = list(csv.reader(io.StringIO("\n".join(output.csv_lines(EVENTS)) + "\n")))
    assert rows[0] == list(output.CSV_COLUMNS)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert json.loads(first["files_changed"]) == ["a.py", "b,c.py"]
    second = dict(zip(rows[0], rows[2], strict=True))
    assert second["action_description"].startswith("'=HYPERLINK")
    assert second["repo"] == ""


def test_stats_sections() -> None:
    lines = list(output.stats_lines({"total": 2, "by_type": {"commit": 2}, "by_repo": {}}))
    assert lines[0].split() == ["total", "2"]
    assert "BY TYPE" in lines and "  (none)" in lines


FORMULAS = ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "  =cmd|' /C calc'!A0", " \t-1", "'x"]


def test_csv_defuses_every_formula_start_also_after_blanks() -> None:
    """OWASP's list (= + - @ tab CR), after leading blanks too; the escape is reversible."""
    events = [{"action_description": text, "user_id": "-alice", "seq": -1} for text in FORMULAS]
    rows = list(csv.DictReader(io.StringIO("\n".join(output.csv_lines(events)) + "\n")))
    cells = [row["action_description"] for row in rows]
    assert all(cell.startswith("'") for cell in cells), cells
    assert [output.csv_untext(cell) for cell in cells] == FORMULAS
    assert {row["user_id"] for row in rows} == {"'-alice"}
    assert {row["seq"] for row in rows} == {"-1"}  # numbers are numbers, not text
    assert output.csv_text("plain - text") == "plain - text"


def test_compliance_export_uses_the_same_escape() -> None:
    from mfn_tracker.compliance.formats import csv_cell, csv_value

    for text in FORMULAS:
        assert csv_cell("action_description", text) == output.csv_text(text)
        assert csv_value("action_description", csv_cell("action_description", text)) == text
