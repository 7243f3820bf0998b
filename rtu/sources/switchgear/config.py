"""The ``[switchgear]`` section: switching devices with two coils (``[[switchgear.breakers]]``).

A breaker (or disconnector) is closed and opened by pulses on two ``[[relays]]`` entries, its
close and open coils; its position is a double point (two contacts, ``[[gpio.doubles]]``, or
any other source). Its double command point says ``target = "switchgear"`` and is named by
exactly one breaker. ``travel`` simulates the mechanism (the bench): the position point then
says ``source = "switchgear"`` and follows the coils after that many seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rtu.config.reader import MISSING, Reader, point_table_index
from rtu.config.schema import Table, boolean, choice, seconds, string, table, tables
from rtu.frozen import frozen
from rtu.points.model import Point, PointKind
from rtu.sources.relays.config import RelayNames

__all__ = ["SECTION", "SWITCHGEAR", "BreakerConfig", "SwitchgearConfig", "TapChangerConfig",
           "parse_switchgear"]

SWITCHGEAR: Final = "switchgear"  # the command target and the source of simulated positions
# what the target executes (rtu check refuses other command kinds with target = "switchgear")
_EXECUTES: Final = frozenset({PointKind.DOUBLE_COMMAND, PointKind.REGULATING_STEP})
BREAKER: Final = Table("[[switchgear.breakers]]", (
    string("name", required=True),
    string("command", required=True, doc='a double_command point with target = "switchgear"'),
    string("position", required=True, doc="a double point: the device's two contacts"),
    string("close_coil", required=True, doc="the [[relays]] entry closing the device"),
    string("open_coil", required=True, doc="the [[relays]] entry opening the device"),
    seconds("pulse", 0.5),  # how long a coil is energised
    seconds("supervision", 3.0),  # from the pulse's start until the end state must be reached
    # a command to the state the device already has: confirmed without operating, or refused
    choice("same_state", ("positive", "negative"), "positive"),
    # the end state not reached in time: a negative ACT_TERM (an extension of the standard's
    # P/N use), else a positive one (the position tells the master what happened)
    boolean("negative_termination", True),
    string("local", doc="a single point on while the device is in local control"),
    seconds("travel"),  # simulation: the position follows the coils after this many seconds
))
TAP_CHANGER: Final = Table("[[switchgear.tap_changers]]", (
    string("name", required=True),
    string("command", required=True, doc='a regulating_step point with target = "switchgear"'),
    string("position", required=True, doc="a step point: the tap position"),
    string("raise_coil", required=True, doc="the [[relays]] entry moving one step higher"),
    string("lower_coil", required=True, doc="the [[relays]] entry moving one step lower"),
    seconds("pulse", 0.5),
    seconds("supervision", 10.0),  # from the pulse's start until the position moved a step
    boolean("negative_termination", True),
    string("local", doc="a single point on while the tap changer is in local control"),
    seconds("travel"),  # simulation: the position moves one step this many seconds after
))
TABLE: Final = Table("[switchgear]", (tables("breakers", BREAKER),
                                      tables("tap_changers", TAP_CHANGER)))
SECTION: Final = table(SWITCHGEAR, TABLE)


@frozen
class BreakerConfig:
    name: str
    command: str
    position: str
    close_coil: str
    open_coil: str
    pulse: float = BREAKER.default("pulse")
    supervision: float = BREAKER.default("supervision")
    same_state: str = BREAKER.default("same_state")
    negative_termination: bool = BREAKER.default("negative_termination")
    local: str | None = None
    travel: float | None = None  # None: a real device


@frozen
class TapChangerConfig:
    name: str
    command: str
    position: str
    raise_coil: str
    lower_coil: str
    pulse: float = TAP_CHANGER.default("pulse")
    supervision: float = TAP_CHANGER.default("supervision")
    negative_termination: bool = TAP_CHANGER.default("negative_termination")
    local: str | None = None
    travel: float | None = None  # None: a real tap changer


@frozen
class SwitchgearConfig:
    breakers: tuple[BreakerConfig, ...] = ()
    tap_changers: tuple[TapChangerConfig, ...] = ()


def parse_switchgear(p: Reader, value: object, points: Sequence[Point],
                     raw_points: object) -> SwitchgearConfig | None:
    by_name = {point.name: point for point in points}
    index = point_table_index(raw_points)
    commanded: set[str] = set()
    config: SwitchgearConfig | None = None
    if value is not MISSING:
        tbl = TABLE.open(p, value, SWITCHGEAR)
        coils: dict[str, str] = {}
        positions: dict[str, str] = {}
        breakers = _breakers(p, tbl.get("breakers", MISSING), by_name, commanded, coils,
                             positions)
        taps = _tap_changers(p, tbl.get("tap_changers", MISSING), by_name, commanded, coils,
                             positions)
        config = SwitchgearConfig(breakers, taps)
    for point in points:
        at = f"points[{index.get(point.name, '?')}]"
        if point.target == SWITCHGEAR and point.kind not in _EXECUTES:
            p.error(f"{at}.target", f'expected a target that executes a {point.kind.value} '
                                    f'point, got "{SWITCHGEAR}" (it executes double commands '
                                    f"on breakers and regulating steps on tap changers)")
        elif point.target == SWITCHGEAR and point.name not in commanded:
            p.error(f"{at}.target", f"expected a [[switchgear.breakers]] or "
                                    f"[[switchgear.tap_changers]] entry with command = "
                                    f"{point.name!r}, got no such entry")
        if point.source == SWITCHGEAR and not _simulated_position(config, point.name):
            p.error(f"{at}.source", f"expected a [[switchgear.breakers]] or "
                                    f"[[switchgear.tap_changers]] entry with position = "
                                    f"{point.name!r} and a travel time, got no such entry")
    return config


def _simulated_position(config: SwitchgearConfig | None, name: str) -> bool:
    if config is None:
        return False
    return (any(b.position == name and b.travel is not None for b in config.breakers)
            or any(t.position == name and t.travel is not None for t in config.tap_changers))


def _breakers(p: Reader, value: object, by_name: Mapping[str, Point], commanded: set[str],
              coils: dict[str, str], positions: dict[str, str]) -> tuple[BreakerConfig, ...]:
    """``coils``: relay -> the key path using it; ``positions``: point -> its user."""
    relays = p.context(RelayNames).names
    found: list[BreakerConfig] = []
    first: dict[str, int] = {}
    for i, path, tbl in BREAKER.entries(p, value, "switchgear.breakers"):
        errors = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "breaker", "switchgear.breakers")
        command = _command(p, tbl, path, by_name, PointKind.DOUBLE_COMMAND, "breaker",
                           commanded)
        position = _position(p, tbl, path, by_name, PointKind.DOUBLE, "breaker", positions)
        close_coil, open_coil = (_coil(p, tbl, path, key, relays, coils)
                                 for key in ("close_coil", "open_coil"))
        local = _point(p, tbl, path, "local", by_name, PointKind.SINGLE, required=False)
        pulse, supervision, same_state, negative, travel = (
            BREAKER.key(key).read(p, tbl, path)
            for key in ("pulse", "supervision", "same_state", "negative_termination", "travel"))
        if isinstance(pulse, float | int) and isinstance(supervision, float | int) \
                and supervision < pulse:
            p.error(f"{path}.supervision", f"expected at least the pulse ({pulse:g} s), got "
                                           f"{supervision:g}")
        if position is not None and isinstance(travel, float | int):
            source = by_name[position].source
            if source != SWITCHGEAR:
                p.expected(f"{path}.position", f'a double point with source = "{SWITCHGEAR}" '
                           "(travel simulates the device)", position, f"its source is "
                           f"{source!r}")
        if (len(p.errors) > errors or name is None or command is None or position is None
                or close_coil is None or open_coil is None or None in
                (pulse, supervision, same_state, negative, travel)):
            continue
        found.append(BreakerConfig(
            name=name, command=command, position=position, close_coil=close_coil,
            open_coil=open_coil, pulse=pulse, supervision=supervision, same_state=same_state,
            negative_termination=negative, local=local,
            travel=None if travel is MISSING else travel))
    return tuple(found)


def _point(p: Reader, tbl: Mapping[Any, Any], path: str, key: str,
           by_name: Mapping[str, Point], kind: PointKind, *, required: bool = True) -> str | None:
    value = tbl.get(key, MISSING)
    expectation = f"the name of a {kind.value} point"
    if value is MISSING:
        if required:
            p.missing(f"{path}.{key}", expectation)
        return None
    point = by_name.get(value) if isinstance(value, str) else None
    if point is None:
        p.expected(f"{path}.{key}", expectation, value, "no such point")
        return None
    if point.kind is not kind:
        p.expected(f"{path}.{key}", expectation, value, f"it is a {point.kind.value} point")
        return None
    return point.name


def _command(p: Reader, tbl: Mapping[Any, Any], path: str, by_name: Mapping[str, Point],
             kind: PointKind, device: str, commanded: set[str]) -> str | None:
    """The device's command point: of ``kind``, target = "switchgear", named by one
    ``device`` only (``commanded``: the command points already named)."""
    command = _point(p, tbl, path, "command", by_name, kind)
    if command is not None:
        target = by_name[command].target
        if target != SWITCHGEAR:
            p.expected(f"{path}.command", f'a {kind.value} point with target = "switchgear"',
                       command, f"its target is {target!r}")
        elif command in commanded:
            p.expected(f"{path}.command", f"a command point of one {device} only", command,
                       f"already named by another {device}")
        commanded.add(command)
    return command


def _position(p: Reader, tbl: Mapping[Any, Any], path: str, by_name: Mapping[str, Point],
              kind: PointKind, device: str, positions: dict[str, str]) -> str | None:
    """The device's position point: of ``kind``, the position of one ``device`` only
    (``positions``: point -> the key path using it)."""
    position = _point(p, tbl, path, "position", by_name, kind)
    if position is not None:
        if position in positions:
            p.expected(f"{path}.position", f"the position of one {device} only", position,
                       f"already used by {positions[position]}")
        positions[position] = f"{path}.position"
    return position


def _coil(p: Reader, tbl: Mapping[Any, Any], path: str, key: str, relays: set[str],
          used: dict[str, str]) -> str | None:
    value = tbl.get(key, MISSING)
    expectation = "the name of a [[relays]] entry"
    if value is MISSING:
        p.missing(f"{path}.{key}", expectation)
        return None
    if not isinstance(value, str) or value not in relays:
        p.expected(f"{path}.{key}", expectation, value,
                   f"relays: {', '.join(sorted(relays))}" if relays else "no relays")
        return None
    if value in used:
        p.expected(f"{path}.{key}", "a relay driving one coil only", value,
                   f"already used by {used[value]}")
        return None
    used[value] = f"{path}.{key}"
    return value


def _tap_changers(p: Reader, value: object, by_name: Mapping[str, Point], commanded: set[str],
                  coils: dict[str, str],
                  positions: dict[str, str]) -> tuple[TapChangerConfig, ...]:
    relays = p.context(RelayNames).names
    found: list[TapChangerConfig] = []
    first: dict[str, int] = {}
    for i, item in enumerate(p.array_of_tables(value, "switchgear.tap_changers")):
        path = f"switchgear.tap_changers[{i}]"
        tbl = TAP_CHANGER.open(p, item, path)
        errors = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "tap changer", "switchgear.tap_changers")
        command = _command(p, tbl, path, by_name, PointKind.REGULATING_STEP, "device",
                           commanded)
        position = _position(p, tbl, path, by_name, PointKind.STEP, "device", positions)
        raise_coil, lower_coil = (_coil(p, tbl, path, key, relays, coils)
                                  for key in ("raise_coil", "lower_coil"))
        local = _point(p, tbl, path, "local", by_name, PointKind.SINGLE, required=False)
        pulse, supervision, negative, travel = (
            TAP_CHANGER.key(key).read(p, tbl, path)
            for key in ("pulse", "supervision", "negative_termination", "travel"))
        if isinstance(pulse, float | int) and isinstance(supervision, float | int) \
                and supervision < pulse:
            p.error(f"{path}.supervision", f"expected at least the pulse ({pulse:g} s), got "
                                           f"{supervision:g}")
        if position is not None and isinstance(travel, float | int) \
                and by_name[position].source != SWITCHGEAR:
            p.expected(f"{path}.position", f'a step point with source = "{SWITCHGEAR}" '
                       "(travel simulates the tap changer)", position,
                       f"its source is {by_name[position].source!r}")
        if (len(p.errors) > errors or name is None or command is None or position is None
                or raise_coil is None or lower_coil is None
                or None in (pulse, supervision, negative, travel)):
            continue
        found.append(TapChangerConfig(
            name=name, command=command, position=position, raise_coil=raise_coil,
            lower_coil=lower_coil, pulse=pulse, supervision=supervision,
            negative_termination=negative, local=local,
            travel=None if travel is MISSING else travel))
    return tuple(found)
