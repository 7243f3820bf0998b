"""rtu.points.protection: protection events and their times from the inputs' time stamps
(no clock: every time is a difference of the stamps the changes carry)."""

from __future__ import annotations

import pytest

from rtu.points.model import (
    DoublePointValue,
    PointKind,
    PointValue,
    Quality,
    protection_parts,
    protection_value,
)
from rtu.points.protection import ProtectionLogic, ProtectionReport, describe

T0 = 1_700_000_000.0


def on(t: float, quality: Quality = Quality.GOOD) -> PointValue:
    return PointValue(True, quality, t)


def off(t: float, quality: Quality = Quality.GOOD) -> PointValue:
    return PointValue(False, quality, t)


def parts(report: ProtectionReport | None) -> tuple[int, int, Quality]:
    assert report is not None
    bits, ms = protection_parts(report.value)
    return bits, ms, report.quality


def test_value_packs_bits_and_milliseconds() -> None:
    assert protection_parts(protection_value(0x2A, 59999)) == (0x2A, 59999)
    with pytest.raises(ValueError):
        protection_value(0, 60000)
    with pytest.raises(ValueError):
        protection_value(256, 0)


def test_single_event_elapsed_since_start_and_duration_on_off() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION, {"trip": "signal"}, start="pickup")
    assert logic.change("pickup", on(T0)) is None  # the start alone reports nothing
    assert parts(logic.change("trip", on(T0 + 0.250))) == (2, 250, Quality.GOOD)
    assert logic.change("trip", on(T0 + 0.3)) is None  # no change of state
    assert parts(logic.change("trip", off(T0 + 1.125))) == (1, 875, Quality.GOOD)


def test_single_event_without_a_start_has_an_invalid_elapsed_time_when_it_comes() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION, {"prot1": "signal"})
    assert parts(logic.change("prot1", on(T0))) == (2, 0, Quality.EI)
    assert parts(logic.change("prot1", off(T0 + 2.5))) == (1, 2500, Quality.GOOD)


def test_start_not_on_beyond_cp16_and_backwards_time_are_flagged_ei() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION, {"trip": "signal"}, start="pickup")
    assert parts(logic.change("trip", on(T0))) == (2, 0, Quality.EI)  # start is off
    assert parts(logic.change("trip", off(T0 + 61))) == (1, 59999, Quality.EI)
    logic.change("pickup", on(T0 + 100))
    assert parts(logic.change("trip", on(T0 + 99))) == (2, 0, Quality.EI)  # before the start


def test_start_events_carry_the_set_and_the_relay_duration() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION_START,
                            {"gs": "general", "a": "l1", "b": "l2", "n": "ie"})
    assert parts(logic.change("a", on(T0))) == (0x02, 0, Quality.GOOD)
    assert parts(logic.change("gs", on(T0 + 0.010))) == (0x03, 10, Quality.GOOD)
    assert parts(logic.change("n", on(T0 + 0.040))) == (0x13, 40, Quality.GOOD)
    assert parts(logic.change("a", off(T0 + 0.5))) == (0x11, 500, Quality.GOOD)
    logic.change("n", off(T0 + 0.6))
    # the last start going off reports the whole duration, from the first start
    assert parts(logic.change("gs", off(T0 + 0.7))) == (0, 700, Quality.GOOD)
    # a new start measures from its own beginning
    assert parts(logic.change("b", on(T0 + 5))) == (0x04, 0, Quality.GOOD)


def test_trip_carries_the_operating_time_from_the_start_and_input_quality() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION_TRIP, {"op": "general", "op_a": "l1"},
                            start="str")
    logic.change("str", on(T0, Quality.NT))
    assert parts(logic.change("op", on(T0 + 0.120))) == (0x01, 120, Quality.NT)
    assert parts(logic.change("op_a", on(T0 + 0.121))) == (0x03, 121, Quality.NT)
    logic.change("str", off(T0 + 0.2))
    assert parts(logic.change("op", off(T0 + 0.3))) == (0x02, 0, Quality.EI)


def test_double_point_inputs_are_on_in_state_on_only() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION, {"dp": "signal"})
    assert logic.change("dp", PointValue(int(DoublePointValue.INDETERMINATE), Quality.GOOD,
                                         T0)) is None
    assert parts(logic.change("dp", PointValue(int(DoublePointValue.ON), Quality.GOOD,
                                               T0 + 1)))[0] == 2


def test_start_up_values_are_state_not_events() -> None:
    logic = ProtectionLogic(PointKind.PROTECTION_START, {"gs": "general", "a": "l1"})
    logic.initial("gs", on(T0))
    logic.initial("a", off(T0))
    assert logic.change("gs", on(T0 + 1)) is None
    assert parts(logic.change("a", on(T0 + 2))) == (0x03, 2000, Quality.GOOD)


def test_misuse_is_refused() -> None:
    with pytest.raises(ValueError):
        ProtectionLogic(PointKind.SINGLE, {"x": "signal"})
    with pytest.raises(ValueError):
        ProtectionLogic(PointKind.PROTECTION_TRIP, {"x": "ie"})
    with pytest.raises(ValueError):
        ProtectionLogic(PointKind.PROTECTION_START, {"x": "general"}, start="s")


def test_describe_for_rtu_points() -> None:
    assert describe(PointKind.PROTECTION, protection_value(2, 110)) == "on 110 ms"
    assert describe(PointKind.PROTECTION, protection_value(0, 0)) == "indeterminate 0 ms"
    assert describe(PointKind.PROTECTION_START, protection_value(0x13, 40)) == "general|l1|ie 40 ms"
    assert describe(PointKind.PROTECTION_TRIP, protection_value(0, 0)) == "none 0 ms"
