"""The time tag shared by the events of one millisecond (rtu/iec/outstation/timetag.py): every
time stamp inside ``same_tag_span`` gets the very tag ``Cp56Time2a.from_timestamp`` makes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.iec.asdu.codec_base import encode_cp56
from rtu.iec.asdu.objects import Cp56Time2a, minute_start_of, same_tag_span, tag_in_minute
from rtu.iec.outstation.timetag import TagCache
from rtu.points.timestamps import posix_seconds

_2001 = posix_seconds(datetime(2001, 1, 1, tzinfo=UTC))
_2098 = posix_seconds(datetime(2098, 12, 1, tzinfo=UTC))


@given(st.floats(_2001, _2098), st.floats(0.0, 1.0))
def test_every_time_in_the_span_gets_the_same_tag(seconds: float, where: float) -> None:
    span = same_tag_span(seconds)
    assert span is not None
    low, high = span
    # around the millisecond ``seconds`` rounds to (which may leave ``seconds`` just outside)
    assert low - 0.0001 < seconds < high + 0.0001
    inside = low + (high - low) * where
    if not low < inside < high:
        inside = (low + high) / 2
    assert Cp56Time2a.from_timestamp(inside) == Cp56Time2a.from_timestamp(seconds)
    # the edges themselves are left out, but only just: most of a millisecond is covered
    assert high - low > 0.0008


@given(st.integers(int(_2001), int(_2098)), st.sampled_from([0, 1, 499, 500, 501, 998, 999]))
def test_spans_at_second_and_rounding_boundaries(whole: int, ms: int) -> None:
    for seconds in (whole + ms / 1000.0, math.nextafter(whole + (ms + 0.5) / 1000.0, 0.0),
                    math.nextafter(whole + (ms - 0.5) / 1000.0, math.inf)):
        span = same_tag_span(seconds)
        assert span is not None
        tag = Cp56Time2a.from_timestamp(seconds)
        for probe in (math.nextafter(span[0], math.inf), math.nextafter(span[1], 0.0)):
            assert Cp56Time2a.from_timestamp(probe) == tag


def test_no_span_where_a_tag_may_be_clamped() -> None:
    assert same_tag_span(12.0) is None  # a board's clock at 1970
    assert same_tag_span(math.nan) is None
    assert same_tag_span(posix_seconds(datetime(2100, 1, 1, tzinfo=UTC))) is None


def test_local_time_spans_hold_across_a_change_to_summer_time() -> None:
    try:
        zone = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        pytest.skip("no time zone data")
    change = posix_seconds(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    for seconds in (change - 0.0004, change, change + 0.0004, change - 0.0006):
        span = same_tag_span(seconds)
        assert span is not None
        tag = Cp56Time2a.from_timestamp(seconds, zone=zone)
        probe = math.nextafter(span[0], math.inf)
        assert Cp56Time2a.from_timestamp(probe, zone=zone) == tag


def test_the_cache_is_emptied_and_shifted_by_the_offset() -> None:
    cache = TagCache()
    assert not cache.low < _2001 < cache.high  # empty
    tag = Cp56Time2a.from_timestamp(_2001 + 3600)
    cache.keep(tag, _2001 + 3600, 3600.0)
    assert cache.low < _2001 < cache.high and cache.tag is tag
    cache.clear()
    assert not cache.low < _2001 < cache.high
    cache.keep(Cp56Time2a.from_timestamp(12.0), 12.0, 0.0)  # clamped: nothing kept
    assert not cache.low < 12.0 < cache.high


_ZONES = [None, UTC]
try:
    _ZONES.append(ZoneInfo("Europe/Berlin"))
except ZoneInfoNotFoundError:  # no time zone data: UTC only
    pass


@given(st.floats(_2001, _2098), st.floats(-61.0, 61.0), st.booleans(), st.sampled_from(_ZONES))
def test_a_tag_in_the_same_minute_is_the_one_from_timestamp_makes(
        first: float, later: float, invalid: bool, zone: tzinfo | None) -> None:
    """tag_in_minute (the event path's tag of a new millisecond) gives from_timestamp's tag and
    same_tag_span's interval inside the kept tag's minute, and None outside it."""
    kept = Cp56Time2a.from_timestamp(first, invalid=invalid, zone=zone)
    seconds = first + later
    found = tag_in_minute(kept, minute_start_of(first), seconds)
    expected = Cp56Time2a.from_timestamp(seconds, invalid=invalid, zone=zone)
    if minute_start_of(seconds) != minute_start_of(first):
        assert found is None
        return
    assert found is not None
    tag, low, high = found
    assert tag == expected
    assert (low, high) == same_tag_span(seconds)


@given(st.integers(int(_2001), int(_2098)), st.sampled_from([0, 499, 500, 999, 59_499, 59_999]),
       st.sampled_from([-0.5, -0.4999, 0.0, 0.4999, 0.5]))
def test_tag_in_minute_at_second_and_minute_boundaries(whole: int, ms: int, near: float) -> None:
    minute = whole - whole % 60
    kept = Cp56Time2a.from_timestamp(minute + 30.0)
    seconds = minute + (ms + near) / 1000.0
    found = tag_in_minute(kept, minute, seconds)
    if minute_start_of(seconds) != minute:
        assert found is None
    else:
        assert found is not None and found[0] == Cp56Time2a.from_timestamp(seconds)
        assert (found[1], found[2]) == same_tag_span(seconds)


def test_the_cache_makes_a_new_millisecond_of_its_minute_from_the_kept_tag() -> None:
    cache = TagCache()
    base = _2001 + 7.0  # our clock; a master's offset of 10 s
    first = cache.make(base, 10.0, False, None)  # empty: from_timestamp's
    assert first == Cp56Time2a.from_timestamp(base + 10.0) and cache.tag is first
    assert cache.minute_start == minute_start_of(base + 10.0)
    tag = cache.make(base + 0.0123, 10.0, False, None)  # the same minute: from the kept tag
    assert tag == Cp56Time2a.from_timestamp(base + 10.0123)
    assert cache.tag is tag and cache.low < base + 0.0123 < cache.high  # kept, in our clock
    assert cache.octets == encode_cp56(tag, 0)
    later = cache.make(base + 60.0, 10.0, False, None)  # another minute: from_timestamp's
    assert later == Cp56Time2a.from_timestamp(base + 70.0) and cache.octets == encode_cp56(later, 0)
    cache.clear()  # a setting changed: the kept minute is not used again
    assert cache.minute_start != minute_start_of(base + 70.0)
    invalid = cache.make(base + 60.001, 10.0, True, None)
    assert invalid == Cp56Time2a.from_timestamp(base + 70.001, invalid=True)
