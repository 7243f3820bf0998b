"""Issue 19: each logical station is told of losses in its own stream, in raw frames. The bench
(with its four measurements at common address 2) plus station 2's own events lost point (9502);
no master while station 2's measurements overflow the backlog: station 2's point goes ON at
common address 2 and OFF after a station interrogation of station 2 (not of station 1)."""

from __future__ import annotations

import dataclasses
from typing import Any

from rtu.config import AppConfig, SimulationConfig, bench_config
from rtu.points.model import Point, PointKind
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import Raw104Client, build_asdu, free_tcp_port

COT_ACT, COT_ACT_TERM = 6, 10
LOST1, LOST2 = 9003, 9502


def two_stations() -> AppConfig:
    config = bench_config()  # its station 2: meter2_voltage .. meter2_frequency, 3501-3504
    extra = (Point("lost2", LOST2, PointKind.SINGLE, source="health:events_lost",
                   common_address=2),)
    return dataclasses.replace(
        config, points=config.points + extra,
        simulation=SimulationConfig(seed=1, digital_interval=1e6, analog_interval=1e6,
                                    counter_interval=1e6),
        station=dataclasses.replace(config.station, event_queue_size=50,
                                    station_events_lost_ioas=(LOST2,)))


def lost_point_events(frames: list[dict[str, Any]], ioa: int) -> list[tuple[int, bool]]:
    """(common address, ON) of every time-tagged event of the events lost point ``ioa``."""
    return [(f["ca"], bool(bytes.fromhex(o["data"])[0] & 1)) for f in frames
            if f.get("type") == "M_SP_TB_1" for o in f["objects"] if o["ioa"] == ioa]


def gi(r: Raw104Client, ca: int) -> None:
    r.send_asdu(build_asdu("C_IC_NA_1", COT_ACT, ca, [(0, bytes([20]))]))
    r.recv_until(lambda a: a.get("type") == "C_IC_NA_1" and a.get("cot") == COT_ACT_TERM
                 and a.get("ca") == ca, 5)


def test_station_2_is_told_at_its_own_address_and_cleared_by_its_own_gi() -> None:
    with OutstationThread(two_stations(), free_tcp_port()) as rtu:
        sim = rtu.sup.provided(SimulatedField)
        rtu.call(lambda: [sim.set("meter2_voltage", float(v)) for v in range(200)])  # no master yet
        status = rtu.call(rtu.sup.outstation.events_lost_status)
        lost = status["lost_by_station"]["iec104"]  # type: ignore[index]
        assert lost.get(2, 0) > 100
        # station 1 may have lost its start-up events too (the oldest go first): its point
        # says so exactly when it did
        assert rtu.call(lambda: rtu.sup.db.value("lost2").value) is True
        assert rtu.call(lambda: rtu.sup.db.value("health_events_lost").value) is (1 in lost)
        with Raw104Client(rtu.port, w=1) as r:
            r.startdt()
            r.recv_until(lambda a: a.get("type") == "M_SP_TB_1" and a.get("ca") == 2
                         and any(o["ioa"] == LOST2 for o in a["objects"]), 5)
            first = [f for f in r.received if f.get("format") == "I"]
            assert [(f["type"], f["ca"]) for f in first[:2]] == [("M_EI_NA_1", 1),
                                                                  ("M_EI_NA_1", 2)]
            assert lost_point_events(first, LOST2) == [(2, True)]  # at station 2's address
            assert lost_point_events(first, LOST1) in ([], [(1, True)])
            gi(r, 1)  # station 1's interrogation does not answer station 2's loss
            assert rtu.call(lambda: rtu.sup.db.value("lost2").value) is True
            since = len(r.received)
            gi(r, 2)
            r.recv_until(lambda a: a.get("type") == "M_SP_TB_1"
                         and any(o["ioa"] == LOST2 for o in a["objects"]), 5)
            assert lost_point_events(r.received[since:], LOST2) == [(2, False)]
            assert rtu.call(lambda: rtu.sup.db.value("lost2").value) is False
