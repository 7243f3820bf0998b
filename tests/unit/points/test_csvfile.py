"""CSV point lists: parsing with line numbers, points_file in a configuration, export and
import round trips."""

from __future__ import annotations

import hashlib
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from rtu.config import ConfigError, load_config, parse_config
from rtu.points.csvfile import (
    COLUMNS,
    parse_points_csv,
    point_rows,
    rows_to_csv,
    rows_to_toml,
)

HEADER = "name,ioa,kind,source,groups,deadband,range,description,select_required,target\n"


def site(tmp_path: Path, csv_text: str, extra: str = "") -> Path:
    (tmp_path / "points.csv").write_text(csv_text, encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text('points_file = "points.csv"\n[iec104]\nenabled = false\n'
                    '[[relays]]\nname = "k1"\ndriver = "sim"\n' + extra, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.errors


def test_cells_become_the_keys_of_points() -> None:
    text = (HEADER + "di1,100,single,sim,1;3,,,\"breaker, feeder 3\",,\n"
            "\n"  # an empty line is skipped
            "ai1,0x10,float,sim,,0.5,0;100,,,\n"
            "cmd1,300,single_command,,,,,,yes,k1\n")
    parsed = parse_points_csv(text, "p.csv")
    assert parsed.errors == []
    assert parsed.lines == [2, 4, 5]
    assert parsed.tables == [
        {"name": "di1", "ioa": 100, "kind": "single", "source": "sim", "groups": [1, 3],
         "description": "breaker, feeder 3"},
        {"name": "ai1", "ioa": 16, "kind": "float", "source": "sim", "deadband": 0.5,
         "range": [0.0, 100.0]},
        {"name": "cmd1", "ioa": 300, "kind": "single_command", "select_required": True,
         "target": "k1"},
    ]


def test_header_errors_name_line_1() -> None:
    assert parse_points_csv("", "p.csv").errors == [
        "p.csv:1: expected a header line naming the columns (" + ", ".join(COLUMNS)
        + "), got an empty file"]
    errors = parse_points_csv("name,ioa,knd,name\n", "p.csv").errors
    assert errors == [f"p.csv:1: column 3 'knd': expected one of {', '.join(COLUMNS)}",
                      "p.csv:1: column 4 'name': given twice",
                      "p.csv:1: required column missing: kind"]


def test_a_row_longer_than_the_header_names_its_line() -> None:
    parsed = parse_points_csv("name,ioa,kind\na,1,single\nb,2,single,extra\n", "p.csv")
    assert parsed.errors == ["p.csv:3: expected at most 3 cells (the header's columns), got 4"]
    assert [t["name"] for t in parsed.tables] == ["a"]


def test_excel_bom_and_semicolons() -> None:
    parsed = parse_points_csv("\ufeffname;ioa;kind\r\nx;7;single\r\n", "p.csv")
    assert parsed.errors == [] and parsed.tables == [{"name": "x", "ioa": 7, "kind": "single"}]


def test_points_file_errors_name_the_csv_line_and_the_point(tmp_path: Path) -> None:
    path = site(tmp_path, HEADER + "di1,100,single,sim,,,,,,\n"
                "feeder3_cb,1x,single,sim,,,,,,\n"
                "ai9,300,float,nowhere,,,,,,\n"
                "di1,301,single,sim,17,,,,,\n")
    csv_path = tmp_path / "points.csv"
    errors = errors_of(path)
    # the sources a point may name come from the registry: only the line's ends are fixed
    assert errors[1].startswith(f"{path}: {csv_path}:4: points[2] 'ai9'.source: expected ")
    assert errors[1].endswith(", got 'nowhere'")
    assert errors[:1] + errors[2:] == [
        (f"{path}: {csv_path}:3: points[1] 'feeder3_cb'.ioa: expected an integer 1..16777215 "
        "(ioa_size 3), got '1x'"),
        (f"{path}: {csv_path}:5: points[3] 'di1'.groups[0]: expected an integer 1..16 "
        "(interrogation groups 1..16), got 17"),
        (f"{path}: {csv_path}:5: points[3] 'di1'.name: expected a unique point name, got 'di1' "
        "(already used by points[0])"),
    ]


def test_points_file_and_points_tables_are_not_both_taken(tmp_path: Path) -> None:
    path = site(tmp_path, HEADER, '[[points]]\nname = "x"\nioa = 1\nkind = "single"\n')
    assert errors_of(path) == [(f"{path}:1: points_file: expected either points_file or "
                               "[[points]] tables, got both: keep one")]


def test_a_missing_or_wrong_points_file(tmp_path: Path) -> None:
    path = site(tmp_path, HEADER)
    (tmp_path / "points.csv").unlink()
    [line] = errors_of(path)
    assert line == (f"{path}:1: points_file: {tmp_path / 'points.csv'}: cannot read the file: "
                    "No such file or directory")
    path.write_text('points_file = "points.xlsx"\n')
    assert errors_of(path) == [(f"{path}:1: points_file: expected the path of a .csv file, "
                               "got 'points.xlsx'")]
    path.write_text("points_file = 3\n")
    assert any("points_file: expected the path of a CSV file, got 3" in e
               for e in errors_of(path))
    with pytest.raises(ConfigError, match="expected no points_file in a document parsed"):
        parse_config({"points_file": "p.csv"}, "x.toml")


def test_the_fingerprint_covers_the_point_list_the_hash_is_the_main_files(
        tmp_path: Path) -> None:
    path = site(tmp_path, HEADER + "di1,100,single,sim,,,,,,\n")
    first = load_config(path)
    assert first.origin is not None and [f.role for f in first.origin.files] == \
        ["main", "points_file"]
    (tmp_path / "points.csv").write_text(HEADER + "di1,101,single,sim,,,,,,\n")
    second = load_config(path)
    # the last-known-good copy tells the two apart
    assert second.origin is not None and second.origin.fingerprint != first.origin.fingerprint
    assert load_config(path).origin.fingerprint == second.origin.fingerprint  # type: ignore[union-attr]
    # the one shown hash (rtu status config_sha256) is sha256sum of the main file
    main = hashlib.sha256(path.read_bytes()).hexdigest()
    assert first.digest == second.digest == second.origin.digest == main


def test_export_then_load_gives_the_same_points(tmp_path: Path) -> None:
    from rtu.config import bench_config

    points = bench_config().points
    path = site(tmp_path, rows_to_csv(point_rows(points)))
    # the bench profile itself, its [[points]] tables replaced by the CSV file
    bench = resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")
    tables = re.split(r"(?m)^(?=\[)", bench)
    kept = [t for t in tables[1:] if not t.startswith("[[points]]")]
    assert len(kept) < len(tables) - 1  # some [[points]] were there
    path.write_text('points_file = "points.csv"\n' + tables[0] + "".join(kept))
    assert sorted(load_config(path).points, key=lambda p: p.ioa) == \
        sorted(points, key=lambda p: p.ioa)


def test_import_writes_toml_that_reads_back_the_same() -> None:
    text = HEADER + 'di1,100,single,sim,1;2,,,"say ""hi""\\ \x7f",,\nai1,200,float,sim,,0.25,,,,\n'
    parsed = parse_points_csv(text, "p.csv")
    assert tomllib.loads(rows_to_toml(parsed.tables)) == {"points": parsed.tables}
