"""pack_objects: splitting information objects into as few ASDUs as fit."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduProfile,
    decode_asdu,
    encode_asdu,
    object_size,
    pack_objects,
)
from rtu.iec.asdu.codec_file import FILE_TYPES
from rtu.iec.asdu.objects import (
    TIME_TAGGED_TYPES,
    Asdu,
    Bitstring32,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp24Time2a,
    Cp56Time2a,
    DelayAcquisitionCommand,
    DoubleCommand,
    DoublePoint,
    EndOfInitialization,
    InformationObject,
    IntegratedTotal,
    InterrogationCommand,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredNormalizedNoQuality,
    MeasuredScaled,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
    ReadCommand,
    RegulatingStepCommand,
    ResetProcessCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
    SinglePoint,
    StepPosition,
    TestCommand,
    TestCommandWithTime,
)
from rtu.iec.asdu.types import CP24_EQUIVALENT, Cot, DoublePointValue, Qds, TypeId
from rtu.iec.errors import LocalProtocolError

T = TypeId
NOW = Cp56Time2a(milliseconds=1_234, minute=5, hour=6, day=7, month=8, year=24)
PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253)

# The standard defines SQ=1 for the monitor types without time tag only.
SEQUENCE_TYPES = {
    T.M_SP_NA_1,
    T.M_DP_NA_1,
    T.M_ST_NA_1,
    T.M_BO_NA_1,
    T.M_ME_NA_1,
    T.M_ME_NB_1,
    T.M_ME_NC_1,
    T.M_IT_NA_1,
    T.M_ME_ND_1,
}


def _maker(type_id: TypeId) -> Callable[[int], InformationObject]:
    """A valid record of ``type_id`` at a given IOA (values do not matter for packing)."""
    t = NOW if type_id in TIME_TAGGED_TYPES else None
    makers: dict[TypeId, Callable[[int], InformationObject]] = {
        T.M_SP_NA_1: lambda i: SinglePoint(i, True),
        T.M_SP_TB_1: lambda i: SinglePoint(i, True, Qds.IV, t),
        T.M_DP_NA_1: lambda i: DoublePoint(i, DoublePointValue.ON),
        T.M_DP_TB_1: lambda i: DoublePoint(i, DoublePointValue.OFF, time=t),
        T.M_ST_NA_1: lambda i: StepPosition(i, -3),
        T.M_ST_TB_1: lambda i: StepPosition(i, 3, time=t),
        T.M_BO_NA_1: lambda i: Bitstring32(i, 7),
        T.M_BO_TB_1: lambda i: Bitstring32(i, 7, time=t),
        T.M_ME_NA_1: lambda i: MeasuredNormalized(i, -5),
        T.M_ME_TD_1: lambda i: MeasuredNormalized(i, 5, time=t),
        T.M_ME_NB_1: lambda i: MeasuredScaled(i, 500),
        T.M_ME_TE_1: lambda i: MeasuredScaled(i, -500, time=t),
        T.M_ME_NC_1: lambda i: MeasuredFloat(i, 0.25),
        T.M_ME_TF_1: lambda i: MeasuredFloat(i, -0.25, time=t),
        T.M_IT_NA_1: lambda i: IntegratedTotal(i, 1000, sequence=i % 32),
        T.M_IT_TB_1: lambda i: IntegratedTotal(i, 1000, time=t),
        T.M_ME_ND_1: lambda i: MeasuredNormalizedNoQuality(i, 9),
        T.C_SC_NA_1: lambda i: SingleCommand(i, True),
        T.C_SC_TA_1: lambda i: SingleCommand(i, True, time=t),
        T.C_DC_NA_1: lambda i: DoubleCommand(i, 2),
        T.C_DC_TA_1: lambda i: DoubleCommand(i, 2, time=t),
        T.C_RC_NA_1: lambda i: RegulatingStepCommand(i, 1),
        T.C_RC_TA_1: lambda i: RegulatingStepCommand(i, 1, time=t),
        T.C_SE_NA_1: lambda i: SetpointNormalized(i, 1),
        T.C_SE_TA_1: lambda i: SetpointNormalized(i, 1, time=t),
        T.C_SE_NB_1: lambda i: SetpointScaled(i, 1),
        T.C_SE_TB_1: lambda i: SetpointScaled(i, 1, time=t),
        T.C_SE_NC_1: lambda i: SetpointFloat(i, 1.0),
        T.C_SE_TC_1: lambda i: SetpointFloat(i, 1.0, time=t),
        T.C_BO_NA_1: lambda i: Bitstring32Command(i, 1),
        T.C_BO_TA_1: lambda i: Bitstring32Command(i, 1, t),
        T.M_EI_NA_1: lambda i: EndOfInitialization(i),
        T.C_IC_NA_1: lambda i: InterrogationCommand(i, 20),
        T.C_CI_NA_1: lambda i: CounterInterrogationCommand(i, 5),
        T.C_RD_NA_1: lambda i: ReadCommand(i),
        T.C_CS_NA_1: lambda i: ClockSyncCommand(i, NOW),
        T.C_TS_NA_1: lambda i: TestCommand(i),
        T.C_RP_NA_1: lambda i: ResetProcessCommand(i, 1),
        T.C_TS_TA_1: lambda i: TestCommandWithTime(i, 1, NOW),
        T.M_EP_TD_1: lambda i: ProtectionEvent(i, 2, 10, time=t),
        T.M_EP_TE_1: lambda i: ProtectionStartEvents(i, 1, 10, time=t),
        T.M_EP_TF_1: lambda i: ProtectionOutputCircuit(i, 1, 10, time=t),
        T.P_ME_NA_1: lambda i: ParameterNormalized(i, 1, 1),
        T.P_ME_NB_1: lambda i: ParameterScaled(i, 1, 1),
        T.P_ME_NC_1: lambda i: ParameterFloat(i, 1.0, 1),
        T.P_AC_NA_1: lambda i: ParameterActivation(i, 2),
        T.C_CD_NA_1: lambda i: DelayAcquisitionCommand(i, 100),
    }
    # 101's CP24 types: the records of their CP56 equivalents with a CP24Time2a tag
    for long, short in CP24_EQUIVALENT.items():
        makers[short] = _with_cp24(makers[long])
    return makers[type_id]


def _with_cp24(make: Callable[[int], InformationObject]) -> Callable[[int], InformationObject]:
    return lambda i: dataclasses.replace(make(i), time=Cp24Time2a(1_234, 5))  # type: ignore[arg-type]


def _objects(type_id: TypeId, ioas: list[int]) -> list[InformationObject]:
    make = _maker(type_id)
    return [make(i) for i in ioas]


def _flatten(asdus: list[Asdu]) -> list[InformationObject]:
    return [o for a in asdus for o in a.objects]


def _plain_capacity(type_id: TypeId, profile: AsduProfile) -> int:
    room = profile.max_asdu_length - profile.header_length
    return min(127, room // object_size(type_id, profile))


def _sequence_capacity(type_id: TypeId, profile: AsduProfile) -> int:
    element = object_size(type_id, profile) - profile.ioa_size
    room = profile.max_asdu_length - profile.header_length - profile.ioa_size
    return min(127, room // element)


def _optimal_count(type_id: TypeId, profile: AsduProfile, ioas: list[int], seq: bool) -> int:
    """Reference: fewest ASDUs for ``ioas`` in order, by dynamic programming over every split."""
    n = len(ioas)
    plain = _plain_capacity(type_id, profile)
    sequence = _sequence_capacity(type_id, profile) if seq else 0
    run = [1] * n
    for i in range(n - 2, -1, -1):
        if ioas[i + 1] == ioas[i] + 1:
            run[i] = run[i + 1] + 1
    best = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        reach = max(min(plain, n - i), min(sequence, run[i]))
        best[i] = 1 + min(best[i + 1 : i + reach + 1])
    return best[0]


# ============================================================================================
# Examples
# ============================================================================================


def test_nothing_to_pack() -> None:
    assert pack_objects(T.M_SP_NA_1, Cot.SPONTANEOUS, 1, [], PROFILE_104) == []


def test_consecutive_single_points_use_sequence() -> None:
    objects = _objects(T.M_SP_NA_1, list(range(1000, 1300)))
    packed = pack_objects(T.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, objects, PROFILE_104)
    # SQ=1: 6 + 3 + n <= 249 -> 127 per ASDU (count field); SQ=0: 243 // 4 = 60 per ASDU
    assert [len(a.objects) for a in packed] == [127, 127, 46]
    assert all(a.sequence for a in packed)
    assert _flatten(packed) == objects
    plain = pack_objects(
        T.M_SP_NA_1,
        Cot.INTERROGATED_BY_STATION,
        1,
        objects,
        PROFILE_104,
        allow_sequence=False,
    )
    assert [len(a.objects) for a in plain] == [60, 60, 60, 60, 60]
    assert not any(a.sequence for a in plain)


def test_short_consecutive_run_still_uses_sequence() -> None:
    objects = _objects(T.M_ME_NB_1, list(range(10, 20)))
    (asdu,) = pack_objects(T.M_ME_NB_1, Cot.INTERROGATED_BY_STATION, 1, objects, PROFILE_104)
    assert asdu.sequence
    assert len(encode_asdu(asdu, PROFILE_104)) == 6 + 3 + 10 * 3


def test_single_object_is_never_a_sequence() -> None:
    (asdu,) = pack_objects(T.M_SP_NA_1, Cot.SPONTANEOUS, 1, _objects(T.M_SP_NA_1, [7]), PROFILE_104)
    assert not asdu.sequence


def test_scattered_then_consecutive() -> None:
    ioas = [5 * k for k in range(1, 11)] + list(range(1000, 1200))
    objects = _objects(T.M_SP_NA_1, ioas)
    packed = pack_objects(T.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, objects, PROFILE_104)
    # 60 plain (10 scattered + 50 of the run), then SQ=1 127, then SQ=1 the last 23
    assert [(len(a.objects), a.sequence) for a in packed] == [(60, False), (127, True), (23, True)]
    assert _flatten(packed) == objects
    assert len(packed) < math.ceil(len(objects) / 60)


def test_time_tagged_types_never_use_sequence() -> None:
    objects = _objects(T.M_SP_TB_1, list(range(50)))
    packed = pack_objects(T.M_SP_TB_1, Cot.SPONTANEOUS, 1, objects, PROFILE_104)
    # 243 // (3 + 1 + 7) = 22 per ASDU
    assert [(len(a.objects), a.sequence) for a in packed] == [(22, False), (22, False), (6, False)]


def test_header_fields_are_passed_through() -> None:
    objects = _objects(T.M_ME_NC_1, [1, 2, 3, 10])
    packed = pack_objects(
        T.M_ME_NC_1,
        Cot.INTERROGATED_BY_GROUP_2,
        0x1234,
        objects,
        PROFILE_104,
        originator=9,
        test=True,
    )
    for asdu in packed:
        assert asdu.type_id is T.M_ME_NC_1
        assert asdu.cot is Cot.INTERROGATED_BY_GROUP_2
        assert asdu.common_address == 0x1234
        assert asdu.originator == 9
        assert asdu.test and not asdu.negative
    assert _flatten(packed) == objects


def test_101_profile() -> None:
    objects = _objects(T.M_DP_NA_1, [1, 3, 5, 7])
    (asdu,) = pack_objects(T.M_DP_NA_1, Cot.INTERROGATED_BY_STATION, 1, objects, PROFILE_101)
    assert encode_asdu(asdu, PROFILE_101) == bytes.fromhex(
        # 03 type, 04 count, 14 COT 20, 01 CA | IOA 2 octets + DIQ 02 (ON) each
        "03 04 14 01  01 00 02  03 00 02  05 00 02  07 00 02"
    )


def test_wrong_record_class_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        pack_objects(
            T.M_SP_NA_1, Cot.SPONTANEOUS, 1, [SinglePoint(1, True), DoublePoint(2, 1)], PROFILE_104
        )


def test_unknown_type_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        pack_objects(99, Cot.SPONTANEOUS, 1, [], PROFILE_104)  # type: ignore[arg-type]


# ============================================================================================
# Properties
# ============================================================================================

profiles = st.builds(
    lambda cot, ca, ioa, extra: AsduProfile(
        cot, ca, ioa, min(254, 2 + cot + ca + ioa + 12 + extra)
    ),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2, 3]),
    st.one_of(st.integers(0, 30), st.integers(0, 260)),
)


@st.composite
def ioa_lists(draw: st.DrawFn, profile: AsduProfile) -> list[int]:
    """IOAs made of consecutive runs and jumps, within the profile's IOA range."""
    modulus = 1 << (8 * profile.ioa_size)
    ioa = draw(st.integers(0, modulus - 1))
    steps = draw(
        st.lists(
            st.one_of(st.just(1), st.just(1), st.just(2), st.integers(0, modulus - 1)),
            max_size=400,
        )
    )
    out = [ioa]
    for step in steps:
        ioa = (ioa + step) % modulus
        out.append(ioa)
    return out


