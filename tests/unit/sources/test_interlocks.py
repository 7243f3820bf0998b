"""rtu.sources.interlocks: the [interlocks] section's checks, and the guard refusing commands
at select and again at execute (negative ACT_CON, a log line naming what failed) through the
outstation's command handling, with its fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.iec.asdu.objects import DoubleCommand, SingleCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.points.commands import CommandRequest
from rtu.points.expression import parse
from rtu.points.model import DoublePointValue, Quality
from rtu.sources.interlocks.config import InterlockRule
from rtu.sources.interlocks.guard import Interlocks
from tests.unit.iec.test_outstation import Rig, act, summary


def doc(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "iec104": {"enabled": False},
        "relays": [{"name": "r1"}],
        "points": [
            {"name": "es1", "ioa": 1, "kind": "single", "source": "sim"},
            {"name": "ia", "ioa": 2, "kind": "float", "source": "sim"},
            {"name": "cb1_cmd", "ioa": 3, "kind": "double_command", "target": "r1"},
            {"name": "sp_cmd", "ioa": 4, "kind": "setpoint_float", "target": "modbus"},
            {"name": "level", "ioa": 5, "kind": "float", "source": "modbus"},
        ],
        "modbus": {  # a device that takes the set-point (a relay cannot)
            "buses": [{"name": "field", "type": "tcp", "host": "127.0.0.1"}],
            "devices": [{"name": "plc", "bus": "field", "unit_id": 1, "polls": [
                {"interval": 1.0, "reads": [{"point": "level", "table": "input",
                                             "address": 0}]}]}],
            "writes": [{"command": "sp_cmd", "device": "plc", "table": "holding",
                        "address": 1, "type": "float32"}],
        },
        "interlocks": {"rules": list(rules)},
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_rules_are_read_and_parsed_once() -> None:
    config = parse_config(doc({"command": "cb1_cmd", "when": "on",
                               "condition": "es1 == off and valid(es1)"}), "t.toml")
    assert config.section("interlocks").rules == (  # type: ignore[attr-defined]
        InterlockRule("cb1_cmd", "on", parse("es1 == off and valid(es1)"),
                      "es1 == off and valid(es1)"),)


def test_rtu_check_names_every_mistake() -> None:
    found = errors(doc(
        {"command": "es1", "condition": "ia > 3"},
        {"command": "nope", "condition": "ia > 3"},
        {"command": "sp_cmd", "when": "on", "condition": "ia > 3"},
        {"command": "cb1_cmd", "condition": "es1 == 3 and valid(es2)"},
        {"command": "cb1_cmd", "condition": "es1 === on"},
        {"command": "cb1_cmd", "when": "closed", "condition": "es1 == on", "x": 1},
    ))
    assert found == [
        ("t.toml: interlocks.rules[0].command: expected the name of a command point, got 'es1' "
        "(it is a single point)"),
        ("t.toml: interlocks.rules[1].command: expected the name of a command point, got 'nope' "
        "(no such point)"),
        ('t.toml: interlocks.rules[2].when: expected "any" (on/off apply to single and double '
        "commands), got 'on' (sp_cmd is a setpoint_float point)"),
        ("t.toml: interlocks.rules[3].condition: es1 == 3: es1 is a single point: compare it "
        "with on or off"),
        "t.toml: interlocks.rules[3].condition: valid(es2): no monitored point 'es2'",
        "t.toml: interlocks.rules[4].condition: unexpected '=' at column 7, in 'es1 === on'",
        "t.toml: interlocks.rules[5].x: unknown key; expected one of command, when, condition",
        "t.toml: interlocks.rules[5].when: expected 'any', 'on' or 'off', got 'closed'",
    ]


class Guarded(Rig):
    """The outstation rig with its command path behind an interlock on dcmd's close."""

    def __init__(self, **config: object) -> None:
        super().__init__(**config)
        self.guard = Interlocks(self.executor, self.db, [
            InterlockRule("dcmd", "on", parse("sp1 == off and valid(sp1)"),
                          "sp1 == off and valid(sp1)")])
        self.outstation.executor = self.guard
        self.session.activate()
        self.drain()

    def sp1(self, on: bool, quality: Quality = Quality.GOOD) -> None:
        self.db.update("sp1", on, quality, timestamp=1.0)
        self.drain()


