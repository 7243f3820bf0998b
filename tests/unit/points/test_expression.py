"""rtu.points.expression: parsing (with the column of an error), checking against point kinds,
and evaluation naming the part that failed."""

from __future__ import annotations

import pytest

from rtu.points.expression import ExpressionError, check, failure, names, parse
from rtu.points.model import DoublePointValue, PointKind, PointValue, Quality

KINDS = {"es1": PointKind.SINGLE, "cb1": PointKind.DOUBLE, "ia": PointKind.FLOAT,
         "tap": PointKind.STEP, "cmd": PointKind.SINGLE_COMMAND}


def lookup_of(values: dict[str, tuple[bool | float, Quality]]):  # type: ignore[no-untyped-def]
    def lookup(name: str) -> tuple[PointKind, PointValue]:
        value, quality = values[name]
        return KINDS[name], PointValue(value, quality, 0.0)
    return lookup


def test_precedence_and_round_trip() -> None:
    condition = parse("es1 == off and valid(es1) or not (cb1 != on)")
    assert str(condition) == "(es1 == off and valid(es1)) or not cb1 != on"
    assert parse(str(condition)) == condition
    assert names(condition) == {"es1", "cb1"}


@pytest.mark.parametrize(("text", "message"), [
    ("", "expected a condition, got an empty text"),
    ("es1 = off", "unexpected '=' at column 5"),
    ("es1 off", "expected a comparison (==, !=, <, <=, >, >=) after 'es1' at column 5, got 'off'"),
    ("es1 == open", ("expected on, off, true, false, intermediate, faulty or a number at column 8, "
                    "got 'open'")),
    ("(es1 == on", "expected ')' at column 11, got the end"),
    ("es1 == on es1", "expected and, or or the end at column 11, got 'es1'"),
    ("and == on", "expected a point name at column 1, got 'and'"),
    ("valid es1", "expected '(' after valid at column 7, got 'es1'"),
    ("__import__('os')", "unexpected \"'\" at column 12"),
])
def test_malformed_conditions_say_where(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert str(info.value) == message


def test_bounded_input() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("(" * 1000 + "es1 == on" + ")" * 1000)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("not " * 900 + "es1 == on")
    assert parse("(" * 32 + "es1 == on" + ")" * 32) == parse("es1 == on")
    with pytest.raises(ExpressionError, match="at most 4000 characters"):
        parse("es1 == on and " * 400 + "es1 == on")


def test_check_names_unknown_points_and_impossible_comparisons() -> None:
    problems = check(parse("es1 == 1 and cb1 == true and ia == on and tap < 3 and cb1 > off "
                           "and valid(nope) and cmd == on and es1 >= on"), KINDS)
    assert problems == [
        "es1 == 1: es1 is a single point: compare it with on or off",
        "cb1 == true: cb1 is a double point: compare it with on, off, intermediate or faulty",
        "ia == on: ia is a float point: compare it with a number",
        "cb1 > off: > does not apply to a double point (use == or !=)",
        "valid(nope): no monitored point 'nope'",
        "cmd == on: cmd is a single_command point, not a monitored one",
        "es1 >= on: >= does not apply to a single point (use == or !=)",
    ]
    assert check(parse("ia >= -1.5e3 and tap != 4 and cb1 == intermediate"), KINDS) == []


def test_failure_names_the_part_that_did_not_hold() -> None:
    condition = parse("es1 == off and valid(es1) and (cb1 == off or ia < 10)")
    good = Quality.GOOD
    assert failure(condition, lookup_of({"es1": (False, good), "cb1": (2, good),
                                         "ia": (3.0, good)})) is None
    assert failure(condition, lookup_of({"es1": (True, good), "cb1": (1, good),
                                         "ia": (3.0, good)})) == "es1 == off (es1 is on)"
    invalid = failure(condition, lookup_of({"es1": (False, Quality.IV | Quality.NT),
                                            "cb1": (1, good), "ia": (3.0, good)}))
    assert invalid is not None and invalid.startswith("valid(es1) (es1 is ")
    assert "IV" in invalid and "NT" in invalid
    assert failure(condition, lookup_of({"es1": (False, good), "cb1": (3, good),
                                         "ia": (12.5, good)})) == (
        "none of: cb1 == off (cb1 is faulty); ia < 10 (ia is 12.5)")
    negated = parse("not cb1 == intermediate")
    assert failure(negated, lookup_of({"cb1": (int(DoublePointValue.INDETERMINATE), good)})) \
        == "not cb1 == intermediate"
    assert failure(negated, lookup_of({"cb1": (2, good)})) is None
