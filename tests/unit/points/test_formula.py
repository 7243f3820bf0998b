"""rtu.points.formula: formulas of calculated points, their type checks and their evaluation
(logic, counts, aggregates, limits with hysteresis, quality propagation)."""

from __future__ import annotations

import pytest

from rtu.points.formula import FormulaError, compile_formula
from rtu.points.model import PointKind, PointValue, Quality

KINDS = {"a": PointKind.SINGLE, "b": PointKind.SINGLE, "c": PointKind.SINGLE,
         "x": PointKind.FLOAT, "y": PointKind.SCALED, "d": PointKind.DOUBLE}


class Values(dict[str, PointValue]):
    def set(self, name: str, value: bool | float, quality: Quality = Quality.GOOD) -> None:
        self[name] = PointValue(value, quality, 0.0)


def values(**items: bool | float) -> Values:
    v = Values()
    for name, value in items.items():
        v.set(name, value)
    return v


def test_logic_and_counts() -> None:
    f = compile_formula("a or b and not c", KINDS, PointKind.SINGLE)
    assert f.logic and f.inputs() == {"a", "b", "c"}
    assert f.evaluate(values(a=False, b=True, c=False).__getitem__) == (True, Quality.GOOD)
    assert f.evaluate(values(a=False, b=True, c=True).__getitem__)[0] is False
    count = compile_formula("count(a, b, c)", KINDS, PointKind.FLOAT)
    assert count.evaluate(values(a=True, b=False, c=True).__getitem__)[0] == 2.0
    at_least_two = compile_formula("above(count(a, b, c), 1.5, 0)", KINDS, PointKind.SINGLE)
    assert at_least_two.evaluate(values(a=True, b=False, c=True).__getitem__)[0] is True


def test_aggregates() -> None:
    v = values(x=3.0, y=5)
    for text, want in (("min(x, y)", 3.0), ("max(x, y, 7)", 7.0), ("sum(x, y)", 8.0),
                       ("avg(x, y)", 4.0)):
        assert compile_formula(text, KINDS, PointKind.FLOAT).evaluate(v.__getitem__)[0] == want


def test_limit_with_hysteresis_keeps_its_state() -> None:
    f = compile_formula("above(x, 80, 2)", KINDS, PointKind.SINGLE)
    v = values(x=79.0)
    seen = []
    for x in (79.0, 80.5, 79.0, 78.5, 77.9, 79.0, 81.0):
        v.set("x", x)
        seen.append(f.evaluate(v.__getitem__)[0])
    assert seen == [False, True, True, True, False, False, True]
    low = compile_formula("below(x, 10, 1)", KINDS, PointKind.SINGLE)
    seen = []
    for x in (12.0, 9.0, 10.5, 11.5):
        v.set("x", x)
        seen.append(low.evaluate(v.__getitem__)[0])
    assert seen == [False, True, True, False]


def test_quality_of_any_input_propagates() -> None:
    f = compile_formula("a or b", KINDS, PointKind.SINGLE)
    v = values(a=True, b=False)
    v.set("b", False, Quality.IV | Quality.BL)
    assert f.evaluate(v.__getitem__) == (True, Quality.IV)  # BL is the input's own business
    v.set("a", True, Quality.NT)
    assert f.evaluate(v.__getitem__) == (True, Quality.IV | Quality.NT)


@pytest.mark.parametrize(("text", "kind", "message"), [
    ("a or x", PointKind.SINGLE, "or takes logic values, not numbers"),
    ("sum(a, x)", PointKind.FLOAT, "sum takes numbers, not logic values"),
    ("count(x)", PointKind.FLOAT, "count takes logic values, not numbers"),
    ("a", PointKind.FLOAT, "a float point takes a number formula, this one gives a logic value"),
    ("x", PointKind.SINGLE, "a single point takes a logic formula, this one gives a number"),
    ("nope and a", PointKind.SINGLE, "no monitored point 'nope'"),
    ("d or a", PointKind.SINGLE, "d is a double point (single points and measurements only)"),
    ("above(x, y, 1)", PointKind.SINGLE,
     "above: limit and hysteresis are numbers as written (hysteresis >= 0)"),
    ("above(x, 1)", PointKind.SINGLE, "above takes (value, limit, hysteresis), got 2 arguments"),
    ("min(x,", PointKind.FLOAT, "expected a point name at column 7, got the end"),
    ("a b", PointKind.SINGLE, "expected an operator, ',' or the end at column 3, got 'b'"),
    ("", PointKind.SINGLE, "expected a formula, got an empty text"),
])
def test_mistakes_are_named(text: str, kind: PointKind, message: str) -> None:
    with pytest.raises(FormulaError) as info:
        compile_formula(text, KINDS, kind)
    assert str(info.value) == message


def test_bounded() -> None:
    with pytest.raises(FormulaError, match="nested too deeply"):
        compile_formula("not " * 100 + "a", KINDS, PointKind.SINGLE)
    with pytest.raises(FormulaError, match="at most 64 arguments"):
        compile_formula("sum(" + ", ".join(["x"] * 65) + ")", KINDS, PointKind.FLOAT)
