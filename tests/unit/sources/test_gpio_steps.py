"""Step positions from GPIO inputs ([[gpio.steps]]): binary and BCD codes, sign and transient
inputs, settle time, invalid codes; the section's checks (line count vs range); and a tap
changer whose position comes from fake GPIO inputs, terminated once it moved one step."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hal.fake import FakeGpio, FakeRelay
from rtu.config import ConfigError, parse_config
from rtu.points.commands import CommandRequest
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind, Quality, StepDirection
from rtu.sources.gpio.config import GpioStepConfig, step_limit
from rtu.sources.gpio.source import (
    DigitalProcessor,
    DigitalSource,
    InputSettings,
    StepBinding,
    decode_step,
)
from rtu.sources.switchgear.config import TapChangerConfig
from rtu.sources.switchgear.source import Switchgear, TapChanger

BITS = ("b0", "b1", "b2", "b3", "b4")


def levels_of(value: int, lines: int = 5) -> dict[str, bool]:
    return {f"b{i}": bool(value >> i & 1) for i in range(lines)}


def test_decoding() -> None:
    assert decode_step([True, False, True], "binary") == 5
    assert decode_step([False] * 5, "binary") == 0
    # BCD: 1 0 0 1 | 1 = 19 (units 9, tens 1)
    assert decode_step([True, False, False, True, True], "bcd") == 19
    assert decode_step([False, True, False, True], "bcd") is None  # 10 is not a digit
    assert (step_limit("binary", 5), step_limit("bcd", 5), step_limit("bcd", 8),
            step_limit("bcd", 6)) == (31, 19, 99, 39)


def processor(**settings: Any) -> DigitalProcessor:
    names = [*BITS, "sign", "moving"]
    binding = StepBinding("tap", BITS, **settings)
    return DigitalProcessor([InputSettings(n) for n in names], steps=[binding])


def start(p: DigitalProcessor, value: int, now: float = 0.0, **extra: bool) -> None:
    p.start({**levels_of(value), "sign": False, "moving": False, **extra}, now)


def test_a_binary_position_is_reported_once_the_code_has_settled() -> None:
    p = processor(settle=0.05)
    start(p, 3)
    assert [(r.value, r.quality) for r in p.take_reports()] == [(3, Quality.GOOD)]
    # 3 -> 4 (011 -> 100): the lines flip one after the other, a few ms apart
    p.edge("b2", True, 1.000)
    p.edge("b0", False, 1.002)
    p.edge("b1", False, 1.004)
    p.advance(1.03)
    assert p.take_reports() == []  # not steady long enough: nothing (no false 7 or 5)
    assert p.next_deadline() == pytest.approx(1.054)
    p.advance(1.06)
    (report,) = p.take_reports()
    assert (report.value, report.quality, report.timestamp) == (4, Quality.GOOD, 1.004)


def bcd_levels(value: int) -> dict[str, bool]:
    """Units on b0..b3, tens (0 or 1) on b4."""
    return {**levels_of(value % 10, 4), "b4": value >= 10}


def test_sign_transient_bcd_and_invalid_codes() -> None:
    p = processor(coding="bcd", sign="sign", transient="moving", low=-15, high=15)
    p.start({**bcd_levels(9), "sign": False, "moving": False}, 0.0)
    (first,) = p.take_reports()
    assert (first.value, first.quality) == (9, Quality.GOOD)
    p.edge("moving", True, 1.0)
    (moving,) = p.take_reports()
    assert (moving.value, moving.quality) == (9, Quality.TRANSIENT)
    p.edge("sign", True, 1.1)
    p.edge("moving", False, 1.2)
    assert [(r.value, r.quality) for r in p.take_reports()] == [
        (-9, Quality.TRANSIENT), (-9, Quality.GOOD)]
    # units 1011 = 11: not a BCD digit: the last position, invalid
    p.edge("b1", True, 2.0)
    (bad,) = p.take_reports()
    assert (bad.value, bad.quality) == (-9, Quality.IV)
    # a valid code outside the range -15..15: -19, invalid; then -12, good
    for name, level in bcd_levels(19).items():
        p.edge(name, level, 3.0)
    outside = p.take_reports()[-1]
    assert (outside.value, outside.quality) == (-19, Quality.IV)
    for name, level in bcd_levels(12).items():
        p.edge(name, level, 4.0)
    last = p.take_reports()[-1]
    assert (last.value, last.quality) == (-12, Quality.GOOD)


def test_a_failed_read_and_the_next_good_one() -> None:
    p = processor()
    start(p, 2)
    p.take_reports()
    p.failed(5.0)
    (bad,) = p.take_reports()
    assert (bad.value, bad.quality) == (2, Quality.IV | Quality.NT)
    p.reread({**levels_of(6), "sign": False, "moving": False}, 6.0)
    (good,) = p.take_reports()
    assert (good.value, good.quality) == (6, Quality.GOOD)


# -- the section -----------------------------------------------------------------------------------
def doc(**step: Any) -> dict[str, Any]:
    inputs = [{"name": n, "line": i + 1} for i, n in enumerate([*BITS, "sign", "moving"])]
    entry = {"name": "tap_code", "inputs": list(BITS), "coding": "binary", **step}
    return {
        "station": {"common_address": 1},
        "gpio": {"backend": "sim", "inputs": inputs, "steps": [entry]},
        "points": [{"name": "tap", "ioa": 2201, "kind": "step", "source": "gpio:tap_code"}],
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_the_section_is_read() -> None:
    config = parse_config(doc(coding="bcd", sign="sign", transient="moving", settle=0.2),
                          "t.toml")
    (step,) = config.gpio.steps
    assert step == GpioStepConfig(name="tap_code", inputs=BITS, coding="bcd", sign="sign",
                                  transient="moving", low=-19, high=19, settle=0.2)
    (plain,) = parse_config(doc(range=[1, 17]), "t.toml").gpio.steps
    assert (plain.low, plain.high, plain.settle) == (1, 17, 0.1)


def test_line_count_against_the_range() -> None:
    assert errors(doc(coding="bcd", range=[1, 25])) == [
        ("t.toml: gpio.steps[0].range: expected positions within 0..19: what 5 bcd inputs can "
         "code, got [1, 25] (add inputs, or a sign input for negative positions)")]
    assert errors(doc(range=[-3, 10])) == [
        ("t.toml: gpio.steps[0].range: expected positions within 0..31: what 5 binary inputs "
         "can code, got [-3, 10] (add inputs, or a sign input for negative positions)")]
    assert errors(doc(range=[0, 90])) == [
        ("t.toml: gpio.steps[0].range: expected [low, high] within -64..63 (a step position, "
         "M_ST), got [0, 90]")]


def test_inputs_names_and_kinds() -> None:
    data = doc(inputs=["b0", "nope", "b0"], sign="b0")
    found = errors(data)
    assert any("gpio.steps[0].inputs[1]: expected the name of a [[gpio.inputs]] entry, got "
               "'nope'" in e for e in found), found
    assert any("gpio.steps[0]: expected each input once among inputs, sign and transient, "
               "got b0 more than once" in e for e in found), found
    data = doc()
    data["points"][0]["kind"] = "single"
    assert any("'tap_code' is a [[gpio.steps]] entry, which feeds step points only" in e
               for e in errors(data))


# -- a tap changer reading its position from the inputs --------------------------------------------
class Mechanism:
    """The tap changer's drive seen through its position inputs: a pulse on a coil moves it
    one step, the transient input on meanwhile, the code's lines flipping one by one."""

    def __init__(self, bank: FakeGpio, position: int, moves: bool = True) -> None:
        self.bank, self.position, self.moves = bank, position, moves
        self.loop = asyncio.get_running_loop()
        self.tasks: list[asyncio.Task[None]] = []

    def coil(self, name: str, on: bool) -> None:
        """Called on the worker thread that drives the relay (asyncio.to_thread)."""
        if on and self.moves:
            self.loop.call_soon_threadsafe(self._start, 1 if name == "raise" else -1)

    def _start(self, delta: int) -> None:
        self.tasks.append(self.loop.create_task(self.travel(delta)))

    async def travel(self, delta: int) -> None:
        self.bank.drive("moving", True)
        await asyncio.sleep(0.03)
        self.position += delta
        for name, level in levels_of(self.position).items():
            self.bank.drive(name, level)
            await asyncio.sleep(0.002)
        self.bank.drive("moving", False)


