"""The ``[calculated]`` section: points computed from other points (``[[calculated.points]]``).

A calculated point says ``source = "calc"`` in [[points]] and has exactly one entry here with
its formula (rtu/points/formula.py: logic, counts, min/max/sum/avg, limits with hysteresis).
Formulas are compiled here, so ``rtu check`` names an unknown input, a type mismatch or a
cycle (a calculated point depending, through others, on itself). What it found is told to the
sections read after it (interlocks) through :class:`CalculatedGraph`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, string, table, tables
from rtu.frozen import frozen
from rtu.points.formula import Formula, FormulaError, compile_formula
from rtu.points.model import Point
from rtu.sources.entries import claim, unclaimed

__all__ = ["CALC_SOURCE", "SECTION", "CalculatedConfig", "CalculatedGraph", "CalculatedPoint",
           "parse_calculated"]

CALC_SOURCE: Final = "calc"
ENTRY: Final = Table("[[calculated.points]]", (
    string("point", required=True, doc='the name of a point with source = "calc"'),
    string("formula", required=True, doc='a formula such as "di01 or di02"'),
))
TABLE: Final = Table("[calculated]", (tables("points", ENTRY),))
SECTION: Final = table("calculated", TABLE)


@frozen
class CalculatedPoint:
    point: str
    text: str  # the formula as written (compiled again by the source: it holds state)


@frozen
class CalculatedConfig:
    points: tuple[CalculatedPoint, ...] = ()  # in an order where inputs come first


@dataclass(slots=True)
class CalculatedGraph:
    """What [calculated] tells the sections read after it (a Reader context): the points
    each calculated point reads, and the calculated points that can have no value, with why
    (no entry, a refused formula, a cycle, or reading such a point)."""

    inputs: dict[str, frozenset[str]] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)

    def problem(self, name: str) -> str | None:
        """Why calculated point ``name``, or one it reads through others, can have no value;
        None when it (and everything it reads) is computed."""
        seen: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            why = self.unusable.get(current)
            if why is not None:
                return why if current == name else f"reads {current}, which {why}"
            pending.extend(self.inputs.get(current, ()))
        return None


def parse_calculated(p: Reader, value: object, points: Sequence[Point],
                     raw_points: object) -> CalculatedConfig | None:
    by_name = {point.name: point for point in points}
    kinds = {point.name: point.kind for point in points if not point.kind.is_command}
    found: dict[str, tuple[str, Formula]] = {}
    paths: dict[str, str] = {}
    graph = p.context(CalculatedGraph)
    if value is not MISSING:
        tbl = TABLE.open(p, value, "calculated")
        for i, item in enumerate(p.array_of_tables(tbl.get("points", MISSING),
                                                   "calculated.points")):
            path = f"calculated.points[{i}]"
            entry = ENTRY.open(p, item, path)
            name, text = (ENTRY.key(k).read(p, entry, path) for k in ("point", "formula"))
            point = by_name.get(name) if isinstance(name, str) else None
            if isinstance(name, str) and (point is None or point.source != CALC_SOURCE):
                p.expected(f"{path}.point", 'the name of a point with source = "calc"', name)
                continue
            if point is None or not isinstance(text, str):
                continue
            if not claim(p, path, name, point.name, paths, "a point computed by one entry only",
                         "computed"):
                continue
            try:
                formula = compile_formula(text, kinds, point.kind)
            except FormulaError as exc:
                p.error(f"{path}.formula", f"{exc}, in {text!r}")
                graph.unusable[point.name] = f"has a formula rtu check refuses ({path}.formula)"
                continue
            found[point.name] = (text, formula)
            graph.inputs[point.name] = frozenset(formula.inputs())
    for name in unclaimed(p, points, CALC_SOURCE, raw_points, paths, "[[calculated.points]]"):
        graph.unusable[name] = "has no [[calculated.points]] entry"
    order = _order(p, {n: f for n, (_, f) in found.items()}, paths, graph)
    if value is MISSING:
        return None
    return CalculatedConfig(tuple(CalculatedPoint(n, found[n][0]) for n in order))


def _order(p: Reader, formulas: Mapping[str, Formula], paths: Mapping[str, str],
           graph: CalculatedGraph) -> list[str]:
    """The calculated points, each after the calculated points it reads; a cycle is an
    error naming it."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name):], name]
            p.error(f"{paths[name]}.formula", "expected no cycle of calculated points, got "
                    + " -> ".join(cycle))
            for member in cycle:
                graph.unusable[member] = "is in the cycle " + " -> ".join(cycle)
            return
        state[name] = 1
        for used in sorted(formulas[name].inputs()):
            if used in formulas:
                visit(used, [*trail, name])
        state[name] = 2
        order.append(name)

    for name in formulas:
        visit(name, [])
    return order
