"""Redundancy groups (IEC 60870-5-104 edition 2) on the real server over loopback: one started
connection per group, takeover by STARTDT, what was not acknowledged sent again, events kept
per group, addresses outside every group refused. Raw sockets where acknowledgements must be
withheld; c104 (lib60870-C) as the master where a real master's behaviour matters.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import logging
import time

import pytest

from rtu.config import AppConfig, bench_config
from rtu.iec.cs104.connection import ApciParameters
from rtu.servers.iec104 import Iec104Server, RedundancyGroup
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread, own_station_only
from tests.integration.peers import C104Master, free_tcp_port
from tests.integration.test_iec104_raw import RawMaster, asdu_header

SINGLE_TIME_TAGGED = 30  # M_SP_TB_1
GI_ASDU = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")


def config(*groups: RedundancyGroup, w: int = 8) -> AppConfig:
    base = own_station_only(bench_config())  # one station: counts its events
    assert base.iec104 is not None
    apci = dataclasses.replace(ApciParameters(), w=w, t2=min(10.0, ApciParameters().t1 - 1))
    return dataclasses.replace(base, iec104=dataclasses.replace(
        base.iec104, apci=apci, redundancy_groups=groups))


def objects_of(asdus: list[bytes]) -> list[bytes]:
    """The 11-octet M_SP_TB_1 objects (IOA 3, SIQ, CP56Time2a) of SQ=0 ASDUs, in order."""
    out = []
    for a in asdus:
        if a[0] == SINGLE_TIME_TAGGED:
            out += [a[6 + 11 * i:17 + 11 * i] for i in range(asdu_header(a)[1])]
    return out


@pytest.fixture
def port() -> int:
    return free_tcp_port()


def test_startdt_on_a_second_connection_takes_the_group_over(
        port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "rtu.servers.iec104")
    with OutstationThread(config(RedundancyGroup("cc", ("127.0.0.1",)), w=100), port) as rtu:
        a = RawMaster(port)
        a.start()
        (ei,) = a.recv_asdus(1)
        assert asdu_header(ei)[0] == 70
        rtu.call(rtu.sup.provided(SimulatedField).set, "di05", True)  # di05: no calculated point follows it
        sent_to_a = objects_of(a.recv_asdus(1))  # not acknowledged by A
        assert len(sent_to_a) == 1
        b = RawMaster(port)
        b.start()  # takeover: A's unacknowledged EI and di05 are sent again on B
        again = b.recv_asdus(2)
        assert asdu_header(again[0])[0] == 70 and objects_of(again[1:]) == sent_to_a
        rtu.call(rtu.sup.provided(SimulatedField).set, "di03", True)
        (after,) = objects_of(b.recv_asdus(1))
        assert int.from_bytes(after[:3], "little") == 1003
        assert a.recv_apdu(0.3) is None  # A is stopped: nothing more for it
        a.ack()  # a late acknowledgement of what A got is accepted, and changes nothing
        assert a.recv_apdu(0.3) is None
        assert rtu.sup.server(Iec104Server) is not None and rtu.sup.server(Iec104Server).switchovers == 1
        assert "redundancy group iec104/cc: 104:127.0.0.1:" in caplog.text
        assert "took over data transfer" in caplog.text
        b.ack()
        # A starts again (its master switches back): B is stopped, A gets what B did not ack
        a.start()
        rtu.call(rtu.sup.provided(SimulatedField).set, "di04", True)
        (back,) = objects_of(a.recv_asdus(1))
        assert int.from_bytes(back[:3], "little") == 1004
        assert b.recv_apdu(0.3) is None
        a.ack()
        # an I-frame on the stopped connection is a protocol error there: it is closed
        b.send_i(GI_ASDU)
        assert b.closed_by_peer()
        a.close()


def test_events_are_kept_per_group(port: int) -> None:
    far = RedundancyGroup("far", ("10.99.0.0/16",))  # no master of it connects here
    local = RedundancyGroup("local")  # catch-all: takes 127.0.0.1
    with OutstationThread(config(far, local), port) as rtu:
        groups = rtu.sup.outstation.groups
        assert set(groups) == {"iec104/far", "iec104/local"}
        m = RawMaster(port)
        m.start()
        m.recv_asdus(1)  # EI
        for value in (True, False, True):
            rtu.call(rtu.sup.provided(SimulatedField).set, "di05", value)
        got: list[bytes] = []
        while len(got) < 3:
            got += objects_of(m.recv_asdus(1))
        assert [o[3] & 1 for o in got] == [1, 0, 1]
        m.ack()
        # the far group's masters have not been here: their events wait for them, EI first
        assert rtu.call(lambda: len(groups["iec104/far"].backlog)) == 4
        assert rtu.call(lambda: len(groups["iec104/local"].backlog)) == 0
        m.close()


def test_an_address_in_no_group_is_refused(port: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "rtu.servers.iec104")
    with OutstationThread(config(RedundancyGroup("cc", ("10.1.2.3", "10.1.3.0/24"))),
                          port) as rtu:
        m = RawMaster(port)
        assert m.closed_by_peer()
        assert rtu.sup.server(Iec104Server) is not None and rtu.sup.server(Iec104Server).refused == 1
        assert "address in no redundancy group" in caplog.text
        m.close()


def _spontaneous(m: C104Master, since: int, ioa: int) -> list[dict]:
    return [r for r in m.asdus(since, type="M_SP_TB_1", cot=3) if r.get("ioa") == ioa]


def test_two_c104_masters_of_one_group(port: int) -> None:
    """lib60870-C as both masters: the one that sent STARTDT last gets the events; STOPDT on it
    and STARTDT on the other switches back."""
    with (OutstationThread(config(RedundancyGroup("cc", ("127.0.0.1",))), port) as rtu,
          C104Master(port, ca=1) as first):
        first.wait_connected(5)
        first.wait_for(lambda r: r.get("type") == "M_EI_NA_1")
        with C104Master(port, ca=1) as second:
            second.wait_connected(5)  # its STARTDT takes the group over
            since1, since2 = first.mark(), second.mark()
            rtu.call(rtu.sup.provided(SimulatedField).set, "di06", True)
            second.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1006,
                            3, since=since2)
            time.sleep(0.3)
            assert _spontaneous(first, since1, 1006) == []
            assert first.connection.is_connected  # stopped, not dropped
            # switch back the way the standard describes: STOPDT here, STARTDT there
            assert second.stopdt()
            assert first.startdt()
            since1, since2 = first.mark(), second.mark()
            rtu.call(rtu.sup.provided(SimulatedField).set, "di06", False)
            first.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1006,
                           3, since=since1)
            time.sleep(0.3)
            assert _spontaneous(second, since2, 1006) == []
        assert rtu.sup.server(Iec104Server) is not None and rtu.sup.server(Iec104Server).switchovers == 1
