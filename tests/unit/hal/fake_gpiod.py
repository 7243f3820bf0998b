"""A stand-in for the ``gpiod`` package (libgpiod v2 Python bindings) at its API boundary.

It mirrors the names and signatures the backend uses (``gpiod.Chip``, ``Chip.get_info``,
``Chip.line_offset_from_id``, ``Chip.request_lines(config=, consumer=)``, ``gpiod.LineSettings``
with the same fields and defaults, ``gpiod.line.{Direction, Bias, Drive, Edge, Clock, Value}``,
``gpiod.EdgeEvent`` and its ``Type``, ``LineRequest.{fd, get_value, get_values, set_value,
read_edge_events, release}``) as in gpiod 2.5.0, and records every call so tests can check them.

A request's ``fd`` is the read end of a pipe: ``inject_edge`` queues an EdgeEvent and writes a
byte, so the event loop sees the request readable exactly as with a real line request.
"""

import errno
import os
import threading
import time
import types
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Self


class Direction(Enum):
    AS_IS = 1
    INPUT = 2
    OUTPUT = 3


class Bias(Enum):
    AS_IS = 1
    UNKNOWN = 2
    DISABLED = 3
    PULL_UP = 4
    PULL_DOWN = 5


class Drive(Enum):
    PUSH_PULL = 1
    OPEN_DRAIN = 2
    OPEN_SOURCE = 3


class Edge(Enum):
    NONE = 1
    RISING = 2
    FALLING = 3
    BOTH = 4


class Clock(Enum):
    MONOTONIC = 1
    REALTIME = 2
    HTE = 3


class Value(Enum):
    INACTIVE = 0
    ACTIVE = 1

    def __bool__(self) -> bool:
        return self == Value.ACTIVE


@dataclass(repr=False)
class LineSettings:
    direction: Direction = Direction.AS_IS
    edge_detection: Edge = Edge.NONE
    bias: Bias = Bias.AS_IS
    drive: Drive = Drive.PUSH_PULL
    active_low: bool = False
    debounce_period: timedelta = timedelta()
    event_clock: Clock = Clock.MONOTONIC
    output_value: Value = Value.INACTIVE


@dataclass(frozen=True)
class ChipInfo:
    name: str
    label: str
    num_lines: int


class EdgeEvent:
    class Type(Enum):
        RISING_EDGE = 1
        FALLING_EDGE = 2

    def __init__(self, event_type: "EdgeEvent.Type", timestamp_ns: int, line_offset: int,
                 global_seqno: int, line_seqno: int) -> None:
        self.event_type = event_type
        self.timestamp_ns = timestamp_ns
        self.line_offset = line_offset
        self.global_seqno = global_seqno
        self.line_seqno = line_seqno


@dataclass
class FakeChipSpec:
    label: str
    lines: list[str]  # line names by offset ("" = unnamed)


class FakeLineRequest:
    def __init__(self, module: "FakeGpiod", path: str, config: dict[int, LineSettings],
                 consumer: str | None) -> None:
        self.module = module
        self.path = path
        self.config = config
        self.consumer = consumer
        self.released = False
        self.levels: dict[int, bool] = {}  # physical levels
        for offset, settings in config.items():
            if settings.direction is Direction.OUTPUT:
                self.levels[offset] = bool(settings.output_value) != settings.active_low
            else:
                self.levels[offset] = False
        self.writes: list[tuple[int, Value]] = []
        self.wiring: dict[int, int] = {}  # output offset -> input offset it drives
        self._events: list[EdgeEvent] = []
        self._lock = threading.Lock()
        self._seqno = 0
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)

    # -- the gpiod.LineRequest API -------------------------------------------------------------
    @property
    def fd(self) -> int:
        return self._read_fd

    def fileno(self) -> int:
        return self._read_fd

    def get_value(self, line: int) -> Value:
        return self.get_values([line])[0]

    def get_values(self, lines: list[int] | None = None) -> list[Value]:
        self._check()
        self.module.calls.append(("get_values", self.path, list(lines or self.config)))
        out = []
        for offset in lines or list(self.config):
            logical = self.levels[offset] != self.config[offset].active_low
            out.append(Value.ACTIVE if logical else Value.INACTIVE)
        return out

    def set_value(self, line: int, value: Value) -> None:
        self.set_values({line: value})

    def set_values(self, values: dict[int, Value]) -> None:
        self._check()
        for offset, value in values.items():
            if self.config[offset].direction is not Direction.OUTPUT:
                raise OSError(errno.EPERM, "line is not an output")
            self.writes.append((offset, value))
            self.levels[offset] = bool(value) != self.config[offset].active_low
            target = self.wiring.get(offset)
            if target is not None:
                self.module.request_for(target, self.path).inject_edge(target, bool(value))

    def read_edge_events(self, max_events: int | None = None) -> list[EdgeEvent]:
        self._check()
        try:
            while os.read(self._read_fd, 64):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            events, self._events = self._events, []
        return events

    def release(self) -> None:
        if not self.released:
            self.released = True
            os.close(self._read_fd)
            os.close(self._write_fd)

    # -- for tests -----------------------------------------------------------------------------
    def inject_edge(self, offset: int, level: bool, timestamp_ns: int | None = None) -> None:
        """The physical line ``offset`` went to ``level``: queue the kernel's edge event."""
        with self._lock:
            self.levels[offset] = level
            self._seqno += 1
            kind = EdgeEvent.Type.RISING_EDGE if level else EdgeEvent.Type.FALLING_EDGE
            stamp = time.monotonic_ns() if timestamp_ns is None else timestamp_ns
            self._events.append(EdgeEvent(kind, stamp, offset, self._seqno, self._seqno))
        os.write(self._write_fd, b"e")

    def set_level(self, offset: int, level: bool) -> None:
        """Change a line without an edge event (a lost edge)."""
        self.levels[offset] = level

    def _check(self) -> None:
        if self.released:
            raise RuntimeError("line request has been released")


