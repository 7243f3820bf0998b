"""The ``[interlocks]`` section: conditions a command must meet (``[[interlocks.rules]]``).

A rule names a command point, the direction it applies to and a condition on other points'
values and quality in the small language of rtu/points/expression.py (never ``eval``). The
condition is parsed and checked here, so ``rtu check`` names an unknown point, a comparison a
point's kind cannot make, or a rule on a command point that does not exist. Conditions read
monitored points only, which nothing computes from commands: a rule cannot depend on itself.
Calculated points (source = "calc") are monitored points like the others, evaluated on their
current value and quality; a condition naming one that can have no value (no entry, a refused
formula, a cycle of calculated points, itself or in what it reads) is an error, named with the
cycle ([calculated] is read first and tells this section through CalculatedGraph).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, choice, string, table, tables
from rtu.frozen import frozen
from rtu.points.expression import Condition, ExpressionError, check, names, parse
from rtu.points.model import Point, PointKind
from rtu.sources.calculated.config import CALC_SOURCE, CalculatedGraph

__all__ = ["INTERLOCKS", "SECTION", "InterlockRule", "InterlocksConfig", "parse_interlocks"]

INTERLOCKS: Final = "interlocks"
_DIRECTED: Final = frozenset({PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND})
RULE: Final = Table("[[interlocks.rules]]", (
    string("command", required=True, doc="the name of a command point"),
    # on: single/double commands to on (close); off: to off (open); any: every command
    choice("when", ("any", "on", "off"), "any"),
    string("condition", required=True, doc='a condition such as "es1 == off and valid(es1)"'),
))
TABLE: Final = Table("[interlocks]", (tables("rules", RULE),))
SECTION: Final = table(INTERLOCKS, TABLE)


@frozen
class InterlockRule:
    command: str
    when: str  # any | on | off
    condition: Condition
    text: str  # as written, for the log


@frozen
class InterlocksConfig:
    rules: tuple[InterlockRule, ...] = ()


def parse_interlocks(p: Reader, value: object, points: Sequence[Point],
                     raw_points: object) -> InterlocksConfig | None:
    if value is MISSING:
        return None
    tbl = TABLE.open(p, value, INTERLOCKS)
    by_name = {point.name: point for point in points}
    kinds = {point.name: point.kind for point in points if not point.kind.is_command}
    rules: list[InterlockRule] = []
    for i, item in enumerate(p.array_of_tables(tbl.get("rules", MISSING), "interlocks.rules")):
        path = f"interlocks.rules[{i}]"
        entry = RULE.open(p, item, path)
        errors = len(p.errors)
        command, when, text = (RULE.key(key).read(p, entry, path)
                               for key in ("command", "when", "condition"))
        point = by_name.get(command) if isinstance(command, str) else None
        if isinstance(command, str) and (point is None or not point.kind.is_command):
            p.expected(f"{path}.command", "the name of a command point", command,
                       "no such point" if point is None else f"it is a {point.kind.value} point")
        elif point is not None and when in ("on", "off") and point.kind not in _DIRECTED:
            p.expected(f"{path}.when", '"any" (on/off apply to single and double commands)',
                       when, f"{command} is a {point.kind.value} point")
        condition: Condition | None = None
        if isinstance(text, str):
            try:
                condition = parse(text)
            except ExpressionError as exc:
                p.error(f"{path}.condition", f"{exc}, in {text!r}")
            else:
                for problem in check(condition, kinds):
                    p.error(f"{path}.condition", problem)
                graph = p.context(CalculatedGraph)
                for name in sorted(names(condition)):
                    read = by_name.get(name)
                    why = graph.problem(name) if read is not None \
                        and read.source == CALC_SOURCE else None
                    if why is not None:
                        p.error(f"{path}.condition", f"{name} is a calculated point that {why}: "
                                "it has no value to check")
        if len(p.errors) == errors and condition is not None and isinstance(command, str) \
                and isinstance(when, str) and isinstance(text, str):
            rules.append(InterlockRule(command, when, condition, text))
    return InterlocksConfig(tuple(rules))
