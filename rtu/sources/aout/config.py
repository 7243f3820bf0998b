"""The ``[analog_outputs]`` section: set-points driving the board's analogue outputs.

Each ``[[analog_outputs.channels]]`` entry is one output (a sysfs PWM channel, an MCP4725 DAC,
or an in-memory ``sim`` one) and names the set-point point (``target = "analog_output"``,
normalised, scaled or short float) that drives it. The engineering value's ``range`` maps
linearly onto ``output_range``, fractions of the output's full scale (duty cycle or DAC
code); a value outside ``range`` is refused (negative ACT_CON) or clamped (``out_of_range``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rtu.config.reader import MISSING, Reader, point_table_index
from rtu.config.schema import Table, array, boolean, choice, integer, number, string, table, tables
from rtu.frozen import frozen
from rtu.points.model import Point, PointKind

__all__ = ["ANALOG_OUTPUT", "SECTION", "AnalogOutputConfig", "AnalogOutputsConfig",
           "parse_analog_outputs"]

ANALOG_OUTPUT: Final = "analog_output"  # the command target
SECTION_NAME: Final = "analog_outputs"
# what an analogue output executes (rtu check refuses other kinds with this target)
EXECUTES: Final = frozenset({PointKind.SETPOINT_NORMALIZED, PointKind.SETPOINT_SCALED,
                             PointKind.SETPOINT_FLOAT})
_DRIVER_KEYS: Final = {  # driver -> the keys only it takes
    "pwm": ("pwm_chip", "pwm_channel", "period"),
    "mcp4725": ("i2c_bus", "i2c_address"),
    "sim": (),
}
CHANNEL: Final = Table("[[analog_outputs.channels]]", (
    string("name", required=True),
    string("command", required=True,
           doc='a set-point point (normalized, scaled or float) with target = "analog_output"'),
    choice("driver", tuple(_DRIVER_KEYS), required=True),
    array("range", ("number",), required=True,
          doc="[low, high]: the engineering values mapped onto output_range"),
    array("output_range", ("number",), doc="[low, high]: fractions 0..1 of full scale"),
    boolean("invert", False),  # True: range low drives output_range high and vice versa
    choice("out_of_range", ("refuse", "clamp"), "refuse"),  # a value outside range
    integer("pwm_chip", 0, 0, 255),  # pwm: /sys/class/pwm/pwmchipN
    integer("pwm_channel", 0, 0, 255),  # pwm: its channel pwmM
    number("period", 0.001, above=0.0, at_most=1.0,
           doc="the PWM period: seconds > 0, at most 1"),  # pwm
    integer("i2c_bus", 1, 0, 255),  # mcp4725: /dev/i2c-BUS
    integer("i2c_address", 0x60, 0x60, 0x67),  # mcp4725
))
TABLE: Final = Table("[analog_outputs]", (tables("channels", CHANNEL),))
SECTION: Final = table(SECTION_NAME, TABLE)


@frozen
class AnalogOutputConfig:
    name: str
    command: str  # the set-point point driving it
    driver: str  # pwm | mcp4725 | sim
    low: float  # range: engineering values
    high: float
    out_low: float = 0.0  # output_range: fractions of full scale at low and high
    out_high: float = 1.0
    invert: bool = CHANNEL.default("invert")
    out_of_range: str = CHANNEL.default("out_of_range")  # refuse | clamp
    pwm_chip: int = CHANNEL.default("pwm_chip")
    pwm_channel: int = CHANNEL.default("pwm_channel")
    period: float = CHANNEL.default("period")  # seconds
    i2c_bus: int = CHANNEL.default("i2c_bus")
    i2c_address: int = CHANNEL.default("i2c_address")


@frozen
class AnalogOutputsConfig:
    channels: tuple[AnalogOutputConfig, ...] = ()


def parse_analog_outputs(p: Reader, value: object, points: Sequence[Point],
                         raw_points: object) -> AnalogOutputsConfig | None:
    by_name = {point.name: point for point in points}
    index = point_table_index(raw_points)
    commanded: set[str] = set()
    config: AnalogOutputsConfig | None = None
    if value is not MISSING:
        tbl = TABLE.open(p, value, SECTION_NAME)
        config = AnalogOutputsConfig(_channels(p, tbl.get("channels", MISSING), by_name,
                                               commanded))
    for point in points:
        if point.target != ANALOG_OUTPUT:
            continue
        at = f"points[{index.get(point.name, '?')}].target"
        if point.kind not in EXECUTES:
            p.error(at, f'expected a target that executes a {point.kind.value} point, got '
                        f'"{ANALOG_OUTPUT}" (an analogue output takes normalized, scaled and '
                        "float set-points)")
        elif point.name not in commanded:
            p.error(at, f"expected an [[analog_outputs.channels]] entry with command = "
                        f"{point.name!r}, got no such entry")
    return config


def _channels(p: Reader, value: object, by_name: Mapping[str, Point],
              commanded: set[str]) -> tuple[AnalogOutputConfig, ...]:
    found: list[AnalogOutputConfig] = []
    first: dict[str, int] = {}
    # the hardware each channel claims: two set-points must not fight over one output
    claimed: dict[tuple[object, ...], str] = {}
    for i, path, tbl in CHANNEL.entries(p, value, "analog_outputs.channels"):
        errors = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "analogue output", "analog_outputs.channels")
        command = _command(p, tbl, path, by_name, commanded)
        driver, invert, out_of_range, chip, channel, period, bus, address = (
            CHANNEL.key(k).read(p, tbl, path) for k in (
                "driver", "invert", "out_of_range", "pwm_chip", "pwm_channel", "period",
                "i2c_bus", "i2c_address"))
        if isinstance(driver, str):
            for other, keys in _DRIVER_KEYS.items():
                for key in keys:
                    if other != driver and key in tbl:
                        p.error(f"{path}.{key}", f"expected no {key} on a {driver} output "
                                                 f"({key} applies to driver = {other!r} only)")
        span = p.pair(tbl["range"], f"{path}.range") if "range" in tbl else None
        if "range" not in tbl:
            p.missing(f"{path}.range", "[low, high]: the engineering values of the set-point")
        out = (0.0, 1.0)
        if "output_range" in tbl:
            pair = p.pair(tbl["output_range"], f"{path}.output_range")
            if pair is not None and not (0.0 <= pair[0] and pair[1] <= 1.0):
                p.expected(f"{path}.output_range", "[low, high] within 0..1 (fractions of "
                           "full scale)", tbl["output_range"])
            out = pair or out
        hardware: tuple[object, ...] | None = (
            ("pwm", chip, channel) if driver == "pwm" else
            ("mcp4725", bus, address) if driver == "mcp4725" else None)
        if hardware is not None and None not in hardware:
            if hardware in claimed:
                p.error(path, f"expected an output no other channel drives, got the one of "
                              f"{claimed[hardware]}")
            claimed.setdefault(hardware, path)
        if (len(p.errors) > errors or name is None or command is None or span is None
                or None in (driver, invert, out_of_range, chip, channel, period, bus, address)):
            continue
        found.append(AnalogOutputConfig(
            name=name, command=command, driver=driver, low=span[0], high=span[1],
            out_low=out[0], out_high=out[1], invert=invert, out_of_range=out_of_range,
            pwm_chip=chip, pwm_channel=channel, period=float(period), i2c_bus=bus,
            i2c_address=address))
    return tuple(found)


def _command(p: Reader, tbl: Mapping[Any, Any], path: str, by_name: Mapping[str, Point],
             commanded: set[str]) -> str | None:
    value = tbl.get("command", MISSING)
    expectation = 'a set-point point (normalized, scaled or float) with target = "analog_output"'
    if value is MISSING:
        p.missing(f"{path}.command", expectation)
        return None
    point = by_name.get(value) if isinstance(value, str) else None
    if point is None:
        p.expected(f"{path}.command", expectation, value, "no such point")
        return None
    if point.kind not in EXECUTES:
        p.expected(f"{path}.command", expectation, value, f"it is a {point.kind.value} point")
        return None
    if point.target != ANALOG_OUTPUT:
        p.expected(f"{path}.command", expectation, value, f"its target is {point.target!r}")
        return None
    if point.name in commanded:
        p.expected(f"{path}.command", "a set-point of one output only", value,
                   "already named by another channel")
        return None
    commanded.add(point.name)
    return point.name
