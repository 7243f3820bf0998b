"""rtu.sources.switchgear: two-coil breakers (pulses, end-state supervision, same state, local
control, return information) with a fake clock, fake coils and the point database; and the
[switchgear] section's checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hal.fake import FakeRelay
from rtu.config import ConfigError, parse_config
from rtu.points.commands import CommandRequest
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, DoublePointValue, Point, PointChanged, PointKind, Quality
from rtu.sources.switchgear.config import BreakerConfig
from rtu.sources.switchgear.source import Breaker, Switchgear

ON, OFF, MID = DoublePointValue.ON, DoublePointValue.OFF, DoublePointValue.INDETERMINATE


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1.7e9 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Inner:
    """The rest of the command path: records what reaches it."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []

    def execute(self, request: CommandRequest, done: Any) -> None:
        self.requests.append(request)
        done(True)


POINTS = [
    Point("cb1_pos", 1, PointKind.DOUBLE, source="switchgear"),
    Point("cb1_cmd", 2, PointKind.DOUBLE_COMMAND, target="switchgear"),
    Point("cb1_local", 3, PointKind.SINGLE, source="sim"),
    Point("k1_cmd", 4, PointKind.SINGLE_COMMAND, target="k1"),
]


class Bench:
    def __init__(self, **settings: Any) -> None:
        self.clock = FakeClock()
        self.db = PointDatabase(POINTS)
        self.changes: list[PointChanged] = []
        self.db.subscribe(self.changes.append)
        self.coil_log: list[tuple[str, bool]] = []
        self.both_on = False
        self.close_coil = FakeRelay("cb1_close", on_change=self._coil)
        self.open_coil = FakeRelay("cb1_open", on_change=self._coil)
        config = BreakerConfig(name="cb1", command="cb1_cmd", position="cb1_pos",
                               close_coil="cb1_close", open_coil="cb1_open", **settings)
        self.inner = Inner()
        self.switchgear = Switchgear(
            self.inner, self.db, {"cb1": Breaker(config, self.close_coil, self.open_coil)},
            wall=self.clock.wall, sleep=self.clock.sleep, monotonic=self.clock.monotonic)
        self.switchgear.initialise()

    def _coil(self, name: str, on: bool) -> None:
        self.coil_log.append((name, on))
        if self.close_coil.state and self.open_coil.state:
            self.both_on = True

    def position(self, state: DoublePointValue, quality: Quality = Quality.GOOD) -> None:
        self.db.update("cb1_pos", int(state), quality, timestamp=self.clock.wall())

    def command(self, state: DoublePointValue, name: str = "cb1_cmd") -> bool:
        """Execute a command to completion; its result."""
        results: list[bool] = []

        async def run() -> None:
            request = CommandRequest(self.db.point(name), state)
            self.switchgear.execute(request, results.append)
            for _ in range(200):
                if results:
                    return
                await asyncio.sleep(0.001)

        asyncio.run(run())
        assert len(results) == 1, results
        return results[0]


def test_a_close_pulses_the_close_coil_and_ends_at_the_end_state() -> None:
    bench = Bench(pulse=0.2, supervision=1.0, travel=0.3)
    assert bench.db.value("cb1_pos").value == OFF  # a simulated device starts open
    assert bench.command(ON) is True
    assert bench.coil_log == [("cb1_close", True), ("cb1_close", False)]
    assert 0.2 in bench.clock.sleeps
    positions = [(DoublePointValue(c.new.value), c.origin) for c in bench.changes
                 if c.point.name == "cb1_pos"]
    # the contacts part (intermediate, 00) and then show closed: return information (COT 11)
    assert positions[-2:] == [(MID, ChangeOrigin.REMOTE_COMMAND), (ON, ChangeOrigin.REMOTE_COMMAND)]
    assert bench.db.value("cb1_pos").value == ON
    # after the command, a change nobody commanded is spontaneous again
    bench.position(MID)
    assert bench.changes[-1].origin is ChangeOrigin.FIELD


