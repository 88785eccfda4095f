"""Render events, stats and types: an aligned table for people, json/jsonl/csv for programs."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

FORMATS = ("table", "json", "jsonl", "csv")
TABLE_COLUMNS = ("timestamp", "event_type", "status", "user_id", "repo", "action_description")
CSV_COLUMNS = (
    "seq",
    "timestamp",
    "event_type",
    "status",
    "user_id",
    "action_description",
    "repo",
    "files_changed",
    "comments",
    "metadata",
    "request_id",
    "source_ip",
    "duration_ms",
    "host",
    "event_id",
    "prev",
)
_HEADERS = {"timestamp": "TIME (UTC)", "event_type": "TYPE", "status": "STATUS"}
_MIN_DESCRIPTION = 20
_ROW_WIDTHS = (24, 13, 11, 12, 20)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # a terminal must not obey stored escapes
# Spreadsheets run cells starting with these as formulas (OWASP "CSV injection"), also after
# leading blanks; a tab or CR start is escaped too, and a quote start keeps the escape reversible.
_FORMULA_CHARS = ("=", "+", "-", "@")
_ESCAPE_START = ("\t", "\r", "\n", "'")


def csv_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` before anything that could start
    a formula. Reversible: ``csv_untext`` drops one leading ``'``."""
    if text.startswith(_ESCAPE_START) or text.lstrip(" \t\r\n").startswith(_FORMULA_CHARS):
        return "'" + text
    return text


def csv_untext(cell: str) -> str:
    """The inverse of :func:`csv_text`."""
    return cell[1:] if cell.startswith("'") else cell


def json_text(value: object) -> str:
    return orjson.dumps(value).decode()


def jsonl_line(event: Mapping[str, Any]) -> str:
    return orjson.dumps(event).decode()


def jsonl_lines(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """One compact JSON object per line (pipes into ``jq``)."""
    for event in events:
        yield orjson.dumps(event).decode()


def json_document(events: Sequence[Mapping[str, Any]], **extra: Any) -> str:
    return orjson.dumps({"events": events, "count": len(events), **extra}).decode()


def row_line(event: Mapping[str, Any], width: int = 0) -> str:
    """One event in fixed columns, for a stream (``tail --follow``) that cannot align ahead."""
    cells = [_text(event.get(c)) for c in TABLE_COLUMNS]
    fixed = [cell.ljust(size) for cell, size in zip(cells[:-1], _ROW_WIDTHS, strict=True)]
    line = "  ".join([*fixed, cells[-1]])
    return line[: width - 1] + "…" if width and len(line) > width else line


def csv_lines(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """RFC 4180 rows; nested values (files, metadata) as JSON text in their cell."""
    import csv  # here, not at the top: every read command loads this module

    buffer = io.StringIO()
    # "\r\n" as the writer's terminator makes it quote a cell holding a bare CR too; rows are
    # yielded without it (the caller ends each line).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([_cell(event.get(column)) for column in CSV_COLUMNS])
        yield from _drain(buffer)
    yield from _drain(buffer)


def table_lines(events: Sequence[Mapping[str, Any]], *, width: int = 0) -> Iterator[str]:
    """Aligned columns; the description is cut to fit ``width`` (0: never cut)."""
    if not events:
        return
    rows = [[_text(event.get(column)) for column in TABLE_COLUMNS] for event in events]
    headers = [_HEADERS.get(c, c.removesuffix("_id").upper()) for c in TABLE_COLUMNS]
    headers[-1] = "DESCRIPTION"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    room = width - sum(widths[:-1]) - 2 * (len(widths) - 1) if width else 0
    cut = max(room, _MIN_DESCRIPTION) if width else 0
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        last = row[-1] if not cut or len(row[-1]) <= cut else row[-1][: cut - 1] + "…"
        yield "  ".join([*cells, last]).rstrip()


def plain_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    """Aligned columns with upper-case headers (keys, types)."""
    cells = [[c.upper() for c in columns]]
    cells += [[_text(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for row in cells:
        yield "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()


def key_value_lines(pairs: Mapping[str, object]) -> Iterator[str]:
    width = max((len(k) for k in pairs), default=0)
    for key, value in pairs.items():
        yield f"{key.ljust(width)}  {value}"


def stats_lines(stats: Mapping[str, Any]) -> Iterator[str]:
    """The stats dictionary as sections of aligned ``name  count`` lines."""
    scalars = {k: v for k, v in stats.items() if not isinstance(v, (dict, list))}
    yield from key_value_lines({k: "-" if v is None else v for k, v in scalars.items()})
    for key, value in stats.items():
        if isinstance(value, dict):
            yield ""
            yield key.replace("_", " ").upper()
            yield from ("  " + line for line in key_value_lines(value)) if value else ["  (none)"]


def _text(value: object) -> str:
    if value is None:
        return "-"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if text.isprintable():  # the usual case, without a regex pass per cell
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return csv_text(value) if isinstance(value, str) else str(value)


def _drain(buffer: io.StringIO) -> Iterator[str]:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    if text:
        yield text.removesuffix("\r\n")
