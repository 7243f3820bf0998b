"""The RPi.GPIO backend, for the Raspberry Pi 4 and older.

RPi.GPIO drives the BCM283x GPIO block through /dev/gpiomem; the Raspberry Pi 5 has its GPIO
on the RP1 chip, which RPi.GPIO does not know, so opening this backend there says to use
``gpiod`` instead. Lines are BCM numbers (17 or "GPIO17").

RPi.GPIO calls edge callbacks on its own thread with the channel only: the callback stamps the
time, reads the level and hands the edge to the event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, Final

from hal.gpio_lines import (
    GpioUnavailableError,
    InputLine,
    LineInput,
    LineOutput,
    OutputLine,
    bcm_number,
)
from hal.interfaces import DigitalInput, EdgeHandler, InputEdge, RelayOutput

log = logging.getLogger(__name__)

MODEL_PATHS: Final = (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model"))
# boards whose GPIO sits on the RP1 chip: RPi.GPIO cannot drive them
_RP1_MODEL: Final = re.compile(r"Raspberry Pi (5|500|Compute Module 5)\b")
_BCM_MAX: Final = 27


def board_model(paths: Sequence[Path] = MODEL_PATHS) -> str | None:
    """The device tree's model string ("Raspberry Pi 4 Model B Rev 1.4"), None if unknown."""
    for path in paths:
        try:
            return path.read_bytes().rstrip(b"\0\n").decode("utf-8", "replace")
        except OSError:
            continue
    return None


def check_board(paths: Sequence[Path] = MODEL_PATHS) -> str:
    """The model, or GpioUnavailableError when RPi.GPIO cannot work on this board."""
    model = board_model(paths)
    if model is None:
        raise GpioUnavailableError(
            f"RPi.GPIO works on a Raspberry Pi only, and this machine has no device-tree model "
            f"({paths[0]}); use backend = \"gpiod\""
        )
    if _RP1_MODEL.search(model):
        raise GpioUnavailableError(
            f"RPi.GPIO does not support the Raspberry Pi 5 (this is a {model}); "
            'use backend = "gpiod"'
        )
    if "Raspberry Pi" not in model:
        raise GpioUnavailableError(
            f'RPi.GPIO works on a Raspberry Pi only, this is a {model}; use backend = "gpiod"'
        )
    return model


def import_rpi_gpio() -> Any:
    try:
        return importlib.import_module("RPi.GPIO")
    except ImportError:
        raise GpioUnavailableError(
            "the rpi GPIO backend needs the Python package RPi.GPIO: "
            "pip install 'rtu-outstation[pi]' (on the Raspberry Pi itself)"
        ) from None


class RpiGpioBank:
    def __init__(self, inputs: Sequence[InputLine], outputs: Sequence[OutputLine], *,
                 gpio: Any = None, model_paths: Sequence[Path] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        model = check_board(MODEL_PATHS if model_paths is None else model_paths)
        self._gpio = gpio if gpio is not None else import_rpi_gpio()
        self._monotonic = monotonic
        self._inputs: dict[str, InputLine] = {}
        self._pins: dict[str, int] = {}  # name -> BCM number
        self._names: dict[int, str] = {}  # BCM number -> name
        self._active_low: dict[str, bool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handler: EdgeHandler | None = None
        self._watched: list[int] = []
        specs: list[InputLine | OutputLine] = [*inputs, *outputs]
        for spec in specs:
            pin = bcm_number(spec.line)
            if pin is None or pin > _BCM_MAX:
                raise GpioUnavailableError(
                    f"{spec.name}: RPi.GPIO needs a BCM GPIO number 0..{_BCM_MAX} or 'GPIOn', "
                    f"got {spec.line!r}"
                )
            if pin in self._names:
                raise GpioUnavailableError(
                    f"{spec.name}: GPIO{pin} is already used by {self._names[pin]!r}"
                )
            self._pins[spec.name] = pin
            self._names[pin] = spec.name
        g = self._gpio
        pulls = {"as_is": g.PUD_OFF, "disabled": g.PUD_OFF, "pull_up": g.PUD_UP,
                 "pull_down": g.PUD_DOWN}
        g.setwarnings(False)
        g.setmode(g.BCM)
        try:
            for spec in inputs:
                g.setup(self._pins[spec.name], g.IN, pull_up_down=pulls[spec.bias])
                self._inputs[spec.name] = spec
            for out in outputs:
                self._active_low[out.name] = out.active_low
                level = g.HIGH if out.initial != out.active_low else g.LOW
                g.setup(self._pins[out.name], g.OUT, initial=level)
        except RuntimeError as exc:  # e.g. "No access to /dev/mem", "Not running on a RPi!"
            raise GpioUnavailableError(f"RPi.GPIO on {model}: {exc}") from None
        log.info("RPi.GPIO on %s: %d inputs, %d outputs", model, len(inputs), len(outputs))

    # -- EdgeInputs ----------------------------------------------------------------------------
    def read_inputs(self) -> dict[str, bool]:
        return {name: bool(self._gpio.input(self._pins[name])) for name in self._inputs}

    def watch(self, handler: EdgeHandler) -> None:
        self.unwatch()
        self._loop = asyncio.get_running_loop()
        self._handler = handler
        g = self._gpio
        for name, spec in self._inputs.items():
            pin = self._pins[name]
            if spec.debounce > 0:
                bouncetime = max(1, round(spec.debounce * 1000))
                g.add_event_detect(pin, g.BOTH, callback=self._on_edge, bouncetime=bouncetime)
            else:
                g.add_event_detect(pin, g.BOTH, callback=self._on_edge)
            self._watched.append(pin)

    def unwatch(self) -> None:
        for pin in self._watched:
            self._gpio.remove_event_detect(pin)
        self._watched.clear()
        self._handler = None
        self._loop = None

    def _on_edge(self, channel: int) -> None:
        """RPi.GPIO's callback, on RPi.GPIO's thread: stamp, read, hand over to the loop."""
        stamp = self._monotonic()
        loop, handler = self._loop, self._handler
        name = self._names.get(channel)
        if loop is None or handler is None or name is None:
            return
        level = bool(self._gpio.input(channel))
        with suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(handler, InputEdge(name, level, stamp))

    # -- lines -------------------------------------------------------------------------------
    def input(self, name: str) -> DigitalInput:
        pin = self._pins[name]
        return LineInput(name, lambda: bool(self._gpio.input(pin)))

    def output(self, name: str) -> RelayOutput:
        pin, active_low = self._pins[name], self._active_low[name]
        g = self._gpio

        def set_fn(on: bool) -> None:
            g.output(pin, g.HIGH if on != active_low else g.LOW)

        def get_fn() -> bool:
            return bool(g.input(pin)) != active_low

        return LineOutput(name, set_fn, get_fn)

    def close(self) -> None:
        self.unwatch()
        pins = list(self._pins.values())
        if pins:
            self._gpio.cleanup(pins)
        self._pins.clear()
