"""Analogue outputs: a Linux sysfs PWM channel and an MCP4725 DAC on I2C.

* :class:`SysfsPwm` (a :class:`~hal.interfaces.PwmOutput`): ``/sys/class/pwm/pwmchipN``
  (the kernel's PWM ABI; on a Raspberry Pi ``dtoverlay=pwm`` or ``pwm-2chan``). The channel is
  exported if its ``pwmM`` directory is missing (waiting a bounded time for it to appear),
  then ``period`` and ``duty_cycle`` (nanoseconds) are written and ``enable`` set to 1. The
  duty cycle is written before a shorter period, as the kernel refuses a duty cycle longer
  than the period.
* :class:`Mcp4725` (a :class:`~hal.interfaces.DacOutput`): the 12-bit MCP4725 on
  ``/dev/i2c-BUS`` through ``smbus2`` (MIT; the ``pi`` extra), written with the chip's "fast
  write" command (two bytes: 0000 and the code's top four bits, then its low eight bits).

Writes block (sysfs, I2C): callers use ``asyncio.to_thread``. A missing chip, bus or library is
an :class:`OSError` at the first write (the command fails with a clear log line); the next
write tries again from the start.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

PWM_ROOT: Final = Path("/sys/class/pwm")
_EXPORT_WAIT: Final = 1.0  # seconds for udev to make an exported channel's files writable
_EXPORT_POLL: Final = 0.05
MCP4725_ADDRESSES: Final = tuple(range(0x60, 0x68))  # A2 A1 fixed per part, A0 strapped

__all__ = ["MCP4725_ADDRESSES", "PWM_ROOT", "AnalogOutputUnavailableError", "Mcp4725",
           "SysfsPwm"]


class AnalogOutputUnavailableError(OSError):
    """The output cannot be used; the message says why and what to do."""


class SysfsPwm:
    """Channel ``channel`` of ``pwmchip{chip}`` with a fixed period (seconds)."""

    def __init__(self, name: str, chip: int, channel: int, period: float, *,
                 root: Path = PWM_ROOT, sleep: Callable[[float], None] = time.sleep) -> None:
        if chip < 0 or channel < 0:
            raise ValueError("PWM chip and channel must be >= 0")
        if not period > 0:
            raise ValueError(f"PWM period must be > 0 s, got {period!r}")
        self.name = name
        self.chip_dir = root / f"pwmchip{chip}"
        self.channel = channel
        self.period_ns = max(1, round(period * 1e9))
        self._sleep = sleep
        self._ready = False  # exported, period written, enabled
        self._lock = threading.Lock()

    @property
    def channel_dir(self) -> Path:
        return self.chip_dir / f"pwm{self.channel}"

    def set_duty(self, duty: float) -> None:
        if not 0.0 <= duty <= 1.0:
            raise ValueError(f"duty cycle must be 0..1, got {duty!r}")
        duty_ns = round(duty * self.period_ns)
        with self._lock:
            try:
                if not self._ready:
                    self._open(duty_ns)
                else:
                    self._write("duty_cycle", duty_ns)
            except OSError:
                self._ready = False
                raise

    def close(self) -> None:
        with self._lock:
            self._ready = False

    def _open(self, duty_ns: int) -> None:
        if not self.chip_dir.is_dir():
            raise AnalogOutputUnavailableError(
                f"PWM {self.name}: no {self.chip_dir} (enable a PWM overlay, e.g. "
                "dtoverlay=pwm-2chan)")
        if not self.channel_dir.is_dir():
            (self.chip_dir / "export").write_text(f"{self.channel}\n", encoding="ascii")
            waited = 0.0
            while not (self.channel_dir / "duty_cycle").exists():
                if waited >= _EXPORT_WAIT:
                    raise AnalogOutputUnavailableError(
                        f"PWM {self.name}: {self.channel_dir} did not appear within "
                        f"{_EXPORT_WAIT:g} s of exporting channel {self.channel}")
                self._sleep(_EXPORT_POLL)
                waited += _EXPORT_POLL
        current = self._read("period")
        if current is not None and duty_ns > current:
            self._write("period", self.period_ns)  # longer first: the duty cycle then fits
            self._write("duty_cycle", duty_ns)
        else:
            self._write("duty_cycle", duty_ns)
            self._write("period", self.period_ns)
        self._write("enable", 1)
        self._ready = True

    def _read(self, attribute: str) -> int | None:
        try:
            return int((self.channel_dir / attribute).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def _write(self, attribute: str, value: int) -> None:
        (self.channel_dir / attribute).write_text(f"{value}\n", encoding="ascii")


class Mcp4725:
    """The MCP4725 12-bit DAC at ``address`` on ``/dev/i2c-BUS``."""

    BITS: Final = 12

    def __init__(self, name: str, bus: int, address: int = 0x60, *, smbus: Any = None) -> None:
        if address not in MCP4725_ADDRESSES:
            raise ValueError(f"MCP4725 address must be 0x60..0x67, got {address:#x}")
        self.name = name
        self.bits = self.BITS
        self.bus, self.address = bus, address
        self._module = smbus
        self._smbus: Any = None
        self._lock = threading.Lock()

    def set_code(self, code: int) -> None:
        if not 0 <= code < 1 << self.bits:
            raise ValueError(f"MCP4725 code must be 0..4095, got {code!r}")
        with self._lock:
            bus = self._open()
            try:
                # fast write: C2 C1 = 00, PD1 PD0 = 00 (normal), D11..D8; then D7..D0
                bus.write_byte_data(self.address, (code >> 8) & 0x0F, code & 0xFF)
            except OSError:
                self._close()
                raise

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> Any:
        if self._module is None:
            try:
                self._module = importlib.import_module("smbus2")
            except ImportError:
                raise AnalogOutputUnavailableError(
                    "the mcp4725 DAC driver needs the Python package smbus2: "
                    "pip install 'rtu-outstation[pi]'") from None
        if self._smbus is None:
            try:
                self._smbus = self._module.SMBus(self.bus)
            except FileNotFoundError:
                raise AnalogOutputUnavailableError(
                    f"no /dev/i2c-{self.bus}: enable I2C (dtparam=i2c_arm=on)") from None
        return self._smbus

    def _close(self) -> None:
        if self._smbus is not None:
            try:
                self._smbus.close()
            except OSError:
                pass
            self._smbus = None
