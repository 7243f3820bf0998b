"""Event ASDUs from the event encoder (codec_prebuilt.encode_events, issue 21 item 3): the
same octets as the codec's encode_asdu, for every kind of point event, value, quality, time tag
and profile (CP24 included), and the same errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, encode_asdu
from rtu.iec.asdu.codec_prebuilt import EVENT_ENCODERS, encode_events
from rtu.iec.asdu.objects import Asdu, Cp56Time2a, EndOfInitialization, SinglePoint
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.errors import LocalProtocolError
from rtu.iec.outstation.mapping import event_recipe
from rtu.points.model import Point, PointKind, PointValue, Quality, protection_value

PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2)
PROFILE_CP24 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, cp24=True)
T0 = 1_767_225_600.0  # 2026-01-01

VALUES = {
    PointKind.SINGLE: st.booleans(),
    PointKind.DOUBLE: st.integers(0, 3),
    PointKind.STEP: st.integers(-64, 63),
    PointKind.BITSTRING: st.integers(0, 2**32 - 1),
    PointKind.NORMALIZED: st.floats(-1.0, 0.99996),
    PointKind.SCALED: st.integers(-32768, 32767),
    PointKind.FLOAT: st.floats(allow_nan=False, width=32),
    PointKind.COUNTER: st.integers(-(2**31), 2**31 - 1),
    PointKind.PROTECTION: st.builds(protection_value, st.integers(0, 3), st.integers(0, 59999)),
    PointKind.PROTECTION_START: st.builds(protection_value, st.integers(0, 0x3F),
                                          st.integers(0, 59999)),
    PointKind.PROTECTION_TRIP: st.builds(protection_value, st.integers(0, 0x0F),
                                         st.integers(0, 59999)),
}
QUALITIES = {
    PointKind.COUNTER: [Quality.GOOD, Quality.IV, Quality.CY, Quality.CA | Quality.IV],
    PointKind.PROTECTION: [Quality.GOOD, Quality.IV, Quality.EI, Quality.SB | Quality.BL],
}
DEFAULT_QUALITIES = [Quality.GOOD, Quality.IV, Quality.NT, Quality.SB | Quality.BL,
                     Quality.IV | Quality.NT]


def test_every_event_type_has_an_encoder() -> None:
    for kind in VALUES:
        type_id, _ = event_recipe(Point("p", 1, kind))
        assert type_id in EVENT_ENCODERS


@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(list(VALUES)), data=st.data(),
       profile=st.sampled_from([PROFILE_104, PROFILE_101, PROFILE_CP24]),
       cot=st.sampled_from([Cot.SPONTANEOUS, Cot.RETURN_INFO_REMOTE]))
def test_same_octets_as_the_codec(kind: PointKind, data: st.DataObject, profile: AsduProfile,
                                  cot: Cot) -> None:
    n = data.draw(st.integers(1, 12))
    type_id, make = event_recipe(Point("p", 1, kind))
    qualities = QUALITIES.get(kind, QUALITIES[PointKind.PROTECTION] if kind.is_protection
                              else DEFAULT_QUALITIES)
    objects = []
    for i in range(n):
        # times that share a tag record, equal tags made apart, and different ones
        at = T0 + data.draw(st.sampled_from([0.0, 0.0004, 0.5, 3599.9, 86_400.25]))
        tag = Cp56Time2a.from_timestamp(at, invalid=data.draw(st.booleans()))
        value = PointValue(data.draw(VALUES[kind]), data.draw(st.sampled_from(qualities)), at)
        objects.append(make(Point(f"p{i}", 1 + i * 7, kind), value, tag))
    ours = encode_events(type_id, cot, 1, objects, profile)
    assert ours == encode_asdu(Asdu(type_id, cot, 1, tuple(objects)), profile)
    # once more: the time tag octets kept from the call before must not leak into this one
    assert encode_events(type_id, cot, 1, objects[::-1], profile) == encode_asdu(
        Asdu(type_id, cot, 1, tuple(objects[::-1])), profile)


def test_other_types_go_to_the_codec() -> None:
    end = EndOfInitialization(0, 0)
    assert encode_events(TypeId.M_EI_NA_1, Cot.INITIALIZED, 1, [end], PROFILE_104) == \
        encode_asdu(Asdu(TypeId.M_EI_NA_1, Cot.INITIALIZED, 1, (end,)), PROFILE_104)


@pytest.mark.parametrize(("objects", "ca", "match"), [
    ([SinglePoint(1, True, Qds(0), None)], 1, "missing time tag"),
    ([SinglePoint(1, True)], 1, "missing time tag"),
    ([EndOfInitialization(0, 0)], 1, "carries SinglePoint records"),
    ([SinglePoint(1 << 24, True, Qds(0), Cp56Time2a.from_timestamp(T0))], 1, "does not fit"),
    ([SinglePoint(1, True, Qds(0), Cp56Time2a.from_timestamp(T0))], 1 << 16, "common address"),
    ([SinglePoint(1, True, Qds(0), Cp56Time2a.from_timestamp(T0))] * 128, 1, "1 to 127"),
    ([SinglePoint(1, True, Qds.OV, Cp56Time2a.from_timestamp(T0))], 1, "quality"),
])
def test_the_codec_errors(objects: list[SinglePoint], ca: int, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode_asdu(Asdu(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, ca, tuple(objects)), PROFILE_104)
    with pytest.raises(LocalProtocolError, match=match):
        encode_events(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, ca, objects, PROFILE_104)