class FakeChip:
    def __init__(self, module: "FakeGpiod", path: str) -> None:
        spec = module.chips.get(path)
        if spec is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if path in module.forbidden:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        self.module = module
        self.path = path
        self.spec = spec
        self.closed = False
        module.opened.append(path)

    def get_info(self) -> ChipInfo:
        return ChipInfo(os.path.basename(self.path), self.spec.label, len(self.spec.lines))

    def line_offset_from_id(self, id: str | int) -> int:
        if isinstance(id, int):
            return id
        if id in self.spec.lines:
            return self.spec.lines.index(id)
        raise OSError(errno.ENOENT, "No such file or directory")

    def request_lines(self, config: dict[Any, LineSettings | None], consumer: str | None = None,
                      event_buffer_size: int | None = None,
                      output_values: dict[Any, Value] | None = None) -> FakeLineRequest:
        offsets: dict[int, LineSettings] = {}
        for key, settings in config.items():
            offset = self.line_offset_from_id(key)
            if offset in offsets:
                raise ValueError(f"line must be configured exactly once - offset {offset} repeats")
            offsets[offset] = settings or LineSettings()
        if set(offsets) & self.module.busy.get(self.path, set()):
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.module.calls.append(("request_lines", self.path, dict(offsets), consumer))
        request = FakeLineRequest(self.module, self.path, offsets, consumer)
        self.module.requests.append(request)
        return request

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeGpiod(types.ModuleType):
    """``FakeGpiod({"/dev/gpiochip0": FakeChipSpec("pinctrl-rp1", ["ID_SDA", ...])})``."""

    def __init__(self, chips: dict[str, FakeChipSpec]) -> None:
        super().__init__("gpiod")
        self.__version__ = "2.5.0"
        self.chips = chips
        self.forbidden: set[str] = set()  # chips that raise PermissionError
        self.busy: dict[str, set[int]] = {}  # offsets already requested by another program
        self.calls: list[tuple[Any, ...]] = []
        self.opened: list[str] = []
        self.requests: list[FakeLineRequest] = []
        module = self

        class Chip(FakeChip):
            def __init__(self, path: str) -> None:
                super().__init__(module, path)

        self.Chip = Chip
        self.LineSettings = LineSettings
        self.EdgeEvent = EdgeEvent
        self.ChipInfo = ChipInfo
        self.line = types.SimpleNamespace(Direction=Direction, Bias=Bias, Drive=Drive, Edge=Edge,
                                          Clock=Clock, Value=Value)

    def request_lines(self, path: str, config: dict[Any, LineSettings | None],
                      consumer: str | None = None, **kwargs: Any) -> FakeLineRequest:
        with self.Chip(path) as chip:
            return chip.request_lines(config=config, consumer=consumer, **kwargs)

    def is_gpiochip_device(self, path: str) -> bool:
        return path in self.chips

    def request_for(self, offset: int, path: str | None = None) -> FakeLineRequest:
        """The live request holding ``offset`` (on ``path``)."""
        for request in self.requests:
            if not request.released and offset in request.config \
                    and (path is None or request.path == path):
                return request
        raise KeyError(offset)


def pi5_lines() -> list[str]:
    """The first 28 line names of a Raspberry Pi 5's pinctrl-rp1 (header GPIO0..GPIO27)."""
    names = ["ID_SDA", "ID_SCL"] + [f"GPIO{i}" for i in range(2, 28)]
    return names + [f"PIN{i}" for i in range(28, 54)]


def pi5_gpiod(path: str = "/dev/gpiochip0") -> FakeGpiod:
    return FakeGpiod({path: FakeChipSpec("pinctrl-rp1", pi5_lines())})


__all__ = ["FakeChipSpec", "FakeGpiod", "FakeLineRequest", "pi5_gpiod", "pi5_lines"]
