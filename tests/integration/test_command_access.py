"""Who may command: [station] command_originators and the 104 connection limits, through the real
Supervisor over loopback, against c104 (lib60870-C) and hand-built frames.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import datetime
import logging
from collections.abc import Iterator

import pytest

from rtu.config import AppConfig, bench_config
from rtu.sources.relays.component import Relays
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import (
    C104Master,
    Raw104Client,
    build_asdu,
    encode_cp56,
    free_tcp_port,
    sco,
    wait_log,
)

COT_ACT, COT_ACT_CON, COT_DEACT, COT_DEACT_CON, COT_ACT_TERM, COT_GI = 6, 7, 8, 9, 10, 20
OUTSTATION_LOGGER = "rtu.iec.outstation"
SERVER_LOGGER = "rtu.servers.iec104"


def restricted(*originators: int) -> AppConfig:
    base = bench_config()
    return dataclasses.replace(base, station=dataclasses.replace(
        base.station, command_originators=frozenset(originators)))


@pytest.fixture
def rtu() -> Iterator[OutstationThread]:
    with OutstationThread(restricted(1, 2), free_tcp_port()) as outstation:
        yield outstation


def test_listed_originator_commands(rtu: OutstationThread) -> None:
    with C104Master(rtu.port, ca=1, originator_address=2) as m:
        m.wait_connected(5)
        result = m.single_command(5001, True, qu=3)
        assert result.act_con is not None and not result.negative
        assert result.act_con["oa"] == 2
        m.wait_act_term(5001, since=result.since)
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay1"].state) is True


def test_unlisted_originator_gets_negative_confirmation_and_a_warning(
        rtu: OutstationThread, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, OUTSTATION_LOGGER)
    with C104Master(rtu.port, ca=1, originator_address=7) as m:
        m.wait_connected(5)
        result = m.single_command(5001, True, qu=3)
        assert result.act_con is not None
        assert result.act_con["negative"] and result.act_con["cot"] == COT_ACT_CON
        assert result.act_con["oa"] == 7  # mirrored
        assert result.act_term is None
        # system commands stay allowed for the same master
        assert m.interrogation()
        assert m.asdus(type="C_IC_NA_1", cot=COT_ACT_TERM, negative=False)
        assert m.clock_sync()
    record = wait_log(caplog, "C_SC_NA_1", "originator address 7", "command_originators",
                      "104:127.0.0.1:")
    assert record.name == OUTSTATION_LOGGER
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay1"].operations) == []


@pytest.mark.parametrize("oa", [0, 3])
def test_time_tagged_select_and_deactivation_are_refused_too(rtu: OutstationThread,
                                                             oa: int) -> None:
    # C_SC_TA_1 (58): SCO + CP56Time2a; select, then deactivation, both from an unlisted address
    now = encode_cp56(datetime.datetime.now())
    with Raw104Client(rtu.port) as raw:
        raw.startdt()
        raw.send_asdu(build_asdu("C_SC_TA_1", COT_ACT, 1, [(5002, sco(True, select=True) + now)],
                                 oa=oa))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_TA_1")
        assert con["cot"] == COT_ACT_CON and con["negative"] and con["oa"] == oa
        raw.send_asdu(build_asdu("C_SC_TA_1", COT_DEACT, 1, [(5002, sco(True, select=True) + now)],
                                 oa=oa))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_TA_1")
        assert con["cot"] == COT_DEACT_CON and con["negative"] and con["oa"] == oa
        # a listed originator on the same connection is obeyed
        raw.send_asdu(build_asdu("C_SC_TA_1", COT_ACT, 1, [(5002, sco(True, qu=3) + now)], oa=1))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_TA_1" and a.get("cot") == COT_ACT_CON)
        assert not con["negative"] and con["oa"] == 1
        raw.recv_until(lambda a: a.get("type") == "C_SC_TA_1" and a.get("cot") == COT_ACT_TERM)


def test_without_command_originators_any_originator_commands() -> None:
    with OutstationThread(bench_config(), free_tcp_port()) as rtu, \
            C104Master(rtu.port, ca=1, originator_address=99) as m:
        m.wait_connected(5)
        result = m.single_command(5001, True, qu=3)
        assert result.act_con is not None and not result.negative


def test_refused_connections_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, SERVER_LOGGER)
    base = bench_config()
    assert base.iec104 is not None
    one = dataclasses.replace(base, iec104=dataclasses.replace(base.iec104, max_connections=1))
    with OutstationThread(one, free_tcp_port()) as rtu, Raw104Client(rtu.port) as first:
        first.startdt()
        with Raw104Client(rtu.port) as second:
            local = second.sock.getsockname()[1]  # type: ignore[union-attr]
            assert second.recv(3.0) is None and second.closed
        wait_log(caplog, f"refused connection from 104:127.0.0.1:{local}", "max_connections")
    remote_only = dataclasses.replace(
        base, iec104=dataclasses.replace(base.iec104, allowed_masters=("192.0.2.0/24",)))
    with OutstationThread(remote_only, free_tcp_port()) as rtu, Raw104Client(rtu.port) as other:
        local = other.sock.getsockname()[1]  # type: ignore[union-attr]
        assert other.recv(3.0) is None and other.closed
        wait_log(caplog, f"refused connection from 104:127.0.0.1:{local}",
                 "not in allowed_masters")
