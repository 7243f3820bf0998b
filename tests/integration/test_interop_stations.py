"""Several logical stations behind one outstation (issue 19 items 1 and 8), 104: the bench
profile's station 2 (four measurements at common address 2), against c104 as the master of station 2, and a broadcast
interrogation in raw frames decoded by Wireshark.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses

import pytest

from rtu.config import AppConfig, bench_config
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import (
    C104Master,
    Raw104Client,
    TsharkCapture,
    build_asdu,
    free_tcp_port,
    tshark_decode_104,
)

COT_ACT, COT_ACT_CON, COT_ACT_TERM, COT_INIT, COT_GI, COT_UNKNOWN_CA = 6, 7, 10, 4, 20, 46
STATION2 = list(range(3501, 3505))


def two_stations() -> AppConfig:
    """The bench profile as it is: station 2 (common address 2) holds 3501-3504 (issue 19
    item 8)."""
    config = bench_config()
    assert sorted(p.ioa for p in config.points if p.common_address == 2) == STATION2
    return config


@pytest.fixture
def rtu():
    with OutstationThread(two_stations(), free_tcp_port()) as outstation:
        yield outstation


def test_c104_master_of_station_2(rtu) -> None:
    rtu.call(rtu.sup.provided(SimulatedField).set, "meter2_power", 42.0)
    with C104Master(rtu.port, ca=2) as m:
        m.wait_connected(5)
        since = m.mark()
        assert m.interrogation(qoi=20)
        data = m.asdus(since, cot=COT_GI)
        assert {r["ca"] for r in data} == {2}
        assert [o["ioa"] for r in data for o in r["objects"]] == STATION2
        since = m.mark()
        rtu.call(rtu.sup.provided(SimulatedField).set, "meter2_voltage", 12.5)
        event = m.wait_for(lambda r: r.get("type") == "M_ME_TF_1", since=since)
        assert event["ca"] == 2 and event["objects"][0]["ioa"] == 3501


def test_broadcast_interrogation_answered_per_station_decoded_by_wireshark(rtu, tmp_path) -> None:
    with TsharkCapture(rtu.port, tmp_path / "stations.pcapng") as capture, \
            Raw104Client(rtu.port) as r:
        r.startdt()
        r.recv_until(lambda a: a.get("type") == "M_EI_NA_1" and a.get("ca") == 2)
        r.send_asdu(build_asdu("C_IC_NA_1", COT_ACT, 0xFFFF, [(0, bytes([20]))]))
        r.recv_until(lambda a: a.get("type") == "C_IC_NA_1" and a.get("cot") == COT_ACT_TERM
                     and a.get("ca") == 2)
        r.send_asdu(build_asdu("C_IC_NA_1", COT_ACT, 3, [(0, bytes([20]))]))
        neg = r.recv_until(lambda a: a.get("type") == "C_IC_NA_1" and a.get("ca") == 3)
        assert neg["negative"] and neg["cot"] == COT_UNKNOWN_CA
        r.ack()
    frames = tshark_decode_104(capture.path, rtu.port)
    assert not frames.malformed, frames.problems
    ours = [(f["type"], f["cot"], f["ca"]) for f in frames
            if f["dir"] == "from_server" and f["format"] == "I"]
    assert ours[:2] == [("M_EI_NA_1", COT_INIT, 1), ("M_EI_NA_1", COT_INIT, 2)]
    gi = [x for x in ours if x[0] == "C_IC_NA_1"]
    assert gi[:4] == [("C_IC_NA_1", COT_ACT_CON, 1), ("C_IC_NA_1", COT_ACT_CON, 2),
                      ("C_IC_NA_1", COT_ACT_TERM, 1), ("C_IC_NA_1", COT_ACT_TERM, 2)]
    data_2 = [f for f in frames if f["dir"] == "from_server" and f.get("cot") == COT_GI
              and f.get("ca") == 2]
    assert [ioa for f in data_2 for ioa in f["ioas"]] == STATION2


def test_parameter_loading_over_104_decoded_by_wireshark(tmp_path) -> None:
    """P_ME_NC_1 threshold for ai1 (3001), its ACT_CON, the file in the state directory, and a
    deactivation with P_AC_NA_1; Wireshark decodes the parameter ASDUs."""
    import json
    import struct

    config = bench_config()
    config = dataclasses.replace(config, service=dataclasses.replace(
        config.service, state_directory=str(tmp_path / "state")))
    with OutstationThread(config, free_tcp_port()) as rtu, \
            TsharkCapture(rtu.port, tmp_path / "params.pcapng") as capture, \
            Raw104Client(rtu.port) as r:
        r.startdt()
        r.send_asdu(build_asdu("P_ME_NC_1", COT_ACT, 1, [(3001, struct.pack("<fB", 7.5, 1))]))
        con = r.recv_until(lambda a: a.get("type") == "P_ME_NC_1")
        assert con["cot"] == COT_ACT_CON and not con["negative"]
        assert rtu.call(lambda: rtu.sup.db.deadband("ai1")) == 7.5
        saved = json.loads((tmp_path / "state" / "parameters.json").read_text())
        assert saved["ai1"]["threshold"] == 7.5 and saved["ai1"]["active"] is True
        r.send_asdu(build_asdu("P_AC_NA_1", 8, 1, [(3001, bytes([2]))]))
        con = r.recv_until(lambda a: a.get("type") == "P_AC_NA_1")
        assert con["cot"] == 9 and not con["negative"]
        assert rtu.call(lambda: rtu.sup.db.deadband("ai1")) == 0.5  # the configured one
        r.ack()
    frames = tshark_decode_104(capture.path, rtu.port)
    assert not frames.malformed, frames.problems
    seen = {(f["type_id"], f["cot"]) for f in frames if f["format"] == "I"}
    assert {(112, 6), (112, 7), (113, 8), (113, 9)} <= seen
