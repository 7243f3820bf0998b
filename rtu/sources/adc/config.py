"""The ``[adc]`` section: analog-to-digital converters and their channels (source.py).

:data:`SECTION` declares every key once. :func:`parse_adc` records the channel names in the
document's :class:`AdcNames` context for ``[[points]]`` ``source = "adc:NAME"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from rtu.config.reader import MISSING, Reader, one_of, show
from rtu.config.schema import (
    Table,
    array,
    choice,
    integer,
    number,
    seconds,
    string,
    table,
    tables,
)
from rtu.frozen import frozen
from rtu.points.model import PointKind

__all__ = [
    "ADC",
    "ADC_PREFIX",
    "AdcChannelConfig",
    "AdcConfig",
    "AdcDeviceConfig",
    "AdcNames",
    "adc_source",
    "parse_adc",
]

ADC_PREFIX: Final = "adc:"  # [[points]] source = "adc:NAME" (as the registration line)
_DRIVER_KEYS: Final = {  # driver -> the keys only it takes
    "iio": ("iio_name",),
    "mcp3008": ("spi_bus", "spi_device", "vref"),
    "ads1115": ("i2c_bus", "i2c_address", "full_scale", "data_rate"),
}
_CHANNEL_COUNT: Final = {"mcp3008": 8, "ads1115": 4}
_ADS1115_FULL_SCALES: Final = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
_ADS1115_DATA_RATES: Final = (8, 16, 32, 64, 128, 250, 475, 860)
_ADS1115_ADDRESSES: Final = (0x48, 0x4B)

DEVICE: Final = Table("[[adc.devices]]", (
    string("name", required=True), choice("driver", tuple(_DRIVER_KEYS), required=True),
    seconds("interval", 1.0),  # between readings of its channels
    string("iio_name", "", doc="iio: the device's sysfs name file"),
    integer("spi_bus", 0, 0, 255), integer("spi_device", 0, 0, 255),  # mcp3008: /dev/spidevB.D
    number("vref", 3.3, above=0.0, doc="a reference voltage in volts > 0"),  # mcp3008
    integer("i2c_bus", 1, 0, 255),  # ads1115: /dev/i2c-BUS
    integer("i2c_address", 0x48, *_ADS1115_ADDRESSES),
    choice("full_scale", _ADS1115_FULL_SCALES, 4.096),  # ads1115: volts (the PGA setting)
    choice("data_rate", _ADS1115_DATA_RATES, 128),  # ads1115: samples per second
))
CHANNEL: Final = Table("[[adc.channels]]", (
    string("name", required=True), string("device", required=True),
    integer("channel", lo=0, hi=7, required=True),
    number("scale", 1.0, doc="a finite number"),  # engineering value = volts * scale + offset
    number("offset", 0.0, doc="a finite number"),
    array("calibration", ("array",), doc="[[volts1, value1], [volts2, value2]]"),
    array("input_range", ("number",), doc="[low, high] volts; a reading outside is flagged OV"),
))
SECTION: Final = Table("[adc]", (tables("devices", DEVICE), tables("channels", CHANNEL)))
ADC: Final = table("adc", SECTION)


@frozen
class AdcDeviceConfig:
    name: str
    driver: str  # iio | mcp3008 | ads1115
    interval: float = DEVICE.default("interval")  # seconds between readings of its channels
    iio_name: str = DEVICE.default("iio_name")  # iio: the device's sysfs name file
    spi_bus: int = DEVICE.default("spi_bus")  # mcp3008: /dev/spidevBUS.DEVICE
    spi_device: int = DEVICE.default("spi_device")
    vref: float = DEVICE.default("vref")  # mcp3008: reference voltage = full scale
    i2c_bus: int = DEVICE.default("i2c_bus")  # ads1115: /dev/i2c-BUS
    i2c_address: int = DEVICE.default("i2c_address")
    full_scale: float = DEVICE.default("full_scale")  # ads1115: volts (the PGA setting)
    data_rate: int = DEVICE.default("data_rate")  # ads1115: samples per second


@frozen
class AdcChannelConfig:
    name: str
    device: str  # its [[adc.devices]] entry
    channel: int
    # engineering value = volts * scale + offset (also from a calibration)
    scale: float = CHANNEL.default("scale")
    offset: float = CHANNEL.default("offset")
    input_range: tuple[float, float] | None = None  # volts; a reading outside is flagged OV


@frozen
class AdcConfig:
    devices: tuple[AdcDeviceConfig, ...] = ()
    channels: tuple[AdcChannelConfig, ...] = ()


@dataclass(slots=True)
class AdcNames:
    """What [adc] makes known to [[points]] (a Reader context): the channel names."""

    channels: set[str] = field(default_factory=set)


def parse_adc(p: Reader, value: object) -> AdcConfig:
    """[adc]: converters ([[adc.devices]]) and the channels read from them."""
    tbl = p.table(value, "adc", SECTION.names, "[adc]")
    devices, drivers = _devices(p, tbl.get("devices", MISSING))
    channels = _channels(p, tbl.get("channels", MISSING), drivers)
    return AdcConfig(devices=devices, channels=channels)


def _devices(p: Reader, value: object) -> tuple[tuple[AdcDeviceConfig, ...],
                                              dict[str, str | None]]:
    """The devices, and the driver of every valid device name (None: the driver is wrong)."""
    devices: list[AdcDeviceConfig] = []
    drivers: dict[str, str | None] = {}
    first: dict[str, int] = {}
    choices = tuple(_DRIVER_KEYS)
    for i, path, tbl in DEVICE.entries(p, value, "adc.devices"):
        errors_before = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "ADC device", "adc.devices")
        driver: str | None = None
        if "driver" not in tbl:
            p.missing(f"{path}.driver", one_of(choices))
        else:
            driver = p.choice(tbl["driver"], f"{path}.driver", choices)
        if name is not None:
            drivers[name] = driver
        if driver is not None:
            for other, keys in _DRIVER_KEYS.items():
                for key in keys:
                    if other != driver and key in tbl:
                        p.error(f"{path}.{key}", f"expected no {key} on a {driver} device "
                                                    f"({key} applies to driver = {other!r} "
                                                    f"only), got {show(tbl[key])}")
        d = AdcDeviceConfig(name="", driver="iio")
        interval = DEVICE.key("interval").read(p, tbl, path)
        iio_name, spi_bus, spi_device, vref = d.iio_name, d.spi_bus, d.spi_device, d.vref
        i2c_bus, i2c_address = d.i2c_bus, d.i2c_address
        full_scale, data_rate = d.full_scale, d.data_rate
        if driver == "iio":
            expectation = 'the IIO device\'s name (its sysfs name file), such as "mcp3008"'
            iio_value = tbl.get("iio_name", MISSING)
            if iio_value is MISSING:
                p.missing(f"{path}.iio_name", expectation)
            elif not isinstance(iio_value, str) or not iio_value:
                p.expected(f"{path}.iio_name", expectation, iio_value)
            else:
                iio_name = iio_value
        elif driver == "mcp3008":
            spi_bus = DEVICE.key("spi_bus").read(p, tbl, path) or 0
            spi_device = DEVICE.key("spi_device").read(p, tbl, path) or 0
            vref = DEVICE.key("vref").read(p, tbl, path) or d.vref
        elif driver == "ads1115":
            i2c_bus = DEVICE.key("i2c_bus").read(p, tbl, path) or 0
            low, high = _ADS1115_ADDRESSES
            i2c_address = p.integer(
                tbl.get("i2c_address", d.i2c_address), f"{path}.i2c_address", low, high,
                f"an I2C address 0x{low:02x}..0x{high:02x} ({low}..{high})") or d.i2c_address
            fs_value = tbl.get("full_scale", d.full_scale)
            if isinstance(fs_value, bool) or fs_value not in _ADS1115_FULL_SCALES:
                p.expected(f"{path}.full_scale", "a full-scale range in volts: " + one_of(
                    [f"{v:g}" for v in _ADS1115_FULL_SCALES], quote=False), fs_value)
            else:
                full_scale = float(fs_value)
            rate_value = tbl.get("data_rate", d.data_rate)
            if isinstance(rate_value, bool) or not isinstance(rate_value, int) \
                    or rate_value not in _ADS1115_DATA_RATES:
                p.expected(f"{path}.data_rate", "samples per second: " + one_of(
                    [str(v) for v in _ADS1115_DATA_RATES], quote=False), rate_value)
            else:
                data_rate = rate_value
        if len(p.errors) > errors_before or name is None or driver is None \
                or interval is None:
            continue
        devices.append(AdcDeviceConfig(
            name=name, driver=driver, interval=interval, iio_name=iio_name, spi_bus=spi_bus,
            spi_device=spi_device, vref=vref, i2c_bus=i2c_bus, i2c_address=i2c_address,
            full_scale=full_scale, data_rate=data_rate))
    return tuple(devices), drivers


def _channels(p: Reader, value: object,
                 drivers: dict[str, str | None]) -> tuple[AdcChannelConfig, ...]:
    refs = p.context(AdcNames)
    channels: list[AdcChannelConfig] = []
    first: dict[str, int] = {}
    used: dict[tuple[str, int], str] = {}
    for i, path, tbl in CHANNEL.entries(p, value, "adc.channels"):
        errors_before = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "ADC channel", "adc.channels")
        if name is not None:
            refs.channels.add(name)
        device_value = tbl.get("device", MISSING)
        device: str | None = None
        if device_value is MISSING:
            p.missing(f"{path}.device", "the name of an [[adc.devices]] entry")
        elif not isinstance(device_value, str) or device_value not in drivers:
            note = "" if not isinstance(device_value, str) else \
                f"adc devices: {', '.join(sorted(drivers))}" if drivers \
                else "no [[adc.devices]] entries"
            p.expected(f"{path}.device", "the name of an [[adc.devices]] entry",
                          device_value, note)
        else:
            device = device_value
        driver = drivers.get(device) if device is not None else None
        count = _CHANNEL_COUNT.get(driver or "")
        expectation = f"a channel number 0..{count - 1} ({driver})" if count \
            else "a channel number >= 0"
        channel: int | None = None
        if "channel" not in tbl:
            p.missing(f"{path}.channel", expectation)
        else:
            channel = p.integer(tbl["channel"], f"{path}.channel", 0,
                                   count - 1 if count else None, expectation)
        if device is not None and channel is not None:
            if (device, channel) in used:
                p.expected(f"{path}.channel", f"a channel of {device} not used by another "
                                                 "[[adc.channels]] entry", channel,
                              f"already used by {used[device, channel]}")
            else:
                used[device, channel] = path
        scale: float | None = 1.0
        offset: float | None = 0.0
        if "calibration" in tbl:
            for key in ("scale", "offset"):
                if key in tbl:
                    p.error(f"{path}.{key}", f"expected no {key} next to calibration (give "
                                                f"scale/offset or calibration), got "
                                                f"{show(tbl[key])}")
            line = _calibration(p, tbl["calibration"], f"{path}.calibration")
            scale, offset = line if line is not None else (None, None)
        else:
            scale, offset = (CHANNEL.key(k).read(p, tbl, path) for k in ("scale", "offset"))
        input_range: tuple[float, float] | None = None
        if "input_range" in tbl:
            input_range = p.pair(tbl["input_range"], f"{path}.input_range")
        if (len(p.errors) > errors_before or name is None or device is None
                or channel is None or scale is None or offset is None):
            continue
        channels.append(AdcChannelConfig(name=name, device=device, channel=channel,
                                         scale=scale, offset=offset, input_range=input_range))
    return tuple(channels)


def _calibration(p: Reader, value: object, path: str) -> tuple[float, float] | None:
    """[[volts1, value1], [volts2, value2]] -> (scale, offset) of the line through both."""
    expectation = "[[volts1, value1], [volts2, value2]]: two measured points, volts differ"
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(pair, list) and len(pair) == 2 for pair in value)):
        p.expected(path, expectation, value)
        return None
    numbers = [p.number(x, f"{path}[{i}][{j}]", "a finite number")
               for i, pair in enumerate(value) for j, x in enumerate(pair)]
    v1, e1, v2, e2 = numbers
    if v1 is None or e1 is None or v2 is None or e2 is None:
        return None
    if v1 == v2:
        p.expected(path, expectation, value)
        return None
    scale = (e2 - e1) / (v2 - v1)
    return scale, e1 - scale * v1

# -- [modbus] ----------------------------------------------------------------------------------


def adc_source(p: Reader, value: str, path: str, kind: PointKind | None) -> str | None:
    refs = p.context(AdcNames)
    name = value[len(ADC_PREFIX):]
    if name in refs.channels:
        if kind is None or kind.is_analog:
            return value
        p.expected(path, f"an adc source for a {kind.value} point", value,
                      "ADC channels feed analog points only (normalized, scaled, float)")
        return None
    names = sorted(refs.channels)
    p.expected(path, '"adc:NAME" with the name of an [[adc.channels]] entry', value,
                  f"adc channels: {', '.join(names)}" if names
                  else "no [[adc.channels]] entries")
    return None

# -- [adc] -------------------------------------------------------------------------------------
