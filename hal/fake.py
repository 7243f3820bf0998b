"""In-memory drivers for tests and the bench profile: no hardware, fully deterministic."""

from __future__ import annotations

from collections.abc import Callable


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
