"""The libgpiod v2 GPIO backend (Python package ``gpiod`` >= 2), for any Linux board.

Lines are found by name (``"GPIO17"`` on a Raspberry Pi, whatever ``gpioinfo`` lists
elsewhere) on the configured chip or, without one, on every ``/dev/gpiochip*``; an integer is
an offset on the configured chip. All lines of a chip are requested at once: inputs with edge
detection on both edges, time-stamped on CLOCK_MONOTONIC by the kernel and optionally debounced
by it; outputs with the kernel doing the active-low inversion.

Edge events are read on the event loop (``loop.add_reader`` on the request's file descriptor;
reading a readable request does not block). Levels and outputs are read and set by the callers
through ``asyncio.to_thread``; a lock keeps the request objects to one thread at a time, as
libgpiod requires.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hal.gpio_lines import GpioUnavailableError, InputLine, LineInput, LineOutput, OutputLine
from hal.interfaces import DigitalInput, EdgeHandler, InputEdge, RelayOutput

log = logging.getLogger(__name__)

CONSUMER = "rtu"
_CHIP_NAME = re.compile(r"gpiochip[0-9]+")
_NS_PER_S = 1e9


def import_gpiod() -> Any:
    """The ``gpiod`` module, checked to be the v2 API."""
    try:
        module = importlib.import_module("gpiod")
    except ImportError:
        raise GpioUnavailableError(
            "the gpiod GPIO backend needs the Python package gpiod >= 2 (libgpiod v2 "
            "bindings): pip install 'rtu-outstation[pi]'"
        ) from None
    if not hasattr(module, "LineSettings") or not hasattr(module, "request_lines"):
        version = getattr(module, "__version__", "1.x")
        raise GpioUnavailableError(
            f"gpiod {version} is the old libgpiod v1 API (Debian's python3-libgpiod); the gpiod "
            "backend needs gpiod >= 2: pip install 'rtu-outstation[pi]'"
        )
    return module


@dataclass(slots=True)
class _Request:
    """One line request on one chip, and the names of its lines."""

    path: str
    request: Any
    names: dict[int, str] = field(default_factory=dict)  # offset -> name
    inputs: list[int] = field(default_factory=list)  # offsets of inputs, in order


class GpiodBank:
    def __init__(self, inputs: Sequence[InputLine], outputs: Sequence[OutputLine], *,
                 chip: str = "", gpiod: Any = None, dev: Path = Path("/dev"),
                 consumer: str = CONSUMER) -> None:
        self._gpiod = gpiod if gpiod is not None else import_gpiod()
        self._dev = dev
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watched: list[int] = []
        self._requests: list[_Request] = []
        self._inputs: dict[str, tuple[_Request, int]] = {}
        self._outputs: dict[str, tuple[_Request, int]] = {}
        line = self._gpiod.line
        self._active = line.Value.ACTIVE
        self._inactive = line.Value.INACTIVE
        self._rising = self._gpiod.EdgeEvent.Type.RISING_EDGE
        chips = self._open_chips(chip)
        try:
            self._request_all(chips, inputs, outputs, consumer, explicit_chip=bool(chip))
        finally:
            for _, handle in chips:
                handle.close()

    # -- opening -----------------------------------------------------------------------------
    def _chip_paths(self, chip: str) -> list[str]:
        if chip.startswith("/"):
            return [chip]
        if _CHIP_NAME.fullmatch(chip):
            return [str(self._dev / chip)]
        found = sorted(self._dev.glob("gpiochip*"),
                       key=lambda p: int(p.name[8:]) if p.name[8:].isdigit() else 1 << 30)
        if not found:
            raise GpioUnavailableError(
                f"no GPIO chip on this machine (no {self._dev}/gpiochip*): the gpiod backend "
                'needs a board with GPIO lines; backend = "sim" runs without hardware'
            )
        return [str(p) for p in found]

    def _open_chip(self, path: str) -> Any:
        try:
            return self._gpiod.Chip(path)
        except FileNotFoundError:
            raise GpioUnavailableError(
                f"no GPIO chip {path} on this machine (see `ls /dev/gpiochip*` and `gpiodetect`)"
            ) from None
        except PermissionError:
            raise GpioUnavailableError(
                f"cannot open {path}: permission denied (add the user to the 'gpio' group)"
            ) from None
        except OSError as exc:
            raise GpioUnavailableError(f"cannot open {path}: {exc.strerror or exc}") from None

    def _open_chips(self, chip: str) -> list[tuple[str, Any]]:
        """(path, Chip) of the chips to search, in order; by label if ``chip`` is a label."""
        label = chip if chip and not chip.startswith("/") and not _CHIP_NAME.fullmatch(chip) \
            else ""
        chips: list[tuple[str, Any]] = []
        try:
            for path in self._chip_paths(chip):
                handle = self._open_chip(path)
                if label and handle.get_info().label != label:
                    handle.close()
                    continue
                chips.append((path, handle))
        except BaseException:
            for _, handle in chips:
                handle.close()
            raise
        if label and not chips:
            raise GpioUnavailableError(
                f"no GPIO chip labelled {label!r} (`gpiodetect` lists the chips and labels)"
            )
        return chips

    def _locate(self, chips: list[tuple[str, Any]], line: str | int, what: str,
                explicit_chip: bool) -> tuple[str, int]:
        if isinstance(line, int):
            if not explicit_chip or len(chips) != 1:
                raise GpioUnavailableError(
                    f"{what}: line offset {line} needs a chip (gpio.chip); or give the line name"
                )
            path, handle = chips[0]
            lines = handle.get_info().num_lines
            if not 0 <= line < lines:
                raise GpioUnavailableError(
                    f"{what}: line offset {line} is not on {path} (it has {lines} lines)"
                )
            return path, line
        for path, handle in chips:
            try:
                return path, int(handle.line_offset_from_id(line))
            except (OSError, ValueError) as exc:
                if isinstance(exc, OSError) and exc.errno not in (errno.ENOENT, None):
                    raise GpioUnavailableError(f"{path}: {exc.strerror or exc}") from None
        searched = ", ".join(f"{path} [{handle.get_info().label}]" for path, handle in chips)
        raise GpioUnavailableError(
            f"{what}: no GPIO line named {line!r} on {searched} (`gpioinfo` lists the line names)"
        )

    def _request_all(self, chips: list[tuple[str, Any]], inputs: Sequence[InputLine],
                     outputs: Sequence[OutputLine], consumer: str, explicit_chip: bool) -> None:
        line = self._gpiod.line
        biases = {"as_is": line.Bias.AS_IS, "disabled": line.Bias.DISABLED,
                  "pull_up": line.Bias.PULL_UP, "pull_down": line.Bias.PULL_DOWN}
        per_chip: dict[str, dict[int, Any]] = {}
        names: dict[str, dict[int, str]] = {}
        order: dict[str, list[int]] = {}
        placed: list[tuple[str, str, int, bool]] = []  # name, path, offset, is_input

        def place(name: str, where: str | int, what: str, settings: Any, is_input: bool) -> None:
            path, offset = self._locate(chips, where, what, explicit_chip)
            config = per_chip.setdefault(path, {})
            if offset in config:
                raise GpioUnavailableError(
                    f"{what}: line {where!r} ({path} offset {offset}) is already used by "
                    f"{names[path][offset]!r}"
                )
            config[offset] = settings
            names.setdefault(path, {})[offset] = name
            if is_input:
                order.setdefault(path, []).append(offset)
            placed.append((name, path, offset, is_input))

        for spec in inputs:
            settings = self._gpiod.LineSettings(
                direction=line.Direction.INPUT,
                edge_detection=line.Edge.BOTH,
                bias=biases[spec.bias],
                debounce_period=timedelta(seconds=spec.debounce),
                event_clock=line.Clock.MONOTONIC,
            )
            place(spec.name, spec.line, f"input {spec.name!r}", settings, True)
        for out in outputs:
            settings = self._gpiod.LineSettings(
                direction=line.Direction.OUTPUT,
                active_low=out.active_low,
                output_value=self._active if out.initial else self._inactive,
            )
            place(out.name, out.line, f"output {out.name!r}", settings, False)

        handles = dict(chips)
        by_path: dict[str, _Request] = {}
        try:
            for path, config in per_chip.items():
                try:
                    request = handles[path].request_lines(config=config, consumer=consumer)
                except OSError as exc:
                    busy = " (used by another program: see `gpioinfo`)" \
                        if exc.errno == errno.EBUSY else ""
                    lines = ", ".join(names[path][o] for o in config)
                    raise GpioUnavailableError(
                        f"cannot request GPIO lines {lines} on {path}: "
                        f"{exc.strerror or exc}{busy}"
                    ) from None
                by_path[path] = _Request(path, request, names[path], order.get(path, []))
                self._requests.append(by_path[path])
        except BaseException:
            self.close()
            raise
        for name, path, offset, is_input in placed:
            (self._inputs if is_input else self._outputs)[name] = (by_path[path], offset)
        log.info("gpiod: %d inputs and %d outputs on %s", len(self._inputs), len(self._outputs),
                 ", ".join(by_path) or "no chip")

    # -- EdgeInputs ----------------------------------------------------------------------------
    def read_inputs(self) -> dict[str, bool]:
        levels: dict[str, bool] = {}
        with self._lock:
            for req in self._requests:
                if req.inputs:
                    values = req.request.get_values(req.inputs)
                    for offset, value in zip(req.inputs, values, strict=True):
                        levels[req.names[offset]] = value == self._active
        return levels

    def watch(self, handler: EdgeHandler) -> None:
        self.unwatch()
        loop = asyncio.get_running_loop()
        self._loop = loop
        for req in self._requests:
            if req.inputs:
                fd = int(req.request.fd)
                loop.add_reader(fd, self._drain, req, handler, fd)
                self._watched.append(fd)

    def unwatch(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            for fd in self._watched:
                self._loop.remove_reader(fd)
        self._watched.clear()
        self._loop = None

    def _drain(self, req: _Request, handler: EdgeHandler, fd: int) -> None:
        """The request's fd is readable: read its edge events (does not block) and report."""
        try:
            with self._lock:
                events = req.request.read_edge_events()
        except OSError as exc:
            # the periodic re-read of the sources still catches changes, as lost edges
            log.error("gpiod: reading edge events on %s failed, edges no longer watched: %s",
                      req.path, exc)
            if self._loop is not None:
                self._loop.remove_reader(fd)
            return
        for event in events:
            name = req.names.get(event.line_offset)
            if name is None or event.line_offset not in req.inputs:
                continue
            rising = event.event_type == self._rising
            handler(InputEdge(name, rising, event.timestamp_ns / _NS_PER_S))

    # -- lines -------------------------------------------------------------------------------
    def input(self, name: str) -> DigitalInput:
        req, offset = self._inputs[name]
        return LineInput(name, lambda: self._get(req, offset))

    def output(self, name: str) -> RelayOutput:
        req, offset = self._outputs[name]
        return LineOutput(name, lambda on: self._set(req, offset, on),
                          lambda: self._get(req, offset))

    def _get(self, req: _Request, offset: int) -> bool:
        with self._lock:
            return bool(req.request.get_value(offset) == self._active)

    def _set(self, req: _Request, offset: int, on: bool) -> None:
        with self._lock:
            req.request.set_value(offset, self._active if on else self._inactive)

    def close(self) -> None:
        self.unwatch()
        for req in self._requests:
            try:
                req.request.release()
            except OSError as exc:  # closing anyway
                log.warning("gpiod: releasing lines on %s: %s", req.path, exc)
        self._requests.clear()
