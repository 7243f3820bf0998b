"""Interoperability items of issue 19 against c104 (lib60870-C) as master, on the bench
profile: counter interrogation with freeze-and-reset.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import struct

import pytest

from rtu.config import bench_config
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

COT_PERIODIC, COT_ACT_CON, COT_ACT_TERM, COT_RETURN_REMOTE, COT_COUNTER_GENERAL = 1, 7, 10, 11, 37


@pytest.fixture
def rtu():
    config = bench_config()
    # counters stand still (they change only when a test sets them)
    config = dataclasses.replace(
        config, simulation=dataclasses.replace(config.simulation, counter_interval=0.0))
    with OutstationThread(config, free_tcp_port()) as outstation:
        yield outstation


@pytest.fixture
def master(rtu):
    with C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        yield m


def bcr(obj) -> tuple[int, int]:
    """(value, sequence number) of an M_IT object's BCR."""
    value, flags = struct.unpack("<iB", bytes.fromhex(obj["data"])[:5])
    return value, flags & 0x1F


def test_freeze_with_reset_then_read_returns_the_frozen_counts(rtu, master) -> None:
    rtu.call(rtu.sup.provided(SimulatedField).set, "counter1", 1234)
    rtu.call(rtu.sup.provided(SimulatedField).set, "counter2", 55)
    since = master.mark()
    assert master.counter_interrogation(rqt=5, frz=2)  # freeze with reset
    assert master.asdus(since, type="C_CI_NA_1", cot=COT_ACT_TERM)
    # the simulated counters are reset: return information caused by a remote command
    master.wait_for(lambda r: r.get("type") == "M_IT_TB_1" and r.get("cot") == COT_RETURN_REMOTE,
                    since=since)
    resets = {o["ioa"]: bcr(o)[0] for r in master.asdus(since, type="M_IT_TB_1",
                                                        cot=COT_RETURN_REMOTE)
              for o in r["objects"]}
    assert resets == {4001: 0, 4002: 0}
    since = master.mark()
    assert master.counter_interrogation(rqt=5, frz=0)  # read the frozen values
    frozen = {o["ioa"]: bcr(o) for r in master.asdus(since, type="M_IT_NA_1",
                                                     cot=COT_COUNTER_GENERAL)
              for o in r["objects"]}
    assert frozen == {4001: (1234, 1), 4002: (55, 1)}


def test_counter_reset_only(rtu, master) -> None:
    rtu.call(rtu.sup.provided(SimulatedField).set, "counter1", 77)
    since = master.mark()
    assert master.counter_interrogation(rqt=1, frz=3)  # reset group 1 without freezing
    con = master.asdus(since, type="C_CI_NA_1", cot=COT_ACT_CON)
    assert con and not con[0]["negative"]
    assert master.asdus(since, type="C_CI_NA_1", cot=COT_ACT_TERM)
    master.wait_for(lambda r: r.get("type") == "M_IT_TB_1" and r.get("cot") == COT_RETURN_REMOTE,
                    since=since)


def test_periodic_measurements_cot_1(master) -> None:
    """The bench's cyc1..cyc4 (IOAs 3601-3604) every 5 s, untagged, cause 1 (periodic)."""
    since = master.mark()
    first = master.wait_for(lambda r: r.get("cot") == COT_PERIODIC, timeout=7.0, since=since)
    assert first["type"] == "M_ME_NC_1"
    assert [o["ioa"] for o in first["objects"]] == [3601, 3602, 3603, 3604]
    assert all("time" not in o for o in first["objects"])
