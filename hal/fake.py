"""In-memory drivers for tests and the bench profile: no hardware, fully deterministic."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from hal.interfaces import DigitalInput, EdgeHandler, InputEdge


class FakeDigitalInput:
    def __init__(self, name: str, value: bool = False) -> None:
        self.name = name
        self.value = value

    def read(self) -> bool:
        return self.value


class FakeRelay:
    """A relay that remembers its state and every operation (for tests)."""

    def __init__(self, name: str, initial: bool = False,
                 on_change: Callable[[str, bool], None] | None = None) -> None:
        self.name = name
        self.state = initial
        self.operations: list[bool] = []
        self.on_change = on_change
        self.fail = False  # tests: make the next set() raise, like a driver error

    def set(self, on: bool) -> None:
        if self.fail:
            raise OSError(f"{self.name}: simulated driver failure")
        self.operations.append(on)
        self.state = on
        if self.on_change is not None:
            self.on_change(self.name, on)

    def get(self) -> bool:
        return self.state


class FakeAnalogInput:
    def __init__(self, name: str, value: float = 0.0) -> None:
        self.name = name
        self.value = value

    def read(self) -> float:
        return self.value


class FakeGpio:
    """An in-memory GPIO bank (the ``sim`` backend, and tests): inputs a test drives, outputs
    that are FakeRelays. ``drive`` changes an input and reports the edge like a kernel would;
    ``set_level`` changes it silently (a lost edge)."""

    def __init__(self, inputs: Iterable[str] = (),
                 outputs: Iterable[tuple[str, bool]] = ()) -> None:
        self.levels: dict[str, bool] = {name: False for name in inputs}
        self.relays: dict[str, FakeRelay] = {name: FakeRelay(name, initial)
                                            for name, initial in outputs}
        self.handler: EdgeHandler | None = None
        self.fail = False  # tests: make read_inputs() raise, like a driver error
        self.closed = False

    def read_inputs(self) -> dict[str, bool]:
        if self.fail:
            raise OSError("simulated GPIO read failure")
        return dict(self.levels)

    def watch(self, handler: EdgeHandler) -> None:
        self.handler = handler

    def unwatch(self) -> None:
        self.handler = None

    def drive(self, name: str, level: bool, timestamp: float | None = None) -> None:
        """Set an input and report the edge (at ``timestamp``, default now) if it changed."""
        if self.levels[name] == level:
            return
        self.levels[name] = level
        if self.handler is not None:
            stamp = time.monotonic() if timestamp is None else timestamp
            self.handler(InputEdge(name, level, stamp))

    def set_level(self, name: str, level: bool) -> None:
        """Set an input without reporting an edge."""
        self.levels[name] = level

    def input(self, name: str) -> DigitalInput:
        if name not in self.levels:
            raise KeyError(name)
        return _FakeGpioInput(self, name)

    def output(self, name: str) -> FakeRelay:
        return self.relays[name]

    def close(self) -> None:
        self.unwatch()
        self.closed = True


class _FakeGpioInput:
    def __init__(self, bank: FakeGpio, name: str) -> None:
        self.bank = bank
        self.name = name

    def read(self) -> bool:
        return self.bank.read_inputs()[self.name]


class FakePwm:
    """A PWM channel that remembers every duty cycle (the ``sim`` driver, and tests)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.duties: list[float] = []
        self.fail = False  # tests: make the next set_duty() raise, like a driver error

    def set_duty(self, duty: float) -> None:
        if self.fail:
            raise OSError(f"{self.name}: simulated driver failure")
        if not 0.0 <= duty <= 1.0:
            raise ValueError(f"duty cycle must be 0..1, got {duty!r}")
        self.duties.append(duty)

    def close(self) -> None:
        pass


class FakeDac:
    """A DAC channel that remembers every code written."""

    def __init__(self, name: str, bits: int = 12) -> None:
        self.name = name
        self.bits = bits
        self.codes: list[int] = []
        self.fail = False

    def set_code(self, code: int) -> None:
        if self.fail:
            raise OSError(f"{self.name}: simulated driver failure")
        if not 0 <= code < 1 << self.bits:
            raise ValueError(f"code must be 0..{(1 << self.bits) - 1}, got {code!r}")
        self.codes.append(code)

    def close(self) -> None:
        pass
