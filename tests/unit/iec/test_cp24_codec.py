"""The 101 CP24Time2a option of the codec: a CP24 profile sends each CP56 monitor type as its
CP24 equivalent (types.CP24_EQUIVALENT), the same element with a 3-octet time tag."""

from __future__ import annotations

import pytest

from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduProfile,
    MalformedAsduError,
    decode_asdu,
    encode_asdu,
    object_size,
    pack_objects,
)
from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32,
    Cp24Time2a,
    Cp56Time2a,
    DoublePoint,
    InformationObject,
    IntegratedTotal,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredScaled,
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
    SinglePoint,
    StepPosition,
)
from rtu.iec.asdu.types import CP24_EQUIVALENT, TYPES_101_ONLY, Cot, TypeId

P101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253)
P101_CP24 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253, cp24=True)
# 2024-02-29 23:59:59.999 -> CP56 5f ea 3b 17 1d 02 18; its CP24 part: 5f ea 3b
TAG = Cp56Time2a(59_999, 59, 23, 29, 2, 24)
TAG_IV = Cp56Time2a(1_000, 7, 3, 1, 1, 26, invalid=True)  # CP24: e8 03 87

SAMPLES: dict[TypeId, InformationObject] = {
    TypeId.M_SP_TB_1: SinglePoint(7, True, time=TAG),
    TypeId.M_DP_TB_1: DoublePoint(7, 2, time=TAG),
    TypeId.M_ST_TB_1: StepPosition(7, 5, time=TAG),
    TypeId.M_BO_TB_1: Bitstring32(7, 0xA5, time=TAG),
    TypeId.M_ME_TD_1: MeasuredNormalized(7, 100, time=TAG),
    TypeId.M_ME_TE_1: MeasuredScaled(7, -100, time=TAG),
    TypeId.M_ME_TF_1: MeasuredFloat(7, 2.5, time=TAG),
    TypeId.M_IT_TB_1: IntegratedTotal(7, 12, 1, time=TAG),
    TypeId.M_EP_TD_1: ProtectionEvent(7, 2, 30, time=TAG),
    TypeId.M_EP_TE_1: ProtectionStartEvents(7, 1, 30, time=TAG),
    TypeId.M_EP_TF_1: ProtectionOutputCircuit(7, 1, 30, time=TAG),
}


def test_the_table_maps_every_cp56_monitor_type_once() -> None:
    assert set(CP24_EQUIVALENT) == set(SAMPLES)
    assert {int(t) for t in CP24_EQUIVALENT.values()} == {2, 4, 6, 8, 10, 12, 14, 16, 17, 18, 19}
    assert TypeId.C_CD_NA_1 in TYPES_101_ONLY


@pytest.mark.parametrize("cp56", list(CP24_EQUIVALENT), ids=lambda t: t.name)
def test_cp24_profile_sends_the_cp24_equivalent(cp56: TypeId) -> None:
    asdu = Asdu(cp56, Cot.SPONTANEOUS, 5, (SAMPLES[cp56],))
    long = encode_asdu(asdu, P101)
    short = encode_asdu(asdu, P101_CP24)
    assert long[0] == cp56 and short[0] == CP24_EQUIVALENT[cp56]
    # same header and element; the time tag keeps ms and minute only (4 octets less)
    assert short[1:-3] == long[1:-7]
    assert short[-3:] == bytes.fromhex("5f ea 3b")
    decoded = decode_asdu(short, P101_CP24)
    assert decoded.type_id is CP24_EQUIVALENT[cp56]
    assert decoded.objects[0].time == Cp24Time2a(59_999, 59)  # type: ignore[union-attr]
    assert object_size(cp56, P101_CP24) == object_size(cp56, P101) - 4


def test_iv_of_the_cp56_tag_travels_in_the_minute_octet() -> None:
    asdu = Asdu(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 5, (SinglePoint(1, False, time=TAG_IV),))
    assert encode_asdu(asdu, P101_CP24).hex(" ") == "02 01 03 05 01 00 00 e8 03 87"


def test_104_and_cp56_lines_are_never_affected() -> None:
    asdu = Asdu(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 1, (SinglePoint(1, True, time=TAG),))
    assert encode_asdu(asdu, PROFILE_104)[0] == 30 and encode_asdu(asdu, P101)[0] == 30
    # types without time tag and commands are the same on a CP24 line
    gi = Asdu(TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 5, (SinglePoint(1, True),))
    assert encode_asdu(gi, P101_CP24) == encode_asdu(gi, P101)


def test_pack_objects_sizes_with_the_cp24_type() -> None:
    objects = [SinglePoint(i, True, time=TAG) for i in range(1, 201)]
    long = pack_objects(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 5, objects, P101)
    short = pack_objects(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 5, objects, P101_CP24)
    assert len(short) < len(long)
    for asdu in short:
        assert len(encode_asdu(asdu, P101_CP24)) <= 253


@pytest.mark.parametrize("tag", ["60 ea 00", "00 00 3c"], ids=["ms 60000", "minute 60"])
def test_out_of_range_cp24_is_malformed(tag: str) -> None:
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex("02 01 03 05 01 00 01 " + tag), P101)


def test_profile_rejects_a_non_bool_cp24() -> None:
    with pytest.raises(ValueError, match="cp24"):
        AsduProfile(cp24=1)  # type: ignore[arg-type]
