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