def run_taps(commands: list[StepDirection], start_at: int, moves: bool = True,
             supervision: float = 3.0) -> tuple[list[bool], list[tuple[int, Quality]]]:
    async def main() -> tuple[list[bool], list[tuple[int, Quality]]]:
        bank = FakeGpio([*BITS, "sign", "moving"])
        for name, level in levels_of(start_at).items():
            bank.set_level(name, level)
        db = PointDatabase([Point("tap", 1, PointKind.STEP, source="gpio:tap_code"),
                            Point("tap_cmd", 2, PointKind.REGULATING_STEP, target="switchgear")])
        seen: list[tuple[int, Quality]] = []
        db.subscribe(lambda c: seen.append((int(c.new.value), c.new.quality)))
        names = [*BITS, "sign", "moving"]
        processor = DigitalProcessor(
            [InputSettings(n) for n in names],
            steps=[StepBinding("tap", BITS, transient="moving", low=0, high=31, settle=0.15)])
        source = DigitalSource(db, bank, processor, reread_interval=0)
        source.initialise()
        mechanism = Mechanism(bank, start_at, moves)
        up = FakeRelay("raise", on_change=mechanism.coil)
        down = FakeRelay("lower", on_change=mechanism.coil)
        config = TapChangerConfig(name="t1", command="tap_cmd", position="tap",
                                  raise_coil="raise", lower_coil="lower", pulse=0.01,
                                  supervision=supervision)
        switchgear = Switchgear(object(), db, {},  # type: ignore[arg-type]
                                tap_changers={"t1": TapChanger(config, up, down)})
        switchgear.initialise()
        runner = asyncio.create_task(source.run())
        results: list[bool] = []
        try:
            for direction in commands:
                done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                switchgear.execute(CommandRequest(db.point("tap_cmd"), direction),
                                   done.set_result)
                results.append(await asyncio.wait_for(done, 5))
        finally:
            runner.cancel()
            switchgear.close()
        return results, seen

    return asyncio.run(main())