@st.composite
def packing_cases(draw: st.DrawFn) -> tuple[AsduProfile, TypeId, list[int]]:
    profile = draw(profiles)
    # file ASDUs are built one by one (rtu/iec/outstation/files.py), never packed
    types = [t for t in TypeId if t not in FILE_TYPES]
    return profile, draw(st.sampled_from(types)), draw(ioa_lists(profile))


@settings(max_examples=200, deadline=None)
@given(packing_cases(), st.booleans())
def test_packing_properties(
    case: tuple[AsduProfile, TypeId, list[int]], allow_sequence: bool
) -> None:
    profile, type_id, ioas = case
    objects = _objects(type_id, ioas)
    packed = pack_objects(
        type_id,
        Cot.INTERROGATED_BY_STATION,
        1,
        objects,
        profile,
        allow_sequence=allow_sequence,
    )
    assert _flatten(packed) == objects
    for asdu in packed:
        assert 1 <= len(asdu.objects) <= 127
        raw = encode_asdu(asdu, profile)
        assert len(raw) <= profile.max_asdu_length
        assert decode_asdu(raw, profile) == asdu
        if asdu.sequence:
            assert allow_sequence and type_id in SEQUENCE_TYPES
    plain = pack_objects(
        type_id, Cot.INTERROGATED_BY_STATION, 1, objects, profile, allow_sequence=False
    )
    assert not any(a.sequence for a in plain)
    assert len(plain) == math.ceil(len(objects) / _plain_capacity(type_id, profile))
    assert len(packed) <= len(plain)
    seq = allow_sequence and type_id in SEQUENCE_TYPES
    assert len(packed) == _optimal_count(type_id, profile, ioas, seq)
