"""Analog inputs: polls ADC channels and reports engineering values into the point database.

Each configured converter is one :class:`AdcSource` (its own poll interval, restarted on its own
by the supervisor). A reading goes raw -> volts (the driver, :mod:`hal.adc`) -> engineering
units (:class:`Scaling`: ``volts * scale + offset``, or a two-point calibration, which is the
same line through two measured points). Quality:

* the volts outside the channel's ``input_range`` -> OV (overflow), the value still reported;
  (the point's own ``range`` in engineering units is checked by the database, also OV);
* a read error -> the points keep their last value with IV|NT; the first good read after it
  reports the new value, good. The error is logged once, and so is the recovery.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from hal.interfaces import AnalogInput
from rtu.components import Field, Parts
from rtu.frozen import frozen
from rtu.points.database import PointDatabase
from rtu.points.model import Quality

if TYPE_CHECKING:
    from pathlib import Path

    from hal.adc import AdcDevice
    from rtu.config import AdcDeviceConfig, AppConfig

log = logging.getLogger(__name__)

ADC_PREFIX = "adc:"  # [[points]] source = "adc:NAME"


@frozen
class Scaling:
    """engineering value = volts * scale + offset."""

    scale: float = 1.0
    offset: float = 0.0

    @classmethod
    def two_point(cls, volts1: float, value1: float, volts2: float, value2: float) -> Scaling:
        """The line through (volts1, value1) and (volts2, value2), e.g. measured at 4 and 20 mA."""
        if volts1 == volts2:
            raise ValueError("a two-point calibration needs two different voltages")
        scale = (value2 - value1) / (volts2 - volts1)
        return cls(scale, value1 - scale * volts1)

    def apply(self, volts: float) -> float:
        return volts * self.scale + self.offset


@frozen
class AdcBinding:
    """One channel and the points it feeds."""

    channel: str  # the channel's name
    input: AnalogInput  # reads volts
    scaling: Scaling
    input_range: tuple[float, float] | None  # volts; outside: OV
    points: tuple[str, ...]


def convert(binding: AdcBinding, volts: float) -> tuple[float, Quality]:
    """(engineering value, quality) of one reading."""
    if not math.isfinite(volts):
        return 0.0, Quality.IV
    quality = Quality.GOOD
    if binding.input_range is not None:
        low, high = binding.input_range
        if not low <= volts <= high:
            quality |= Quality.OV
    return binding.scaling.apply(volts), quality


class AdcSource:
    def __init__(self, db: PointDatabase, name: str, bindings: Sequence[AdcBinding], *,
                 interval: float, wall: Callable[[], float] = time.time,
                 close: Callable[[], None] | None = None) -> None:
        self.db = db
        self.name = name
        self.bindings = tuple(bindings)
        self.interval = interval
        self.wall = wall
        self._close = close
        self._failing: set[str] = set()  # channels whose last read failed

    def initialise(self) -> None:
        """The first reading (at start-up, before the outstation reports anything)."""
        self.apply(self.read_all())

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.apply(await asyncio.to_thread(self.read_all))

    def read_all(self) -> list[tuple[AdcBinding, float | Exception]]:
        """Read every channel (blocking: run it in a thread)."""
        results: list[tuple[AdcBinding, float | Exception]] = []
        for binding in self.bindings:
            try:
                results.append((binding, float(binding.input.read())))
            except (OSError, ValueError) as exc:
                results.append((binding, exc))
        return results

    def apply(self, results: Sequence[tuple[AdcBinding, float | Exception]]) -> None:
        now = self.wall()
        for binding, result in results:
            if isinstance(result, Exception):
                if binding.channel not in self._failing:
                    log.error("%s: reading channel %s failed: %s", self.name, binding.channel,
                              result)
                    self._failing.add(binding.channel)
                for point in binding.points:
                    self.db.set_quality(point, Quality.IV | Quality.NT, timestamp=now)
                continue
            if binding.channel in self._failing:
                log.info("%s: channel %s readable again", self.name, binding.channel)
                self._failing.discard(binding.channel)
            value, quality = convert(binding, result)
            for point in binding.points:
                self.db.update(point, value, quality, timestamp=now)

    @property
    def failing_channels(self) -> frozenset[str]:
        """The channels whose last read failed (rtu/health.py: communication OK)."""
        return frozenset(self._failing)

    def close(self) -> None:
        if self._close is not None:
            self._close()


# -- building from the configuration -----------------------------------------------------------
def open_adc_device(device: AdcDeviceConfig, *, iio_root: Path | None = None,
                    spidev: object = None, smbus: object = None) -> AdcDevice:
    from hal.adc import IIO_ROOT, Ads1115, IioAdc, Mcp3008

    if device.driver == "iio":
        return IioAdc(device.iio_name, root=iio_root or IIO_ROOT)
    if device.driver == "mcp3008":
        return Mcp3008(device.spi_bus, device.spi_device, vref=device.vref, spidev=spidev)
    if device.driver == "ads1115":
        return Ads1115(device.i2c_bus, device.i2c_address, full_scale=device.full_scale,
                       data_rate=device.data_rate, smbus=smbus)
    raise ValueError(f"unknown ADC driver {device.driver!r}")


def build_adc_sources(db: PointDatabase, config: AppConfig, *, iio_root: Path | None = None,
                      spidev: object = None, smbus: object = None) -> list[AdcSource]:
    """One source per [[adc.devices]] entry with channels that feed points."""
    points: dict[str, list[str]] = {}
    for point in db:
        if point.source.startswith(ADC_PREFIX):
            points.setdefault(point.source[len(ADC_PREFIX):], []).append(point.name)
    sources: list[AdcSource] = []
    for device_config in config.adc.devices:
        channels = [c for c in config.adc.channels
                    if c.device == device_config.name and points.get(c.name)]
        if not channels:
            continue
        device = open_adc_device(device_config, iio_root=iio_root, spidev=spidev, smbus=smbus)
        bindings = [
            AdcBinding(c.name, device.channel(c.name, c.channel), Scaling(c.scale, c.offset),
                       c.input_range, tuple(points[c.name]))
            for c in channels
        ]
        sources.append(AdcSource(db, f"adc:{device_config.name}", bindings,
                                 interval=device_config.interval, close=device.close))
    return sources


# -- the registry (rtu/components.py) ----------------------------------------------------------
def build(field: Field) -> Parts:
    sources = build_adc_sources(field.db, field.config)
    return Parts(sources=list(sources), initialise=[s.initialise for s in sources],
                 close=[s.close for s in sources])
