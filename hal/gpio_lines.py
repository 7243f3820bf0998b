"""The lines of a GPIO bank and the bank's interface, shared by :mod:`hal.gpio` (which opens a
bank) and its backends (:mod:`hal.gpio_gpiod`, :mod:`hal.gpio_rpi`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

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
