"""Analog-to-digital converters, each channel an :class:`~hal.interfaces.AnalogInput` in volts.

* :class:`IioAdc`: the general path, a Linux IIO device in sysfs
  (``/sys/bus/iio/devices/iio:deviceN``), found by the contents of its ``name`` file, so it
  works for every ADC the kernel has a driver for, e.g. the MCP3008 (``dtoverlay=mcp3008``,
  name ``mcp3008``) and the ADS1115 (``dtoverlay=ads1115``, name ``ads1115``). Volts are
  ``(in_voltageN_raw + in_voltageN_offset) * scale / 1000`` with the scale from
  ``in_voltageN_scale`` or the shared ``in_voltage_scale`` (millivolts per count, the IIO ABI).
* :class:`Mcp3008`: userspace over ``spidev``, 10 bits, single-ended channels 0..7.
* :class:`Ads1115`: userspace over ``smbus2``, 16 bits, single-shot conversions of AIN0..3
  against GND with a chosen full-scale range and data rate.

Reads block (sysfs, SPI, I2C): callers use ``asyncio.to_thread``. The libraries are imported
when a device is created (a missing one is a clear :class:`AdcUnavailableError`); the device
itself is opened at the first read, so a missing bus or overlay is a read error (the sources
flag the points invalid and retry) and never stops the outstation.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

IIO_ROOT: Final = Path("/sys/bus/iio/devices")


class AdcUnavailableError(OSError):
    """The ADC cannot be used; the message says why and what to do."""


class AdcChannel:
    """One channel of a converter as an AnalogInput (volts)."""

    def __init__(self, name: str, read: Callable[[], float]) -> None:
        self.name = name
        self._read = read

    def read(self) -> float:
        return self._read()


def _import(module: str, driver: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise AdcUnavailableError(
            f"the {driver} ADC driver needs the Python package {module}: "
            "pip install 'rtu-outstation[pi]'"
        ) from None


# -- IIO ---------------------------------------------------------------------------------------
class IioAdc:
    """A Linux IIO ADC found by its ``name``; re-found after a read error (it may have moved)."""

    def __init__(self, iio_name: str, *, root: Path = IIO_ROOT) -> None:
        self.iio_name = iio_name
        self.root = root
        self._path: Path | None = None

    def device_path(self) -> Path:
        if self._path is not None:
            return self._path
        found: list[str] = []
        for device in sorted(self.root.glob("iio:device*")):
            try:
                name = (device / "name").read_text(encoding="utf-8").strip()
            except OSError:
                continue
            if name == self.iio_name:
                self._path = device
                return device
            found.append(f"{device.name} = {name}")
        others = f" (found: {', '.join(found)})" if found else " (no IIO devices at all)"
        raise AdcUnavailableError(
            f"no IIO device named {self.iio_name!r} in {self.root}{others}; is its driver loaded "
            f"(e.g. dtoverlay={self.iio_name} in config.txt)?"
        )

    def read_volts(self, channel: int) -> float:
        path = self.device_path()
        try:
            raw = _read_number(path / f"in_voltage{channel}_raw")
            scale = _read_first(path / f"in_voltage{channel}_scale", path / "in_voltage_scale")
            offset = _read_first(path / f"in_voltage{channel}_offset",
                                 path / "in_voltage_offset") or 0.0
        except OSError:
            self._path = None  # look for the device again next time
            raise
        if scale is None:
            raise AdcUnavailableError(
                f"{path}: neither in_voltage{channel}_scale nor in_voltage_scale exists"
            )
        return (raw + offset) * scale / 1000.0

    def channel(self, name: str, channel: int) -> AdcChannel:
        return AdcChannel(name, lambda: self.read_volts(channel))

    def close(self) -> None:
        self._path = None


def _read_number(path: Path) -> float:
    text = path.read_text(encoding="ascii").strip()
    try:
        return float(text)
    except ValueError:
        raise AdcUnavailableError(f"{path}: expected a number, got {text[:40]!r}") from None


def _read_first(*paths: Path) -> float | None:
    for path in paths:
        if path.exists():
            return _read_number(path)
    return None


# -- MCP3008 over spidev -------------------------------------------------------------------------
class Mcp3008:
    """MCP3008 on ``/dev/spidevBUS.DEVICE``: 10-bit, Vref = full scale."""

    CHANNELS: Final = 8
    COUNTS: Final = 1024

    def __init__(self, bus: int, device: int, *, vref: float = 3.3,
                 max_speed_hz: int = 1_000_000, spidev: Any = None) -> None:
        self.bus, self.device, self.vref, self.max_speed_hz = bus, device, vref, max_speed_hz
        self._module = spidev if spidev is not None else _import("spidev", "mcp3008")
        self._spi: Any = None
        self._lock = threading.Lock()

    def request(self, channel: int) -> list[int]:
        """The three bytes clocked out for a single-ended conversion of ``channel``:
        start bit, SGL/DIFF = 1 and D2..D0, then a byte to clock the rest of the result."""
        if not 0 <= channel < self.CHANNELS:
            raise ValueError(f"MCP3008 channel must be 0..7, got {channel}")
        return [0x01, 0x80 | channel << 4, 0x00]

    def read_raw(self, channel: int) -> int:
        request = self.request(channel)
        with self._lock:
            spi = self._open()
            try:
                reply = spi.xfer2(request)
            except OSError:
                self._close()
                raise
        if len(reply) != len(request):
            raise AdcUnavailableError(f"MCP3008 on spidev{self.bus}.{self.device}: "
                                      f"{len(reply)} bytes back, expected 3")
        return int((reply[1] & 0x03) << 8 | reply[2])

    def read_volts(self, channel: int) -> float:
        return self.read_raw(channel) * self.vref / self.COUNTS

    def channel(self, name: str, channel: int) -> AdcChannel:
        self.request(channel)  # validates the channel number now
        return AdcChannel(name, lambda: self.read_volts(channel))

    def _open(self) -> Any:
        if self._spi is None:
            spi = self._module.SpiDev()
            try:
                spi.open(self.bus, self.device)
            except FileNotFoundError:
                raise AdcUnavailableError(
                    f"no /dev/spidev{self.bus}.{self.device}: enable SPI (dtparam=spi=on)"
                ) from None
            spi.max_speed_hz = self.max_speed_hz
            spi.mode = 0
            self._spi = spi
        return self._spi

    def _close(self) -> None:
        if self._spi is not None:
            try:
                self._spi.close()
            except OSError:
                pass
            self._spi = None

    def close(self) -> None:
        with self._lock:
            self._close()


# -- ADS1115 over smbus2 -------------------------------------------------------------------------
class Ads1115:
    """ADS1115 on ``/dev/i2c-BUS``: 16-bit single-shot conversions, AINn against GND."""

    CHANNELS: Final = 4
    REG_CONVERSION: Final = 0x00
    REG_CONFIG: Final = 0x01
    # full-scale range (volts) -> PGA bits; data rate (samples/s) -> DR bits (datasheet 8.6.3)
    FULL_SCALES: Final = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}
    DATA_RATES: Final = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}
    _OS_START: Final = 0x8000  # write: start a conversion; read: 1 = not converting
    _MODE_SINGLE: Final = 0x0100
    _COMP_DISABLE: Final = 0x0003
    _MAX_POLLS: Final = 20

    def __init__(self, bus: int, address: int = 0x48, *, full_scale: float = 4.096,
                 data_rate: int = 128, smbus: Any = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if full_scale not in self.FULL_SCALES:
            raise ValueError(f"ADS1115 full scale must be one of {sorted(self.FULL_SCALES)}")
        if data_rate not in self.DATA_RATES:
            raise ValueError(f"ADS1115 data rate must be one of {sorted(self.DATA_RATES)}")
        self.bus, self.address = bus, address
        self.full_scale, self.data_rate = full_scale, data_rate
        self._module = smbus if smbus is not None else _import("smbus2", "ads1115")
        self._sleep = sleep
        self._smbus: Any = None
        self._lock = threading.Lock()

    def config_word(self, channel: int) -> int:
        """The config register value starting a single-shot conversion of AIN``channel``."""
        if not 0 <= channel < self.CHANNELS:
            raise ValueError(f"ADS1115 channel must be 0..3, got {channel}")
        mux = 0b100 | channel  # AINp = AINn(channel), AINn = GND
        return (self._OS_START | mux << 12 | self.FULL_SCALES[self.full_scale] << 9
                | self._MODE_SINGLE | self.DATA_RATES[self.data_rate] << 5 | self._COMP_DISABLE)

    def read_raw(self, channel: int) -> int:
        config = self.config_word(channel)
        with self._lock:
            bus = self._open()
            try:
                bus.write_i2c_block_data(self.address, self.REG_CONFIG, [config >> 8, config & 0xFF])
                self._sleep(1.0 / self.data_rate + 0.0005)
                for _ in range(self._MAX_POLLS):
                    status = bus.read_i2c_block_data(self.address, self.REG_CONFIG, 2)
                    if status[0] & 0x80:
                        break
                    self._sleep(0.001)
                else:
                    raise AdcUnavailableError(f"ADS1115 0x{self.address:02x} on i2c-{self.bus}: "
                                              "the conversion did not complete")
                data = bus.read_i2c_block_data(self.address, self.REG_CONVERSION, 2)
            except OSError:
                self._close()
                raise
        return int.from_bytes(bytes(data), "big", signed=True)

    def read_volts(self, channel: int) -> float:
        return self.read_raw(channel) * self.full_scale / 32768

    def channel(self, name: str, channel: int) -> AdcChannel:
        self.config_word(channel)  # validates the channel number now
        return AdcChannel(name, lambda: self.read_volts(channel))

    def _open(self) -> Any:
        if self._smbus is None:
            try:
                self._smbus = self._module.SMBus(self.bus)
            except FileNotFoundError:
                raise AdcUnavailableError(
                    f"no /dev/i2c-{self.bus}: enable I2C (dtparam=i2c_arm=on)"
                ) from None
        return self._smbus

    def _close(self) -> None:
        if self._smbus is not None:
            try:
                self._smbus.close()
            except OSError:
                pass
            self._smbus = None

    def close(self) -> None:
        with self._lock:
            self._close()


AdcDevice = IioAdc | Mcp3008 | Ads1115
