"""rtu.sources.simulated: points listed in [simulation] manual are set by hand only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.sources.simulated.source import SimulatedField


def test_manual_points_are_initialised_but_never_stepped() -> None:
    db = PointDatabase([Point("es1", 1, PointKind.SINGLE, source="sim"),
                        Point("di1", 2, PointKind.SINGLE, source="sim")])
    sim = SimulatedField(db, seed=3, digital_interval=0.001, manual=["es1"])
    sim.initialise()
    stepped: list[str] = []
    db.subscribe(lambda change: stepped.append(change.point.name))

    async def run_a_while() -> None:
        task = asyncio.ensure_future(sim.run())
        await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(run_a_while())
    assert "di1" in stepped and "es1" not in stepped
    assert db.value("es1").value is False and not db.value("es1").quality
    sim.set("es1", True)  # rtu sim set
    assert db.value("es1").value is True


def config(manual: Any) -> dict[str, Any]:
    return {"iec104": {"enabled": False}, "simulation": {"manual": manual},
            "points": [{"name": "es1", "ioa": 1, "kind": "single", "source": "sim"},
                       {"name": "x", "ioa": 2, "kind": "single"}]}


def test_manual_names_simulated_points() -> None:
    assert parse_config(config(["es1"]), "t.toml").simulation.manual == ("es1",)
    with pytest.raises(ConfigError) as info:
        parse_config(config(["es1", "x", 3]), "t.toml")
    assert info.value.errors == [
        "t.toml: simulation.manual[2]: expected a point name, got 3"]
    with pytest.raises(ConfigError) as info:
        parse_config(config(["x"]), "t.toml")
    assert info.value.errors == [
        ("t.toml: simulation.manual[0]: expected the name of a point with source = \"sim\", "
        "got 'x'")]