def test_a_command_whose_interlock_fails_is_refused_with_the_reason(
        caplog: pytest.LogCaptureFixture) -> None:
    r = Guarded()
    r.sp1(True)
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True)]
    assert r.executor.started == []
    assert "interlock 'sp1 == off and valid(sp1)' not met: sp1 == off (sp1 is on)" in caplog.text
    # the rule is for closing: opening is not interlocked
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 1)))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False)]
    assert [s[0].value for s in r.executor.started] == [DoublePointValue.OFF]


def test_the_interlock_is_evaluated_again_at_execute() -> None:
    r = Guarded(select_timeout=5.0)
    r.sp1(False)
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2, select=True)))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False)]
    r.clock.mono += 1.0
    r.sp1(False, Quality.IV)  # the earth switch's position became doubtful after the select
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True)]
    assert r.executor.started == []
    # met again: select and execute go through
    r.sp1(False)
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2, select=True)))
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False)] * 2
    (request, done), = r.executor.started
    assert request.selected
    done(True)
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_TERMINATION, False)]


def test_points_without_rules_pass_and_inner_guards_still_ask() -> None:
    r = Guarded()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]

    class Inner:
        def execute(self, request: CommandRequest, done: Any) -> None:
            done(True)

        def refusal(self, request: CommandRequest) -> str | None:
            return "inner says no"

    outer = Interlocks(Inner(), r.db, [])
    assert outer.refusal(CommandRequest(r.db.point("cmd"), True)) == "inner says no"


def test_the_example_uses_every_rule_key() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("rtu.examples").joinpath("example.toml").read_text("utf-8")
    (rule,) = tomllib.loads(text)["interlocks"]["rules"]
    assert set(rule) == {"command", "when", "condition"}


def test_a_device_confirmed_command_is_guarded_before_the_device_is_asked() -> None:
    from tests.unit.iec.test_outstation_confirming import DeviceExecutor

    r = Rig(select_timeout=5.0)
    device = DeviceExecutor()
    r.outstation.executor = Interlocks(device, r.db, [
        InterlockRule("sbo", "any", parse("sp1 == off"), "sp1 == off")])
    r.session.activate()
    r.drain()
    r.db.update("sp1", True, timestamp=1.0)
    r.drain()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    assert device.selects == []  # refused here: the device never saw it
    r.db.update("sp1", False, timestamp=2.0)
    r.drain()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    (_request, selected), = device.selects  # passed on through the guard
    selected(True)
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]


# -- conditions on calculated points (source = "calc") ------------------------------------------
def calc_doc(*rules: dict[str, Any], formulas: dict[str, str]) -> dict[str, Any]:
    data = doc(*rules)
    data["points"] += [{"name": name, "ioa": 20 + i, "kind": "single", "source": "calc"}
                       for i, name in enumerate(formulas)]
    data["calculated"] = {"points": [{"point": n, "formula": f} for n, f in formulas.items()]}
    return data


