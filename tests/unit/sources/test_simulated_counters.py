"""The simulation's counters can be reset by a master (it keeps their counts itself)."""

from __future__ import annotations

import pytest

from rtu.points.counters import CounterReset, CounterResets
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointChanged, PointKind
from rtu.sources.simulated.source import SimulatedField

T0 = 1_700_000_000.0


def test_simulated_counters_reset_to_zero_and_count_on_from_there() -> None:
    db = PointDatabase([
        Point("sim_cnt", 4001, PointKind.COUNTER, source="sim"),
        Point("meter", 4100, PointKind.COUNTER, source="modbus"),
    ])
    sim = SimulatedField(db, seed=1, wall=lambda: T0)
    sim.initialise()
    changes: list[PointChanged] = []
    db.subscribe(changes.append)
    sim._step_counter(db.point("sim_cnt"))
    counted = db.value("sim_cnt").value
    assert counted > 0
    resets = CounterResets([sim])
    assert isinstance(sim, CounterReset)
    assert resets.resets(db.point("sim_cnt")) and not resets.resets(db.point("meter"))
    resets.reset(db.point("sim_cnt"), T0 + 1)
    assert db.value("sim_cnt").value == 0
    assert changes[-1].origin is ChangeOrigin.REMOTE_COMMAND
    sim._step_counter(db.point("sim_cnt"))
    assert 0 < db.value("sim_cnt").value <= 10
    with pytest.raises(ValueError, match="cannot be reset"):
        resets.reset(db.point("meter"), T0)
