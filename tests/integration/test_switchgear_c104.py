"""Switchgear on the bench profile against c104 (lib60870-C) as master: breaker cb1's double
command (select-before-operate and direct) through its two simulated coils to its end state,
one that times out, and the close interlocked on earth switch es1.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import dataclasses
import time

import c104
import pytest

from rtu.config import AppConfig, bench_config
from rtu.sources.relays.component import Relays
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

pytestmark = pytest.mark.integration

COT_SPONTANEOUS, COT_RETURN_REMOTE = 3, 11
CB1_CMD, CB1_POS = 5101, 2101
DPI_INTERMEDIATE, DPI_OFF, DPI_ON = 0, 1, 2


def with_breaker(config: AppConfig, **changes: float) -> AppConfig:
    section = config.section("switchgear")
    breakers = tuple(dataclasses.replace(b, **changes)
                     for b in section.breakers)  # type: ignore[attr-defined]
    sections = dict(config.sections)
    sections["switchgear"] = dataclasses.replace(section, breakers=breakers)  # type: ignore[type-var]
    return dataclasses.replace(config, sections=sections)


def run(config: AppConfig):
    port = free_tcp_port()
    with OutstationThread(config, port) as outstation, C104Master(port, ca=1) as master:
        master.wait_connected(5)
        yield outstation, master


@pytest.fixture
def bench():
    yield from run(bench_config())


@pytest.fixture
def slow_breaker():
    # the mechanism takes 3 s, the supervision allows 0.5 s: the command times out
    yield from run(with_breaker(bench_config(), travel=3.0, supervision=0.5))


def positions(master, since: int) -> list[tuple[int, int]]:
    """(DPI, COT) of cb1's position events since ``since``."""
    return [(int(r["objects"][0]["data"][:2], 16) & 0x03, r["cot"])
            for r in master.asdus(since, type="M_DP_TB_1") if r["ioa"] == CB1_POS]


def coil_operations(outstation, name: str) -> list[bool]:
    return outstation.call(lambda: list(outstation.sup.provided(Relays).outputs[name].operations))


def test_select_and_execute_closes_the_breaker_with_return_information(bench) -> None:
    outstation, master = bench
    result = master.double_command(CB1_CMD, DPI_ON, select=True)
    assert result.select_con is not None and not result.select_con["negative"]
    assert result.act_con is not None and not result.act_con["negative"]
    term = master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)
    assert not term["negative"]
    # the contacts part (intermediate) and close: return information, before ACT_TERM
    events = [r for r in master.asdus(result.since, type="M_DP_TB_1") if r["ioa"] == CB1_POS]
    assert positions(master, result.since) == [(DPI_INTERMEDIATE, COT_RETURN_REMOTE),
                                               (DPI_ON, COT_RETURN_REMOTE)]
    assert events[-1]["seq"] < term["seq"]
    assert coil_operations(outstation, "cb1_close") == [True, False]
    assert coil_operations(outstation, "cb1_open") == []
    # a change nobody commanded is spontaneous
    since = master.mark()
    outstation.call(lambda: outstation.sup.db.update("cb1_pos", DPI_OFF, timestamp=time.time()))
    master.wait_for(lambda r: r.get("ioa") == CB1_POS and r.get("cot") == COT_SPONTANEOUS,
                    since=since)


def test_direct_open_and_a_command_to_the_present_state(bench) -> None:
    outstation, master = bench
    result = master.double_command(CB1_CMD, DPI_OFF)  # already open: positive, no operation
    assert result.act_con is not None and not result.act_con["negative"]
    assert not master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)["negative"]
    assert coil_operations(outstation, "cb1_open") == []
    result = master.double_command(CB1_CMD, DPI_ON)
    assert not master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)["negative"]
    result = master.double_command(CB1_CMD, DPI_OFF)
    assert result.act_con is not None and not result.act_con["negative"]
    assert not master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)["negative"]
    assert positions(master, result.since)[-1] == (DPI_OFF, COT_RETURN_REMOTE)
    assert coil_operations(outstation, "cb1_open") == [True, False]


