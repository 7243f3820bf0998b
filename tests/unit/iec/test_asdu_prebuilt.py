"""GI data from precomputed octets (issue 21 item 2): the same octets as the codec's encoding
of the information objects, for every monitored kind, value, quality and profile."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, decode_asdu, encode_asdu
from rtu.iec.asdu.codec_prebuilt import element_octets, encode_prebuilt, ioa_octets
from rtu.iec.asdu.objects import Asdu, SinglePoint
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.errors import LocalProtocolError
from rtu.iec.outstation.giplan import interrogation_asdu, plan_ioa_octets
from rtu.iec.outstation.mapping import MONITOR_TYPES, monitor_object
from rtu.points.model import Point, PointKind, PointValue, Quality

PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2)
QUALITIES = [Quality.GOOD, Quality.IV, Quality.NT, Quality.SB | Quality.BL, Quality.OV,
             Quality.IV | Quality.OV | Quality.NT, Quality.TRANSIENT, Quality.IV | Quality.TRANSIENT]
GI_KINDS = [k for k in MONITOR_TYPES if k is not PointKind.COUNTER]

VALUES = {
    PointKind.SINGLE: st.booleans(),
    PointKind.DOUBLE: st.integers(0, 3),
    PointKind.STEP: st.integers(-64, 63),
    PointKind.BITSTRING: st.integers(0, 2**32 - 1),
    PointKind.NORMALIZED: st.floats(-1.0, 0.99996),
    PointKind.SCALED: st.integers(-32768, 32767),
    PointKind.FLOAT: st.floats(allow_nan=False, width=32),
}


def codec_octets(type_id: TypeId, points: list[Point], values: dict[str, PointValue],
                 profile: AsduProfile, **kw: int | bool) -> bytes:
    objects = tuple(monitor_object(p, values[p.name], None) for p in points)
    return encode_asdu(Asdu(type_id, Cot.INTERROGATED_BY_STATION, 1, objects, **kw), profile)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(GI_KINDS), data=st.data(),
       profile=st.sampled_from([PROFILE_104, PROFILE_101]), test=st.booleans())
def test_same_octets_as_the_codec(kind: PointKind, data: st.DataObject, profile: AsduProfile,
                                  test: bool) -> None:
    n = data.draw(st.integers(1, 12))
    points = [Point(f"p{i}", 1 + i * 7, kind) for i in range(n)]
    values = {p.name: PointValue(data.draw(VALUES[kind]), data.draw(st.sampled_from(QUALITIES)),
                                 0.0) for p in points}
    type_id = MONITOR_TYPES[kind][0]
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start + 1, n))
    originator = 5 if profile.cot_size == 2 else 0
    ours = interrogation_asdu(type_id, points, start, end, values.__getitem__,
                              Cot.INTERROGATED_BY_STATION, 1, profile, test=test,
                              originator=originator)
    assert ours == codec_octets(type_id, points[start:end], values, profile, test=test,
                                originator=originator)


def test_single_points_golden() -> None:
    points = [Point("a", 0x010203, PointKind.SINGLE), Point("b", 7, PointKind.SINGLE)]
    values = {"a": PointValue(True, Quality.GOOD, 0.0), "b": PointValue(False, Quality.IV | Quality.NT, 0.0)}
    data = interrogation_asdu(TypeId.M_SP_NA_1, points, 0, 2, values.__getitem__,
                              Cot.INTERROGATED_BY_STATION, 1, PROFILE_104)
    assert data.hex(" ") == "01 02 14 00 01 00 03 02 01 01 07 00 00 c0"
    asdu = decode_asdu(data, PROFILE_104)
    assert asdu.objects == (SinglePoint(0x010203, True, Qds(0)),
                            SinglePoint(7, False, Qds.IV | Qds.NT))


def test_ioa_octets_are_computed_once_per_plan_list_and_size() -> None:
    points = [Point(f"p{i}", 100 + i, PointKind.SINGLE) for i in range(3)]
    first = plan_ioa_octets(points, PROFILE_104)
    assert plan_ioa_octets(points, PROFILE_104) is first
    assert first == bytes([100, 0, 0, 101, 0, 0, 102, 0, 0])
    assert plan_ioa_octets(points, PROFILE_101) == bytes([100, 0, 101, 0, 102, 0])


def test_bad_input_is_our_bug_with_a_clear_message() -> None:
    with pytest.raises(LocalProtocolError, match="IOA 70000 does not fit 2 octets"):
        ioa_octets([1, 70000], PROFILE_101)
    with pytest.raises(LocalProtocolError, match="1 to 127 objects"):
        encode_prebuilt(TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, 0, [], PROFILE_104)
    with pytest.raises(LocalProtocolError, match="more than max_asdu_length"):
        encode_prebuilt(TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, 100,
                        [b"\x01\x00\x00\x00"] * 100, PROFILE_104)
    with pytest.raises(LocalProtocolError, match="common address"):
        encode_prebuilt(TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 300, 1,
                        [b"\x01\x00\x00"], PROFILE_101)
    with pytest.raises(LocalProtocolError, match="needs a 2-octet cause"):
        encode_prebuilt(TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, 1,
                        [b"\x01\x00\x00"], PROFILE_101, originator=3)
    with pytest.raises(LocalProtocolError, match="not a monitored type without time tag"):
        element_octets(TypeId.M_SP_TB_1, SinglePoint(1, True, Qds(0)))
