"""Formulas of calculated points: values computed from other points, parsed and checked once.

Grammar (the tokens of rtu/points/expression.py; keywords lower case)::

    formula  := term ("or" term)*
    term     := factor ("and" factor)*
    factor   := "not" factor | "(" formula ")" | NAME | NUMBER
              | FUNC "(" formula ("," formula)* ")"

Two types: *logic* (single points, ``and``/``or``/``not``, ``above``/``below``) and *number*
(measurements, steps, counters, numbers, the other functions). Functions:

* ``count(l1, l2, ...)``: how many of the logic arguments are on;
* ``min``, ``max``, ``sum``, ``avg`` of number arguments;
* ``above(x, limit, hysteresis)``: on once ``x > limit``, off again once ``x < limit -
  hysteresis``; ``below(x, limit, hysteresis)``: on once ``x < limit``, off once ``x > limit +
  hysteresis`` (limit alarms; ``limit`` and ``hysteresis`` are numbers as written, hysteresis
  >= 0). They remember their state, so a :class:`Formula` is evaluated by one owner.

The result's quality: invalid (IV) if any input is, not topical (NT) if any input is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Union

from rtu.frozen import frozen
from rtu.points.expression import ExpressionError, TokenParser
from rtu.points.model import PointKind, PointValue, Quality

__all__ = ["Formula", "FormulaError", "compile_formula"]

FormulaError = ExpressionError
_LOGIC_KINDS: Final = frozenset({PointKind.SINGLE})
_NUMBER_KINDS: Final = frozenset({PointKind.STEP, PointKind.NORMALIZED, PointKind.SCALED,
                                  PointKind.FLOAT, PointKind.COUNTER})
_AGGREGATES: Final[dict[str, Callable[[list[float]], float]]] = {
    "min": min, "max": max, "sum": math.fsum, "avg": lambda xs: math.fsum(xs) / len(xs),
}
_FUNCTIONS: Final = frozenset({"count", "above", "below", *_AGGREGATES})
_MAX_ARGUMENTS: Final = 64
_PROPAGATED: Final = Quality.IV | Quality.NT


@frozen
class Ref:
    name: str


@frozen
class Num:
    value: float


@frozen
class Op:
    op: str  # and | or | not
    args: tuple[Node, ...]


@frozen
class Call:
    func: str
    args: tuple[Node, ...]
    index: int  # position among the formula's calls: the state slot of above/below


Node = Union[Ref, Num, Op, Call]  # noqa: UP007  # a runtime alias


class _FormulaParser(TokenParser):
    calls = 0

    def formula(self) -> Node:
        terms = [self.fterm()]
        while self.keyword("or"):
            terms.append(self.fterm())
        return terms[0] if len(terms) == 1 else Op("or", tuple(terms))

    def fterm(self) -> Node:
        factors = [self.ffactor()]
        while self.keyword("and"):
            factors.append(self.ffactor())
        return factors[0] if len(factors) == 1 else Op("and", tuple(factors))

    def ffactor(self) -> Node:
        token = self.token
        nested = (token.kind == "name" and token.text == "not") or (
            token.kind == "paren" and token.text == "(") or (
            token.kind == "name" and token.text in _FUNCTIONS)
        if not nested:
            if token.kind == "num":
                self.take()
                return Num(float(token.text))
            return Ref(self.point_name())
        self.depth += 1
        if self.depth > 32:
            raise ExpressionError(f"nested too deeply at column {token.at + 1}")
        try:
            if self.keyword("not"):
                return Op("not", (self.ffactor(),))
            if token.kind == "paren":
                self.take()
                inner = self.formula()
                self.close()
                return inner
            self.take()
            if not (self.token.kind == "paren" and self.token.text == "("):
                raise self.fail(f"'(' after {token.text}")
            self.take()
            args = [self.formula()]
            while self._comma():
                if len(args) >= _MAX_ARGUMENTS:
                    raise ExpressionError(f"{token.text}: at most {_MAX_ARGUMENTS} arguments")
                args.append(self.formula())
            self.close()
            call = Call(token.text, tuple(args), self.calls)
            self.calls += 1
            return call
        finally:
            self.depth -= 1

    def _comma(self) -> bool:
        if self.token.kind == "comma":
            self.take()
            return True
        return False


class Formula:
    """A checked formula and the state of its ``above``/``below`` calls."""

    def __init__(self, root: Node, text: str, logic: bool) -> None:
        self.root = root
        self.text = text
        self.logic = logic  # the result is logic (else a number)
        self._latched: dict[int, bool] = {}

    def inputs(self) -> frozenset[str]:
        return frozenset(n.name for n in _walk(self.root) if isinstance(n, Ref))

    def evaluate(self, lookup: Callable[[str], PointValue]) -> tuple[bool | float, Quality]:
        """The result and its quality (IV/NT of any input) for the inputs' current values."""
        quality = Quality.GOOD
        for name in self.inputs():
            quality |= lookup(name).quality & _PROPAGATED
        return self._eval(self.root, lookup), quality

    def _eval(self, node: Node, lookup: Callable[[str], PointValue]) -> bool | float:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Ref):
            value = lookup(node.name).value
            return value if isinstance(value, bool) else float(value)
        if isinstance(node, Op):
            values = [self._eval(a, lookup) for a in node.args]
            if node.op == "not":
                return not values[0]
            return all(values) if node.op == "and" else any(values)
        values = [self._eval(a, lookup) for a in node.args]
        if node.func == "count":
            return float(sum(1 for v in values if v))
        if node.func in _AGGREGATES:
            return _AGGREGATES[node.func]([float(v) for v in values])
        x, limit, hysteresis = (float(v) for v in values)
        was = self._latched.get(node.index, False)
        if node.func == "above":
            now = x > limit or (was and x >= limit - hysteresis)
        else:
            now = x < limit or (was and x <= limit + hysteresis)
        self._latched[node.index] = now
        return now


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, (Op, Call)):
        for arg in node.args:
            yield from _walk(arg)