def test_closing_is_interlocked_on_the_earth_switch(bench, caplog) -> None:
    outstation, master = bench
    outstation.call(outstation.sup.provided(SimulatedField).set, "es1", True)  # earthed
    result = master.double_command(CB1_CMD, DPI_ON, select=True)
    assert result.select_con is not None and result.select_con["negative"]
    assert result.act_term is None
    assert coil_operations(outstation, "cb1_close") == []
    assert "interlock 'es1 == off and valid(es1)' not met: es1 == off (es1 is on)" in caplog.text
    outstation.call(outstation.sup.provided(SimulatedField).set, "es1", False)
    result = master.double_command(CB1_CMD, DPI_ON)
    assert not master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)["negative"]


def test_a_breaker_that_does_not_reach_its_end_state_terminates_negatively(
        slow_breaker, caplog) -> None:
    outstation, master = slow_breaker
    result = master.double_command(CB1_CMD, DPI_ON)
    assert result.act_con is not None and not result.act_con["negative"]
    term = master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since, timeout=3.0)
    assert term["negative"]
    assert coil_operations(outstation, "cb1_close") == [True, False]  # released
    assert "did not show ON within 0.5 s (it shows INDETERMINATE)" in caplog.text


def test_a_calculated_point_follows_its_inputs_with_their_time_tag(bench) -> None:
    outstation, master = bench
    for name in ("di01", "di02"):
        outstation.call(outstation.sup.provided(SimulatedField).set, name, False)
    since = master.mark()
    outstation.call(outstation.sup.provided(SimulatedField).set, "di02", True)

    def event(ioa: int) -> tuple[tuple[int, int], dict, int]:
        """Where the first M_SP_TB_1 object of ``ioa`` came (sequence number, position: several
        may share an ASDU), the object and the ASDU's cause."""
        master.wait_for(lambda r: r.get("type") == "M_SP_TB_1"
                        and any(o["ioa"] == ioa for o in r["objects"]), since=since)
        return next(((r["seq"], i), o, r["cot"]) for r in master.asdus(since, type="M_SP_TB_1")
                    for i, o in enumerate(r["objects"]) if o["ioa"] == ioa)

    (calc_at, calc, calc_cot), (cause_at, cause, _) = event(1301), event(1002)
    assert calc_cot == COT_SPONTANEOUS
    assert int(calc["data"][:2], 16) & 0x01 == 1  # on
    assert calc["time"] == cause["time"]  # the cause's time tag
    assert cause_at < calc_at  # the cause is reported first


def test_regulating_step_higher_and_lower_move_the_tap_one_step(bench) -> None:
    outstation, master = bench
    positions_seen = []
    for direction, want in ((c104.Step.HIGHER, 1), (c104.Step.HIGHER, 2), (c104.Step.LOWER, 1)):
        result = master._command("C_RC_NA_1", 5201, c104.StepCmd(direction=direction), False)
        assert result.act_con is not None and not result.act_con["negative"]
        term = master.wait_act_term(5201, "C_RC_NA_1", since=result.since)
        assert not term["negative"]
        steps = [r for r in master.asdus(result.since, type="M_ST_TB_1") if r["ioa"] == 2201]
        # VTI: value in bits 0-6, transient in bit 7; return information before ACT_TERM
        vti = [int(r["objects"][0]["data"][:2], 16) for r in steps]
        assert vti[-1] & 0x7F == want and not vti[-1] & 0x80 and vti[0] & 0x80
        assert all(r["cot"] == COT_RETURN_REMOTE for r in steps)
        assert steps[-1]["seq"] < term["seq"]
        positions_seen.append(outstation.call(lambda: outstation.sup.db.value("tap1_pos").value))
    assert positions_seen == [1, 2, 1]
    assert coil_operations(outstation, "tap1_raise") == [True, False, True, False]
    assert coil_operations(outstation, "tap1_lower") == [True, False]


