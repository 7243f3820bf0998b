"""GPIO banks: the digital inputs and relay outputs of a board, behind one small interface.

A bank is opened once with every line it will use (:func:`open_gpio`) and then offers

* :class:`~hal.interfaces.EdgeInputs` for the inputs (levels, and edges with the time the
  hardware saw them, delivered on the event loop),
* :meth:`GpioBank.input` / :meth:`GpioBank.output`: one :class:`~hal.interfaces.DigitalInput` /
  :class:`~hal.interfaces.RelayOutput` per line, for relays and their feedback inputs.

Backends (chosen in the configuration, imported only when used):

``gpiod``  libgpiod v2 through the ``gpiod`` package (:mod:`hal.gpio_gpiod`): any Linux board,
           including the Raspberry Pi 5. Lines are found by name; edge events carry kernel
           timestamps and are read on the event loop; optional kernel debounce.
``rpi``    RPi.GPIO (:mod:`hal.gpio_rpi`): Raspberry Pi 4 and older only.
``sim``    in-memory lines (:class:`hal.fake.FakeGpio`): no hardware.

Levels are physical (True = high) on inputs; inversion is the sources' business. Outputs are
logical (True = energised): an active-low output is driven low when on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hal.interfaces import DigitalInput, EdgeInputs, RelayOutput

BACKENDS: Final = ("gpiod", "rpi", "sim")
BIASES: Final = ("as_is", "disabled", "pull_up", "pull_down")
_GPIO_NAME: Final = re.compile(r"GPIO([0-9]{1,2})")


class GpioUnavailableError(OSError):
    """The backend cannot work on this machine; the message says why and what to do instead."""


@dataclass(frozen=True, slots=True)
class InputLine:
    name: str  # what sources call the input
    line: str | int  # gpiod: line name ("GPIO17") or offset on the chip; rpi: BCM number
    bias: str = "as_is"  # as_is | disabled | pull_up | pull_down
    debounce: float = 0.0  # seconds of debounce done by the driver (gpiod: kernel), 0 = none


@dataclass(frozen=True, slots=True)
class OutputLine:
    name: str
    line: str | int
    active_low: bool = False  # True: the relay is energised by driving the line low
    initial: bool = False  # logical state driven when the bank is opened


class GpioBank(EdgeInputs, Protocol):
    def input(self, name: str) -> DigitalInput:
        """The input ``name`` as a DigitalInput (physical level)."""
        ...

    def output(self, name: str) -> RelayOutput:
        """The output ``name`` as a RelayOutput (logical state: True = energised)."""
        ...

    def close(self) -> None:
        """Stop watching and give the lines back to the system."""
        ...


class LineInput:
    """A DigitalInput reading one line of a bank."""

    def __init__(self, name: str, read: Callable[[], bool]) -> None:
        self.name = name
        self._read = read

    def read(self) -> bool:
        return self._read()


class LineOutput:
    """A RelayOutput driving one line of a bank."""

    def __init__(self, name: str, set_fn: Callable[[bool], None],
                 get_fn: Callable[[], bool]) -> None:
        self.name = name
        self._set = set_fn
        self._get = get_fn

    def set(self, on: bool) -> None:
        self._set(on)

    def get(self) -> bool:
        return self._get()


def bcm_number(line: str | int) -> int | None:
    """The BCM number of ``17`` or ``"GPIO17"``; None for anything else."""
    if isinstance(line, int) and not isinstance(line, bool):
        return line if line >= 0 else None
    if isinstance(line, str):
        match = _GPIO_NAME.fullmatch(line)
        if match:
            return int(match.group(1))
    return None


def open_gpio(backend: str, inputs: Sequence[InputLine], outputs: Sequence[OutputLine], *,
              chip: str = "", module: Any = None) -> GpioBank:
    """Open ``backend`` with these lines; :class:`GpioUnavailableError` says why it cannot.

    ``module`` replaces the imported library (``gpiod`` / ``RPi.GPIO``) in tests.
    """
    if backend == "gpiod":
        from hal.gpio_gpiod import GpiodBank

        return GpiodBank(inputs, outputs, chip=chip, gpiod=module)
    if backend == "rpi":
        from hal.gpio_rpi import RpiGpioBank

        return RpiGpioBank(inputs, outputs, gpio=module)
    if backend == "sim":
        from hal.fake import FakeGpio

        return FakeGpio([i.name for i in inputs], [(o.name, o.initial) for o in outputs])
    raise ValueError(f"unknown GPIO backend {backend!r}; expected one of {', '.join(BACKENDS)}")
