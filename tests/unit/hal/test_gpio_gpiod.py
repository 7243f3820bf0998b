"""hal.gpio_gpiod at the gpiod (libgpiod v2) API boundary, with tests/unit/hal/fake_gpiod.py."""

from __future__ import annotations

import asyncio
import errno
import sys
import types
from datetime import timedelta
from pathlib import Path

import pytest

from hal.gpio import GpioUnavailableError, InputLine, OutputLine, open_gpio
from hal.gpio_gpiod import GpiodBank, import_gpiod
from hal.interfaces import InputEdge
from tests.unit.hal.fake_gpiod import (
    Bias,
    Clock,
    Direction,
    Edge,
    FakeChipSpec,
    FakeGpiod,
    LineSettings,
    Value,
    pi5_gpiod,
    pi5_lines,
)

CHIP = "/dev/gpiochip0"


def bank(gpiod: FakeGpiod, inputs: list[InputLine] | None = None,
         outputs: list[OutputLine] | None = None, chip: str = CHIP, **kw: object) -> GpiodBank:
    return GpiodBank(inputs or [], outputs or [], chip=chip, gpiod=gpiod, **kw)  # type: ignore[arg-type]


def test_lines_are_requested_by_name_with_the_right_settings() -> None:
    gpiod = pi5_gpiod()
    b = bank(gpiod,
             [InputLine("door", "GPIO17", "pull_up", debounce=0.005),
              InputLine("trip", "GPIO27", "pull_down")],
             [OutputLine("k1", "GPIO22", active_low=True, initial=False),
              OutputLine("k2", "GPIO23", initial=True)])
    calls = [c for c in gpiod.calls if c[0] == "request_lines"]
    assert len(calls) == 1  # one request per chip
    _, path, config, consumer = calls[0]
    assert path == CHIP and consumer == "rtu"
    assert config == {
        17: LineSettings(direction=Direction.INPUT, edge_detection=Edge.BOTH, bias=Bias.PULL_UP,
                         debounce_period=timedelta(milliseconds=5), event_clock=Clock.MONOTONIC),
        27: LineSettings(direction=Direction.INPUT, edge_detection=Edge.BOTH,
                         bias=Bias.PULL_DOWN, event_clock=Clock.MONOTONIC),
        22: LineSettings(direction=Direction.OUTPUT, active_low=True,
                         output_value=Value.INACTIVE),
        23: LineSettings(direction=Direction.OUTPUT, output_value=Value.ACTIVE),
    }
    # chips are closed after the request (the request lives on)
    b.close()
    assert gpiod.requests[0].released


def test_without_a_chip_every_chip_is_searched_for_the_names(tmp_path: Path) -> None:
    for name in ("gpiochip0", "gpiochip10", "gpiochip4"):
        (tmp_path / name).touch()
    gpiod = FakeGpiod({
        str(tmp_path / "gpiochip0"): FakeChipSpec("gpio-brcmstb@107d508500", ["RP1_SDA"] * 32),
        str(tmp_path / "gpiochip4"): FakeChipSpec("pinctrl-rp1", pi5_lines()),
        str(tmp_path / "gpiochip10"): FakeChipSpec("other", ["X"]),
    })
    b = GpiodBank([InputLine("door", "GPIO17")], [OutputLine("k1", "X")], gpiod=gpiod,
                  dev=tmp_path)
    assert gpiod.opened == [str(tmp_path / n) for n in ("gpiochip0", "gpiochip4", "gpiochip10")]
    requested = {c[1]: sorted(c[2]) for c in gpiod.calls if c[0] == "request_lines"}
    assert requested == {str(tmp_path / "gpiochip4"): [17], str(tmp_path / "gpiochip10"): [0]}
    b.close()


def test_chip_by_name_and_by_label(tmp_path: Path) -> None:
    (tmp_path / "gpiochip0").touch()
    (tmp_path / "gpiochip4").touch()
    gpiod = FakeGpiod({str(tmp_path / "gpiochip0"): FakeChipSpec("brcm", ["GPIO17"]),
                       str(tmp_path / "gpiochip4"): FakeChipSpec("pinctrl-rp1", pi5_lines())})
    b = GpiodBank([InputLine("door", "GPIO17")], [], chip="pinctrl-rp1", gpiod=gpiod, dev=tmp_path)
    assert [c[1] for c in gpiod.calls if c[0] == "request_lines"] == [str(tmp_path / "gpiochip4")]
    b.close()
    b = GpiodBank([InputLine("door", 17)], [], chip="gpiochip4", gpiod=gpiod, dev=tmp_path)
    assert [sorted(c[2]) for c in gpiod.calls if c[0] == "request_lines"][-1] == [17]
    b.close()
    with pytest.raises(GpioUnavailableError, match="no GPIO chip labelled 'nope'"):
        GpiodBank([InputLine("door", "GPIO17")], [], chip="nope", gpiod=gpiod, dev=tmp_path)


def test_levels_are_read_and_outputs_set_through_the_request() -> None:
    gpiod = pi5_gpiod()
    b = bank(gpiod, [InputLine("door", "GPIO17"), InputLine("trip", "GPIO27")],
             [OutputLine("k1", "GPIO22", active_low=True)])
    request = gpiod.requests[0]
    request.set_level(27, True)
    assert b.read_inputs() == {"door": False, "trip": True}
    assert ("get_values", CHIP, [17, 27]) in gpiod.calls
    assert b.input("trip").read() is True
    relay = b.output("k1")
    relay.set(True)
    relay.set(False)
    relay.set(True)
    # logical values: the kernel does the active-low inversion (LineSettings.active_low)
    assert request.writes == [(22, Value.ACTIVE), (22, Value.INACTIVE), (22, Value.ACTIVE)]
    assert request.levels[22] is False  # energised = driven low
    assert relay.get() is True
    b.close()


