"""The small interfaces every hardware driver implements. Calls may block: callers use to_thread."""

from __future__ import annotations

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
