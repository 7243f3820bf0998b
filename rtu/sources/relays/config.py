"""The ``[[relays]]`` and ``[commands]`` sections: the outputs commands drive (source.py).

Declared once in :data:`RELAY` and :data:`COMMANDS`. A relay on a GPIO line takes its line,
and its feedback and local/remote inputs, from ``[gpio]`` (read before, through the
document's :class:`~rtu.sources.gpio.config.GpioNames`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from rtu.config.reader import Reader, show
from rtu.config.schema import Table, any_of, boolean, choice, seconds, string, table, tables
from rtu.frozen import frozen

__all__ = [
    "COMMANDS",
    "RELAYS",
    "CommandConfig",
    "RelayConfig",
    "RelayNames",
    "parse_commands",
    "parse_relays",
]

RELAY: Final = Table("[[relays]]", (
    string("name", required=True),
    choice("driver", ("sim", "gpio"), "sim"),
    boolean("initial", False),  # state the relay is driven to at start-up
    # driver "gpio": the GPIO line (as for [[gpio.inputs]])
    any_of("line", ("string", "integer"), doc="the GPIO line driving the relay"),
    boolean("active_low", False),  # driver "gpio": the relay is on while the line is low
    # qu (the command's QU decides) | pulse (always) | persistent (always)
    choice("mode", ("qu", "pulse", "persistent"), "qu"),
    string("feedback_input", doc="the [[gpio.inputs]] entry confirming the output"),
    seconds("feedback_timeout", 2.0),  # the feedback may take; then a negative ACT_TERM
    string("local_input", doc="the [[gpio.inputs]] entry active in local control: BL"),
))
RELAYS: Final = tables("relays", RELAY)
COMMANDS_TABLE: Final = Table("[commands]", (
    seconds("short_pulse", 0.5),  # QU=1
    seconds("long_pulse", 2.0),  # QU=2; longer than short_pulse
    # what QU=0 (no further definition) means
    choice("default_qu", ("persistent", "short", "long"), "persistent"),
))
COMMANDS: Final = table("commands", COMMANDS_TABLE)


@frozen
class RelayConfig:
    name: str
    driver: str = RELAY.default("driver")
    initial: bool = RELAY.default("initial")  # state the relay is driven to at start-up
    line: str | int | None = None  # driver "gpio": the GPIO line (as for [[gpio.inputs]])
    active_low: bool = RELAY.default("active_low")  # driver "gpio": on while the line is low
    mode: str = RELAY.default("mode")  # qu | pulse | persistent
    feedback_input: str | None = None  # [[gpio.inputs]] entry confirming the output
    feedback_timeout: float = RELAY.default("feedback_timeout")  # seconds
    local_input: str | None = None  # [[gpio.inputs]] entry active in local control: BL


@dataclass(slots=True)
class RelayNames:
    """The relay names, for the sections read after [[relays]] (a Reader context)."""

    names: set[str] = field(default_factory=set)


@frozen
class CommandConfig:
    short_pulse: float = COMMANDS_TABLE.default("short_pulse")  # seconds, QU=1
    long_pulse: float = COMMANDS_TABLE.default("long_pulse")  # seconds, QU=2
    default_qu: str = COMMANDS_TABLE.default("default_qu")  # QU=0: persistent|short|long


def parse_relays(p: Reader, value: object) -> tuple[tuple[RelayConfig, ...], set[str]]:
    """The relays, and every valid relay name (also of relays with other errors)."""
    relays: list[RelayConfig] = []
    first: dict[str, int] = {}
    for i, path, tbl in RELAY.entries(p, value, "relays"):
        name = p.unique_name(tbl, path, i, first, "relay", "relays")
        driver = RELAY.key("driver").read(p, tbl, path)
        initial = RELAY.key("initial").read(p, tbl, path)
        io = _relay_io(p, tbl, path, driver)
        if name is not None and driver is not None and initial is not None and io is not None:
            relays.append(RelayConfig(
                name=name, driver=driver, initial=initial, line=io.line,
                active_low=io.active_low, mode=io.mode, feedback_input=io.feedback_input,
                feedback_timeout=io.feedback_timeout, local_input=io.local_input))
    p.context(RelayNames).names.update(first)
    return tuple(relays), set(first)


def _relay_io(p: Reader, tbl: Mapping[Any, Any], path: str, driver: str | None) -> RelayConfig | None:
    """A relay's GPIO line, polarity, pulse mode and feedback and local/remote inputs (in a
    RelayConfig without a name); None if any is wrong (reported)."""
    errors_before = len(p.errors)
    line: str | int | None = None
    if driver == "gpio" or "feedback_input" in tbl or "local_input" in tbl:
        # [gpio]'s names: its config module only for a relay that uses the board's lines
        from rtu.sources.gpio.config import gpio_input, gpio_line
    if "line" in tbl:
        if driver == "gpio":
            line = gpio_line(p, tbl["line"], f"{path}.line", path)
        elif driver is not None:
            p.error(f"{path}.line", f"expected no line on a relay with driver = {driver!r} "
                                       f"(line applies to driver = 'gpio' only), got "
                                       f"{show(tbl['line'])}")
    elif driver == "gpio":
        p.missing(f"{path}.line", 'the GPIO line driving the relay, such as "GPIO22"')
    active_low = RELAY.key("active_low").read(p, tbl, path)
    mode = RELAY.key("mode").read(p, tbl, path)
    feedback_input = None if "feedback_input" not in tbl else \
        gpio_input(p, tbl["feedback_input"], f"{path}.feedback_input")
    feedback_timeout = RELAY.key("feedback_timeout").read(p, tbl, path)
    local_input = None if "local_input" not in tbl else \
        gpio_input(p, tbl["local_input"], f"{path}.local_input")
    if (len(p.errors) > errors_before or active_low is None or mode is None
            or feedback_timeout is None):
        return None
    return RelayConfig(name="", line=line, active_low=active_low, mode=mode,
                       feedback_input=feedback_input, feedback_timeout=feedback_timeout,
                       local_input=local_input)


def parse_commands(p: Reader, value: object) -> CommandConfig:
    tbl = p.table(value, "commands", COMMANDS_TABLE.names, "[commands]")
    default = CommandConfig()
    short = COMMANDS_TABLE.key("short_pulse").read(p, tbl, "commands")
    long_value = tbl.get("long_pulse", default.long_pulse)
    if short is None:
        long = p.seconds(long_value, "commands.long_pulse")
    else:
        long = p.number(long_value, "commands.long_pulse",
                           f"a number of seconds > short_pulse ({short:g})", above=short)
    qu = COMMANDS_TABLE.key("default_qu").read(p, tbl, "commands")
    if short is None or long is None or qu is None:
        return default
    return CommandConfig(short_pulse=short, long_pulse=long, default_qu=qu)
