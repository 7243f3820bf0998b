"""Parameter loading of measured values over 104 (issue 19 item 4): each kind of parameter
(KPA 1 threshold, 2 smoothing, 3 low limit, 4 high limit) loaded by a raw-socket master into the
bench's ai1 (3001) and its effect seen on the events that master receives; the parameters kept
across a restart; and what a master not written here (c104, i.e. lib60870-C) makes of the
parameters answered on interrogation with ``[station] parameters_in_gi``.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import struct
from pathlib import Path
from typing import Any

import pytest

from rtu.config import AppConfig, SimulationConfig, bench_config
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, Raw104Client, build_asdu, free_tcp_port

COT_ACT, COT_ACT_CON, COT_DEACT, COT_DEACT_CON, COT_GI = 6, 7, 8, 9, 20
AI1, SENTINEL = 3001, 1003  # ai1 (float, deadband 0.5) and di03, whose events mark "so far"


def quiet_bench(state: Path, *, parameters_in_gi: bool = False) -> AppConfig:
    config = bench_config()
    return dataclasses.replace(
        config,
        simulation=SimulationConfig(seed=1, digital_interval=1e6, analog_interval=1e6,
                                    counter_interval=1e6),
        service=dataclasses.replace(config.service, state_directory=str(state)),
        station=dataclasses.replace(config.station, parameters_in_gi=parameters_in_gi))


def load(r: Raw104Client, kpa: int, value: float, *, ioa: int = AI1) -> dict[str, Any]:
    r.send_asdu(build_asdu("P_ME_NC_1", COT_ACT, 1, [(ioa, struct.pack("<fB", value, kpa))]))
    return r.recv_until(lambda a: a.get("type") == "P_ME_NC_1")


class Field:
    """Sets ai1 and reads back which values the master got as events."""

    def __init__(self, rtu: OutstationThread, master: Raw104Client) -> None:
        self.rtu, self.master, self._sentinel = rtu, master, False

    def set(self, value: float) -> list[float]:
        """Set ai1, then toggle di03; the ai1 events received before di03's."""
        sim = self.rtu.sup.provided(SimulatedField)
        self._sentinel = not self._sentinel
        self.rtu.call(lambda: (sim.set("ai1", value), sim.set("di03", self._sentinel)))
        since = len(self.master.received)
        self.master.recv_until(lambda a: a.get("type") == "M_SP_TB_1"
                               and a.get("ioa") == SENTINEL, 5)
        return [struct.unpack("<f", bytes.fromhex(o["data"])[:4])[0]
                for a in self.master.received[since:] if a.get("type") == "M_ME_TF_1"
                for o in a["objects"] if o["ioa"] == AI1]


def test_each_kind_of_parameter_changes_the_events_and_survives_a_restart(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    with OutstationThread(quiet_bench(state), free_tcp_port()) as rtu, \
            Raw104Client(rtu.port, w=1) as r:
        r.startdt()
        field = Field(rtu, r)
        assert field.set(20.0) == [20.0]  # the configured deadband 0.5
        # KPA 1: threshold 50
        con = load(r, 1, 50.0)
        assert con["cot"] == COT_ACT_CON and not con["negative"]
        assert field.set(30.0) == []  # within 50 of 20
        # KPA 4 and 3: high limit 40, low limit 10: each crossing is an event
        assert not load(r, 4, 40.0)["negative"]
        assert not load(r, 3, 10.0)["negative"]
        assert field.set(41.0) == [41.0]
        assert field.set(39.0) == [39.0]
        assert field.set(9.0) == [9.0]
        assert field.set(11.0) == [11.0]
        assert field.set(12.0) == []
        # KPA 2: smoothing with a time constant of 1000 s: a step to 100 barely moves it
        assert not load(r, 2, 1000.0)["negative"]
        assert field.set(100.0) == []
        assert 12.0 <= rtu.call(lambda: rtu.sup.db.value("ai1").value) < 13.0
        # a low limit above the high one: refused, nothing changes
        assert load(r, 3, 45.0)["negative"]
        assert rtu.call(lambda: rtu.sup.db.limits("ai1")) == (10.0, 40.0)
    # a restart on the same state directory: all four in force again
    with OutstationThread(quiet_bench(state), free_tcp_port()) as rtu, \
            Raw104Client(rtu.port, w=1) as r:
        db = rtu.sup.db
        assert rtu.call(lambda: (db.deadband("ai1"), db.smoothing("ai1"), db.limits("ai1"))) \
            == (50.0, 1000.0, (10.0, 40.0))
        r.startdt()
        # deactivated (P_AC_NA_1, QPA 2): the configured deadband, no smoothing, no limits
        r.send_asdu(build_asdu("P_AC_NA_1", COT_DEACT, 1, [(AI1, bytes([2]))]))
        assert r.recv_until(lambda a: a.get("type") == "P_AC_NA_1")["cot"] == COT_DEACT_CON
        field = Field(rtu, r)
        assert field.set(70.0) == [70.0]
        assert field.set(70.4) == []


@pytest.mark.parametrize("in_gi", [False, True], ids=["default", "parameters_in_gi"])
def test_what_c104_makes_of_parameters_on_interrogation(tmp_path: Path, in_gi: bool) -> None:
    """With parameters_in_gi the P_ME_NC_1 objects follow the monitored data with cause 20
    (ai1's loaded threshold, the configured deadband 0.5 of ai2..ai8...). lib60870-C keeps one
    type per IOA: it ignores them, without an unexpected-message report (no
    MISMATCHED_TYPE_ID) and without touching its M_ME_NC_1 points at those IOAs. Off (the
    default), nothing of the kind is sent."""
    with OutstationThread(quiet_bench(tmp_path / "state", parameters_in_gi=in_gi),
                          free_tcp_port()) as rtu:
        with Raw104Client(rtu.port, w=1) as r:
            r.startdt()
            assert not load(r, 1, 7.5)["negative"]
        with C104Master(rtu.port) as m:
            m.wait_connected(5)
            since = m.mark()
            assert m.interrogation(qoi=20)
            answered = m.asdus(since, cot=COT_GI)
            # c104's point callbacks run after the raw ones interrogation() waited for
            m.wait_update(lambda u: u["ioa"] == AI1, 5)
            parameters = [(a["type"], o["ioa"]) for a in answered
                          if a["type"] == "P_ME_NC_1" for o in a["objects"]]
            unexpected = m.unexpected.snapshot()
            mismatched = [u for u in unexpected if u["type"] == "P_ME_NC_1"]
            ai1 = [(u["type"], u["value"]) for u in m.updates.snapshot() if u["ioa"] == AI1]
    if not in_gi:
        assert parameters == [] and mismatched == []
        return
    # ai1..ai8, then the other measurements with a configured deadband (3601-3604)
    assert parameters[:8] == [("P_ME_NC_1", ioa) for ioa in range(3001, 3009)]
    types = [a["type"] for a in answered]
    assert types.index("P_ME_NC_1") > max(i for i, t in enumerate(types) if t.startswith("M_"))
    assert mismatched == [] and "MISMATCHED_TYPE_ID" not in {u["cause"] for u in unexpected}
    assert ai1 == [("M_ME_NC_1", pytest.approx(50.0))]  # the measured value, untouched