def test_the_tap_changer_terminates_once_the_inputs_show_the_next_step() -> None:
    results, seen = run_taps([StepDirection.HIGHER, StepDirection.HIGHER,
                              StepDirection.LOWER], start_at=7)
    assert results == [True, True, True]
    # positions reported: the start (7), transient on the old one, then settled on each next
    # one; never a half-flipped code (7 -> 8 flips four lines)
    values = [v for v, q in seen if not q & Quality.TRANSIENT]
    assert values == [7, 8, 9, 8]
    assert (7, Quality.TRANSIENT) in seen


def test_a_tap_changer_that_does_not_move_times_out() -> None:
    results, seen = run_taps([StepDirection.LOWER], start_at=4, moves=False, supervision=0.2)
    assert results == [False]
    assert seen == [(4, Quality.GOOD)]  # the start only: it never moved


STEP_SCHEMA = {"name", "inputs", "coding", "sign", "transient", "range", "settle"}


def test_the_keys_are_exactly_the_documented_ones_and_the_example_uses_them() -> None:
    import tomllib
    from importlib import resources

    (line,) = errors(doc(not_a_key=1))
    prefix = "t.toml: gpio.steps[0].not_a_key: unknown key; expected one of "
    assert line.startswith(prefix), line
    assert set(line.removeprefix(prefix).split(", ")) == STEP_SCHEMA
    text = resources.files("rtu.examples").joinpath("example.toml").read_text("utf-8")
    (step,) = tomllib.loads(text)["gpio"]["steps"]
    assert set(step) == STEP_SCHEMA