def test_an_open_pulses_the_open_coil_and_never_both() -> None:
    bench = Bench(pulse=0.1, supervision=1.0, travel=0.2)
    assert bench.command(ON) is True
    assert bench.command(OFF) is True
    assert [c for c in bench.coil_log if c[0] == "cb1_open"] == [("cb1_open", True),
                                                                  ("cb1_open", False)]
    assert not bench.both_on
    assert bench.db.value("cb1_pos").value == OFF


def test_a_position_that_never_arrives_gives_a_negative_termination(
        caplog: pytest.LogCaptureFixture) -> None:
    bench = Bench(pulse=0.2, supervision=2.0)
    bench.position(OFF)
    assert bench.command(ON) is False
    assert bench.coil_log == [("cb1_close", True), ("cb1_close", False)]  # released
    assert bench.clock.now - 1000.0 == pytest.approx(2.0)  # waited the supervision time
    assert "did not show ON within 2 s (it shows OFF)" in caplog.text


def test_without_negative_termination_a_timeout_still_terminates_positively() -> None:
    bench = Bench(pulse=0.2, supervision=0.5, negative_termination=False)
    bench.position(OFF)
    assert bench.command(ON) is True
    assert bench.db.value("cb1_pos").value == OFF


def test_a_command_to_the_present_state_is_answered_as_configured() -> None:
    bench = Bench()
    bench.position(ON)
    assert bench.command(ON) is True
    assert bench.coil_log == []  # no operation
    refusing = Bench(same_state="negative")
    refusing.position(ON)
    assert refusing.command(ON) is False
    assert refusing.coil_log == []
    # an invalid position is not "the same state": the device is operated
    doubtful = Bench(pulse=0.1, supervision=0.2)
    doubtful.position(ON, Quality.IV)
    doubtful.command(ON)
    assert doubtful.coil_log[0] == ("cb1_close", True)


def test_local_control_refuses_commands_and_reports_cause_12() -> None:
    bench = Bench(local="cb1_local")
    bench.position(OFF)
    request = CommandRequest(bench.db.point("cb1_cmd"), ON)
    assert bench.switchgear.refusal(request) is None
    bench.db.update("cb1_local", True, timestamp=1.0)
    assert bench.switchgear.refusal(request) == "breaker cb1 is in local control"
    bench.position(ON)  # operated at the panel
    assert bench.changes[-1].origin is ChangeOrigin.LOCAL_COMMAND
    bench.db.update("cb1_local", False, timestamp=2.0)
    assert bench.switchgear.refusal(request) is None
    bench.position(OFF)
    assert bench.changes[-1].origin is ChangeOrigin.FIELD


def test_a_coil_driver_fault_fails_the_command_and_releases_the_coils() -> None:
    bench = Bench(pulse=0.1, supervision=0.5)
    bench.position(OFF)
    bench.close_coil.fail = True
    assert bench.command(ON) is False
    assert not bench.close_coil.state and not bench.open_coil.state


def test_other_commands_go_on_down_the_path() -> None:
    bench = Bench()
    assert bench.command(ON, "k1_cmd") is True
    assert [r.point.name for r in bench.inner.requests] == ["k1_cmd"]
    assert bench.switchgear.confirms(bench.db.point("cb1_cmd")) is False


