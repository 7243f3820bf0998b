"""Issue 15 items 1 and 8: CP56Time2a over the whole 2000-2099 range without the platform's
time_t, clamping with IV outside it, and local time with the SU bit."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from rtu.control import time_text
from rtu.decode import cp56_text
from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, ClockSyncCommand, Cp56Time2a
from rtu.iec.asdu.types import Cot, TypeId
from rtu.points.timestamps import posix_seconds, utc_datetime

ROOT = Path(__file__).resolve().parents[3]
AFTER_2038 = datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC)  # one second past 32-bit time_t
LAST = datetime(2099, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


def _wire(tag: Cp56Time2a) -> bytes:
    asdu = Asdu(TypeId.C_CS_NA_1, Cot.ACTIVATION, 1, (ClockSyncCommand(0, tag),))
    return encode_asdu(asdu, PROFILE_104)[9:]


def _round_trip(tag: Cp56Time2a) -> Cp56Time2a:
    asdu = Asdu(TypeId.C_CS_NA_1, Cot.ACTIVATION, 1, (ClockSyncCommand(0, tag),))
    (obj,) = decode_asdu(encode_asdu(asdu, PROFILE_104), PROFILE_104).objects
    assert isinstance(obj, ClockSyncCommand)
    return obj.time


def test_posix_conversions_are_arithmetic_past_2038() -> None:
    assert posix_seconds(AFTER_2038) == 2**31
    assert utc_datetime(2**31) == AFTER_2038
    assert posix_seconds(LAST) == pytest.approx(4102444799.999)
    assert utc_datetime(posix_seconds(LAST)) == LAST
    assert posix_seconds(datetime(2038, 1, 19, 3, 14, 8)) == 2**31  # naive = UTC


@pytest.mark.parametrize(("moment", "wire"), [
    # ms 8000 = 0x1f40; minute 14; hour 3; day 19 (Tuesday 2 << 5 = 0x53); month 1; year 38
    (AFTER_2038, "40 1f 0e 03 53 01 26"),
    # ms 59999 = 0xea5f; minute 59; hour 23; day 31 (Thursday 4 << 5 = 0x9f); month 12; year 99
    (LAST, "5f ea 3b 17 9f 0c 63"),
])
def test_time_tags_past_2038_and_at_the_end_of_the_century(moment: datetime, wire: str) -> None:
    tag = Cp56Time2a.from_timestamp(posix_seconds(moment), with_weekday=True)
    assert _wire(tag) == bytes.fromhex(wire)
    assert not tag.invalid
    back = _round_trip(tag)
    assert back.to_timestamp() == pytest.approx(posix_seconds(moment))
    assert back.to_datetime() == moment


@pytest.mark.parametrize("seconds", [0.0, -1.0, 946_684_799.999, float("nan"), float("-inf")])
def test_a_clock_before_2000_is_clamped_to_its_first_millisecond_with_iv(seconds: float) -> None:
    tag = Cp56Time2a.from_timestamp(seconds)
    assert tag.invalid
    assert (tag.year, tag.month, tag.day, tag.hour, tag.minute, tag.milliseconds) == (0, 1, 1, 0, 0, 0)


@pytest.mark.parametrize("seconds", [4_102_444_800.0, 1e12, float("inf")])
def test_a_clock_after_2099_is_clamped_to_its_last_millisecond_with_iv(seconds: float) -> None:
    tag = Cp56Time2a.from_timestamp(seconds)
    assert tag.invalid
    assert (tag.year, tag.month, tag.day, tag.hour, tag.minute, tag.milliseconds) == \
        (99, 12, 31, 23, 59, 59_999)


def test_operator_and_decoder_texts_past_2038() -> None:
    assert time_text(2**31) == "2038-01-19T03:14:08.000Z"
    assert time_text(posix_seconds(LAST)) == "2099-12-31T23:59:59.999Z"
    tag = Cp56Time2a.from_timestamp(posix_seconds(LAST))
    assert cp56_text(tag).startswith("2099-12-31 23:59:59.999 UTC")


def _berlin() -> ZoneInfo:
    try:
        return ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:  # pragma: no cover - a system without the time zone data
        pytest.skip("no time zone data")


def test_local_time_tags_set_su_in_summer_and_follow_the_dst_change() -> None:
    zone = _berlin()
    # 2026-03-29 00:59:59.5 UTC is 01:59:59.5 CET; at 01:00 UTC it is 03:00 CEST (UTC+2)
    change = posix_seconds(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    before = Cp56Time2a.from_timestamp(change - 0.5, zone=zone)
    after = Cp56Time2a.from_timestamp(change, zone=zone)
    assert (before.hour, before.minute, before.milliseconds, before.summer_time) == (1, 59, 59_500, False)
    assert (after.hour, after.minute, after.milliseconds, after.summer_time) == (3, 0, 0, True)
    assert _wire(after)[3] == 0x80 | 3  # SU in bit 7 of the hour octet
    assert _round_trip(after).to_timestamp(zone) == change
    assert _round_trip(before).to_timestamp(zone) == change - 0.5


def test_the_su_bit_tells_the_two_readings_of_the_repeated_autumn_hour_apart() -> None:
    zone = _berlin()
    # 2026-10-25: 02:30 local occurs at 00:30 UTC (CEST, SU) and at 01:30 UTC (CET)
    first = posix_seconds(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = first + timedelta(hours=1).total_seconds()
    tag1 = Cp56Time2a.from_timestamp(first, zone=zone)
    tag2 = Cp56Time2a.from_timestamp(second, zone=zone)
    assert (tag1.hour, tag1.minute, tag1.summer_time) == (2, 30, True)
    assert (tag2.hour, tag2.minute, tag2.summer_time) == (2, 30, False)
    assert tag1.to_timestamp(zone) == first
    assert tag2.to_timestamp(zone) == second


def test_local_time_past_2038() -> None:
    zone = _berlin()
    tag = Cp56Time2a.from_timestamp(2**31, zone=zone)
    assert (tag.year, tag.month, tag.day, tag.hour, tag.minute, tag.summer_time) == (38, 1, 19, 4, 14, False)
    assert tag.to_timestamp(zone) == 2**31


def _calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("fromtimestamp", "utcfromtimestamp", "timestamp") \
                and not node.args or isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("fromtimestamp", "utcfromtimestamp"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.attr}")
    return found


def test_no_conversion_relies_on_the_platform_time_t() -> None:
    """datetime.fromtimestamp and .timestamp() fail past 2038 on 32-bit boards: the product
    converts with rtu.points.timestamps (or the same arithmetic, in hal) instead."""
    offenders = [c for folder in ("rtu", "hal") for p in sorted((ROOT / folder).rglob("*.py"))
                 for c in _calls(p)]
    assert offenders == []


def test_events_of_one_millisecond_share_one_time_tag() -> None:
    """Issue 21: one record per millisecond (the codec then encodes its octets once per ASDU);
    anything that changes the tag makes a new one."""
    t = 1_700_000_000.1234
    tag = Cp56Time2a.from_timestamp(t)
    assert Cp56Time2a.from_timestamp(t + 0.0001) is tag  # rounds to the same millisecond
    later = Cp56Time2a.from_timestamp(t + 0.001)
    assert later is not tag and later.milliseconds == tag.milliseconds + 1
    invalid = Cp56Time2a.from_timestamp(t, invalid=True)
    assert invalid.invalid and not tag.invalid
    assert Cp56Time2a.from_timestamp(t, with_weekday=True).weekday != 0
    assert Cp56Time2a.from_timestamp(t) == tag and not Cp56Time2a.from_timestamp(t).invalid
