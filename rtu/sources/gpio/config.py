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
    array,
    boolean,
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
    "GPIO",
    "GPIO_PREFIX",
    "GpioConfig",
    "GpioDoubleConfig",
    "GpioInputConfig",
    "GpioNames",
    "GpioStepConfig",
    "gpio_input",
    "gpio_line",
    "gpio_source",
    "parse_gpio",
]

GPIO_PREFIX: Final = "gpio:"  # [[points]] source = "gpio:NAME" (as the registration line)
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
_STEP_MIN: Final = -64  # M_ST: a 7-bit two's complement value
_STEP_MAX: Final = 63
STEP: Final = Table("[[gpio.steps]]", (
    string("name", required=True),
    array("inputs", ("string",), required=True,
          doc="the [[gpio.inputs]] entries of the code, least significant first"),
    choice("coding", ("binary", "bcd"), required=True),  # bcd: four inputs per decimal digit
    string("sign", doc="a [[gpio.inputs]] entry active when the position is negative"),
    string("transient", doc="a [[gpio.inputs]] entry active while the position changes"),
    array("range", ("integer",), doc="[low, high]: the positions that exist (others: IV)"),
    # seconds every input of the code must be steady before a new position is reported
    number("settle", 0.1, at_least=0.0, doc=_SECONDS_OR_ZERO),
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
    tables("inputs", INPUT), tables("doubles", DOUBLE), tables("steps", STEP),
))
GPIO: Final = table("gpio", SECTION)


@frozen
class GpioInputConfig:
    name: str
    line: str | int  # gpiod: line name ("GPIO17") or offset on gpio.chip; rpi: BCM number
    bias: str = INPUT.default("bias")  # as_is | disabled | pull_up | pull_down
    invert: bool = INPUT.default("invert")  # True: a low (open) input is the active state
    debounce: float = SECTION.default("debounce")  # seconds steady before a change is accepted
    driver_debounce: float = INPUT.default("driver_debounce")  # seconds; 0 off
    # more changes than this within gpio.chatter_window: IV; 0 off
    chatter_changes: int = SECTION.default("chatter_changes")


@frozen
class GpioDoubleConfig:
    """A double point from two inputs."""

    name: str
    on: str  # the [[gpio.inputs]] entry active in the ON position
    off: str  # the one active in the OFF position
    settle: float = DOUBLE.default("settle")  # seconds the intermediate state may last
    chatter_changes: int = SECTION.default("chatter_changes")


@frozen
class GpioStepConfig:
    """A step position (a tap changer's M_ST) coded on several inputs."""

    name: str
    inputs: tuple[str, ...]  # the code's [[gpio.inputs]] entries, least significant first
    coding: str  # binary | bcd
    sign: str | None = None  # active: the position is negative
    transient: str | None = None  # active: the position is changing (M_ST's T bit)
    low: int = _STEP_MIN  # range: a reading outside is reported invalid (IV)
    high: int = _STEP_MAX
    settle: float = STEP.default("settle")


def step_limit(coding: str, lines: int) -> int:
    """The largest magnitude ``lines`` inputs code (bcd: four per digit, the top digit may
    have fewer lines)."""
    if coding == "binary":
        return (1 << lines) - 1
    value, weight = 0, 1
    for start in range(0, lines, 4):
        bits = min(4, lines - start)
        value += min(9, (1 << bits) - 1) * weight
        weight *= 10
    return value


@frozen
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
    steps: tuple[GpioStepConfig, ...] = ()


@dataclass(slots=True)
class GpioNames:
    """What [gpio] makes known to the sections read after it (a Reader context)."""

    backend: str | None = None
    chip: str = ""
    read: bool = False  # parse_gpio ran (the document reads [gpio] only when it is there)
    names: dict[str, str] = field(default_factory=dict)  # input or double name -> key path
    inputs: set[str] = field(default_factory=set)
    doubles: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    lines: dict[str | int, str] = field(default_factory=dict)  # line -> key path of its user


def gpio_names(p: Reader) -> GpioNames:
    """What [gpio] made known; without a [gpio] section (not read), what an empty one
    would: its default backend and chip, no inputs."""
    refs = p.context(GpioNames)
    if not refs.read:
        refs.read = True
        refs.backend = SECTION.default("backend")
        refs.chip = SECTION.default("chip")
    return refs


def parse_gpio(p: Reader, value: object) -> GpioConfig:
    """[gpio]: the backend, the inputs and the double points made of two inputs."""
    refs = p.context(GpioNames)
    refs.read = True
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
    steps = _step_list(p, tbl.get("steps", MISSING))
    if backend is None or chip is None or reread is None or window is None \
            or recovery is None:
        return d
    return GpioConfig(backend=backend, chip=chip, reread_interval=reread, debounce=debounce,
                      chatter_changes=changes, chatter_window=window,
                      chatter_recovery=recovery, inputs=inputs, doubles=doubles, steps=steps)


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


