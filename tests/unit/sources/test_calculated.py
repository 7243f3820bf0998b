"""rtu.sources.calculated: the [calculated] section (inputs, types, cycles) and the calculator
following its inputs with their time tags and quality."""

from __future__ import annotations

from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointChanged, PointKind, Quality
from rtu.sources.calculated.config import CalculatedPoint
from rtu.sources.calculated.source import Calculator


def doc(*entries: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "iec104": {"enabled": False},
        "points": [
            {"name": "di1", "ioa": 1, "kind": "single", "source": "sim"},
            {"name": "di2", "ioa": 2, "kind": "single", "source": "sim"},
            {"name": "ia", "ioa": 3, "kind": "float", "source": "sim"},
            {"name": "any", "ioa": 10, "kind": "single", "source": "calc"},
            {"name": "alarm", "ioa": 11, "kind": "single", "source": "calc"},
            *(extra or []),
        ],
        "calculated": {"points": list(entries)},
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_entries_come_in_dependency_order() -> None:
    config = parse_config(doc({"point": "alarm", "formula": "any and above(ia, 80, 2)"},
                              {"point": "any", "formula": "di1 or di2"}), "t.toml")
    assert config.section("calculated").points == (  # type: ignore[attr-defined]
        CalculatedPoint("any", "di1 or di2"),
        CalculatedPoint("alarm", "any and above(ia, 80, 2)"))


def test_rtu_check_names_mistakes_and_cycles() -> None:
    assert errors(doc({"point": "any", "formula": "alarm or di1"},
                      {"point": "alarm", "formula": "any"},
                      {"point": "di1", "formula": "di2"},
                      {"point": "any", "formula": "di2"})) == [
        ("t.toml: calculated.points[2].point: expected the name of a point with source = "
        "\"calc\", got 'di1'"),
        ("t.toml: calculated.points[3].point: expected a point computed by one entry only, got "
        "'any' (already computed by calculated.points[0])"),
        ("t.toml: calculated.points[0].formula: expected no cycle of calculated points, got "
        "any -> alarm -> any"),
    ]
    assert errors(doc({"point": "any", "formula": "di1 or ia"})) == [
        ("t.toml: calculated.points[0].formula: or takes logic values, not numbers, in "
        "'di1 or ia'"),
        ("t.toml: points[4].source: expected a [[calculated.points]] entry with point = "
        "'alarm', got no such entry"),
    ]


def test_the_calculator_follows_its_inputs_with_their_time_tags() -> None:
    db = PointDatabase([Point("di1", 1, PointKind.SINGLE), Point("di2", 2, PointKind.SINGLE),
                        Point("ia", 3, PointKind.FLOAT),
                        Point("any", 10, PointKind.SINGLE, source="calc"),
                        Point("alarm", 11, PointKind.SINGLE, source="calc")])
    for name, value in (("di1", False), ("di2", False), ("ia", 50.0)):
        db.update(name, value, timestamp=100.0)
    calc = Calculator(db, [CalculatedPoint("any", "di1 or di2"),
                           CalculatedPoint("alarm", "any and above(ia, 80, 2)")],
                      wall=lambda: 200.0)
    calc.initialise()
    assert (db.value("any").value, db.value("any").quality) == (False, Quality.GOOD)
    changes: list[PointChanged] = []
    db.subscribe(changes.append)  # the outstation subscribes after the calculator
    db.update("di2", True, timestamp=300.5, origin=ChangeOrigin.REMOTE_COMMAND)
    # the cause first, then the calculated point with its time tag and origin
    assert [(c.point.name, c.new.value, c.new.timestamp, c.origin) for c in changes] == [
        ("di2", True, 300.5, ChangeOrigin.REMOTE_COMMAND),
        ("any", True, 300.5, ChangeOrigin.REMOTE_COMMAND)]
    db.update("ia", 81.0, timestamp=301.0)
    assert db.value("alarm").value is True and db.value("alarm").timestamp == 301.0
    db.update("ia", 79.0, timestamp=302.0)  # within the hysteresis: still on
    assert db.value("alarm").value is True
    db.update("ia", 77.0, timestamp=303.0)
    assert db.value("alarm").value is False
    db.update("di1", False, Quality.IV, timestamp=304.0)  # an input turns invalid
    assert db.value("any").quality == Quality.IV and db.value("alarm").quality == Quality.IV
    calc.close()
    db.update("di2", False, timestamp=305.0)
    assert db.value("any").value is True  # no longer followed


def test_the_example_uses_every_entry_key() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("rtu.examples").joinpath("example.toml").read_text("utf-8")
    (entry,) = tomllib.loads(text)["calculated"]["points"]
    assert set(entry) == {"point", "formula"}
