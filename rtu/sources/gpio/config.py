"""The ``[gpio]`` section: the board's digital inputs and double points (source.py).

:data:`SECTION` declares every key once; :func:`parse_gpio` also records, in the document's
:class:`GpioNames` context, the inputs and lines that ``[[relays]]`` and ``[[points]]``
refer to (``source = "gpio:NAME"``, a relay's ``feedback_input``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import (
    Table,
    any_of,
    boolean,
    choice,
    integer,
    number,
    seconds,
    string,
    table,
    tables,
)
from rtu.points.model import PointKind

__all__ = [
    "GPIO",
    "GPIO_PREFIX",
    "GpioConfig",
    "GpioDoubleConfig",
    "GpioInputConfig",
    "GpioNames",
    "gpio_input",
    "gpio_line",
    "gpio_source",
    "parse_gpio",
]

GPIO_PREFIX: Final = "gpio:"  # [[points]] source = "gpio:NAME"
_RPI_BCM_MAX: Final = 27  # RPi.GPIO: the 40-pin header's GPIO0..GPIO27
_SECONDS_OR_ZERO: Final = "a number of seconds >= 0"
_CHANGES: Final = "an integer >= 0 (0: no chatter suppression)"

INPUT: Final = Table("[[gpio.inputs]]", (
    string("name", required=True),
    any_of("line", ("string", "integer"), required=True,
           doc="gpiod: a line name or an offset on gpio.chip; rpi: a BCM number"),
    choice("bias", ("as_is", "disabled", "pull_up", "pull_down"), "as_is"),
    boolean("invert", False),  # True: a low (open) input is the active state
    number("debounce", at_least=0.0, doc=_SECONDS_OR_ZERO),  # default: gpio.debounce
    # gpiod kernel debounce / RPi.GPIO bouncetime; 0 off
    number("driver_debounce", 0.0, at_least=0.0, doc=_SECONDS_OR_ZERO),
    integer("chatter_changes", lo=0, doc=_CHANGES),  # default: gpio.chatter_changes
))
DOUBLE: Final = Table("[[gpio.doubles]]", (
    string("name", required=True),
    string("on", required=True),  # the [[gpio.inputs]] entry active in the ON position
    string("off", required=True),  # the one active in the OFF position
    # seconds the intermediate state (both inactive) may last unreported
    number("settle", 1.0, at_least=0.0, doc=_SECONDS_OR_ZERO),
    integer("chatter_changes", lo=0, doc=_CHANGES),
))
SECTION: Final = Table("[gpio]", (
    choice("backend", ("gpiod", "rpi", "sim"), "gpiod"),
    # gpiod: chip path, name or label; "" = find the line names on every chip
    string("chip", "", doc="a GPIO chip: a path (/dev/gpiochip0), name (gpiochip0) or label "
                           "(pinctrl-rp1)"),
    # seconds between re-reads that catch lost edges; 0 = none
    number("reread_interval", 1.0, at_least=0.0, doc="a number of seconds >= 0 (0: no re-read)"),
    number("debounce", 0.01, at_least=0.0, doc=_SECONDS_OR_ZERO),  # the inputs' default
    integer("chatter_changes", 0, 0, doc=_CHANGES),  # the inputs' and doubles' default
    seconds("chatter_window", 1.0),
    seconds("chatter_recovery", 10.0),  # without a change before a blocked point is good
    tables("inputs", INPUT), tables("doubles", DOUBLE),
))
GPIO: Final = table("gpio", SECTION)


@dataclass(frozen=True, slots=True)
class GpioInputConfig:
    name: str
    line: str | int  # gpiod: line name ("GPIO17") or offset on gpio.chip; rpi: BCM number
    bias: str = INPUT.default("bias")  # as_is | disabled | pull_up | pull_down
    invert: bool = INPUT.default("invert")  # True: a low (open) input is the active state
    debounce: float = SECTION.default("debounce")  # seconds steady before a change is accepted
    driver_debounce: float = INPUT.default("driver_debounce")  # seconds; 0 off
    # more changes than this within gpio.chatter_window: IV; 0 off
    chatter_changes: int = SECTION.default("chatter_changes")


@dataclass(frozen=True, slots=True)
class GpioDoubleConfig:
    """A double point from two inputs."""

    name: str
    on: str  # the [[gpio.inputs]] entry active in the ON position
    off: str  # the one active in the OFF position
    settle: float = DOUBLE.default("settle")  # seconds the intermediate state may last
    chatter_changes: int = SECTION.default("chatter_changes")


@dataclass(frozen=True, slots=True)
class GpioConfig:
    backend: str = SECTION.default("backend")  # gpiod | rpi | sim
    chip: str = SECTION.default("chip")  # gpiod: "" = find the line names on every chip
    reread_interval: float = SECTION.default("reread_interval")  # seconds; 0 = none
    debounce: float = SECTION.default("debounce")  # the inputs' default
    chatter_changes: int = SECTION.default("chatter_changes")  # 0 = no chatter suppression
    chatter_window: float = SECTION.default("chatter_window")  # seconds
    chatter_recovery: float = SECTION.default("chatter_recovery")  # seconds
    inputs: tuple[GpioInputConfig, ...] = ()
    doubles: tuple[GpioDoubleConfig, ...] = ()


@dataclass(slots=True)
class GpioNames:
    """What [gpio] makes known to the sections read after it (a Reader context)."""

    backend: str | None = None
    chip: str = ""
    names: dict[str, str] = field(default_factory=dict)  # input or double name -> key path
    inputs: set[str] = field(default_factory=set)
    doubles: set[str] = field(default_factory=set)
    lines: dict[str | int, str] = field(default_factory=dict)  # line -> key path of its user


def parse_gpio(p: Reader, value: object) -> GpioConfig:
    """[gpio]: the backend, the inputs and the double points made of two inputs."""
    refs = p.context(GpioNames)
    tbl = SECTION.open(p, value, "gpio")
    d = GpioConfig()
    backend = SECTION.key("backend").read(p, tbl, "gpio")
    refs.backend = backend
    chip = SECTION.key("chip").read(p, tbl, "gpio")
    if chip and backend is not None and backend != "gpiod":
        p.error("gpio.chip", f"expected no chip with backend = {backend!r} (chip applies "
                             f"to the gpiod backend only), got {chip!r}")
    refs.chip = chip or ""
    reread, debounce, changes, window, recovery = (
        SECTION.key(key).read(p, tbl, "gpio") for key in (
            "reread_interval", "debounce", "chatter_changes", "chatter_window",
            "chatter_recovery"))
    debounce = d.debounce if debounce is None else debounce
    changes = d.chatter_changes if changes is None else changes
    inputs = _input_list(p, tbl.get("inputs", MISSING), debounce, changes)
    doubles = _double_list(p, tbl.get("doubles", MISSING), changes)
    if backend is None or chip is None or reread is None or window is None \
            or recovery is None:
        return d
    return GpioConfig(backend=backend, chip=chip, reread_interval=reread, debounce=debounce,
                      chatter_changes=changes, chatter_window=window,
                      chatter_recovery=recovery, inputs=inputs, doubles=doubles)


def _input_list(p: Reader, value: object, debounce: float,
                    changes: int) -> tuple[GpioInputConfig, ...]:
    refs = p.context(GpioNames)
    inputs: list[GpioInputConfig] = []
    for i, path, tbl in INPUT.entries(p, value, "gpio.inputs"):
        name = _name(p, tbl.get("name", MISSING), path)
        if name is not None:
            refs.inputs.add(name)
        line = gpio_line(p, tbl.get("line", MISSING), f"{path}.line", path)
        bias = INPUT.key("bias").read(p, tbl, path)
        invert = INPUT.key("invert").read(p, tbl, path)
        own_debounce = p.number(tbl.get("debounce", debounce), f"{path}.debounce",
                                   "a number of seconds >= 0", at_least=0.0)
        driver_debounce = INPUT.key("driver_debounce").read(p, tbl, path)
        own_changes = p.integer(tbl.get("chatter_changes", changes),
                                   f"{path}.chatter_changes", 0, None,
                                   "an integer >= 0 (0: no chatter suppression)")
        if (name is None or line is None or bias is None or invert is None
                or own_debounce is None or driver_debounce is None or own_changes is None):
            continue
        inputs.append(GpioInputConfig(
            name=name, line=line, bias=bias, invert=invert, debounce=own_debounce,
            driver_debounce=driver_debounce, chatter_changes=own_changes))
    return tuple(inputs)


def _double_list(p: Reader, value: object, changes: int) -> tuple[GpioDoubleConfig, ...]:
    refs = p.context(GpioNames)
    doubles: list[GpioDoubleConfig] = []
    for i, path, tbl in DOUBLE.entries(p, value, "gpio.doubles"):
        name = _name(p, tbl.get("name", MISSING), path)
        if name is not None:
            refs.doubles.add(name)
        on = gpio_input(p, tbl.get("on", MISSING), f"{path}.on")
        off = gpio_input(p, tbl.get("off", MISSING), f"{path}.off")
        if on is not None and on == off:
            p.expected(f"{path}.off", "an input other than on", off)
            off = None
        settle = DOUBLE.key("settle").read(p, tbl, path)
        own_changes = p.integer(tbl.get("chatter_changes", changes),
                                   f"{path}.chatter_changes", 0, None,
                                   "an integer >= 0 (0: no chatter suppression)")
        if name is None or on is None or off is None or settle is None or own_changes is None:
            continue
        doubles.append(GpioDoubleConfig(name=name, on=on, off=off, settle=settle,
                                        chatter_changes=own_changes))
    return tuple(doubles)


def _name(p: Reader, value: object, path: str) -> str | None:
    """The name of an input or double point: unique among both (both are "gpio:NAME")."""
    refs = p.context(GpioNames)
    name = p.name(value, f"{path}.name")
    if name is None:
        return None
    used = refs.names.get(name)
    if used is not None:
        p.expected(f"{path}.name", "a name unique among [[gpio.inputs]] and "
                                      "[[gpio.doubles]]", name, f"already used by {used}")
        return None
    refs.names[name] = path
    return name


def gpio_line(p: Reader, value: object, path: str, user: str) -> str | int | None:
    """A GPIO line as the backend names it; each line may be used once."""
    refs = p.context(GpioNames)
    line: str | int
    if refs.backend == "rpi":
        expectation = (f'a BCM GPIO number 0..{_RPI_BCM_MAX} or its name "GPIO0".."GPIO'
                       f'{_RPI_BCM_MAX}" (backend = "rpi")')
        if value is MISSING:
            p.missing(path, expectation)
            return None
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"GPIO[0-9]{1,2}", value):
            number = int(value[4:])
        if number is None or not 0 <= number <= _RPI_BCM_MAX:
            p.expected(path, expectation, value)
            return None
        line = number
    else:
        expectation = ('a GPIO line name such as "GPIO17" (`gpioinfo` lists them) or a line '
                       "offset >= 0 on gpio.chip")
        if value is MISSING:
            p.missing(path, expectation)
            return None
        if isinstance(value, str) and value:
            line = value
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            if refs.backend == "gpiod" and not refs.chip:
                p.expected(path, 'a GPIO line name such as "GPIO17" (a line offset needs '
                                    "gpio.chip)", value)
                return None
            line = value
        else:
            p.expected(path, expectation, value)
            return None
    used = refs.lines.get(line)
    if used is not None:
        p.expected(path, "a GPIO line not used by another input or relay", value,
                      f"already used by {used}")
        return None
    refs.lines[line] = user
    return line


def gpio_input(p: Reader, value: object, path: str) -> str | None:
    """The name of a [[gpio.inputs]] entry (required)."""
    refs = p.context(GpioNames)
    expectation = "the name of a [[gpio.inputs]] entry"
    if value is MISSING:
        p.missing(path, expectation)
        return None
    if isinstance(value, str) and value in refs.inputs:
        return value
    names = sorted(refs.inputs)
    note = "" if not isinstance(value, str) else \
        f"gpio inputs: {', '.join(names)}" if names else "no [[gpio.inputs]] entries"
    p.expected(path, expectation, value, note)
    return None


def gpio_source(p: Reader, value: str, path: str, kind: PointKind | None) -> str | None:
    refs = p.context(GpioNames)
    name = value[len(GPIO_PREFIX):]
    if name in refs.inputs:
        if kind is None or kind is PointKind.SINGLE:
            return value
        p.expected(path, f"a gpio source for a {kind.value} point", value,
                      f"{name!r} is a [[gpio.inputs]] entry, which feeds single points; a "
                      "double point takes a [[gpio.doubles]] entry")
        return None
    if name in refs.doubles:
        if kind is None or kind is PointKind.DOUBLE:
            return value
        p.expected(path, f"a gpio source for a {kind.value} point", value,
                      f"{name!r} is a [[gpio.doubles]] entry, which feeds double points only")
        return None
    names = sorted(refs.names)
    p.expected(path, '"gpio:NAME" with the name of a [[gpio.inputs]] (single points) or '
                        "[[gpio.doubles]] (double points) entry", value,
                  f"gpio names: {', '.join(names)}" if names else "no [[gpio.inputs]] entries")
    return None
