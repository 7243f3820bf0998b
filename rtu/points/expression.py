"""Conditions on point values and quality: a small language, parsed and checked once.

Interlocks (rtu/sources/interlocks) state when a command may run as a condition such as::

    es1 == off and valid(es1) and (cb2 == off or not valid(cb2))

Grammar (keywords are lower case; a point name is letters, digits, ``_``, ``-`` and ``.``)::

    condition  := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" condition ")" | "valid" "(" NAME ")" | NAME OP literal
    OP         := "==" | "!=" | "<" | "<=" | ">" | ">="
    literal    := "on" | "off" | "true" | "false" | "intermediate" | "faulty" | NUMBER

``on``/``off`` (``true``/``false``) compare single points; ``on``, ``off``, ``intermediate``
(00) and ``faulty`` (11) double points; numbers the other monitored kinds, where ``<``..``>=``
apply too. ``valid(NAME)`` holds when the point is neither invalid (IV) nor not topical (NT).
A comparison looks at the value only: a condition that must not pass on a doubtful value says
``valid(NAME)`` as well.

There is no ``eval``: :func:`parse` builds a tree of frozen nodes, :func:`check` compares it
with the configured points (unknown names, comparisons a kind cannot make) and
:func:`failure` evaluates it against current values, naming the part that did not hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Final, Union

from rtu.frozen import frozen
from rtu.points.model import DoublePointValue, PointKind, PointValue, Quality

__all__ = ["Condition", "ExpressionError", "check", "failure", "names", "parse", "shown"]

_TOKEN: Final = re.compile(r"\s*(?:(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
                           r"|(?P<op>==|!=|<=|>=|<|>)|(?P<paren>[()])|(?P<comma>,)"
                           r"|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*))")
_KEYWORDS: Final = frozenset({"and", "or", "not", "valid", "on", "off", "true", "false",
                              "intermediate", "faulty"})
_BOOL_LITERALS: Final = {"on": True, "off": False, "true": True, "false": False}
_DOUBLE_LITERALS: Final = {"on": DoublePointValue.ON, "off": DoublePointValue.OFF,
                           "intermediate": DoublePointValue.INDETERMINATE,
                           "faulty": DoublePointValue.INDETERMINATE_OR_FAULTY}
_ORDERING: Final = frozenset({"<", "<=", ">", ">="})
_NUMERIC_KINDS: Final = frozenset({PointKind.STEP, PointKind.BITSTRING, PointKind.NORMALIZED,
                                   PointKind.SCALED, PointKind.FLOAT, PointKind.COUNTER})
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class ExpressionError(ValueError):
    """A condition that does not parse; the message says where."""


@frozen
class Compare:
    name: str
    op: str
    literal: str  # as written: a keyword or a number

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.literal}"


@frozen
class Valid:
    name: str

    def __str__(self) -> str:
        return f"valid({self.name})"


@frozen
class Not:
    operand: Condition

    def __str__(self) -> str:
        return f"not {_group(self.operand)}"


@frozen
class All:
    operands: tuple[Condition, ...]

    def __str__(self) -> str:
        return " and ".join(_group(o) for o in self.operands)


@frozen
class AnyOf:
    operands: tuple[Condition, ...]

    def __str__(self) -> str:
        return " or ".join(_group(o) for o in self.operands)


Condition = Union[Compare, Valid, Not, All, AnyOf]  # noqa: UP007  # a runtime alias


def _group(condition: Condition) -> str:
    return f"({condition})" if isinstance(condition, (All, AnyOf)) else str(condition)


# -- parsing -----------------------------------------------------------------------------------
@frozen
class _Token:
    kind: str  # num | op | paren | comma | name | end
    text: str
    at: int  # column (0-based) in the text


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            column = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ExpressionError(f"unexpected {text[column]!r} at column {column + 1}")
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class TokenParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0  # of parentheses and nots: bounded, so a hostile text cannot recurse

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str) -> ExpressionError:
        token = self.token
        got = "the end" if token.kind == "end" else repr(token.text)
        return ExpressionError(f"expected {expected} at column {token.at + 1}, got {got}")

    def keyword(self, word: str) -> bool:
        if self.token.kind == "name" and self.token.text == word:
            self.i += 1
            return True
        return False

    def condition(self) -> Condition:
        terms = [self.term()]
        while self.keyword("or"):
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else AnyOf(tuple(terms))

    def term(self) -> Condition:
        factors = [self.factor()]
        while self.keyword("and"):
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else All(tuple(factors))

    def factor(self) -> Condition:
        if self.token.kind == "name" and self.token.text == "not" or (
                self.token.kind == "paren" and self.token.text == "("):
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise ExpressionError(f"nested too deeply (more than {_MAX_DEPTH} levels of "
                                      f"parentheses and nots) at column {self.token.at + 1}")
            try:
                if self.keyword("not"):
                    return Not(self.factor())
                self.take()
                inner = self.condition()
                self.close()
                return inner
            finally:
                self.depth -= 1
        if self.keyword("valid"):
            if not (self.token.kind == "paren" and self.token.text == "("):
                raise self.fail("'(' after valid")
            self.take()
            name = self.point_name()
            self.close()
            return Valid(name)
        name = self.point_name()
        if self.token.kind != "op":
            raise self.fail(f"a comparison (==, !=, <, <=, >, >=) after {name!r}")
        op = self.take().text
        token = self.token
        if token.kind == "num" or (token.kind == "name" and token.text in _BOOL_LITERALS
                                   | _DOUBLE_LITERALS.keys()):
            self.take()
            return Compare(name, op, token.text)
        raise self.fail("on, off, true, false, intermediate, faulty or a number")

    def point_name(self) -> str:
        token = self.token
        if token.kind != "name" or token.text in _KEYWORDS:
            raise self.fail("a point name")
        self.take()
        return token.text

    def close(self) -> None:
        if not (self.token.kind == "paren" and self.token.text == ")"):
            raise self.fail("')'")
        self.take()


_MAX_LENGTH: Final = 4000  # characters; a condition is a line of configuration, not a program
_MAX_DEPTH: Final = 32


def parse(text: str) -> Condition:
    """The condition written in ``text``; ExpressionError says what is wrong and where."""
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expected at most {_MAX_LENGTH} characters, got {len(text)}")
    parser = TokenParser(text)
    if parser.token.kind == "end":
        raise ExpressionError("expected a condition, got an empty text")
    condition = parser.condition()
    if parser.token.kind != "end":
        raise parser.fail("and, or or the end")
    return condition


# -- checking against the configured points ---------------------------------------------------
def _walk(condition: Condition) -> Iterator[Condition]:
    yield condition
    if isinstance(condition, Not):
        yield from _walk(condition.operand)
    elif isinstance(condition, (All, AnyOf)):
        for operand in condition.operands:
            yield from _walk(operand)


def names(condition: Condition) -> frozenset[str]:
    """The points a condition reads."""
    return frozenset(c.name for c in _walk(condition) if isinstance(c, (Compare, Valid)))


def check(condition: Condition, kinds: Mapping[str, PointKind]) -> list[str]:
    """What is wrong with ``condition`` given the monitored points' kinds (empty: nothing)."""
    problems: list[str] = []
    for node in _walk(condition):
        if not isinstance(node, (Compare, Valid)):
            continue
        kind = kinds.get(node.name)
        if kind is None:
            problems.append(f"{node}: no monitored point {node.name!r}")
            continue
        if isinstance(node, Compare):
            problem = _compare_problem(node, kind)
            if problem:
                problems.append(f"{node}: {problem}")
    return problems


