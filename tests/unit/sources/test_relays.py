"""rtu.sources.relays: pulse/persistent, modes, feedback with a timeout and local/remote, with a
fake clock (the executor's sleep advances it) and fake inputs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from hal.fake import FakeRelay
from rtu.points.commands import CommandRequest, Pulse
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, DoublePointValue, Point, PointChanged, PointKind, Quality
from rtu.sources.relays import RelayExecutor, RelaySettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeInputs:
    """What DigitalSource offers the executor: levels and change callbacks."""

    def __init__(self, **levels: bool) -> None:
        self.levels: dict[str, bool | None] = dict(levels)
        self.watchers: dict[str, list[Callable[[bool, float], None]]] = {}

    def level(self, name: str) -> bool | None:
        return self.levels[name]

    def watch_input(self, name: str,
                    callback: Callable[[bool, float], None]) -> Callable[[], None]:
        self.watchers.setdefault(name, []).append(callback)
        return lambda: self.watchers[name].remove(callback)

    def set(self, name: str, level: bool, timestamp: float = 5.0) -> None:
        self.levels[name] = level
        for callback in list(self.watchers.get(name, ())):
            callback(level, timestamp)


def points() -> list[Point]:
    return [
        Point("k1_pos", 1, PointKind.SINGLE),
        Point("k1_cmd", 2, PointKind.SINGLE_COMMAND, target="k1", feedback="k1_pos"),
        Point("k1_dcmd", 3, PointKind.DOUBLE_COMMAND, target="k1"),
        Point("brk_pos", 4, PointKind.DOUBLE),
        Point("brk_cmd", 5, PointKind.DOUBLE_COMMAND, target="brk", feedback="brk_pos"),
    ]


class Rig:
    def __init__(self, settings: dict[str, RelaySettings] | None = None,
                 inputs: FakeInputs | None = None, default_qu: str = "persistent") -> None:
        self.db = PointDatabase(points())
        self.clock = FakeClock()
        self.inputs = inputs
        self.relays = {"k1": FakeRelay("k1"), "brk": FakeRelay("brk")}
        self.executor = RelayExecutor(
            self.db, self.relays, short_pulse=0.5, long_pulse=2.0, default_qu=default_qu,
            wall=lambda: 1.7e9, settings=settings, inputs=inputs, sleep=self.clock.sleep,
            monotonic=self.clock.monotonic)
        self.changes: list[PointChanged] = []
        self.db.subscribe(self.changes.append)

    def command(self, point: str, value: bool | int, pulse: Pulse = Pulse.DEFAULT) -> bool:
        """Run one command to its end; its done() verdict."""
        async def main() -> bool:
            return await execute(self, point, value, pulse)

        return asyncio.run(main())


async def execute(rig: Rig, point: str, value: bool | int, pulse: Pulse) -> bool:
    """Start the command and wait (up to 5 s of real time) for its done() verdict."""
    verdict: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    p = rig.db.point(point)
    rig.executor.execute(CommandRequest(p, value, pulse, "m1"), verdict.set_result)
    return await asyncio.wait_for(verdict, 5)


def test_persistent_and_pulses_from_the_request() -> None:
    rig = Rig()
    assert rig.command("k1_cmd", True, pulse=Pulse.PERSISTENT) is True
    assert rig.relays["k1"].operations == [True] and rig.clock.sleeps == []
    assert rig.db.value("k1_pos").value is True  # the commanded state (no feedback input)
    assert rig.changes[-1].origin is ChangeOrigin.REMOTE_COMMAND
    assert rig.command("k1_cmd", True, pulse=Pulse.SHORT) is True
    assert rig.relays["k1"].operations == [True, True, False] and rig.clock.sleeps == [0.5]
    assert rig.command("k1_cmd", True, pulse=Pulse.LONG) is True
    assert rig.clock.sleeps == [0.5, 2.0]
    assert rig.command("k1_dcmd", DoublePointValue.OFF) is True  # no pulse chosen: default persistent
    assert rig.relays["k1"].operations[-1] is False


@pytest.mark.parametrize(("mode", "pulse", "sleeps", "operations"), [
    ("pulse", Pulse.DEFAULT, [2.0], [True, False]),  # none chosen: the station default (long here)
    ("pulse", Pulse.SHORT, [0.5], [True, False]),
    ("pulse", Pulse.PERSISTENT, [0.5], [True, False]),
    ("pulse", Pulse.LONG, [2.0], [True, False]),
    ("persistent", Pulse.SHORT, [], [True]),
    ("qu", Pulse.DEFAULT, [2.0], [True, False]),  # the station default (long here)
])
def test_relay_modes(mode: str, pulse: Pulse, sleeps: list[float], operations: list[bool]) -> None:
    rig = Rig({"k1": RelaySettings(mode=mode)}, default_qu="long")
    assert rig.command("k1_cmd", True, pulse=pulse) is True
    assert rig.clock.sleeps == sleeps and rig.relays["k1"].operations == operations


def run_with_wiring(rig: Rig, relay: str, feedback: str, point: str, value: bool | int,
                    pulse: Pulse = Pulse.DEFAULT) -> bool:
    """A command whose relay's auxiliary contact follows it (reported from the worker thread
    that sets the relay, handed to the loop as a real input would be)."""
    inputs = rig.inputs
    assert inputs is not None
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        rig.relays[relay].on_change = lambda name, on: loop.call_soon_threadsafe(
            inputs.set, feedback, on)
        return await execute(rig, point, value, pulse)

    return asyncio.run(main())


def test_feedback_confirms_and_the_feedback_point_reports_the_input() -> None:
    inputs = FakeInputs(k1_aux=False)
    rig = Rig({"k1": RelaySettings(feedback_input="k1_aux", feedback_timeout=1.0)}, inputs)
    rig.executor.report_all()
    assert rig.db.value("k1_pos").value is False
    assert run_with_wiring(rig, "k1", "k1_aux", "k1_cmd", True, pulse=Pulse.PERSISTENT) is True
    assert rig.db.value("k1_pos").value is True
    assert [(c.point.name, c.new.value, c.origin) for c in rig.changes][-1] == (
        "k1_pos", True, ChangeOrigin.REMOTE_COMMAND)
    assert inputs.watchers["k1_aux"] and len(inputs.watchers["k1_aux"]) == 1  # only report_all's


def test_feedback_seen_during_a_pulse_confirms_it() -> None:
    inputs = FakeInputs(k1_aux=False)
    rig = Rig({"k1": RelaySettings(feedback_input="k1_aux", feedback_timeout=1.0)}, inputs)
    rig.executor.report_all()
    assert run_with_wiring(rig, "k1", "k1_aux", "k1_cmd", True, pulse=Pulse.SHORT) is True
    assert rig.relays["k1"].operations == [True, False]
    assert rig.db.value("k1_pos").value is False  # what the input says after the pulse


def test_no_feedback_within_the_timeout_is_a_failed_command(
        caplog: pytest.LogCaptureFixture) -> None:
    inputs = FakeInputs(k1_aux=False)
    rig = Rig({"k1": RelaySettings(feedback_input="k1_aux", feedback_timeout=1.5)}, inputs)
    rig.executor.report_all()
    assert rig.command("k1_cmd", True, pulse=Pulse.PERSISTENT) is False
    assert rig.relays["k1"].operations == [True]
    assert rig.clock.now == pytest.approx(1001.5)  # waited the timeout, on the fake clock
    assert rig.db.value("k1_pos").value is False  # the input, not the command
    assert "did not show on within 1.5 s" in caplog.text
    assert inputs.watchers["k1_aux"] == [inputs.watchers["k1_aux"][0]]  # unsubscribed


def test_feedback_changes_outside_commands_are_spontaneous() -> None:
    inputs = FakeInputs(k1_aux=False, brk_aux=True)
    rig = Rig({"k1": RelaySettings(feedback_input="k1_aux"),
               "brk": RelaySettings(feedback_input="brk_aux")}, inputs)
    rig.executor.report_all()
    assert rig.db.value("brk_pos").value == 2  # a double point: ON
    rig.changes.clear()
    inputs.set("k1_aux", True, timestamp=1234.5)
    assert [(c.point.name, c.new.value, c.new.timestamp, c.origin) for c in rig.changes] == [
        ("k1_pos", True, 1234.5, ChangeOrigin.FIELD)]


def test_local_control_blocks_the_command_points() -> None:
    inputs = FakeInputs(k1_local=True)
    rig = Rig({"k1": RelaySettings(local_input="k1_local")}, inputs)
    rig.executor.report_all()  # local already at start-up
    assert rig.db.value("k1_cmd").quality & Quality.BL
    assert rig.db.value("k1_dcmd").quality & Quality.BL
    assert not rig.db.value("brk_cmd").quality & Quality.BL
    # the outstation refuses a blocked point itself; should one get through, it fails too
    assert rig.command("k1_cmd", True, pulse=Pulse.PERSISTENT) is False
    assert rig.relays["k1"].operations == []
    inputs.set("k1_local", False)  # remote
    assert rig.db.value("k1_cmd").quality is Quality.GOOD
    assert rig.command("k1_cmd", True, pulse=Pulse.PERSISTENT) is True
    inputs.set("k1_local", True)
    assert rig.db.value("k1_cmd").quality & Quality.BL
    rig.executor.close()
    assert inputs.watchers["k1_local"] == []


def test_feedback_settings_need_inputs() -> None:
    with pytest.raises(ValueError, match="need an input source"):
        Rig({"k1": RelaySettings(local_input="x")}, None)


def test_a_driver_error_is_a_failed_command() -> None:
    rig = Rig()
    rig.relays["k1"].fail = True
    assert rig.command("k1_cmd", True, pulse=Pulse.PERSISTENT) is False
