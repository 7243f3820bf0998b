"""The ``[[points]]`` section: the point list, declared once in :data:`POINT`.

What may feed a monitored point (``source``) and what a command may target besides a relay
is not named here: each source section registers it (:class:`PointSources`), so a new source
adds its name without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from rtu.config.reader import MISSING, Reader, close_match, one_of, show
from rtu.config.schema import Table, array, boolean, choice, integer, number, string, tables
from rtu.frozen import frozen
from rtu.points.commands import RELAY_COMMAND_KINDS
from rtu.points.model import Point, PointKind

__all__ = ["IOA_MAX", "POINTS", "PointSources", "parse_points"]

IOA_MAX: Final = {1: 0xFF, 2: 0xFFFF, 3: 0xFFFFFF}
_GROUP_MAX: Final = 16  # station interrogation groups 1..16 (QOI 21..36)
_COUNTER_GROUP_MAX: Final = 4  # counter interrogation groups 1..4 (RQT 1..4)
_KINDS: Final = {kind.value: kind for kind in PointKind}
# the monitored kind a command's feedback point must have
_FEEDBACK_KIND: Final = {
    PointKind.SINGLE_COMMAND: PointKind.SINGLE,
    PointKind.DOUBLE_COMMAND: PointKind.DOUBLE,
    PointKind.REGULATING_STEP: PointKind.STEP,
    PointKind.SETPOINT_NORMALIZED: PointKind.NORMALIZED,
    PointKind.SETPOINT_SCALED: PointKind.SCALED,
    PointKind.SETPOINT_FLOAT: PointKind.FLOAT,
    PointKind.BITSTRING_COMMAND: PointKind.BITSTRING,
}

POINT: Final = Table("[[points]]", (
    string("name", required=True),
    integer("ioa", lo=1, hi=IOA_MAX[3], required=True),
    choice("kind", tuple(_KINDS), required=True),
    string("source", "", doc="what feeds a monitored point"),
    array("groups", ("integer",), doc="interrogation groups 1..16 (counters: 1..4)"),
    number("deadband", 0.0, at_least=0.0),
    number("deadband_percent", 0.0, at_least=0.0, at_most=100.0),
    array("range", ("number",), doc="[low, high]"),
    string("description", ""),
    string("target", doc="a command's output: the name of a [[relays]] entry, or a source"),
    string("feedback", doc="a command's monitored point"),
    boolean("select_required", False),
    number("cyclic", 0.0, at_least=0.0,
           doc="seconds between periodic reports (COT 1) of a monitored point; 0 = none"),
    integer("common_address", 0, 0, 0xFFFF - 1,
            doc="the logical station (common address) of the point; 0 = [station]'s"),
))
POINTS: Final = tables("points", POINT)

# checks ``source = "PREFIX:NAME"`` (reader, value, key path, kind) -> the value or None
PrefixCheck = Callable[[Reader, str, str, PointKind | None], str | None]


@frozen
class PointSources:
    """What the sections let feed a point or receive a command (besides relays)."""

    names: tuple[str, ...] = ("",)  # plain sources ("sim", "modbus", ...); "" = none
    prefixes: Mapping[str, PrefixCheck] = field(default_factory=dict)  # "gpio:" -> its check
    targets: Mapping[str, str] = field(default_factory=dict)  # command target -> what it is


@dataclass(slots=True)
class _PointEntry:
    """What the cross-reference checks need of a [[points]] table (None where it was invalid)."""

    index: int
    name: str | None
    ioa: int | None
    kind: PointKind | None
    feedback: str | None


def parse_points(p: Reader, value: object, ioa_size: int, relay_names: set[str],
                 sources: PointSources) -> tuple[Point, ...]:
    points: list[Point] = []
    entries: list[_PointEntry] = []
    names: dict[str, int] = {}
    ioas: dict[int, _PointEntry] = {}
    for i, item in enumerate(p.array_of_tables(value, "points")):
        path = f"points[{i}]"
        if not isinstance(item, Mapping):
            p.expected(path, "a table ([[points]])", item)
            continue
        entry, point = _point(p, item, path, i, ioa_size, relay_names, sources)
        entries.append(entry)
        if entry.name is not None:
            if entry.name in names:
                p.error(f"{path}.name", f"expected a unique point name, got {entry.name!r} "
                                           f"(already used by points[{names[entry.name]}])")
                entry.name = None
            else:
                names[entry.name] = i
        if entry.ioa is not None:
            other = ioas.get(entry.ioa)
            if other is not None:
                used_by = f"points[{other.index}]" + (f" {other.name!r}" if other.name else "")
                p.error(f"{path}.ioa", f"expected a unique IOA, got {entry.ioa} "
                                          f"(already used by {used_by})")
            else:
                ioas[entry.ioa] = entry
        if point is not None:
            points.append(point)
    _check_feedback(p, entries)
    return tuple(points)


def _point(p: Reader, item: Mapping[Any, Any], path: str, index: int, ioa_size: int,
           relay_names: set[str], sources: PointSources) -> tuple[_PointEntry, Point | None]:
    tbl = p.table(item, path, POINT.names, "[[points]]")
    name = p.name(tbl.get("name", MISSING), f"{path}.name")
    ioa_max = IOA_MAX[ioa_size]
    ioa_expected = f"an integer 1..{ioa_max} (ioa_size {ioa_size})"
    ioa_value = tbl.get("ioa", MISSING)
    ioa: int | None = None
    if ioa_value is MISSING:
        p.missing(f"{path}.ioa", ioa_expected)
    else:
        ioa = p.integer(ioa_value, f"{path}.ioa", 1, ioa_max, ioa_expected)
    kind_value = tbl.get("kind", MISSING)
    kind: PointKind | None = None
    if kind_value is MISSING:
        p.missing(f"{path}.kind", "one of " + ", ".join(_KINDS))
    else:
        kind_name = p.choice(kind_value, f"{path}.kind", tuple(_KINDS))
        kind = None if kind_name is None else _KINDS[kind_name]
    description = POINT.key("description").read(p, tbl, path)

    def present(key: str) -> bool:
        return key in tbl

    def not_for(key: str, applies_to: str) -> None:
        assert kind is not None
        p.error(f"{path}.{key}", f"expected no {key} on a {kind.value} point ({key} "
                                    f"applies to {applies_to} only), got {show(tbl[key])}")

    is_command = kind is not None and kind.is_command
    is_analog = kind is not None and kind.is_analog
    is_counter = kind is PointKind.COUNTER

    # source: what feeds a monitored point
    source_value = tbl.get("source", "")
    source: str | None = ""
    if is_command:
        if source_value != "":
            p.expected(f"{path}.source", 'no source on a command point (or "")',
                          source_value)
            source = None
    else:
        source = _point_source(p, source_value, f"{path}.source", kind, sources)

    # groups: interrogation groups
    groups: frozenset[int] | None = frozenset()
    is_protection = kind is not None and kind.is_protection
    if present("groups"):
        if is_command or is_protection:
            not_for("groups", "monitored points" if is_command else
                    "monitored points other than protection events, which are never "
                    "interrogated")
            groups = None
        else:
            groups = _groups(p, tbl["groups"], f"{path}.groups", is_counter)

    # deadbands and range
    deadband: float | None = 0.0
    if present("deadband"):
        if kind is not None and not (is_analog or is_counter):
            not_for("deadband", "analog kinds (normalized, scaled, float) and counters")
            deadband = None
        else:
            deadband = p.number(tbl["deadband"], f"{path}.deadband", "a number >= 0",
                                   at_least=0.0)
    deadband_percent: float | None = 0.0
    if present("deadband_percent"):
        if kind is not None and not is_analog:
            not_for("deadband_percent", "analog kinds (normalized, scaled, float)")
            deadband_percent = None
        else:
            deadband_percent = p.number(tbl["deadband_percent"], f"{path}.deadband_percent",
                                           "a percentage 0..100", at_least=0.0, at_most=100.0)
    low: float | None = None
    high: float | None = None
    range_ok = True
    if present("range"):
        if kind is not None and not is_analog:
            not_for("range", "analog kinds (normalized, scaled, float)")
            range_ok = False
        else:
            bounds = p.pair(tbl["range"], f"{path}.range")
            if bounds is None:
                range_ok = False
            else:
                low, high = bounds
    if deadband_percent and range_ok and low is None:
        p.error(f"{path}.deadband_percent",
                   f"expected a range = [low, high] on the point for a deadband_percent "
                   f"(a percentage of high - low), got deadband_percent = {deadband_percent:g} "
                   "and no range")

    # periodic reports
    cyclic: float | None = 0.0
    if present("cyclic"):
        if kind is not None and (is_command or is_counter or is_protection):
            not_for("cyclic", "monitored points other than counters and protection events")
            cyclic = None
        else:
            cyclic = POINT.key("cyclic").read(p, tbl, path)

    common_address = POINT.key("common_address").read(p, tbl, path)

    # commands
    target: str | None = None
    feedback: str | None = None
    select_required: bool | None = False
    if not is_command:
        for key in ("target", "feedback", "select_required"):
            if present(key) and kind is not None:
                not_for(key, "command points")
    if is_command or kind is None:
        target_value = tbl.get("target", MISSING)
        target_expected = "the name of a [[relays]] entry" + "".join(
            f' (or "{name}": {what})'
            for name, what in sources.targets.items())
        if target_value is MISSING:
            if is_command:
                p.missing(f"{path}.target", target_expected)
        elif isinstance(target_value, str) and target_value in sources.targets:
            target = target_value
        elif not isinstance(target_value, str) or target_value not in relay_names:
            note = ("" if not isinstance(target_value, str)
                    else "no such relay" if not relay_names
                    else f"relays: {', '.join(sorted(relay_names))}")
            p.expected(f"{path}.target", target_expected, target_value, note)
        elif kind is not None and kind not in RELAY_COMMAND_KINDS:
            # a master would get a positive ACT_CON and then a negative ACT_TERM
            p.error(f"{path}.target",
                    f"relay {target_value!r} cannot execute a {kind.value} command: a relay "
                    "only switches on and off (single_command, double_command); a set-point, "
                    "bitstring or regulating step needs a target that takes a value")
        else:
            target = target_value
        feedback_value = tbl.get("feedback", MISSING)
        if feedback_value is not MISSING:
            feedback = p.string(feedback_value, f"{path}.feedback", "a point name")
        select_required = p.boolean(tbl.get("select_required", False),
                                       f"{path}.select_required")

    entry = _PointEntry(index=index, name=name, ioa=ioa, kind=kind, feedback=feedback)
    if (name is None or ioa is None or kind is None or description is None or source is None
            or groups is None or deadband is None or deadband_percent is None
            or select_required is None or not range_ok or cyclic is None
            or common_address is None):
        return entry, None
    point = Point(
        name=name, ioa=ioa, kind=kind, groups=groups, deadband=deadband,
        deadband_percent=deadband_percent, low=low, high=high, target=target,
        feedback=feedback, select_required=select_required, source=source,
        description=description, cyclic=cyclic, common_address=common_address,
    )
    return entry, point


def _groups(p: Reader, value: object, path: str, counter: bool) -> frozenset[int] | None:
    top = _COUNTER_GROUP_MAX if counter else _GROUP_MAX
    what = f"counter interrogation groups 1..{top}" if counter \
        else f"interrogation groups 1..{top}"
    if not isinstance(value, list):
        p.expected(path, f"an array of {what}", value)
        return None
    groups: set[int] = set()
    ok = True
    for i, item in enumerate(value):
        group = p.integer(item, f"{path}[{i}]", 1, top,
                             f"an integer 1..{top} ({what})")
        if group is None:
            ok = False
        else:
            groups.add(group)
    return frozenset(groups) if ok else None


def _check_feedback(p: Reader, entries: list[_PointEntry]) -> None:
    by_name = {e.name: e for e in entries if e.name is not None}
    for entry in entries:
        if entry.feedback is None or entry.kind is None:
            continue
        want = _FEEDBACK_KIND[entry.kind]
        path = f"points[{entry.index}].feedback"
        expectation = f"the name of a monitored {want.value} point"
        other = by_name.get(entry.feedback)
        if other is None:
            p.expected(path, expectation, entry.feedback, "no such point")
        elif other.kind is not None and other.kind is not want:
            p.expected(path, expectation, entry.feedback,
                          f"points[{other.index}] is a {other.kind.value} point")


def _point_source(p: Reader, value: object, path: str, kind: PointKind | None,
                  sources: PointSources) -> str | None:
    """What feeds a monitored point: one of ``sources.names`` or ``PREFIX:NAME``."""
    if isinstance(value, str):
        for prefix, check in sources.prefixes.items():
            if value.startswith(prefix):
                return check(p, value, path, kind)
        if value in sources.names:
            return value
    hint = close_match(value, sources.names) if isinstance(value, str) and value else None
    p.expected(path, one_of([*sources.names, *(f"{prefix}NAME" for prefix in sources.prefixes)]),
               value, f"did you mean {hint!r}?" if hint else "")
    return None
