"""hal.gpio_rpi at the RPi.GPIO API boundary: a fake RPi.GPIO module records every call; the
board model comes from a fake device-tree file."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hal.gpio import GpioUnavailableError, InputLine, OutputLine, open_gpio
from hal.gpio_rpi import RpiGpioBank, board_model, check_board
from hal.interfaces import InputEdge


class FakeRpiGpio(types.ModuleType):
    """RPi.GPIO 0.7.1's constants and the functions the backend calls, recorded."""

    BCM, BOARD = 11, 10
    IN, OUT = 1, 0
    HIGH, LOW = 1, 0
    PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
    RISING, FALLING, BOTH = 31, 32, 33

    def __init__(self) -> None:
        super().__init__("RPi.GPIO")
        self.calls: list[tuple[Any, ...]] = []
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, Callable[[int], None]] = {}

    def setwarnings(self, flag: bool) -> None:
        self.calls.append(("setwarnings", flag))

    def setmode(self, mode: int) -> None:
        self.calls.append(("setmode", mode))

    def setup(self, channel: int, direction: int, **kw: Any) -> None:
        self.calls.append(("setup", channel, direction, kw))
        if direction == self.OUT:
            self.levels[channel] = kw.get("initial", self.LOW)

    def input(self, channel: int) -> int:
        return self.levels.get(channel, 0)

    def output(self, channel: int, value: int) -> None:
        self.calls.append(("output", channel, value))
        self.levels[channel] = value

    def add_event_detect(self, channel: int, edge: int, **kw: Any) -> None:
        self.calls.append(("add_event_detect", channel, edge,
                           {k: v for k, v in kw.items() if k != "callback"}))
        self.callbacks[channel] = kw["callback"]

    def remove_event_detect(self, channel: int) -> None:
        self.calls.append(("remove_event_detect", channel))
        self.callbacks.pop(channel, None)

    def cleanup(self, channels: list[int] | None = None) -> None:
        self.calls.append(("cleanup", channels))


def model_file(tmp_path: Path, model: str) -> list[Path]:
    path = tmp_path / "model"
    path.write_bytes(model.encode() + b"\0")
    return [path]


PI4 = "Raspberry Pi 4 Model B Rev 1.4"


def test_raspberry_pi_5_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    for model in ("Raspberry Pi 5 Model B Rev 1.0", "Raspberry Pi 500 Rev 1.0",
                  "Raspberry Pi Compute Module 5 Rev 1.0"):
        with pytest.raises(GpioUnavailableError) as info:
            RpiGpioBank([], [], gpio=FakeRpiGpio(), model_paths=model_file(tmp_path, model))
        assert 'RPi.GPIO does not support the Raspberry Pi 5' in str(info.value)
        assert 'use backend = "gpiod"' in str(info.value)


def test_not_a_raspberry_pi(tmp_path: Path) -> None:
    with pytest.raises(GpioUnavailableError, match="no device-tree model"):
        check_board([tmp_path / "missing"])
    with pytest.raises(GpioUnavailableError, match="this is a Pine64"):
        check_board(model_file(tmp_path, "Pine64 RockPro64"))
    assert board_model(model_file(tmp_path, PI4)) == PI4
    assert check_board(model_file(tmp_path, "Raspberry Pi 3 Model B Plus Rev 1.3"))


def test_setup_of_inputs_and_outputs(tmp_path: Path) -> None:
    gpio = FakeRpiGpio()
    bank = RpiGpioBank(
        [InputLine("door", "GPIO17", "pull_up"), InputLine("trip", 27, "pull_down"),
         InputLine("spare", 5)],
        [OutputLine("k1", "GPIO22", active_low=True), OutputLine("k2", 23, initial=True)],
        gpio=gpio, model_paths=model_file(tmp_path, PI4))
    assert gpio.calls == [
        ("setwarnings", False), ("setmode", gpio.BCM),
        ("setup", 17, gpio.IN, {"pull_up_down": gpio.PUD_UP}),
        ("setup", 27, gpio.IN, {"pull_up_down": gpio.PUD_DOWN}),
        ("setup", 5, gpio.IN, {"pull_up_down": gpio.PUD_OFF}),
        ("setup", 22, gpio.OUT, {"initial": gpio.HIGH}),  # active low, off: high
        ("setup", 23, gpio.OUT, {"initial": gpio.HIGH}),
    ]
    gpio.calls.clear()
    k1 = bank.output("k1")
    k1.set(True)
    assert gpio.calls == [("output", 22, gpio.LOW)] and k1.get() is True
    k1.set(False)
    assert gpio.calls[-1] == ("output", 22, gpio.HIGH) and k1.get() is False
    bank.output("k2").set(False)
    assert gpio.calls[-1] == ("output", 23, gpio.LOW)
    gpio.levels[27] = 1
    assert bank.read_inputs() == {"door": False, "trip": True, "spare": False}
    assert bank.input("trip").read() is True
    bank.close()
    assert gpio.calls[-1] == ("cleanup", [17, 27, 5, 22, 23])