def test_edge_events_are_read_on_the_event_loop_with_kernel_timestamps() -> None:
    gpiod = pi5_gpiod()
    b = bank(gpiod, [InputLine("door", "GPIO17"), InputLine("trip", "GPIO27")],
             [OutputLine("k1", "GPIO22")])
    request = gpiod.requests[0]

    async def main() -> list[InputEdge]:
        edges: list[InputEdge] = []
        got = asyncio.Event()

        def handler(edge: InputEdge) -> None:
            edges.append(edge)
            if len(edges) == 3:
                got.set()

        b.watch(handler)
        request.inject_edge(17, True, timestamp_ns=1_234_567_891_000)
        request.inject_edge(27, True, timestamp_ns=1_234_600_000_000)
        request.inject_edge(17, False, timestamp_ns=1_235_000_000_500)
        await asyncio.wait_for(got.wait(), 2)
        b.unwatch()
        request.inject_edge(17, True)  # no longer watched
        await asyncio.sleep(0.01)
        return edges

    edges = asyncio.run(main())
    assert edges == [InputEdge("door", True, 1234.567891), InputEdge("trip", True, 1234.6),
                     InputEdge("door", False, 1235.0000005)]
    b.close()


def test_no_gpio_chip_says_so(tmp_path: Path) -> None:
    with pytest.raises(GpioUnavailableError, match=r"no GPIO chip on this machine \(no .*/gpiochip\*\)"):
        GpiodBank([InputLine("door", "GPIO17")], [], gpiod=pi5_gpiod(), dev=tmp_path)
    with pytest.raises(GpioUnavailableError, match="no GPIO chip /dev/gpiochip9 on this machine"):
        bank(pi5_gpiod(), [InputLine("door", "GPIO17")], chip="/dev/gpiochip9")


def test_unknown_line_name_lists_the_chips_searched() -> None:
    with pytest.raises(GpioUnavailableError) as info:
        bank(pi5_gpiod(), [InputLine("door", "GPIO99")])
    assert str(info.value) == ("input 'door': no GPIO line named 'GPIO99' on /dev/gpiochip0 "
                               "[pinctrl-rp1] (`gpioinfo` lists the line names)")


def test_offsets_need_a_chip_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "gpiochip0").touch()
    gpiod = pi5_gpiod(str(tmp_path / "gpiochip0"))
    with pytest.raises(GpioUnavailableError, match="line offset 17 needs a chip"):
        GpiodBank([InputLine("door", 17)], [], gpiod=gpiod, dev=tmp_path)
    with pytest.raises(GpioUnavailableError, match="line offset 99 is not on"):
        bank(gpiod, [InputLine("door", 99)], chip=str(tmp_path / "gpiochip0"))


def test_a_line_used_twice_and_a_busy_line() -> None:
    with pytest.raises(GpioUnavailableError, match="already used by 'door'"):
        bank(pi5_gpiod(), [InputLine("door", "GPIO17")], [OutputLine("k1", 17)])
    gpiod = pi5_gpiod()
    gpiod.busy[CHIP] = {17}
    with pytest.raises(GpioUnavailableError,
                       match=r"cannot request GPIO lines door on /dev/gpiochip0: Device or "
                             r"resource busy \(used by another program"):
        bank(gpiod, [InputLine("door", "GPIO17")])


def test_permission_denied() -> None:
    gpiod = pi5_gpiod()
    gpiod.forbidden.add(CHIP)
    with pytest.raises(GpioUnavailableError, match="permission denied .*'gpio' group"):
        bank(gpiod, [InputLine("door", "GPIO17")])


def test_the_library_is_imported_lazily_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)  # not installed
    with pytest.raises(GpioUnavailableError, match=r"gpiod >= 2 .*pip install 'rtu-outstation\[pi\]'"):
        import_gpiod()
    v1 = types.ModuleType("gpiod")
    v1.__version__ = "1.6.3"  # type: ignore[attr-defined]
    v1.chip = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gpiod", v1)
    with pytest.raises(GpioUnavailableError, match="gpiod 1.6.3 is the old libgpiod v1 API"):
        import_gpiod()
    fake = pi5_gpiod()
    monkeypatch.setitem(sys.modules, "gpiod", fake)
    b = open_gpio("gpiod", [InputLine("door", "GPIO17")], [], chip=CHIP)
    assert fake.requests and not fake.requests[0].released
    b.close()


def test_read_errors_on_the_event_fd_stop_watching(caplog: pytest.LogCaptureFixture) -> None:
    gpiod = pi5_gpiod()
    b = bank(gpiod, [InputLine("door", "GPIO17")])
    request = gpiod.requests[0]

    def broken(max_events: int | None = None) -> list[object]:
        raise OSError(errno.EIO, "Input/output error")

    async def main() -> None:
        b.watch(lambda edge: None)
        request.read_edge_events = broken  # type: ignore[method-assign]
        request.inject_edge(17, True)
        await asyncio.sleep(0.02)
        assert b._watched  # still listed; unwatch must not fail on a removed reader
        b.unwatch()

    asyncio.run(main())
    assert "edges no longer watched" in caplog.text
    b.close()
