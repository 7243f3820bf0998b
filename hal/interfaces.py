"""The small interfaces every hardware driver implements. Calls may block: callers use to_thread."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class DigitalInput(Protocol):
    name: str

    def read(self) -> bool:
        """The current level of the input (True = active)."""
        ...


class RelayOutput(Protocol):
    name: str

    def set(self, on: bool) -> None:
        """Energise (True) or release (False) the relay."""
        ...

    def get(self) -> bool:
        """The commanded (or, where wired, read-back) state."""
        ...


class AnalogInput(Protocol):
    name: str

    def read(self) -> float:
        """The current value in the driver's unit (volts, raw counts, ...)."""
        ...


@dataclass(frozen=True, slots=True)
class InputEdge:
    """A level change of a digital input, as the hardware (kernel) saw it."""

    name: str  # the input's name
    level: bool  # the physical level after the edge: True = high
    timestamp: float  # seconds on the monotonic clock (CLOCK_MONOTONIC = time.monotonic())


EdgeHandler = Callable[[InputEdge], None]


class EdgeInputs(Protocol):
    """Digital inputs that report their edges, with the time each happened."""

    def read_inputs(self) -> dict[str, bool]:
        """The physical level (True = high) of every input, by name. May block."""
        ...

    def watch(self, handler: EdgeHandler) -> None:
        """Call ``handler`` for every edge, on the thread of the running event loop (call this
        from that loop) until :meth:`unwatch`."""
        ...

    def unwatch(self) -> None:
        """Stop reporting edges (nothing happens when not watching)."""
        ...


class PwmOutput(Protocol):
    """A PWM channel: an analogue output through a filter or a PWM-controlled driver."""

    name: str

    def set_duty(self, duty: float) -> None:
        """Drive the channel (enabled) at ``duty``, a fraction 0..1 of its period."""
        ...

    def close(self) -> None:
        """Release the channel (it keeps its last duty cycle; nothing happens if never used)."""
        ...


class DacOutput(Protocol):
    """A digital-to-analogue converter channel taking codes 0 .. 2**bits - 1."""

    name: str
    bits: int  # resolution

    def set_code(self, code: int) -> None:
        """Output ``code`` (0 .. 2**bits - 1)."""
        ...

    def close(self) -> None:
        """Release the bus (the converter keeps its output)."""
        ...