# -- the section ---------------------------------------------------------------------------------
def doc(**breaker: Any) -> dict[str, Any]:
    entry = {"name": "cb1", "command": "cb1_cmd", "position": "cb1_pos",
             "close_coil": "cb1_close", "open_coil": "cb1_open", "travel": 0.3, **breaker}
    return {
        "iec104": {"enabled": False},
        "relays": [{"name": "cb1_close"}, {"name": "cb1_open"}, {"name": "k1"}],
        "points": [
            {"name": "cb1_pos", "ioa": 1, "kind": "double", "source": "switchgear"},
            {"name": "cb1_cmd", "ioa": 2, "kind": "double_command", "target": "switchgear"},
            {"name": "k1_cmd", "ioa": 3, "kind": "single_command", "target": "k1"},
            {"name": "sp", "ioa": 4, "kind": "single", "source": "sim"},
        ],
        "switchgear": {"breakers": [entry]},
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_the_section_is_read() -> None:
    config = parse_config(doc(pulse=0.25, same_state="negative", local="sp"), "t.toml")
    (breaker,) = config.section("switchgear").breakers  # type: ignore[attr-defined]
    assert breaker == BreakerConfig(name="cb1", command="cb1_cmd", position="cb1_pos",
                                    close_coil="cb1_close", open_coil="cb1_open", pulse=0.25,
                                    same_state="negative", local="sp", travel=0.3)


def test_a_target_that_cannot_execute_the_command_is_refused() -> None:
    data = doc(command="k1_cmd")
    data["points"][2]["target"] = "switchgear"
    found = errors(data)
    assert any("switchgear.breakers[0].command: expected the name of a double_command point"
               in e for e in found), found
    assert any("points[1].target: expected a [[switchgear.breakers]] or "
               "[[switchgear.tap_changers]] entry with command = 'cb1_cmd'" in e
               for e in found), found


def test_unknown_coils_and_points_are_named() -> None:
    found = errors(doc(close_coil="nope", position="sp", local="cb1_pos"))
    assert any("close_coil: expected the name of a [[relays]] entry, got 'nope'" in e
               for e in found), found
    assert any("position: expected the name of a double point, got 'sp' (it is a single "
               "point)" in e for e in found), found
    assert any("local: expected the name of a single point" in e for e in found), found


def test_one_relay_cannot_drive_both_coils_and_supervision_covers_the_pulse() -> None:
    found = errors(doc(open_coil="cb1_close", pulse=2.0, supervision=1.0))
    assert any("open_coil: expected a relay driving one coil only" in e for e in found), found
    assert any("supervision: expected at least the pulse (2 s), got 1" in e for e in found)


def test_a_simulated_position_needs_its_breaker() -> None:
    data = doc()
    del data["switchgear"]["breakers"][0]["travel"]
    found = errors(data)
    assert any("points[0].source: expected a [[switchgear.breakers]] or "
               "[[switchgear.tap_changers]] entry with position = 'cb1_pos' and a travel time"
               in e for e in found), found


SWITCHGEAR_SCHEMA = {"name", "command", "position", "close_coil", "open_coil", "pulse",
                     "supervision", "same_state", "negative_termination", "local", "travel"}


def test_the_breaker_keys_are_exactly_the_documented_ones() -> None:
    data = doc(not_a_key=1)
    (line,) = errors(data)
    prefix = "t.toml: switchgear.breakers[0].not_a_key: unknown key; expected one of "
    assert line.startswith(prefix), line
    assert set(line.removeprefix(prefix).split(", ")) == SWITCHGEAR_SCHEMA


def test_the_example_uses_every_breaker_key() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("rtu.examples").joinpath("example.toml").read_text("utf-8")
    (breaker,) = tomllib.loads(text)["switchgear"]["breakers"]
    assert set(breaker) | {"travel"} == SWITCHGEAR_SCHEMA  # travel: the bench's, commented
    (tap,) = tomllib.loads(text)["switchgear"]["tap_changers"]
    assert set(tap) | {"travel"} == {"name", "command", "position", "raise_coil", "lower_coil",
                                     "pulse", "supervision", "negative_termination", "local",
                                     "travel"}


# -- tap changers ----------------------------------------------------------------------------------
class TapBench:
    def __init__(self, **settings: Any) -> None:
        from rtu.sources.switchgear.config import TapChangerConfig
        from rtu.sources.switchgear.source import TapChanger

        self.clock = FakeClock()
        self.db = PointDatabase([Point("tap", 1, PointKind.STEP, source="switchgear"),
                                 Point("tap_cmd", 2, PointKind.REGULATING_STEP,
                                       target="switchgear")])
        self.changes: list[PointChanged] = []
        self.db.subscribe(self.changes.append)
        self.up, self.down = FakeRelay("tap_raise"), FakeRelay("tap_lower")
        config = TapChangerConfig(name="t1", command="tap_cmd", position="tap",
                                  raise_coil="tap_raise", lower_coil="tap_lower", **settings)
        self.switchgear = Switchgear(
            Inner(), self.db, {}, tap_changers={"t1": TapChanger(config, self.up, self.down)},
            wall=self.clock.wall, sleep=self.clock.sleep, monotonic=self.clock.monotonic)
        self.switchgear.initialise()

    def step(self, direction: Any) -> bool:
        results: list[bool] = []

        async def run() -> None:
            self.switchgear.execute(CommandRequest(self.db.point("tap_cmd"), direction),
                                    results.append)
            for _ in range(200):
                if results:
                    return
                await asyncio.sleep(0.001)

        asyncio.run(run())
        assert len(results) == 1
        return results[0]


def test_a_tap_changer_moves_one_step_per_command() -> None:
    from rtu.points.model import StepDirection

    bench = TapBench(pulse=0.2, supervision=2.0, travel=0.5)
    assert bench.db.value("tap").value == 0  # a simulated tap changer starts at step 0
    assert bench.step(StepDirection.HIGHER) is True
    assert bench.step(StepDirection.HIGHER) is True
    assert bench.step(StepDirection.LOWER) is True
    assert bench.db.value("tap").value == 1
    assert bench.up.operations == [True, False, True, False]
    assert bench.down.operations == [True, False]
    moves = [(c.new.value, bool(c.new.quality & Quality.TRANSIENT), c.origin)
             for c in bench.changes if c.point.name == "tap"]
    assert moves[1:3] == [(0, True, ChangeOrigin.REMOTE_COMMAND),
                         (1, False, ChangeOrigin.REMOTE_COMMAND)]


def test_a_tap_changer_that_does_not_move_terminates_negatively(
        caplog: pytest.LogCaptureFixture) -> None:
    from rtu.points.model import StepDirection

    bench = TapBench(pulse=0.2, supervision=1.0)
    bench.db.update("tap", 5, timestamp=1.0)
    assert bench.step(StepDirection.LOWER) is False
    assert bench.down.operations == [True, False]
    assert "position tap did not reach 4 within 1 s (it shows 5)" in caplog.text
    bench.db.update("tap", 5, Quality.IV, timestamp=2.0)
    assert bench.step(StepDirection.LOWER) is False  # no valid start: refused
    assert bench.down.operations == [True, False]


def test_the_tap_changer_section() -> None:
    data = doc()
    data["relays"] += [{"name": "tap_raise"}, {"name": "tap_lower"}]
    data["points"] += [
        {"name": "tap", "ioa": 10, "kind": "step", "source": "switchgear"},
        {"name": "tap_cmd", "ioa": 11, "kind": "regulating_step", "target": "switchgear"},
    ]
    data["switchgear"]["tap_changers"] = [{
        "name": "t1", "command": "tap_cmd", "position": "tap", "raise_coil": "tap_raise",
        "lower_coil": "tap_lower", "travel": 0.5}]
    config = parse_config(data, "t.toml")
    (tap,) = config.section("switchgear").tap_changers  # type: ignore[attr-defined]
    assert (tap.command, tap.position, tap.travel, tap.supervision) == ("tap_cmd", "tap", 0.5,
                                                                         10.0)
    data["switchgear"]["tap_changers"][0].update(command="cb1_cmd", raise_coil="cb1_close")
    found = errors(data)
    assert any("tap_changers[0].command: expected the name of a regulating_step point, got "
               "'cb1_cmd'" in e for e in found), found
    assert any("tap_changers[0].raise_coil: expected a relay driving one coil only" in e
               for e in found), found


def test_the_target_refuses_kinds_it_cannot_execute() -> None:
    data = doc()
    data["points"].append({"name": "sp9", "ioa": 9, "kind": "setpoint_float",
                           "target": "switchgear"})
    assert errors(data) == [
        ("t.toml: points[4].target: expected a target that executes a setpoint_float point, "
        'got "switchgear" (it executes double commands on breakers and regulating steps on '
        "tap changers)")]