def test_a_condition_may_name_a_calculated_point_rtu_check_follows_it() -> None:
    config = parse_config(calc_doc({"command": "cb1_cmd", "condition": "permit == on and "
                                    "valid(permit)"},
                                   formulas={"permit": "not es1 and below(ia, 100, 5)"}),
                          "t.toml")
    (rule,) = config.section("interlocks").rules  # type: ignore[attr-defined]
    assert rule.text == "permit == on and valid(permit)"
    # type mismatches, cycles (through other calculated points too), refused formulas
    assert errors(calc_doc(
        {"command": "cb1_cmd", "condition": "permit > 1"},
        {"command": "cb1_cmd", "condition": "valid(outer)"},
        {"command": "cb1_cmd", "condition": "bad == off"},
        formulas={"permit": "loop and es1", "loop": "permit", "outer": "not permit",
                  "bad": "es1 and ia"})) == [
        ("t.toml: calculated.points[3].formula: and takes logic values, not numbers, in "
        "'es1 and ia'"),
        ("t.toml: calculated.points[0].formula: expected no cycle of calculated points, got "
        "permit -> loop -> permit"),
        ("t.toml: interlocks.rules[0].condition: permit > 1: permit is a single point: compare it "
        "with on or off"),
        ("t.toml: interlocks.rules[0].condition: permit is a calculated point that is in the "
        "cycle permit -> loop -> permit: it has no value to check"),
        ("t.toml: interlocks.rules[1].condition: outer is a calculated point that reads "
        "permit, which is in the cycle permit -> loop -> permit: it has no value to check"),
        ("t.toml: interlocks.rules[2].condition: bad is a calculated point that has a formula "
        "rtu check refuses (calculated.points[3].formula): it has no value to check"),
    ]


@pytest.fixture
def calc_rig(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The outstation rig (its fake clock) with a calculated point ``overload`` =
    above(ai, 80, 5) computed by the calculator, and dcmd's close interlocked on it."""
    from rtu.points.model import Point, PointKind
    from rtu.sources.calculated.config import CalculatedPoint
    from rtu.sources.calculated.source import Calculator
    from tests.unit.iec import test_outstation

    base = test_outstation.points
    monkeypatch.setattr(test_outstation, "points", lambda: [
        *base(), Point("overload", 600, PointKind.SINGLE, source="calc")])
    r = Rig(select_timeout=5.0)
    calculator = Calculator(r.db, [CalculatedPoint("overload", "above(ai, 80, 5)")],
                            wall=r.clock.wall)
    calculator.initialise()
    text = "overload == off and valid(overload)"
    r.outstation.executor = Interlocks(r.executor, r.db, [
        InterlockRule("dcmd", "on", parse(text), text)],
        {n: f.inputs() for n, f in calculator.formulas.items()})
    r.session.activate()
    r.drain()
    return r


def test_a_calculated_condition_is_evaluated_on_its_current_value_and_quality(
        calc_rig: Any, caplog: pytest.LogCaptureFixture) -> None:
    r = calc_rig

    def ai(value: float, quality: Quality = Quality.GOOD) -> None:
        r.clock.mono += 1.0
        r.clock.system += 1.0
        r.db.update("ai", value, quality, timestamp=r.clock.system)
        r.drain()

    def close(select: bool = False) -> bool:
        r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2, select=select)))
        ((_, cot, negative),) = summary(r.drain())
        assert cot is Cot.ACTIVATION_CON
        return not negative

    assert close()  # ai 1.5: no overload
    (_request, done), = r.executor.started
    done(True)
    r.drain()
    ai(85.0)  # above 80: overload on, with the time tag of ai's change
    assert r.db.value("overload").value is True
    assert r.db.value("overload").timestamp == r.clock.system
    assert not close()
    assert ("interlock 'overload == off and valid(overload)' not met: overload == off "
            "(overload is on); overload is calculated from ai = 85") in caplog.text
    ai(78.0)  # inside the hysteresis: still on
    assert not close()
    ai(74.0)  # below 80 - 5: off again; select, then ai rises before the execute
    assert close(select=True)
    ai(90.0)
    assert not close()  # evaluated again at execute
    ai(10.0, Quality.IV)  # the input turns invalid: so does the calculated point
    assert r.db.value("overload").quality & Quality.IV
    assert not close()
    assert "valid(overload) (overload is <Quality.IV: " in caplog.text
    assert "overload is calculated from ai = 10 <Quality.IV: " in caplog.text
    ai(10.0)
    assert close()
    assert len(r.executor.started) == 2