def test_bad_lines(tmp_path: Path) -> None:
    models = model_file(tmp_path, PI4)
    with pytest.raises(GpioUnavailableError, match="BCM GPIO number 0..27"):
        RpiGpioBank([InputLine("door", "PIN11")], [], gpio=FakeRpiGpio(), model_paths=models)
    with pytest.raises(GpioUnavailableError, match="GPIO17 is already used by 'door'"):
        RpiGpioBank([InputLine("door", 17)], [OutputLine("k1", "GPIO17")], gpio=FakeRpiGpio(),
                    model_paths=models)


def test_edges_cross_from_the_callback_thread_with_call_soon_threadsafe(tmp_path: Path) -> None:
    gpio = FakeRpiGpio()
    clock = iter([100.25, 100.5])
    bank = RpiGpioBank([InputLine("door", 17, debounce=0.0049), InputLine("trip", 27)], [],
                       gpio=gpio, model_paths=model_file(tmp_path, PI4),
                       monotonic=lambda: next(clock))

    async def main() -> tuple[list[InputEdge], set[int]]:
        edges: list[InputEdge] = []
        threads: set[int] = set()
        loop_thread = threading.get_ident()
        got = asyncio.Event()

        def handler(edge: InputEdge) -> None:
            threads.add(threading.get_ident())
            edges.append(edge)
            if len(edges) == 2:
                got.set()

        bank.watch(handler)

        def rpi_gpio_thread() -> None:  # what RPi.GPIO's event thread does
            gpio.levels[17] = 1
            gpio.callbacks[17](17)
            gpio.levels[17] = 0
            gpio.callbacks[17](17)

        thread = threading.Thread(target=rpi_gpio_thread)
        thread.start()
        await asyncio.wait_for(got.wait(), 2)
        thread.join()
        bank.unwatch()
        assert threads == {loop_thread}
        return edges, threads

    edges, _ = asyncio.run(main())
    assert edges == [InputEdge("door", True, 100.25), InputEdge("door", False, 100.5)]
    assert ("add_event_detect", 17, gpio.BOTH, {"bouncetime": 5}) in gpio.calls
    assert ("add_event_detect", 27, gpio.BOTH, {}) in gpio.calls
    assert ("remove_event_detect", 17) in gpio.calls and ("remove_event_detect", 27) in gpio.calls


def test_imported_lazily_through_open_gpio(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    import hal.gpio_rpi as backend

    monkeypatch.setattr(backend, "MODEL_PATHS", tuple(model_file(tmp_path, PI4)))
    monkeypatch.setitem(sys.modules, "RPi", types.ModuleType("RPi"))
    monkeypatch.setitem(sys.modules, "RPi.GPIO", None)
    with pytest.raises(GpioUnavailableError, match="needs the Python package RPi.GPIO"):
        open_gpio("rpi", [InputLine("door", 17)], [])
    fake = FakeRpiGpio()
    monkeypatch.setitem(sys.modules, "RPi.GPIO", fake)
    bank = open_gpio("rpi", [InputLine("door", 17)], [])
    assert ("setup", 17, fake.IN, {"pull_up_down": fake.PUD_OFF}) in fake.calls
    bank.close()


def test_edge_detection_refused_by_the_kernel_points_to_gpiod(tmp_path: Path) -> None:
    """RPi.GPIO 0.7.1 on kernel 6.6+: add_event_detect raises RuntimeError; the lines already
    watched are released and the error says which backend works."""
    gpio = FakeRpiGpio()
    real_add = gpio.add_event_detect

    def add_event_detect(channel: int, edge: int, **kw: Any) -> None:
        if channel == 27:
            raise RuntimeError("Failed to add edge detection")
        real_add(channel, edge, **kw)

    gpio.add_event_detect = add_event_detect  # type: ignore[method-assign]
    bank = RpiGpioBank([InputLine("door", 17), InputLine("trip", 27)], [],
                       gpio=gpio, model_paths=model_file(tmp_path, PI4))

    async def main() -> None:
        with pytest.raises(GpioUnavailableError) as err:
            bank.watch(lambda edge: None)
        text = str(err.value)
        assert text.startswith("trip: RPi.GPIO cannot watch GPIO27 for edges "
                               "(Failed to add edge detection)")
        assert 'backend = "gpiod"' in text and "kernels 6.6" in text

    asyncio.run(main())
    assert ("remove_event_detect", 17) in gpio.calls  # the first line is not left watched
    assert gpio.callbacks == {}
    assert bank.read_inputs() == {"door": False, "trip": False}  # the bank still reads levels