def _step_list(p: Reader, value: object) -> tuple[GpioStepConfig, ...]:
    refs = p.context(GpioNames)
    steps: list[GpioStepConfig] = []
    for _i, path, tbl in STEP.entries(p, value, "gpio.steps"):
        errors = len(p.errors)
        name = _name(p, tbl.get("name", MISSING), path)
        if name is not None:
            refs.steps.add(name)
        coding = STEP.key("coding").read(p, tbl, path)
        settle = STEP.key("settle").read(p, tbl, path)
        inputs: list[str] = []
        raw = tbl.get("inputs", MISSING)
        if raw is MISSING:
            p.missing(f"{path}.inputs", "the [[gpio.inputs]] entries of the code, least "
                                        "significant first")
        elif not isinstance(raw, list) or not raw:
            p.expected(f"{path}.inputs", "a non-empty array of [[gpio.inputs]] names, least "
                                         "significant first", raw)
        else:
            for j, item in enumerate(raw):
                found = gpio_input(p, item, f"{path}.inputs[{j}]")
                if found is not None:
                    inputs.append(found)
        sign = gpio_input(p, tbl["sign"], f"{path}.sign") if "sign" in tbl else None
        transient = (gpio_input(p, tbl["transient"], f"{path}.transient")
                     if "transient" in tbl else None)
        used = [*inputs, *(x for x in (sign, transient) if x is not None)]
        if len(set(used)) != len(used):
            twice = ", ".join(x for x in dict.fromkeys(used) if used.count(x) > 1)
            p.error(path, f"expected each input once among inputs, sign and transient, got "
                          f"{twice} more than once")
        low, high = (0 if sign is None else _STEP_MIN), _STEP_MAX
        if "range" in tbl:
            pair = p.pair(tbl["range"], f"{path}.range")
            if pair is not None:
                if pair != (int(pair[0]), int(pair[1])):
                    p.expected(f"{path}.range", "[low, high]: two integers", tbl["range"])
                low, high = int(pair[0]), int(pair[1])
        if isinstance(coding, str) and inputs and len(p.errors) == errors:
            top = step_limit(coding, len(inputs))
            lowest = -top if sign is not None else 0
            count = f"{len(inputs)} {coding} input{'s' if len(inputs) > 1 else ''}"
            if not (_STEP_MIN <= low and high <= _STEP_MAX):
                p.expected(f"{path}.range", f"[low, high] within {_STEP_MIN}..{_STEP_MAX} (a "
                           "step position, M_ST)", [low, high])
            elif "range" not in tbl:
                high, low = min(top, _STEP_MAX), max(lowest, _STEP_MIN)
            elif high > top or low < lowest:
                p.expected(f"{path}.range", f"positions within {lowest}..{top}: what {count}"
                           f"{' and a sign' if sign is not None else ''} can code",
                           [low, high], "add inputs, or a sign input for negative positions")
        if (len(p.errors) > errors or name is None or coding is None or settle is None
                or not inputs):
            continue
        steps.append(GpioStepConfig(name=name, inputs=tuple(inputs), coding=coding, sign=sign,
                                    transient=transient, low=low, high=high, settle=settle))
    return tuple(steps)


def _name(p: Reader, value: object, path: str) -> str | None:
    """The name of an input or double point: unique among both (both are "gpio:NAME")."""
    refs = p.context(GpioNames)
    name = p.name(value, f"{path}.name")
    if name is None:
        return None
    used = refs.names.get(name)
    if used is not None:
        p.expected(f"{path}.name", "a name unique among [[gpio.inputs]], [[gpio.doubles]] "
                                      "and [[gpio.steps]]", name, f"already used by {used}")
        return None
    refs.names[name] = path
    return name


def gpio_line(p: Reader, value: object, path: str, user: str) -> str | int | None:
    """A GPIO line as the backend names it; each line may be used once."""
    refs = gpio_names(p)
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
    refs = gpio_names(p)
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
    refs = gpio_names(p)
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
    if name in refs.steps:
        if kind is None or kind is PointKind.STEP:
            return value
        p.expected(path, f"a gpio source for a {kind.value} point", value,
                      f"{name!r} is a [[gpio.steps]] entry, which feeds step points only")
        return None
    names = sorted(refs.names)
    p.expected(path, '"gpio:NAME" with the name of a [[gpio.inputs]] (single points), '
                        "[[gpio.doubles]] (double points) or [[gpio.steps]] (step points) "
                        "entry", value,
                  f"gpio names: {', '.join(names)}" if names else "no [[gpio.inputs]] entries")
    return None
