"""The time tag shared by the events of one millisecond (rtu/iec/outstation/timetag.py): every
time stamp inside ``same_tag_span`` gets the very tag ``Cp56Time2a.from_timestamp`` makes."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.iec.asdu.objects import Cp56Time2a, same_tag_span
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
