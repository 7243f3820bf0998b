"""Set-points to the board's analogue outputs: scale, check, write, then terminate.

A set-point whose point an ``[[analog_outputs.channels]]`` entry names is taken here; every
other command goes on down the command path (:class:`~rtu.points.commands.ForwardingExecutor`).

* At select and at execute (:meth:`AnalogOutputs.refusal`, before the ACT_CON): a value that is
  not a finite number, or outside the channel's ``range`` with ``out_of_range = "refuse"``, is
  refused (negative ACT_CON, a log line saying why). With ``"clamp"`` it is driven to the
  nearer end of the range instead.
* The execute: the value is mapped linearly from ``range`` onto ``output_range`` (fractions of
  full scale; ``invert`` swaps the ends) and written (a PWM duty cycle, or the DAC code
  ``round(fraction * (2**bits - 1))``) through ``asyncio.to_thread``; ACT_TERM follows the
  write, negative if the driver failed (logged with the channel's name). Writes to one channel
  are serialised.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from hal.interfaces import DacOutput, PwmOutput
from rtu.components import Field, Parts
from rtu.points.commands import CommandExecutor, CommandRequest, Done, ForwardingExecutor
from rtu.sources.aout.config import SECTION_NAME, AnalogOutputConfig, AnalogOutputsConfig

log = logging.getLogger(__name__)

__all__ = ["AnalogOutputs", "Channel", "OutOfRangeError", "build", "open_output"]


class OutOfRangeError(ValueError):
    """A set-point the channel refuses (outside its range, or not a number)."""


@dataclass(slots=True)
class Channel:
    """One analogue output: its settings, its driver and what was last written."""

    config: AnalogOutputConfig
    output: PwmOutput | DacOutput
    written: float | None = None  # the last engineering value written
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def fraction(self, value: float) -> float:
        """The fraction of full scale for ``value`` (OutOfRangeError if refused)."""
        c = self.config
        if not math.isfinite(value):
            raise OutOfRangeError(f"{value!r} is not a finite number")
        if not c.low <= value <= c.high:
            if c.out_of_range == "refuse":
                raise OutOfRangeError(f"{value:g} is outside the range {c.low:g}..{c.high:g}")
            value = min(max(value, c.low), c.high)
        share = (value - c.low) / (c.high - c.low)
        if c.invert:
            share = 1.0 - share
        return min(max(c.out_low + share * (c.out_high - c.out_low), 0.0), 1.0)

    def drive(self, fraction: float) -> str:
        """Write ``fraction`` of full scale (blocks); what was written, for the log."""
        output: Any = self.output
        if hasattr(output, "set_code"):  # a DacOutput (Protocols are structural)
            code = round(fraction * ((1 << int(output.bits)) - 1))
            output.set_code(code)
            return f"code {code}"
        output.set_duty(fraction)
        return f"duty cycle {fraction:.4f}"


class AnalogOutputs(ForwardingExecutor):
    """Executes the set-points of analogue output channels; other commands go to ``inner``."""

    def __init__(self, inner: CommandExecutor, channels: Mapping[str, Channel]) -> None:
        super().__init__(inner)
        self.channels = {c.config.command: c for c in channels.values()}
        self._tasks: set[asyncio.Task[None]] = set()

    def refusal(self, request: CommandRequest) -> str | None:
        channel = self.channels.get(request.point.name)
        if channel is None:
            return super().refusal(request)
        try:
            channel.fraction(float(request.value))
        except OutOfRangeError as exc:
            return f"analogue output {channel.config.name}: {exc}"
        return super().refusal(request)

    def execute(self, request: CommandRequest, done: Done) -> None:
        channel = self.channels.get(request.point.name)
        if channel is None:
            super().execute(request, done)
            return
        self._spawn(self._write(channel, request, done))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for channel in self.channels.values():
            try:
                channel.output.close()
            except OSError as exc:
                log.warning("analogue output %s: closing: %s", channel.config.name, exc)

    async def _write(self, channel: Channel, request: CommandRequest, done: Done) -> None:
        c = channel.config
        value = float(request.value)
        try:
            fraction = channel.fraction(value)  # checked at ACT_CON already; a race at most
        except OutOfRangeError as exc:
            log.warning("analogue output %s: set-point %s refused: %s", c.name,
                        request.point.name, exc)
            done(False)
            return
        async with channel.lock:
            try:
                written = await asyncio.to_thread(channel.drive, fraction)
            except (OSError, ValueError) as exc:
                log.error("analogue output %s (%s): writing set-point %s = %g failed: %s",
                          c.name, c.driver, request.point.name, value, exc)
                done(False)
                return
        channel.written = value
        log.info("analogue output %s: set-point %s = %g written (%s)", c.name,
                 request.point.name, value, written)
        done(True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def open_output(config: AnalogOutputConfig) -> PwmOutput | DacOutput:
    """The driver of a configured channel (nothing is opened before the first write)."""
    if config.driver == "pwm":
        from hal.aout import SysfsPwm

        return SysfsPwm(config.name, config.pwm_chip, config.pwm_channel, config.period)
    if config.driver == "mcp4725":
        from hal.aout import Mcp4725

        return Mcp4725(config.name, config.i2c_bus, config.i2c_address)
    if config.driver == "sim":
        from hal.fake import FakePwm

        return FakePwm(config.name)
    raise ValueError(f"analogue output {config.name}: unknown driver {config.driver!r}")


class _NoPath:
    """The command path before ``Parts.commands`` hands the outputs the rest of it."""

    def execute(self, request: CommandRequest, done: Done) -> None:
        log.error("command %s before the command path was built", request.point.name)
        done(False)


def build(field: Field) -> Parts:
    config = field.config.section(SECTION_NAME)
    assert isinstance(config, AnalogOutputsConfig)
    channels = {c.name: Channel(c, open_output(c)) for c in config.channels}
    outputs = AnalogOutputs(_NoPath(), channels)

    def commands(executor: CommandExecutor) -> CommandExecutor:
        outputs.inner = executor
        return outputs

    return Parts(commands=commands, close=[outputs.close], provides=(outputs,))
