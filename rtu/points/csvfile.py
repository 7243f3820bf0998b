"""The point list as a CSV file, for engineers who keep their signal lists in spreadsheets.

``points_file = "points.csv"`` at the top of the configuration takes the ``[[points]]`` list
from such a file (rtu/config/document.py); ``rtu points export --csv`` writes one and ``rtu
points import FILE.csv`` turns one into TOML. This module holds the pure parts: CSV text to
``[[points]]`` tables (each with its CSV line, so that every error names it), points back to
CSV rows, and rows to TOML text.

Columns (the first line names them, in any order; only ``name``, ``ioa`` and ``kind`` are
required, the others may be left out or left empty, which means the key's default):

========================  ==============================================================
``name``, ``ioa``, ``kind``  as in ``[[points]]``
``source``                what feeds a monitored point (``sim``, ``gpio:NAME``, ...)
``groups``                interrogation groups separated by ``;`` or spaces: ``1;3``
``deadband``              a number
``deadband_percent``      a number 0..100
``range``                 ``low;high``
``description``           text
``target``, ``feedback``  a command's output and its monitored point
``select_required``       ``true``/``false`` (also ``yes``/``no``, ``1``/``0``)
``cyclic``                seconds between periodic (COT 1) reports; empty: none
``common_address``        the point's logical station; empty: the station's
========================  ==============================================================

A cell that is not what its column expects is passed on as text, so the point list's own
checks report it as for TOML (``expected an integer ..., got '12x'``). Excel's UTF-8
byte-order mark is accepted; the delimiter is ``,`` or ``;`` (what the header line uses).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from rtu.frozen import frozen
from rtu.points.model import Point

__all__ = ["COLUMNS", "CsvPoints", "parse_points_csv", "point_rows", "rows_to_csv",
           "rows_to_toml"]

COLUMNS: Final = ("name", "ioa", "kind", "source", "groups", "deadband", "deadband_percent",
                  "range", "description", "target", "feedback", "select_required", "cyclic",
                  "common_address")
_REQUIRED: Final = ("name", "ioa", "kind")
_INTEGER: Final = frozenset({"ioa", "common_address"})
_NUMBER: Final = frozenset({"deadband", "deadband_percent", "cyclic"})
_LISTS: Final = {"groups": int, "range": float}
_TRUE: Final = frozenset({"true", "yes", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "0", "off"})
MAX_ROWS: Final = 100_000  # a point list larger than any IOA space an outstation serves


@frozen
class CsvPoints:
    """What a CSV file holds: ``[[points]]`` tables, the CSV line of each, and the errors of
    the file itself (header, shape), each ``FILE:LINE: message``."""

    tables: list[dict[str, Any]]
    lines: list[int]
    errors: list[str]


def parse_points_csv(text: str, source: str) -> CsvPoints:
    """CSV text -> ``[[points]]`` tables; never raises on bad input."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    errors: list[str] = []
    tables: list[dict[str, Any]] = []
    lines: list[int] = []
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return CsvPoints([], [], [f"{source}:1: not CSV: {exc}"])
    if header is None or not any(cell.strip() for cell in header):
        return CsvPoints([], [], [(f"{source}:1: expected a header line naming the columns "
                                  f"({', '.join(COLUMNS)}), got an empty file")])
    columns = [cell.strip().lower() for cell in header]
    for i, column in enumerate(columns):
        if column not in COLUMNS:
            errors.append(f"{source}:1: column {i + 1} {column!r}: expected one of "
                          f"{', '.join(COLUMNS)}")
        elif columns.index(column) != i:
            errors.append(f"{source}:1: column {i + 1} {column!r}: given twice")
    missing = [c for c in _REQUIRED if c not in columns]
    if missing:
        errors.append(f"{source}:1: required column{'s' if len(missing) > 1 else ''} missing: "
                      f"{', '.join(missing)}")
    if errors:
        return CsvPoints([], [], errors)
    line = reader.line_num
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # an empty line, e.g. at the end
            if len(tables) >= MAX_ROWS:
                errors.append(f"{source}:{start}: more than {MAX_ROWS} points")
                break
            if len(row) > len(columns):
                errors.append(f"{source}:{start}: expected at most {len(columns)} cells (the "
                              f"header's columns), got {len(row)}")
                continue
            tables.append(_table(columns, row))
            lines.append(start)
    except csv.Error as exc:
        errors.append(f"{source}:{reader.line_num}: not CSV: {exc}")
    return CsvPoints(tables, lines, errors)


def _table(columns: Sequence[str], row: Sequence[str]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for column, cell in zip(columns, row, strict=False):
        text = cell.strip()
        if text:
            table[column] = _cell_value(column, text)
    return table


def _cell_value(column: str, text: str) -> object:
    """The TOML value a cell stands for; the text itself when it is not one."""
    try:
        if column in _INTEGER:
            return int(text, 0) if text.lower().startswith(("0x", "0o", "0b")) else int(text)
        if column in _NUMBER:
            return float(text)
        if column in _LISTS:
            parts = [part for part in text.replace(";", " ").replace(",", " ").split() if part]
            convert = _LISTS[column]
            return [convert(part) for part in parts]
        if column == "select_required":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
    except ValueError:
        return text
    return text


# -- points -> rows --------------------------------------------------------------------------------
def point_rows(points: Iterable[Point]) -> list[dict[str, str]]:
    """Each point as CSV cells (its non-default keys only), in IOA order."""
    rows = []
    for point in sorted(points, key=lambda p: p.ioa):
        row = {"name": point.name, "ioa": str(point.ioa), "kind": point.kind.value,
               "source": point.source or "",
               "groups": ";".join(str(g) for g in sorted(point.groups)),
               "deadband": _number(point.deadband) if point.deadband else "",
               "deadband_percent": _number(point.deadband_percent)
               if point.deadband_percent else "",
               "range": f"{_number(point.low)};{_number(point.high)}"
               if point.low is not None and point.high is not None else "",
               "description": point.description or "",
               "target": point.target or "", "feedback": point.feedback or "",
               "select_required": "true" if point.select_required else "",
               "cyclic": _number(point.cyclic) if point.cyclic else "",
               "common_address": str(point.common_address) if point.common_address else ""}
        rows.append(row)
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def rows_to_csv(rows: Iterable[Mapping[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# -- tables -> TOML ----------------------------------------------------------------------------------
def rows_to_toml(tables: Iterable[Mapping[str, Any]]) -> str:
    """``[[points]]`` tables as TOML text, keys in the column order."""
    out: list[str] = []
    for table in tables:
        out.append("[[points]]")
        for key in COLUMNS:
            if key in table:
                out.append(f"{key} = {_toml_value(table[key])}")
        out.append("")
    return "\n".join(out)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # JSON's string escapes are all valid in a TOML basic string
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
