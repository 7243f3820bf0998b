"""Our 104 outstation (the real Supervisor, bench profile) against c104 (lib60870-C) as master,
and the captured exchange decoded by Wireshark's iec60870_104 dissector.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import datetime as dt
import struct
import time

import pytest

from rtu.config import AppConfig, bench_config
from rtu.iec.cs104.connection import ApciParameters
from rtu.points.model import Quality
from rtu.servers.iec104 import Iec104Server
from rtu.sources.relays.component import Relays
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import (
    C104Master,
    Raw104Client,
    TsharkCapture,
    build_asdu,
    encode_cp56,
    free_tcp_port,
    sco,
    tshark_decode_104,
)

COT_SPONTANEOUS, COT_REQUEST, COT_ACT, COT_ACT_CON, COT_DEACT_CON, COT_ACT_TERM = 3, 5, 6, 7, 9, 10
COT_RETURN_REMOTE, COT_GI = 11, 20
BENCH_SINGLES = (list(range(1001, 1017)) + list(range(1101, 1109)) + [1201, 1301, 1401]
                 + list(range(9001, 9005)) + [9010])  # inputs, relay positions, es1, di01 or
# di02, prot1, health points


def with_apci(config: AppConfig, **apci: float) -> AppConfig:
    assert config.iec104 is not None
    params = dataclasses.replace(ApciParameters(), **apci)
    return dataclasses.replace(config, iec104=dataclasses.replace(config.iec104, apci=params))


@pytest.fixture
def rtu():
    port = free_tcp_port()
    with OutstationThread(bench_config(), port) as outstation:
        yield outstation


@pytest.fixture
def master(rtu):
    with C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        yield m


def test_general_interrogation_contents_and_order(rtu, master) -> None:
    rtu.call(rtu.sup.provided(SimulatedField).set, "di03", True)
    rtu.call(rtu.sup.provided(SimulatedField).set, "ai2", 42.5)
    since = master.mark()
    assert master.interrogation(qoi=20)
    gi = [r for r in master.received.snapshot(since) if r["format"] == "I"
          and (r["type"] == "C_IC_NA_1" or r["cot"] == COT_GI)]
    assert gi[0]["type"] == "C_IC_NA_1" and gi[0]["cot"] == COT_ACT_CON and not gi[0]["negative"]
    assert gi[-1]["type"] == "C_IC_NA_1" and gi[-1]["cot"] == COT_ACT_TERM
    data = gi[1:-1]
    assert {r["type"] for r in data} == {"M_SP_NA_1", "M_DP_NA_1", "M_ST_NA_1", "M_ME_NC_1"}
    ioas = {r["type"]: [o["ioa"] for o in r["objects"]] for r in data}
    assert ioas["M_SP_NA_1"] == BENCH_SINGLES
    assert ioas["M_DP_NA_1"] == [2001, 2002, 2003, 2004, 2101]  # 2101: breaker cb1
    assert ioas["M_ME_NC_1"] == [*range(3001, 3009), 3301, *range(3601, 3605)]  # 3301: Modbus
    # the values are the database's (c104's per-point callback skips points it has seen
    # before, so the raw elements are read: SIQ, and float32 + QDS)
    elements = {o["ioa"]: bytes.fromhex(o["data"]) for r in data for o in r["objects"]}
    assert elements[1003] == b"\x01" and elements[1004] == b"\x00"
    assert struct.unpack("<fB", elements[3002]) == (42.5, 0)
    assert not [u for u in master.unexpected.snapshot() if u.get("cause") == "INVALID_COT"]


def test_group_interrogation(master) -> None:
    since = master.mark()
    assert master.interrogation(qoi=22)  # group 2: the measurements
    data = master.asdus(since, cot=22)
    assert [r["type"] for r in data] == ["M_ME_NC_1"]
    assert [o["ioa"] for o in data[0]["objects"]] == list(range(3001, 3009))


def test_spontaneous_event_carries_the_source_time(rtu, master) -> None:
    rtu.call(lambda: rtu.sup.outstation.set_system_clock_state(True))  # NTP has synchronised
    seen_at = round(time.time() - 0.25, 3)  # the field saw it a quarter second ago
    since = master.mark()
    rtu.call(lambda: rtu.sup.db.update("di05", True, timestamp=seen_at))
    event = master.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1005,
                            since=since)
    assert event["cot"] == COT_SPONTANEOUS
    obj = event["objects"][0]
    assert not obj["iv"]
    tag = obj["time"].replace(tzinfo=dt.UTC)  # UTC, decoded by the harness
    assert abs(tag.timestamp() - seen_at) < 0.0015
    upd = master.wait_update(lambda u: u["ioa"] == 1005 and u["cot"] == COT_SPONTANEOUS)
    assert upd["value"] is True


def test_direct_command_pulses_relay_and_terminates_after_execution(rtu, master) -> None:
    result = master.single_command(5001, True, qu=3)  # persistent
    assert result.act_con is not None and not result.negative
    term = master.wait_act_term(5001, since=result.since)
    assert not term["negative"]
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay1"].state) is True
    feedback = master.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1101,
                               since=result.since)
    assert feedback["cot"] == COT_RETURN_REMOTE
    # ACT_TERM only after the relay switched: the feedback event came first
    assert feedback["seq"] < term["seq"]


def test_short_pulse_relay_returns_before_act_term(rtu, master) -> None:
    result = master.single_command(5002, True, qu=1)
    term = master.wait_act_term(5002, since=result.since, timeout=3.0)
    assert not term["negative"]
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay2"].operations) == [True, False]


def test_select_before_operate_through_c104(rtu, master) -> None:
    result = master.single_command(5003, True, select=True)
    assert result.select_con is not None and not result.select_con["negative"]
    assert result.act_con is not None and not result.act_con["negative"]
    assert result.act_term is not None and not result.act_term["negative"]
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay3"].state) is True


def test_blocked_point_gets_negative_confirmation(rtu, master) -> None:
    rtu.call(lambda: rtu.sup.db.update("relay4_cmd", False, Quality.BL, timestamp=time.time()))
    result = master.single_command(5004, True)
    assert result.negative is True
    assert result.act_con is not None and result.act_con["negative"]
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay4"].operations) == []


def test_unknown_ioa_and_common_address(rtu) -> None:
    with C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        res = m.single_command(5999, True)
        assert res.negative is True and res.responses[-1]["cot"] == 47
        res = m.double_command(5001, 2)  # a single-command IOA: no double command there
        assert res.negative is True and res.responses[-1]["cot"] == 47
    with C104Master(rtu.port, ca=7) as m:
        m.wait_connected(5)
        since = m.mark()
        m.interrogation(qoi=20)
        reply = m.wait_for(lambda r: r.get("type") == "C_IC_NA_1", since=since)
        assert reply["negative"] and reply["cot"] == 46 and reply["ca"] == 7


def test_unknown_type_cause_and_execute_without_select_raw(rtu) -> None:
    """What c104 cannot send, from a plain socket; answers still checked byte by byte."""
    with Raw104Client(rtu.port) as raw:
        raw.startdt()
        raw.send_asdu(build_asdu(99, COT_ACT, 1, [(0, b"\x01")], oa=4))
        reply = raw.recv_until(lambda a: a.get("type_id") == 99)
        assert reply["negative"] and reply["cot"] == 44 and reply["oa"] == 4
        raw.send_asdu(build_asdu("C_SC_NA_1", COT_SPONTANEOUS, 1, [(5005, sco(True))]))
        reply = raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1")
        assert reply["negative"] and reply["cot"] == 45
        # select, deactivate, then an execute that has no select any more
        raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACT, 1, [(5005, sco(True, select=True))]))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_ACT_CON)
        assert con["select"] and not con["negative"]
        raw.send_asdu(build_asdu("C_SC_NA_1", 8, 1, [(5005, sco(True, select=True))]))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_DEACT_CON)
        assert not con["negative"]
        raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACT, 1, [(5005, sco(True))]))
        con = raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_ACT_CON)
        assert not con["negative"]  # relay5 is not select_required: direct execute is allowed
        raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_ACT_TERM)


def test_read_clock_sync_counter_interrogation_and_test(rtu, master) -> None:
    since = master.mark()
    assert master.read(3001, "M_ME_NC_1")
    answer = master.wait_for(lambda r: r.get("ioa") == 3001 and r.get("cot") == COT_REQUEST,
                             since=since)
    assert answer["type"] == "M_ME_NC_1"  # no time tag, COT 5, and no ACT_CON
    assert not master.asdus(since, type="C_RD_NA_1", cot=COT_ACT_CON)
    assert master.clock_sync()
    con = master.wait_for(lambda r: r.get("type") == "C_CS_NA_1" and r["cot"] == COT_ACT_CON,
                          since=since)
    assert not con["negative"]
    assert rtu.call(lambda: rtu.sup.outstation.clock_synchronised)
    rtu.call(rtu.sup.provided(SimulatedField).set, "counter1", 1234)
    since = master.mark()
    assert master.counter_interrogation(rqt=5, frz=0)
    counters = master.asdus(since, type="M_IT_NA_1", cot=37)
    assert [o["ioa"] for r in counters for o in r["objects"]] == [4001, 4002]
    assert master.asdus(since, type="C_CI_NA_1", cot=COT_ACT_TERM)
    assert master.test_command(with_time=True)


def test_events_while_disconnected_are_delivered_in_order_after_reconnect(rtu) -> None:
    with C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        m.stopdt()
        time.sleep(0.2)
        for i in range(6):
            rtu.call(rtu.sup.provided(SimulatedField).set, "di07", i % 2 == 0)
        assert rtu.call(rtu.sup.outstation.queued_events) >= 6
        since = m.mark()
        m.startdt()
        events = m.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1007
                            and len(r["objects"]) == 6, since=since)
        assert [o["data"][:2] for o in events["objects"]] == ["01", "00"] * 3
    # a whole new master connection gets what happened while nobody was connected
    time.sleep(0.3)
    rtu.call(rtu.sup.provided(SimulatedField).set, "di08", True)
    with C104Master(rtu.port, ca=1) as m2:
        m2.wait_connected(5)
        m2.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1008)


def test_idle_connection_gets_testfr_and_stays_up() -> None:
    port = free_tcp_port()
    with (OutstationThread(with_apci(bench_config(), t3=1.0, t2=0.5, t1=2.0), port),
          C104Master(port, ca=1) as m):
        m.wait_connected(5)
        m.wait_for(lambda r: r.get("u") == "TESTFR_ACT", timeout=4.0)
        time.sleep(1.0)
        assert m.state == "OPEN"
        assert any(r.get("u") == "TESTFR_CON" for r in m.sent.snapshot())


def test_wireshark_decodes_the_whole_exchange_without_malformed_frames(rtu, tmp_path) -> None:
    with (TsharkCapture(rtu.port, tmp_path / "iec104.pcapng") as capture,
          C104Master(rtu.port, ca=1) as m):
        m.wait_connected(5)
        assert m.interrogation(qoi=20)
        rtu.call(rtu.sup.provided(SimulatedField).set, "di09", True)
        rtu.call(rtu.sup.provided(SimulatedField).set, "ai3", 12.5)
        m.wait_for(lambda r: r.get("type") == "M_ME_TF_1")
        result = m.single_command(5006, True, select=True)
        assert result.act_term is not None
        m.counter_interrogation()
        m.clock_sync()
        m.single_command(5999, False)
    frames = tshark_decode_104(capture.path, rtu.port)
    assert not frames.malformed, frames.problems
    from_us = [f for f in frames if f["dir"] == "from_server" and f["format"] == "I"]
    types = {f["type"] for f in from_us}
    assert {"M_EI_NA_1", "C_IC_NA_1", "M_SP_NA_1", "M_DP_NA_1", "M_ME_NC_1", "M_SP_TB_1",
            "M_ME_TF_1", "C_SC_NA_1", "M_IT_NA_1", "C_CI_NA_1", "C_CS_NA_1"} <= types
    assert any(f["type"] == "C_SC_NA_1" and f["cot"] == 47 and f["negative"] for f in from_us)
    assert {f["cot"] for f in from_us if f["type"] == "M_SP_NA_1"} == {COT_GI}


# -- issue 15: truthful time tags and safe commands --------------------------------------------
def _event(rtu, master, name: str, ioa: int, value: bool) -> dict:
    since = master.mark()
    rtu.call(rtu.sup.provided(SimulatedField).set, name, value)
    return master.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == ioa,
                           since=since)


def test_time_tags_carry_iv_until_the_clock_is_synchronised(rtu, master) -> None:
    rtu.call(lambda: rtu.sup.outstation.set_system_clock_state(False))  # no NTP yet
    assert _event(rtu, master, "di06", 1006, True)["objects"][0]["iv"]
    status = rtu.call(lambda: rtu.sup.outstation.clock_status())
    assert status["valid"] is False
    assert master.clock_sync()  # a master synchronises it
    assert not _event(rtu, master, "di06", 1006, False)["objects"][0]["iv"]
    rtu.call(lambda: rtu.sup.outstation.set_system_clock_state(True))
    assert not _event(rtu, master, "di06", 1006, True)["objects"][0]["iv"]


def test_a_stale_time_tagged_command_is_refused_and_a_fresh_one_executed(rtu, master) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale = master.single_command_at(5006, True, old, qu=3)
    con = master.wait_for(lambda r: r.get("type") == "C_SC_TA_1" and r.get("cot") == COT_ACT_CON,
                          since=stale.since)
    assert con["negative"]
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay6"].get()) is False
    fresh = master.single_command_at(5006, True, dt.datetime.now(dt.UTC), qu=3)
    con = master.wait_for(lambda r: r.get("type") == "C_SC_TA_1" and r.get("cot") == COT_ACT_CON,
                          since=fresh.since)
    assert not con["negative"]
    master.wait_for(lambda r: r.get("type") == "C_SC_TA_1" and r.get("cot") == COT_ACT_TERM,
                    since=fresh.since)
    assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay6"].get()) is True


@pytest.fixture
def rtu_short_select():
    config = bench_config()
    config = dataclasses.replace(config, station=dataclasses.replace(config.station,
                                                                     select_timeout=0.5))
    with OutstationThread(config, free_tcp_port()) as outstation:
        yield outstation


def test_a_lapsed_or_orphaned_selection_does_not_block_another_master(rtu_short_select) -> None:
    """A raw master selects (c104 cannot select alone); c104's direct execute on the same
    point is refused while the selection is live, executed once it lapsed or its master left."""
    rtu = rtu_short_select
    with C104Master(rtu.port, ca=1) as master:
        master.wait_connected(5)
        with Raw104Client(rtu.port) as raw:
            raw.startdt()
            raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACT, 1, [(5007, sco(True, select=True))]))
            con = raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_ACT_CON)
            assert not con["negative"]
            assert master.single_command(5007, True, qu=3).act_con["negative"]  # reserved
            time.sleep(0.6)  # the selection lapses
            result = master.single_command(5007, True, qu=3)
            assert result.act_con is not None and not result.act_con["negative"]
            # again, and this time the selecting master goes away before the timeout
            raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACT, 1, [(5008, sco(True, select=True))]))
            raw.recv_until(lambda a: a.get("type") == "C_SC_NA_1" and a["cot"] == COT_ACT_CON)
        # gone means the outstation has seen the connection close (the close and c104's
        # command race otherwise: either may be read first)
        deadline = time.monotonic() + 5
        while rtu.call(lambda: len(rtu.sup.server(Iec104Server).links)) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        result = master.single_command(5008, True, qu=3)
        assert result.act_con is not None and not result.act_con["negative"]


def test_a_clock_sync_to_2050_is_confirmed_and_events_carry_2050(rtu) -> None:
    """CP56 allows 2000-2099; a 32-bit time_t ends in 2038 (raw: c104 sends the host clock)."""
    when = dt.datetime(2050, 6, 1, 12, 0, 0)
    with Raw104Client(rtu.port) as raw:
        raw.startdt()
        raw.send_asdu(build_asdu("C_CS_NA_1", COT_ACT, 1, [(0, encode_cp56(when))]))
        con = raw.recv_until(lambda a: a.get("type") == "C_CS_NA_1" and a["cot"] == COT_ACT_CON)
        assert not con["negative"] and con["objects"][0]["time"].year == 2050
        rtu.call(lambda: rtu.sup.db.update("di07", True, timestamp=time.time()))
        event = raw.recv_until(lambda a: a.get("type") == "M_SP_TB_1" and a.get("ioa") == 1007)
        tag = event["objects"][0]
        assert tag["time"].year == 2050 and not tag["iv"]
        assert abs(tag["time"] - when) < dt.timedelta(seconds=5)