def compile_formula(text: str, kinds: Mapping[str, PointKind], result: PointKind) -> Formula:
    """The formula in ``text`` for a point of kind ``result`` (single: logic; else a
    number), its inputs' ``kinds`` known; FormulaError says what is wrong."""
    if len(text) > 4000:
        raise ExpressionError(f"expected at most 4000 characters, got {len(text)}")
    parser = _FormulaParser(text)
    if parser.token.kind == "end":
        raise ExpressionError("expected a formula, got an empty text")
    root = parser.formula()
    if parser.token.kind != "end":
        raise parser.fail("an operator, ',' or the end")
    problems: list[str] = []
    logic = _type(root, kinds, problems)
    want_logic = result in _LOGIC_KINDS
    if not problems and logic is not None and logic != want_logic:
        problems.append(f"a {result.value} point takes a "
                        f"{'logic' if want_logic else 'number'} formula, this one gives a "
                        f"{'logic value' if logic else 'number'}")
    if problems:
        raise ExpressionError("; ".join(problems))
    return Formula(root, text, want_logic)


def _type(node: Node, kinds: Mapping[str, PointKind], problems: list[str]) -> bool | None:
    """True: logic, False: number, None: unknown (a problem was recorded)."""
    if isinstance(node, Num):
        return False
    if isinstance(node, Ref):
        kind = kinds.get(node.name)
        if kind is None:
            problems.append(f"no monitored point {node.name!r}")
            return None
        if kind in _LOGIC_KINDS:
            return True
        if kind in _NUMBER_KINDS:
            return False
        problems.append(f"{node.name} is a {kind.value} point (single points and measurements "
                        "only)")
        return None
    types = [_type(a, kinds, problems) for a in node.args]
    if isinstance(node, Op):
        if any(t is False for t in types):
            problems.append(f"{node.op} takes logic values, not numbers")
        return True
    if node.func == "count":
        if any(t is False for t in types):
            problems.append("count takes logic values, not numbers")
        return False
    if node.func in _AGGREGATES:
        if any(t is True for t in types):
            problems.append(f"{node.func} takes numbers, not logic values")
        return False
    if len(node.args) != 3:
        problems.append(f"{node.func} takes (value, limit, hysteresis), got {len(node.args)} "
                        "arguments")
        return True
    _, limit, hysteresis = node.args
    if types[0] is True:
        problems.append(f"{node.func} compares a number, not a logic value")
    if not isinstance(limit, Num) or not isinstance(hysteresis, Num) or hysteresis.value < 0:
        problems.append(f"{node.func}: limit and hysteresis are numbers as written "
                        "(hysteresis >= 0)")
    return True
