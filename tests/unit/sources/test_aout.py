"""rtu.sources.aout: set-points to analogue outputs (scaling, refuse or clamp, ACT_TERM after
the write, driver failures) with fake outputs; and the [analog_outputs] section's checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hal.fake import FakeDac, FakePwm
from rtu.config import ConfigError, parse_config
from rtu.points.commands import CommandRequest
from rtu.points.model import Point, PointKind
from rtu.sources.aout.config import AnalogOutputConfig
from rtu.sources.aout.executor import AnalogOutputs, Channel

SP = Point("valve_sp", 1, PointKind.SETPOINT_FLOAT, target="analog_output")
NORM = Point("norm_sp", 2, PointKind.SETPOINT_NORMALIZED, target="analog_output")
OTHER = Point("k1_cmd", 3, PointKind.SINGLE_COMMAND, target="k1")


class Inner:
    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []

    def execute(self, request: CommandRequest, done: Any) -> None:
        self.requests.append(request)
        done(True)


def outputs(pwm: FakePwm, dac: FakeDac, **settings: Any) -> tuple[AnalogOutputs, Inner]:
    inner = Inner()
    valve = AnalogOutputConfig(name="valve", command="valve_sp", driver="sim", low=0.0,
                               high=100.0, **settings)
    norm = AnalogOutputConfig(name="dac", command="norm_sp", driver="mcp4725", low=-1.0,
                              high=1.0, out_low=0.2, out_high=1.0)
    return AnalogOutputs(inner, {"valve": Channel(valve, pwm), "dac": Channel(norm, dac)}), inner


def execute(executor: AnalogOutputs, point: Point, value: float) -> list[bool]:
    results: list[bool] = []

    async def main() -> None:
        request = CommandRequest(point, value)
        if executor.refusal(request) is not None:
            results.append(False)  # a negative ACT_CON: never executed
            return
        executor.execute(request, results.append)
        for _ in range(50):
            if results:
                return
            await asyncio.sleep(0.01)

    asyncio.run(main())
    return results


def test_a_float_set_point_is_scaled_to_a_duty_cycle_and_terminated_after_the_write() -> None:
    pwm, dac = FakePwm("valve"), FakeDac("dac")
    executor, inner = outputs(pwm, dac)
    assert execute(executor, SP, 25.0) == [True]
    assert execute(executor, SP, 100.0) == [True]
    assert pwm.duties == [0.25, 1.0]
    assert executor.channels["valve_sp"].written == 100.0
    assert inner.requests == []
    # the rest of the command path still gets its commands
    assert execute(executor, OTHER, 1) == [True] and len(inner.requests) == 1


def test_a_normalized_set_point_to_a_dac_with_a_live_zero() -> None:
    pwm, dac = FakePwm("valve"), FakeDac("dac")
    executor, _ = outputs(pwm, dac)
    assert execute(executor, NORM, -1.0) == [True]  # output_range low: 0.2 of 4095
    assert execute(executor, NORM, 0.0) == [True]  # half way: 0.6
    assert execute(executor, NORM, 1.0) == [True]
    assert dac.codes == [round(0.2 * 4095), round(0.6 * 4095), 4095]


def test_out_of_range_is_refused_before_the_confirmation_by_default() -> None:
    pwm, dac = FakePwm("valve"), FakeDac("dac")
    executor, _ = outputs(pwm, dac)
    reason = executor.refusal(CommandRequest(SP, 120.0))
    assert reason == "analogue output valve: 120 is outside the range 0..100"
    assert "nan is not a finite number" in str(executor.refusal(CommandRequest(SP, float("nan"))))
    assert execute(executor, SP, -0.5) == [False]
    assert pwm.duties == []


def test_clamp_drives_the_nearer_end_and_invert_swaps_the_ends() -> None:
    pwm, dac = FakePwm("valve"), FakeDac("dac")
    executor, _ = outputs(pwm, dac, out_of_range="clamp", invert=True)
    assert executor.refusal(CommandRequest(SP, 150.0)) is None
    assert execute(executor, SP, 150.0) == [True]
    assert execute(executor, SP, -20.0) == [True]
    assert execute(executor, SP, 75.0) == [True]
    assert pwm.duties == [0.0, 1.0, 0.25]
    # NaN is refused even with clamp
    assert executor.refusal(CommandRequest(SP, float("inf"))) is not None


def test_a_driver_failure_is_a_negative_termination(caplog: pytest.LogCaptureFixture) -> None:
    pwm, dac = FakePwm("valve"), FakeDac("dac")
    executor, _ = outputs(pwm, dac)
    pwm.fail = True
    assert execute(executor, SP, 10.0) == [False]
    assert "analogue output valve (sim): writing set-point valve_sp = 10 failed" in caplog.text
    assert executor.channels["valve_sp"].written is None


# -- the section ---------------------------------------------------------------------------------
def doc(**channel: Any) -> dict[str, Any]:
    entry = {"name": "valve", "command": "valve_sp", "driver": "pwm", "range": [0, 100],
             **channel}
    return {
        "station": {"common_address": 1},
        "points": [
            {"name": "valve_sp", "ioa": 5301, "kind": "setpoint_float",
             "target": "analog_output"},
            {"name": "level", "ioa": 3001, "kind": "float", "source": "sim"},
        ],
        "analog_outputs": {"channels": [entry]},
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_the_section_is_read() -> None:
    config = parse_config(doc(pwm_chip=2, pwm_channel=1, period=0.0005,
                              output_range=[0.2, 1.0], out_of_range="clamp"), "t.toml")
    (channel,) = config.section("analog_outputs").channels  # type: ignore[attr-defined]
    assert channel == AnalogOutputConfig(
        name="valve", command="valve_sp", driver="pwm", low=0.0, high=100.0, out_low=0.2,
        out_high=1.0, out_of_range="clamp", pwm_chip=2, pwm_channel=1, period=0.0005)


def test_a_set_point_without_an_output_able_to_take_it_is_refused() -> None:
    data = doc()
    data["points"].append({"name": "k_cmd", "ioa": 5001, "kind": "single_command",
                           "target": "analog_output"})
    data["points"].append({"name": "lost_sp", "ioa": 5302, "kind": "setpoint_scaled",
                           "target": "analog_output"})
    assert errors(data) == [
        ('t.toml: points[2].target: expected a target that executes a single_command point, '
         'got "analog_output" (an analogue output takes normalized, scaled and float '
         "set-points)"),
        ("t.toml: points[3].target: expected an [[analog_outputs.channels]] entry with "
         "command = 'lost_sp', got no such entry"),
    ]
    # and without the section at all
    data = doc()
    del data["analog_outputs"]
    assert errors(data) == [
        ("t.toml: points[0].target: expected an [[analog_outputs.channels]] entry with "
         "command = 'valve_sp', got no such entry")]


def test_channel_checks() -> None:
    data = doc(command="level", driver="mcp4725", pwm_chip=1, range=[5, 5],
               output_range=[0.5, 1.5], i2c_address=0x48)
    got = errors(data)
    assert any("analog_outputs.channels[0].command: expected a set-point point" in e
               and "it is a float point" in e for e in got)
    assert any("analog_outputs.channels[0].pwm_chip: expected no pwm_chip on a mcp4725 "
               "output (pwm_chip applies to driver = 'pwm' only)" in e for e in got)
    assert any("analog_outputs.channels[0].range: expected [low, high]" in e for e in got)
    assert any("analog_outputs.channels[0].output_range: expected [low, high] within 0..1"
               in e for e in got)
    assert any("analog_outputs.channels[0].i2c_address: expected an integer 96..103" in e
               for e in got)


def test_two_channels_on_one_output_are_refused() -> None:
    data = doc()
    data["points"].append({"name": "sp2", "ioa": 5302, "kind": "setpoint_float",
                           "target": "analog_output"})
    data["analog_outputs"]["channels"].append(
        {"name": "valve2", "command": "sp2", "driver": "pwm", "range": [0, 1]})
    assert errors(data) == [
        ("t.toml: analog_outputs.channels[1]: expected an output no other channel drives, "
         "got the one of analog_outputs.channels[0]")]


CHANNEL_SCHEMA = {"name", "command", "driver", "range", "output_range", "invert", "out_of_range",
                  "pwm_chip", "pwm_channel", "period", "i2c_bus", "i2c_address"}


def test_the_keys_are_exactly_the_documented_ones_and_the_example_uses_them() -> None:
    import tomllib
    from importlib import resources

    (line,) = errors(doc(not_a_key=1))
    prefix = "t.toml: analog_outputs.channels[0].not_a_key: unknown key; expected one of "
    assert line.startswith(prefix), line
    assert set(line.removeprefix(prefix).split(", ")) == CHANNEL_SCHEMA
    text = resources.files("rtu.examples").joinpath("example.toml").read_text("utf-8")
    channels = tomllib.loads(text)["analog_outputs"]["channels"]
    assert set().union(*channels) == CHANNEL_SCHEMA