def with_rule(config: AppConfig, command: str, when: str, text: str) -> AppConfig:
    from rtu.points.expression import parse
    from rtu.sources.interlocks.config import InterlockRule

    section = config.section("interlocks")
    rules = (*section.rules, InterlockRule(command, when, parse(text), text))  # type: ignore[attr-defined]
    sections = dict(config.sections)
    sections["interlocks"] = dataclasses.replace(section, rules=rules)  # type: ignore[type-var]
    return dataclasses.replace(config, sections=sections)


@pytest.fixture
def calc_interlocked():
    # closing cb1 also needs the calculated point 1301 (di01 or di02) off and valid
    yield from run(with_rule(bench_config(), "cb1_cmd", "on",
                             "calc_di01_or_di02 == off and valid(calc_di01_or_di02)"))


def test_a_command_is_refused_while_a_calculated_condition_fails(calc_interlocked, caplog) -> None:
    outstation, master = calc_interlocked
    field = outstation.call(outstation.sup.provided, SimulatedField)
    for name, value in (("es1", False), ("di01", False), ("di02", True)):
        outstation.call(field.set, name, value)
    assert outstation.call(lambda: outstation.sup.db.value("calc_di01_or_di02").value) is True
    result = master.double_command(CB1_CMD, DPI_ON, select=True)
    assert result.select_con is not None and result.select_con["negative"]
    assert result.act_term is None
    result = master.double_command(CB1_CMD, DPI_ON)  # direct: refused at its ACT_CON too
    assert result.act_con is not None and result.act_con["negative"]
    assert coil_operations(outstation, "cb1_close") == []
    assert ("not met: calc_di01_or_di02 == off (calc_di01_or_di02 is on); calc_di01_or_di02 "
            "is calculated from di01 = off, di02 = on") in caplog.text
    outstation.call(field.set, "di02", False)  # the calculated point goes off: permitted
    result = master.double_command(CB1_CMD, DPI_ON, select=True)
    assert result.select_con is not None and not result.select_con["negative"]
    assert not master.wait_act_term(CB1_CMD, "C_DC_NA_1", since=result.since)["negative"]
    assert coil_operations(outstation, "cb1_close") == [True, False]


def test_a_time_tagged_double_command_closes_the_breaker(bench) -> None:
    import datetime

    outstation, master = bench
    cmd = c104.DoubleCmd(state=c104.Double.ON,
                         recorded_at=datetime.datetime.now(datetime.UTC))
    result = master._command("C_DC_TA_1", CB1_CMD, cmd, False)
    assert result.act_con is not None and not result.act_con["negative"]
    assert not master.wait_act_term(CB1_CMD, "C_DC_TA_1", since=result.since)["negative"]
    assert outstation.call(lambda: outstation.sup.db.value("cb1_pos").value) == DPI_ON


@pytest.fixture
def stuck_tap():
    # the tap changer's mechanism takes 3 s, the supervision allows 0.5 s
    config = bench_config()
    section = config.section("switchgear")
    taps = tuple(dataclasses.replace(t, travel=3.0, supervision=0.5)
                 for t in section.tap_changers)  # type: ignore[attr-defined]
    sections = {**config.sections, "switchgear": dataclasses.replace(  # type: ignore[type-var]
        section, tap_changers=taps)}
    yield from run(dataclasses.replace(config, sections=sections))


def test_a_tap_change_that_does_not_arrive_terminates_negatively(stuck_tap, caplog) -> None:
    outstation, master = stuck_tap
    result = master._command("C_RC_NA_1", 5201, c104.StepCmd(direction=c104.Step.HIGHER), False)
    assert result.act_con is not None and not result.act_con["negative"]
    term = master.wait_act_term(5201, "C_RC_NA_1", since=result.since, timeout=3.0)
    assert term["negative"]
    assert coil_operations(outstation, "tap1_raise") == [True, False]  # released
    assert "did not reach 1 within 0.5 s" in caplog.text