def _compare_problem(node: Compare, kind: PointKind) -> str | None:
    literal, ordered = node.literal, node.op in _ORDERING
    if kind is PointKind.SINGLE:
        if literal not in _BOOL_LITERALS:
            return f"{node.name} is a single point: compare it with on or off"
    elif kind is PointKind.DOUBLE:
        if literal not in _DOUBLE_LITERALS:
            return (f"{node.name} is a double point: compare it with on, off, intermediate "
                    "or faulty")
    elif kind in _NUMERIC_KINDS:
        if _number(literal) is None:
            return f"{node.name} is a {kind.value} point: compare it with a number"
        return None
    else:
        return f"{node.name} is a {kind.value} point, not a monitored one"
    if ordered:
        return f"{node.op} does not apply to a {kind.value} point (use == or !=)"
    return None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# -- evaluation ---------------------------------------------------------------------------------
Lookup = Callable[[str], tuple[PointKind, PointValue]]  # a point's kind and current value


def failure(condition: Condition, lookup: Lookup) -> str | None:
    """None when ``condition`` holds for the values ``lookup`` gives; else what did not hold
    (the failing part, with the values it saw). Only checked conditions are evaluated."""
    if isinstance(condition, All):
        for operand in condition.operands:
            failed = failure(operand, lookup)
            if failed is not None:
                return failed
        return None
    if isinstance(condition, AnyOf):
        failures = [failure(operand, lookup) for operand in condition.operands]
        if any(f is None for f in failures):
            return None
        return "none of: " + "; ".join(f for f in failures if f is not None)
    if isinstance(condition, Not):
        return f"{condition}" if failure(condition.operand, lookup) is None else None
    kind, current = lookup(condition.name)
    if isinstance(condition, Valid):
        doubtful = current.quality & (Quality.IV | Quality.NT)
        return None if not doubtful else f"{condition} ({condition.name} is {doubtful!r})"
    if _holds(condition, kind, current.value):
        return None
    return f"{condition} ({condition.name} is {_show(kind, current.value)})"


def _holds(node: Compare, kind: PointKind, value: bool | float) -> bool:
    if kind is PointKind.SINGLE:
        want: float = _BOOL_LITERALS[node.literal]
        return _COMPARE[node.op](bool(value), want)
    if kind is PointKind.DOUBLE:
        return _COMPARE[node.op](int(value), int(_DOUBLE_LITERALS[node.literal]))
    number = _number(node.literal)
    if number is None:  # not checked: never true, never a crash
        return False
    return _COMPARE[node.op](float(value), number)


def shown(kind: PointKind, current: PointValue) -> str:
    """A point's value as conditions write it, with its doubtful quality (IV, NT) if any."""
    doubtful = current.quality & (Quality.IV | Quality.NT)
    return _show(kind, current.value) + (f" {doubtful!r}" if doubtful else "")


def _show(kind: PointKind, value: bool | float) -> str:
    if kind is PointKind.SINGLE:
        return "on" if value else "off"
    if kind is PointKind.DOUBLE:
        names_of = {int(v): k for k, v in _DOUBLE_LITERALS.items()}
        return names_of.get(int(value), str(value))
    return f"{value:g}" if isinstance(value, float) else str(value)
