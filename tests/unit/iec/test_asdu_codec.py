"""Golden-byte, round-trip, fuzz and error tests of rtu.iec.asdu.codec."""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduError,
    AsduHeader,
    AsduProfile,
    MalformedAsduError,
    UnknownCauseError,
    UnknownTypeError,
    decode_asdu,
    decode_header,
    encode_asdu,
    negative_mirror,
    object_size,
)
from rtu.iec.asdu.codec_file import FILE_TYPES
from rtu.iec.asdu.objects import (
    CP24_TIME_TAGGED_TYPES,
    OBJECT_CLASS,
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
from rtu.iec.asdu.types import TYPES_101_ONLY, Cot, DoublePointValue, Qdp, Qds, Qu, TypeId
from rtu.iec.errors import LocalProtocolError, RemoteProtocolError

T = TypeId
C = Cot
DPV = DoublePointValue

# A 101 profile: 1-octet COT (no originator), 1-octet CA, 2-octet IOA.
PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253)

# --- time tags used by the golden vectors ---------------------------------------------------
# T1 = 2024-02-29 23:59:59.999, no weekday:
#   ms 59999 = 0xEA5F -> 5f ea | min 59 -> 3b | hour 23 -> 17 | day 29 -> 1d | month 2 -> 02 |
#   year 24 -> 18
T1 = Cp56Time2a(milliseconds=59_999, minute=59, hour=23, day=29, month=2, year=24)
T1_HEX = "5f ea 3b 17 1d 02 18"
# T2 = 2021-03-15 (a Monday) 08:30:12.345, summer time:
#   ms 12345 = 0x3039 -> 39 30 | min 30 -> 1e | hour 8 + SU 0x80 -> 88 |
#   day 15 + weekday 1 << 5 -> 2f | month 3 -> 03 | year 21 -> 15
T2 = Cp56Time2a(
    milliseconds=12_345, minute=30, hour=8, day=15, month=3, year=21, weekday=1, summer_time=True
)
T2_HEX = "39 30 1e 88 2f 03 15"
# T3 = 2000-01-01 00:00:00.000 marked invalid:
#   ms 0 -> 00 00 | min 0 + IV 0x80 -> 80 | hour 00 | day 01 | month 01 | year 00
T3 = Cp56Time2a(milliseconds=0, minute=0, hour=0, day=1, month=1, year=0, invalid=True)
T3_HEX = "00 00 80 00 01 01 00"
# CP24Time2a (101 only): ms within the minute (uint16 LE) | minute (bits 0-5, IV bit 7)
# S1 = xx:59:59.999 -> 5f ea 3b; S2 = xx:30:12.345 invalid -> 39 30 | 30 + IV 0x80 = 9e
S1 = Cp24Time2a(milliseconds=59_999, minute=59)
S1_HEX = "5f ea 3b"
S2 = Cp24Time2a(milliseconds=12_345, minute=30, invalid=True)
S2_HEX = "39 30 9e"


def _asdu(
    type_id: TypeId,
    cot: Cot,
    ca: int,
    *objects: InformationObject,
    sequence: bool = False,
    negative: bool = False,
    test: bool = False,
    originator: int = 0,
) -> Asdu:
    return Asdu(type_id, cot, ca, tuple(objects), sequence, negative, test, originator)


# ============================================================================================
# Golden vectors, 104 profile: type | VSQ | COT | OA | CA lo CA hi | IOA (3 octets LE) ...
# ============================================================================================

GOLDEN_104: list[tuple[str, Asdu, str]] = [
    (
        "M_SP_NA_1 SQ=0, two objects, IV+NT on the second",
        _asdu(
            T.M_SP_NA_1,
            C.SPONTANEOUS,
            1,
            SinglePoint(100, True),
            SinglePoint(101, False, Qds.IV | Qds.NT),
        ),
        # 01 type, 02 count, 03 spont, 00 OA, 01 00 CA | 64 00 00 IOA 100, 01 SPI=1 |
        # 65 00 00 IOA 101, c0 IV NT SPI=0
        "01 02 03 00 01 00  64 00 00 01  65 00 00 c0",
    ),
    (
        "M_SP_NA_1 SQ=1, three consecutive objects answering GI",
        _asdu(
            T.M_SP_NA_1,
            C.INTERROGATED_BY_STATION,
            1,
            SinglePoint(1000, True),
            SinglePoint(1001, False),
            SinglePoint(1002, True, Qds.BL),
            sequence=True,
        ),
        # 83 SQ=1 count 3, 14 COT 20 | e8 03 00 IOA 1000 | 01 | 00 | 11 BL+SPI
        "01 83 14 00 01 00  e8 03 00  01 00 11",
    ),
    (
        "M_DP_NA_1 SQ=0, CA 0x1234",
        _asdu(
            T.M_DP_NA_1,
            C.INTERROGATED_BY_STATION,
            0x1234,
            DoublePoint(200, DPV.ON),
            DoublePoint(201, DPV.INDETERMINATE_OR_FAULTY, Qds.SB),
        ),
        # CA 34 12 | c8 00 00 IOA 200 DIQ 02 | c9 00 00 IOA 201 DIQ SB 0x20 + 3
        "03 02 14 00 34 12  c8 00 00 02  c9 00 00 23",
    ),
    (
        "M_ST_NA_1 three objects: -1 transient OV, 63, -64",
        _asdu(
            T.M_ST_NA_1,
            C.SPONTANEOUS,
            1,
            StepPosition(300, -1, True, Qds.OV),
            StepPosition(301, 63),
            StepPosition(302, -64),
        ),
        # IOA 300 = 2c 01 00, VTI ff (0x7f | T), QDS 01 | 3f 00 | 40 00
        "05 03 03 00 01 00  2c 01 00 ff 01  2d 01 00 3f 00  2e 01 00 40 00",
    ),
    (
        "M_BO_NA_1",
        _asdu(T.M_BO_NA_1, C.SPONTANEOUS, 1, Bitstring32(400, 0x12345678)),
        # IOA 400 = 90 01 00, BSI 78 56 34 12, QDS 00
        "07 01 03 00 01 00  90 01 00 78 56 34 12 00",
    ),
    (
        "M_ME_NA_1 periodic, 3-octet IOA, -32768 overflow",
        _asdu(T.M_ME_NA_1, C.PERIODIC, 1, MeasuredNormalized(0x010203, -32768, Qds.OV)),
        # 01 periodic | IOA 03 02 01 | NVA 00 80 | QDS 01
        "09 01 01 00 01 00  03 02 01 00 80 01",
    ),
    (
        "M_ME_NB_1 answering a read",
        _asdu(T.M_ME_NB_1, C.REQUEST, 1, MeasuredScaled(500, 1000)),
        # 05 request | IOA 500 = f4 01 00 | SVA 1000 = e8 03 | QDS 00
        "0b 01 05 00 01 00  f4 01 00 e8 03 00",
    ),
    (
        "M_ME_NC_1 float 1.5",
        _asdu(T.M_ME_NC_1, C.SPONTANEOUS, 1, MeasuredFloat(600, 1.5)),
        # IOA 600 = 58 02 00 | 1.5f = 0x3fc00000 -> 00 00 c0 3f | QDS 00
        "0d 01 03 00 01 00  58 02 00 00 00 c0 3f 00",
    ),
    (
        "M_IT_NA_1 counter interrogation answer",
        _asdu(
            T.M_IT_NA_1,
            C.REQUESTED_BY_GENERAL_COUNTER,
            1,
            IntegratedTotal(700, -2, sequence=5, carry=True, invalid=True),
        ),
        # 25 COT 37 | IOA 700 = bc 02 00 | BCR fe ff ff ff | 05 seq + CY 20 + IV 80 = a5
        "0f 01 25 00 01 00  bc 02 00 fe ff ff ff a5",
    ),
    (
        "M_ME_ND_1 SQ=1",
        _asdu(
            T.M_ME_ND_1,
            C.INTERROGATED_BY_STATION,
            1,
            MeasuredNormalizedNoQuality(800, 16384),
            MeasuredNormalizedNoQuality(801, -1),
            sequence=True,
        ),
        # 15 type 21 | 82 SQ=1 count 2 | IOA 800 = 20 03 00 | 00 40 | ff ff
        "15 82 14 00 01 00  20 03 00 00 40 ff ff",
    ),
    (
        "M_SP_TB_1 with T1",
        _asdu(T.M_SP_TB_1, C.SPONTANEOUS, 1, SinglePoint(100, True, Qds(0), T1)),
        # 1e type 30 | IOA 100 | SIQ 01 | CP56 T1
        f"1e 01 03 00 01 00  64 00 00 01 {T1_HEX}",
    ),
    (
        "M_DP_TB_1 with T2 (weekday, summer time)",
        _asdu(T.M_DP_TB_1, C.SPONTANEOUS, 1, DoublePoint(201, DPV.OFF, Qds(0), T2)),
        f"1f 01 03 00 01 00  c9 00 00 01 {T2_HEX}",
    ),
    (
        "M_ST_TB_1 with invalid time T3",
        _asdu(T.M_ST_TB_1, C.SPONTANEOUS, 1, StepPosition(300, 5, False, Qds(0), T3)),
        f"20 01 03 00 01 00  2c 01 00 05 00 {T3_HEX}",
    ),
    (
        "M_BO_TB_1",
        _asdu(T.M_BO_TB_1, C.SPONTANEOUS, 1, Bitstring32(400, 0xFFFFFFFF, Qds.IV, T1)),
        f"21 01 03 00 01 00  90 01 00 ff ff ff ff 80 {T1_HEX}",
    ),
    (
        "M_ME_TD_1",
        _asdu(T.M_ME_TD_1, C.SPONTANEOUS, 1, MeasuredNormalized(0x010203, 32767, Qds(0), T1)),
        f"22 01 03 00 01 00  03 02 01 ff 7f 00 {T1_HEX}",
    ),
    (
        "M_ME_TE_1",
        _asdu(T.M_ME_TE_1, C.SPONTANEOUS, 1, MeasuredScaled(500, -1000, Qds.BL, T2)),
        # SVA -1000 = 0xfc18 -> 18 fc | QDS BL 10
        f"23 01 03 00 01 00  f4 01 00 18 fc 10 {T2_HEX}",
    ),
    (
        "M_ME_TF_1",
        _asdu(T.M_ME_TF_1, C.SPONTANEOUS, 1, MeasuredFloat(600, -2.0, Qds.NT, T1)),
        # -2.0f = 0xc0000000 | QDS NT 40
        f"24 01 03 00 01 00  58 02 00 00 00 00 c0 40 {T1_HEX}",
    ),
    (
        "M_IT_TB_1",
        _asdu(
            T.M_IT_TB_1,
            C.SPONTANEOUS,
            1,
            IntegratedTotal(700, 100_000, sequence=31, adjusted=True, time=T1),
        ),
        # 100000 = 0x000186a0 | seq 1f + CA 40 = 5f
        f"25 01 03 00 01 00  bc 02 00 a0 86 01 00 5f {T1_HEX}",
    ),
    (
        "C_SC_NA_1 select, QU=0, ON, IOA 5001",
        _asdu(T.C_SC_NA_1, C.ACTIVATION, 1, SingleCommand(5001, True, Qu.NONE, select=True)),
        # 2d type 45 | 06 act | IOA 5001 = 89 13 00 | SCO 81 (S/E + SCS)
        "2d 01 06 00 01 00  89 13 00 81",
    ),
    (
        "C_SC_NA_1 execute, negative ACT_CON, originator 3",
        _asdu(
            T.C_SC_NA_1,
            C.ACTIVATION_CON,
            1,
            SingleCommand(5001, True),
            negative=True,
            originator=3,
        ),
        # 47 = COT 7 + P/N 40 | OA 03 | SCO 01
        "2d 01 47 03 01 00  89 13 00 01",
    ),
    (
        "C_SC_NA_1 short pulse, test bit",
        _asdu(T.C_SC_NA_1, C.ACTIVATION, 1, SingleCommand(5001, True, Qu.SHORT_PULSE), test=True),
        # 86 = COT 6 + T 80 | SCO 05 = QU 1 << 2 + SCS
        "2d 01 86 00 01 00  89 13 00 05",
    ),
    (
        "C_DC_NA_1 ON long pulse",
        _asdu(T.C_DC_NA_1, C.ACTIVATION, 1, DoubleCommand(5002, 2, Qu.LONG_PULSE)),
        # DCO 0a = QU 2 << 2 + DCS 2
        "2e 01 06 00 01 00  8a 13 00 0a",
    ),
    (
        "C_RC_NA_1 lower, persistent, select",
        _asdu(
            T.C_RC_NA_1,
            C.ACTIVATION,
            1,
            RegulatingStepCommand(5003, 1, Qu.PERSISTENT, select=True),
        ),
        # RCO 8d = S/E 80 + QU 3 << 2 + RCS 1
        "2f 01 06 00 01 00  8b 13 00 8d",
    ),
    (
        "C_SE_NA_1 select",
        _asdu(T.C_SE_NA_1, C.ACTIVATION, 1, SetpointNormalized(6000, 16384, select=True)),
        # IOA 6000 = 70 17 00 | NVA 00 40 | QOS 80
        "30 01 06 00 01 00  70 17 00 00 40 80",
    ),
    (
        "C_SE_NB_1 QL 5",
        _asdu(T.C_SE_NB_1, C.ACTIVATION, 1, SetpointScaled(6001, -2, ql=5)),
        "31 01 06 00 01 00  71 17 00 fe ff 05",
    ),
    (
        "C_SE_NC_1 QL 127 select",
        _asdu(T.C_SE_NC_1, C.ACTIVATION, 1, SetpointFloat(6002, 1.5, ql=127, select=True)),
        "32 01 06 00 01 00  72 17 00 00 00 c0 3f ff",
    ),
    (
        "C_BO_NA_1",
        _asdu(T.C_BO_NA_1, C.ACTIVATION, 1, Bitstring32Command(6003, 0xDEADBEEF)),
        "33 01 06 00 01 00  73 17 00 ef be ad de",
    ),
    (
        "C_SC_TA_1",
        _asdu(T.C_SC_TA_1, C.ACTIVATION, 1, SingleCommand(5001, False, time=T2)),
        f"3a 01 06 00 01 00  89 13 00 00 {T2_HEX}",
    ),
    (
        "C_DC_TA_1 select OFF short pulse",
        _asdu(
            T.C_DC_TA_1,
            C.ACTIVATION,
            1,
            DoubleCommand(5002, 1, Qu.SHORT_PULSE, select=True, time=T1),
        ),
        # DCO 85 = S/E + QU 1 << 2 + DCS 1
        f"3b 01 06 00 01 00  8a 13 00 85 {T1_HEX}",
    ),
    (
        "C_RC_TA_1 higher",
        _asdu(T.C_RC_TA_1, C.ACTIVATION, 1, RegulatingStepCommand(5003, 2, time=T1)),
        f"3c 01 06 00 01 00  8b 13 00 02 {T1_HEX}",
    ),
    (
        "C_SE_TA_1",
        _asdu(T.C_SE_TA_1, C.ACTIVATION, 1, SetpointNormalized(6000, -16384, time=T1)),
        # NVA -16384 = 0xc000 -> 00 c0 | QOS 00
        f"3d 01 06 00 01 00  70 17 00 00 c0 00 {T1_HEX}",
    ),
    (
        "C_SE_TB_1",
        _asdu(T.C_SE_TB_1, C.ACTIVATION, 1, SetpointScaled(6001, 1234, ql=1, select=True, time=T2)),
        # SVA 1234 = 0x04d2 | QOS 81
        f"3e 01 06 00 01 00  71 17 00 d2 04 81 {T2_HEX}",
    ),
    (
        "C_SE_TC_1",
        _asdu(T.C_SE_TC_1, C.ACTIVATION, 1, SetpointFloat(6002, 0.0, time=T1)),
        f"3f 01 06 00 01 00  72 17 00 00 00 00 00 00 {T1_HEX}",
    ),
    (
        "C_BO_TA_1",
        _asdu(T.C_BO_TA_1, C.ACTIVATION, 1, Bitstring32Command(6003, 1, T1)),
        f"40 01 06 00 01 00  73 17 00 01 00 00 00 {T1_HEX}",
    ),
    (
        "M_EI_NA_1 remote reset after parameter change",
        _asdu(T.M_EI_NA_1, C.INITIALIZED, 1, EndOfInitialization(0, 2, True)),
        # 46 type 70 | 04 init | IOA 0 | COI 82
        "46 01 04 00 01 00  00 00 00 82",
    ),
    (
        "C_IC_NA_1 station interrogation (well-known vector)",
        _asdu(T.C_IC_NA_1, C.ACTIVATION, 1, InterrogationCommand(0, 20)),
        "64 01 06 00 01 00  00 00 00 14",
    ),
    (
        "C_IC_NA_1 ACT_CON (well-known vector)",
        _asdu(T.C_IC_NA_1, C.ACTIVATION_CON, 1, InterrogationCommand(0, 20)),
        "64 01 07 00 01 00  00 00 00 14",
    ),
    (
        "C_CI_NA_1 general, freeze",
        _asdu(T.C_CI_NA_1, C.ACTIVATION, 1, CounterInterrogationCommand(0, 5, 1)),
        # QCC 45 = RQT 5 + FRZ 1 << 6
        "65 01 06 00 01 00  00 00 00 45",
    ),
    (
        "M_EP_TD_1 protection event on, elapsed 150 ms",
        _asdu(T.M_EP_TD_1, C.SPONTANEOUS, 1, ProtectionEvent(2301, 2, 150, time=T1)),
        # 26 type 38 | IOA 2301 = fd 08 00 | SEP 02 | CP16 150 = 96 00 | CP56 T1
        f"26 01 03 00 01 00  fd 08 00  02 96 00 {T1_HEX}",
    ),
    (
        "M_EP_TE_1 general start + L1, relay duration 59999 ms, elapsed invalid",
        _asdu(T.M_EP_TE_1, C.SPONTANEOUS, 1,
              ProtectionStartEvents(2302, 0x03, 59_999, Qdp.EI, T1)),
        # SPE 03 | QDP 08 | CP16 59999 = 5f ea
        f"27 01 03 00 01 00  fe 08 00  03 08 5f ea {T1_HEX}",
    ),
    (
        "M_EP_TF_1 general command, relay operating time 40 ms, invalid",
        _asdu(T.M_EP_TF_1, C.SPONTANEOUS, 1,
              ProtectionOutputCircuit(2303, 0x01, 40, Qdp.IV, T1)),
        f"28 01 03 00 01 00  ff 08 00  01 80 28 00 {T1_HEX}",
    ),
    (
        "P_ME_NA_1 threshold 0.5 (16384/32768)",
        _asdu(T.P_ME_NA_1, C.ACTIVATION, 1, ParameterNormalized(3001, 16384, 1)),
        # NVA 16384 LE, QPM = KPA 1
        "6e 01 06 00 01 00  b9 0b 00  00 40 01",
    ),
    (
        "P_ME_NB_1 threshold 25, not in operation, ACT_CON",
        _asdu(T.P_ME_NB_1, C.ACTIVATION_CON, 1, ParameterScaled(3002, 25, 1, pop=True)),
        # SVA 25, QPM = KPA 1 | POP 0x80
        "6f 01 07 00 01 00  ba 0b 00  19 00 81",
    ),
    (
        "P_ME_NC_1 threshold 1.5, local parameter change",
        _asdu(T.P_ME_NC_1, C.ACTIVATION, 1, ParameterFloat(3003, 1.5, 1, lpc=True)),
        # IEEE 754 1.5 = 00 00 c0 3f, QPM = KPA 1 | LPC 0x40
        "70 01 06 00 01 00  bb 0b 00  00 00 c0 3f 41",
    ),
    (
        "P_AC_NA_1 deactivate the object's parameter",
        _asdu(T.P_AC_NA_1, C.DEACTIVATION, 1, ParameterActivation(3001, 2)),
        "71 01 08 00 01 00  b9 0b 00  02",
    ),
    (
        "C_CI_NA_1 general, freeze with reset",
        _asdu(T.C_CI_NA_1, C.ACTIVATION, 1, CounterInterrogationCommand(0, 5, 2)),
        # QCC 85 = RQT 5 + FRZ 2 << 6
        "65 01 06 00 01 00  00 00 00 85",
    ),
    (
        "C_CI_NA_1 group 2, reset",
        _asdu(T.C_CI_NA_1, C.ACTIVATION, 1, CounterInterrogationCommand(0, 2, 3)),
        # QCC C2 = RQT 2 + FRZ 3 << 6
        "65 01 06 00 01 00  00 00 00 c2",
    ),
    (
        "M_IT_TB_1 return info remote after a reset",
        _asdu(T.M_IT_TB_1, C.RETURN_INFO_REMOTE, 1,
              IntegratedTotal(4001, 0, 0, time=Cp56Time2a(0, 0, 0, 1, 1, 24))),
        "25 01 0b 00 01 00  a1 0f 00  00 00 00 00 00  00 00 00 00 01 01 18",
    ),
    (
        "C_RD_NA_1 (no element)",
        _asdu(T.C_RD_NA_1, C.REQUEST, 1, ReadCommand(100)),
        "66 01 05 00 01 00  64 00 00",
    ),
    (
        "C_CS_NA_1 with T1",
        _asdu(T.C_CS_NA_1, C.ACTIVATION, 1, ClockSyncCommand(0, T1)),
        f"67 01 06 00 01 00  00 00 00 {T1_HEX}",
    ),
    (
        "C_TS_NA_1 fixed test pattern",
        _asdu(T.C_TS_NA_1, C.ACTIVATION, 1, TestCommand(0, 0x55AA)),
        # FBP 0x55aa -> aa 55
        "68 01 06 00 01 00  00 00 00 aa 55",
    ),
    (
        "C_RP_NA_1 general reset",
        _asdu(T.C_RP_NA_1, C.ACTIVATION, 1, ResetProcessCommand(0, 1)),
        "69 01 06 00 01 00  00 00 00 01",
    ),
    (
        "C_TS_TA_1",
        _asdu(T.C_TS_TA_1, C.ACTIVATION, 1, TestCommandWithTime(0, 0x1234, T1)),
        # TSC 34 12 | CP56
        f"6b 01 06 00 01 00  00 00 00 34 12 {T1_HEX}",
    ),
]

# ============================================================================================
# Golden vectors, 101 profile: type | VSQ | COT | CA | IOA (2 octets LE) ...
# ============================================================================================

GOLDEN_101: list[tuple[str, Asdu, str]] = [
    (
        "M_SP_NA_1 SQ=0, test bit",
        _asdu(
            T.M_SP_NA_1,
            C.SPONTANEOUS,
            5,
            SinglePoint(0x0102, True, Qds.BL),
            SinglePoint(0x0103, False),
            test=True,
        ),
        # 83 = COT 3 + T | CA 05 | IOA 02 01 SIQ 11 | IOA 03 01 SIQ 00
        "01 02 83 05  02 01 11  03 01 00",
    ),
    (
        "M_DP_NA_1",
        _asdu(T.M_DP_NA_1, C.INTERROGATED_BY_STATION, 5, DoublePoint(10, DPV.OFF, Qds.IV)),
        "03 01 14 05  0a 00 81",
    ),
    (
        "M_ST_NA_1 transient 0",
        _asdu(T.M_ST_NA_1, C.SPONTANEOUS, 5, StepPosition(11, 0, True)),
        "05 01 03 05  0b 00 80 00",
    ),
    (
        "M_BO_NA_1",
        _asdu(T.M_BO_NA_1, C.SPONTANEOUS, 5, Bitstring32(12, 1, Qds.OV)),
        "07 01 03 05  0c 00 01 00 00 00 01",
    ),
    (
        "M_ME_NA_1 SQ=1 three objects from IOA 0x0100",
        _asdu(
            T.M_ME_NA_1,
            C.INTERROGATED_BY_STATION,
            5,
            MeasuredNormalized(0x100, 0),
            MeasuredNormalized(0x101, 1),
            MeasuredNormalized(0x102, -1),
            sequence=True,
        ),
        # 83 SQ=1 count 3 | IOA 00 01 | 00 00 00 | 01 00 00 | ff ff 00
        "09 83 14 05  00 01  00 00 00  01 00 00  ff ff 00",
    ),
    (
        "M_ME_NB_1 OV IV",
        _asdu(T.M_ME_NB_1, C.PERIODIC, 5, MeasuredScaled(13, 32767, Qds.OV | Qds.IV)),
        "0b 01 01 05  0d 00 ff 7f 81",
    ),
    (
        "M_ME_NC_1 SQ=1",
        _asdu(
            T.M_ME_NC_1,
            C.INTERROGATED_BY_STATION,
            5,
            MeasuredFloat(14, 1.5),
            MeasuredFloat(15, -2.0),
            sequence=True,
        ),
        "0d 82 14 05  0e 00  00 00 c0 3f 00  00 00 00 c0 00",
    ),
    (
        "M_IT_NA_1",
        _asdu(T.M_IT_NA_1, C.REQUESTED_BY_GENERAL_COUNTER, 5, IntegratedTotal(15, 0x7FFFFFFF)),
        "0f 01 25 05  0f 00 ff ff ff 7f 00",
    ),
    (
        "M_ME_ND_1 SQ=0",
        _asdu(
            T.M_ME_ND_1,
            C.PERIODIC,
            5,
            MeasuredNormalizedNoQuality(16, 1),
            MeasuredNormalizedNoQuality(20, -32768),
        ),
        "15 02 01 05  10 00 01 00  14 00 00 80",
    ),
    (
        "M_SP_TB_1 invalid time",
        _asdu(T.M_SP_TB_1, C.SPONTANEOUS, 5, SinglePoint(17, False, Qds.IV, T3)),
        f"1e 01 03 05  11 00 80 {T3_HEX}",
    ),
    (
        "M_DP_TB_1",
        _asdu(T.M_DP_TB_1, C.SPONTANEOUS, 5, DoublePoint(18, DPV.ON, Qds(0), T1)),
        f"1f 01 03 05  12 00 02 {T1_HEX}",
    ),
    (
        "M_ST_TB_1",
        _asdu(T.M_ST_TB_1, C.SPONTANEOUS, 5, StepPosition(19, -64, time=T1)),
        f"20 01 03 05  13 00 40 00 {T1_HEX}",
    ),
    (
        "M_BO_TB_1",
        _asdu(T.M_BO_TB_1, C.SPONTANEOUS, 5, Bitstring32(20, 0x80000000, time=T2)),
        f"21 01 03 05  14 00 00 00 00 80 00 {T2_HEX}",
    ),
    (
        "M_ME_TD_1",
        _asdu(T.M_ME_TD_1, C.SPONTANEOUS, 5, MeasuredNormalized(21, 1, Qds.SB, T1)),
        f"22 01 03 05  15 00 01 00 20 {T1_HEX}",
    ),
    (
        "M_ME_TE_1",
        _asdu(T.M_ME_TE_1, C.SPONTANEOUS, 5, MeasuredScaled(22, 0, time=T1)),
        f"23 01 03 05  16 00 00 00 00 {T1_HEX}",
    ),
    (
        "M_ME_TF_1",
        _asdu(T.M_ME_TF_1, C.SPONTANEOUS, 5, MeasuredFloat(23, 1.5, time=T2)),
        f"24 01 03 05  17 00 00 00 c0 3f 00 {T2_HEX}",
    ),
    (
        "M_IT_TB_1",
        _asdu(
            T.M_IT_TB_1,
            C.SPONTANEOUS,
            5,
            IntegratedTotal(24, -(2**31), sequence=1, carry=True, time=T1),
        ),
        # BCR 00 00 00 80 | 21 = seq 1 + CY
        f"25 01 03 05  18 00 00 00 00 80 21 {T1_HEX}",
    ),
    (
        "C_SC_NA_1 select, QU=0, IOA 5001",
        _asdu(T.C_SC_NA_1, C.ACTIVATION, 5, SingleCommand(5001, True, select=True)),
        "2d 01 06 05  89 13 81",
    ),
    (
        "C_SC_NA_1 negative ACT_CON with test bit",
        _asdu(
            T.C_SC_NA_1,
            C.ACTIVATION_CON,
            5,
            SingleCommand(5001, True, select=True),
            negative=True,
            test=True,
        ),
        # c7 = T 80 + P/N 40 + COT 7
        "2d 01 c7 05  89 13 81",
    ),
    (
        "C_DC_NA_1 deactivation",
        _asdu(T.C_DC_NA_1, C.DEACTIVATION, 5, DoubleCommand(25, 1)),
        "2e 01 08 05  19 00 01",
    ),
    (
        "C_RC_NA_1",
        _asdu(
            T.C_RC_NA_1,
            C.ACTIVATION,
            5,
            RegulatingStepCommand(26, 2, Qu.SHORT_PULSE, select=True),
        ),
        # 86 = S/E + QU 1 << 2 + RCS 2
        "2f 01 06 05  1a 00 86",
    ),
    (
        "C_SE_NA_1",
        _asdu(T.C_SE_NA_1, C.ACTIVATION, 5, SetpointNormalized(27, 0x1234)),
        "30 01 06 05  1b 00 34 12 00",
    ),
    (
        "C_SE_NB_1 select",
        _asdu(T.C_SE_NB_1, C.ACTIVATION, 5, SetpointScaled(28, 100, select=True)),
        "31 01 06 05  1c 00 64 00 80",
    ),
    (
        "C_SE_NC_1",
        _asdu(T.C_SE_NC_1, C.ACTIVATION, 5, SetpointFloat(29, -2.0)),
        "32 01 06 05  1d 00 00 00 00 c0 00",
    ),
    (
        "C_BO_NA_1",
        _asdu(T.C_BO_NA_1, C.ACTIVATION, 5, Bitstring32Command(30, 0)),
        "33 01 06 05  1e 00 00 00 00 00",
    ),
    (
        "C_SC_TA_1 persistent",
        _asdu(T.C_SC_TA_1, C.ACTIVATION, 5, SingleCommand(31, True, Qu.PERSISTENT, time=T1)),
        # 0d = QU 3 << 2 + SCS
        f"3a 01 06 05  1f 00 0d {T1_HEX}",
    ),
    (
        "C_DC_TA_1 select ON",
        _asdu(T.C_DC_TA_1, C.ACTIVATION, 5, DoubleCommand(32, 2, select=True, time=T2)),
        f"3b 01 06 05  20 00 82 {T2_HEX}",
    ),
    (
        "C_RC_TA_1",
        _asdu(T.C_RC_TA_1, C.ACTIVATION, 5, RegulatingStepCommand(33, 1, time=T1)),
        f"3c 01 06 05  21 00 01 {T1_HEX}",
    ),
    (
        "C_SE_TA_1",
        _asdu(T.C_SE_TA_1, C.ACTIVATION, 5, SetpointNormalized(34, 32767, select=True, time=T1)),
        f"3d 01 06 05  22 00 ff 7f 80 {T1_HEX}",
    ),
    (
        "C_SE_TB_1",
        _asdu(T.C_SE_TB_1, C.ACTIVATION, 5, SetpointScaled(35, -32768, time=T1)),
        f"3e 01 06 05  23 00 00 80 00 {T1_HEX}",
    ),
    (
        "C_SE_TC_1",
        _asdu(T.C_SE_TC_1, C.ACTIVATION, 5, SetpointFloat(36, 1.5, select=True, time=T1)),
        f"3f 01 06 05  24 00 00 00 c0 3f 80 {T1_HEX}",
    ),
    (
        "C_BO_TA_1",
        _asdu(T.C_BO_TA_1, C.ACTIVATION, 5, Bitstring32Command(37, 0x01020304, T2)),
        f"40 01 06 05  25 00 04 03 02 01 {T2_HEX}",
    ),
    (
        "M_EI_NA_1 power on",
        _asdu(T.M_EI_NA_1, C.INITIALIZED, 5, EndOfInitialization(0, 0)),
        "46 01 04 05  00 00 00",
    ),
    (
        "C_IC_NA_1 group 1",
        _asdu(T.C_IC_NA_1, C.ACTIVATION, 5, InterrogationCommand(0, 21)),
        "64 01 06 05  00 00 15",
    ),
    (
        "M_EP_TD_1 off, blocked, elapsed 0",
        _asdu(T.M_EP_TD_1, C.SPONTANEOUS, 5, ProtectionEvent(38, 1, 0, Qdp.BL, T1)),
        f"26 01 03 05  26 00  11 00 00 {T1_HEX}",
    ),
    (
        "M_EP_TE_1 start L3 + earth, reverse",
        _asdu(T.M_EP_TE_1, C.SPONTANEOUS, 5, ProtectionStartEvents(38, 0x38, 1000, time=T1)),
        f"27 01 03 05  26 00  38 00 e8 03 {T1_HEX}",
    ),
    (
        "M_EP_TF_1 commands to L1-L3",
        _asdu(T.M_EP_TF_1, C.SPONTANEOUS, 5, ProtectionOutputCircuit(38, 0x0E, 7, time=T1)),
        f"28 01 03 05  26 00  0e 00 07 00 {T1_HEX}",
    ),
    (
        "P_ME_NA_1 threshold",
        _asdu(T.P_ME_NA_1, C.ACTIVATION, 5, ParameterNormalized(38, -32768, 1)),
        "6e 01 06 05  26 00  00 80 01",
    ),
    (
        "P_ME_NB_1 high limit",
        _asdu(T.P_ME_NB_1, C.ACTIVATION_CON, 5, ParameterScaled(38, -2, 4)),
        "6f 01 07 05  26 00  fe ff 04",
    ),
    (
        "P_ME_NC_1 threshold, negative ACT_CON",
        Asdu(T.P_ME_NC_1, C.ACTIVATION_CON, 5, (ParameterFloat(38, -2.0, 1),), negative=True),
        "70 01 47 05  26 00  00 00 00 c0 01",
    ),
    (
        "P_AC_NA_1 activate the loaded parameters",
        _asdu(T.P_AC_NA_1, C.ACTIVATION, 5, ParameterActivation(0, 1)),
        "71 01 06 05  00 00  01",
    ),
    (
        "C_CI_NA_1 group 1, FRZ 2",
        _asdu(T.C_CI_NA_1, C.ACTIVATION, 5, CounterInterrogationCommand(0, 1, 2)),
        # 81 = RQT 1 + FRZ 2 << 6
        "65 01 06 05  00 00 81",
    ),
    (
        "C_RD_NA_1",
        _asdu(T.C_RD_NA_1, C.REQUEST, 5, ReadCommand(38)),
        "66 01 05 05  26 00",
    ),
    (
        "C_CS_NA_1 ACT_CON",
        _asdu(T.C_CS_NA_1, C.ACTIVATION_CON, 5, ClockSyncCommand(0, T2)),
        f"67 01 07 05  00 00 {T2_HEX}",
    ),
    (
        "C_TS_NA_1",
        _asdu(T.C_TS_NA_1, C.ACTIVATION, 5, TestCommand(0)),
        "68 01 06 05  00 00 aa 55",
    ),
    (
        "C_RP_NA_1 reset event buffer",
        _asdu(T.C_RP_NA_1, C.ACTIVATION, 5, ResetProcessCommand(0, 2)),
        "69 01 06 05  00 00 02",
    ),
    (
        "C_TS_TA_1",
        _asdu(T.C_TS_TA_1, C.ACTIVATION, 5, TestCommandWithTime(0, 1, T1)),
        f"6b 01 06 05  00 00 01 00 {T1_HEX}",
    ),
    # --- 101 only: the CP24Time2a types and delay acquisition ---------------------------------
    (
        "M_SP_TA_1 on",
        _asdu(T.M_SP_TA_1, C.SPONTANEOUS, 5, SinglePoint(0x0102, True, time=S1)),
        f"02 01 03 05  02 01  01 {S1_HEX}",
    ),
    (
        "M_DP_TA_1 ON, invalid quality and time",
        _asdu(T.M_DP_TA_1, C.SPONTANEOUS, 5, DoublePoint(0x10, DPV.ON, Qds.IV, S2)),
        f"04 01 03 05  10 00  82 {S2_HEX}",
    ),
    (
        "M_ST_TA_1 -1 transient, overflow",
        _asdu(T.M_ST_TA_1, C.SPONTANEOUS, 5, StepPosition(0x11, -1, True, Qds.OV, S1)),
        # VTI -1 -> 7f | transient 80 -> ff ; QDS OV 01
        f"06 01 03 05  11 00  ff 01 {S1_HEX}",
    ),
    (
        "M_BO_TA_1",
        _asdu(T.M_BO_TA_1, C.SPONTANEOUS, 5,
              Bitstring32(0x12, 0x12345678, time=Cp24Time2a(1000, 1))),
        "08 01 03 05  12 00  78 56 34 12 00  e8 03 01",
    ),
    (
        "M_ME_TA_1 0.5, not topical",
        _asdu(T.M_ME_TA_1, C.SPONTANEOUS, 5, MeasuredNormalized(0x13, 16384, Qds.NT, S1)),
        f"0a 01 03 05  13 00  00 40 40 {S1_HEX}",
    ),
    (
        "M_ME_TB_1 -300",
        _asdu(T.M_ME_TB_1, C.SPONTANEOUS, 5, MeasuredScaled(0x14, -300, time=S1)),
        f"0c 01 03 05  14 00  d4 fe 00 {S1_HEX}",
    ),
    (
        "M_ME_TC_1 1.5, two objects",
        _asdu(T.M_ME_TC_1, C.SPONTANEOUS, 5, MeasuredFloat(0x15, 1.5, time=S1),
              MeasuredFloat(0x16, -2.0, Qds.BL, S2)),
        f"0e 02 03 05  15 00  00 00 c0 3f 00 {S1_HEX}  16 00  00 00 00 c0 10 {S2_HEX}",
    ),
    (
        "M_IT_TA_1 100000, sequence 3, carry",
        _asdu(T.M_IT_TA_1, C.SPONTANEOUS, 5,
              IntegratedTotal(0x16, 100_000, 3, carry=True, time=S1)),
        f"10 01 03 05  16 00  a0 86 01 00 23 {S1_HEX}",
    ),
    (
        "M_EP_TA_1 on, elapsed 150 ms invalid (EI)",
        _asdu(T.M_EP_TA_1, C.SPONTANEOUS, 5, ProtectionEvent(0x17, 2, 150, Qdp.EI, S1)),
        # SEP = ES 2 | EI 08 -> 0a ; CP16 150 -> 96 00
        f"11 01 03 05  17 00  0a 96 00 {S1_HEX}",
    ),
    (
        "M_EP_TB_1 general start + L1, 250 ms",
        _asdu(T.M_EP_TB_1, C.SPONTANEOUS, 5, ProtectionStartEvents(0x18, 0x03, 250, time=S1)),
        f"12 01 03 05  18 00  03 00 fa 00 {S1_HEX}",
    ),
    (
        "M_EP_TC_1 general command, 40 ms, invalid",
        _asdu(T.M_EP_TC_1, C.SPONTANEOUS, 5, ProtectionOutputCircuit(0x19, 0x01, 40, Qdp.IV, S2)),
        f"13 01 03 05  19 00  01 80 28 00 {S2_HEX}",
    ),
    (
        "C_CD_NA_1 ACT, SDT 12.345 s",
        _asdu(T.C_CD_NA_1, C.ACTIVATION, 5, DelayAcquisitionCommand(0, 12_345)),
        "6a 01 06 05  00 00  39 30",
    ),
    (
        "C_CD_NA_1 spontaneous (delay 250 ms)",
        _asdu(T.C_CD_NA_1, C.SPONTANEOUS, 5, DelayAcquisitionCommand(0, 250)),
        "6a 01 03 05  00 00  fa 00",
    ),
]

# Other field-size combinations, same GI command.
GOLDEN_OTHER: list[tuple[str, AsduProfile, Asdu, str]] = [
    (
        "COT 2, CA 1, IOA 1, originator 7",
        AsduProfile(cot_size=2, ca_size=1, ioa_size=1),
        _asdu(T.C_IC_NA_1, C.ACTIVATION, 1, InterrogationCommand(0, 20), originator=7),
        "64 01 06 07 01  00 14",
    ),
    (
        "COT 1, CA 2, IOA 3",
        AsduProfile(cot_size=1, ca_size=2, ioa_size=3),
        _asdu(T.C_IC_NA_1, C.ACTIVATION, 0x1234, InterrogationCommand(0, 20)),
        "64 01 06 34 12  00 00 00 14",
    ),
    (
        "104, broadcast CA, originator 255, negative + test",
        PROFILE_104,
        _asdu(
            T.C_IC_NA_1,
            C.ACTIVATION_CON,
            0xFFFF,
            InterrogationCommand(0, 20),
            negative=True,
            test=True,
            originator=255,
        ),
        "64 01 c7 ff ff ff  00 00 00 14",
    ),
]

ALL_GOLDEN: list[tuple[str, AsduProfile, Asdu, str]] = (
    [(f"104 {name}", PROFILE_104, asdu, hx) for name, asdu, hx in GOLDEN_104]
    + [(f"101 {name}", PROFILE_101, asdu, hx) for name, asdu, hx in GOLDEN_101]
    + GOLDEN_OTHER
)


def test_golden_vectors_cover_every_type_id_in_both_profiles() -> None:
    assert {asdu.type_id for _, asdu, _ in GOLDEN_104} == set(RECORD_TYPES) - TYPES_101_ONLY
    assert {asdu.type_id for _, asdu, _ in GOLDEN_101} == set(RECORD_TYPES)  # files: their own
    for table in (GOLDEN_104, GOLDEN_101):
        assert any(asdu.sequence and len(asdu.objects) > 1 for _, asdu, _ in table)
        assert any(not asdu.sequence and len(asdu.objects) > 1 for _, asdu, _ in table)
        assert any(asdu.negative for _, asdu, _ in table)
        assert any(asdu.test for _, asdu, _ in table)


@pytest.mark.parametrize(
    ("profile", "asdu", "hex_bytes"),
    [pytest.param(p, a, h, id=n) for n, p, a, h in ALL_GOLDEN],
)
def test_encode_golden(profile: AsduProfile, asdu: Asdu, hex_bytes: str) -> None:
    assert encode_asdu(asdu, profile).hex(" ") == bytes.fromhex(hex_bytes).hex(" ")


@pytest.mark.parametrize(
    ("profile", "asdu", "hex_bytes"),
    [pytest.param(p, a, h, id=n) for n, p, a, h in ALL_GOLDEN],
)
def test_decode_golden(profile: AsduProfile, asdu: Asdu, hex_bytes: str) -> None:
    decoded = decode_asdu(bytes.fromhex(hex_bytes), profile)
    assert decoded == asdu
    assert type(decoded.type_id) is TypeId
    assert type(decoded.cot) is Cot
    for obj in decoded.objects:
        quality = getattr(obj, "quality", None)
        assert quality is None or type(quality) is (
            Qdp if isinstance(obj, ProtectionEvent | ProtectionStartEvents
                              | ProtectionOutputCircuit) else Qds)
        if isinstance(obj, DoublePoint):
            assert type(obj.value) is DoublePointValue


@pytest.mark.parametrize(
    ("profile", "asdu", "hex_bytes"),
    [pytest.param(p, a, h, id=n) for n, p, a, h in ALL_GOLDEN],
)
def test_decode_header_golden(profile: AsduProfile, asdu: Asdu, hex_bytes: str) -> None:
    assert decode_header(bytes.fromhex(hex_bytes), profile) == AsduHeader(
        type_id=asdu.type_id,
        sequence=asdu.sequence,
        count=len(asdu.objects),
        cause=asdu.cot,
        negative=asdu.negative,
        test=asdu.test,
        originator=asdu.originator,
        common_address=asdu.common_address,
    )


# ============================================================================================
# CP56Time2a
# ============================================================================================


def _cs_bytes(time: Cp56Time2a) -> bytes:
    """The CP56 octets of a C_CS_NA_1 carrying ``time`` (104 profile: header 6 + IOA 3)."""
    return encode_asdu(_asdu(T.C_CS_NA_1, C.ACTIVATION, 1, ClockSyncCommand(0, time)), PROFILE_104)[
        9:
    ]


def test_cp56_from_timestamp_known_instant_byte_exact() -> None:
    instant = datetime(2024, 2, 29, 23, 59, 59, 999_000, tzinfo=UTC).timestamp()
    assert _cs_bytes(Cp56Time2a.from_timestamp(instant)) == bytes.fromhex(T1_HEX)
    # Thursday = 4 in bits 5-7 of the day octet: 1d | 80 = 9d
    assert _cs_bytes(Cp56Time2a.from_timestamp(instant, with_weekday=True)) == bytes.fromhex(
        "5f ea 3b 17 9d 02 18"
    )
    # IV in bit 7 of the minute octet: 3b | 80 = bb
    assert _cs_bytes(Cp56Time2a.from_timestamp(instant, invalid=True)) == bytes.fromhex(
        "5f ea bb 17 1d 02 18"
    )


def test_cp56_epoch_of_the_century() -> None:
    instant = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    assert _cs_bytes(Cp56Time2a.from_timestamp(instant)) == bytes.fromhex("00 00 00 00 01 01 00")


def test_cp56_reserved_bits_are_ignored_on_decode() -> None:
    # minute bit6, hour bits 5-6, month bits 4-7, year bit7 all set
    raw = bytes.fromhex("67 01 06 00 01 00  00 00 00  5f ea 7b 77 1d f2 98")
    (obj,) = decode_asdu(raw, PROFILE_104).objects
    assert obj == ClockSyncCommand(0, T1)


@pytest.mark.parametrize(
    ("field", "cp56_hex"),
    [
        ("ms 60000", "60 ea 3b 17 1d 02 18"),
        ("ms 65535", "ff ff 3b 17 1d 02 18"),
        ("minute 60", "5f ea 3c 17 1d 02 18"),
        ("hour 24", "5f ea 3b 18 1d 02 18"),
        ("day 0", "5f ea 3b 17 00 02 18"),
        ("day 0 with weekday", "5f ea 3b 17 e0 02 18"),
        ("month 0", "5f ea 3b 17 1d 00 18"),
        ("month 13", "5f ea 3b 17 1d 0d 18"),
        ("year 100", "5f ea 3b 17 1d 02 64"),
    ],
)
def test_cp56_out_of_range_fields_are_malformed(field: str, cp56_hex: str) -> None:
    raw = bytes.fromhex("67 01 06 00 01 00  00 00 00" + cp56_hex)
    with pytest.raises(MalformedAsduError) as info:
        decode_asdu(raw, PROFILE_104)
    assert info.value.raw == raw
    assert info.value.header is not None and info.value.header.type_id == T.C_CS_NA_1


# ============================================================================================
# Decoding details
# ============================================================================================


def test_reserved_element_bits_are_tolerated() -> None:
    # SIQ 0f: SPI with reserved bits 1-3; QDS 0e: reserved bits 1-3
    sp = decode_asdu(bytes.fromhex("01 01 03 00 01 00  64 00 00 0f"), PROFILE_104)
    assert sp.objects == (SinglePoint(100, True, Qds(0)),)
    me = decode_asdu(bytes.fromhex("0b 01 03 00 01 00  64 00 00 e8 03 8e"), PROFILE_104)
    assert me.objects == (MeasuredScaled(100, 1000, Qds.IV),)


def test_double_command_state_zero_and_three_decode_as_they_are() -> None:
    # DCS 0 and 3 are "not permitted": the application answers them negatively.
    asdu = decode_asdu(bytes.fromhex("2e 01 06 00 01 00  8a 13 00 03"), PROFILE_104)
    assert asdu.objects == (DoubleCommand(5002, 3),)


def test_time_of_an_object_sent_without_time_tag_is_not_encoded() -> None:
    with_time = _asdu(T.M_SP_NA_1, C.INTERROGATED_BY_STATION, 1, SinglePoint(100, True, time=T1))
    assert encode_asdu(with_time, PROFILE_104) == bytes.fromhex("01 01 14 00 01 00  64 00 00 01")


def test_decode_accepts_bytearray_and_memoryview() -> None:
    raw = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")
    expected = decode_asdu(raw, PROFILE_104)
    assert decode_asdu(bytearray(raw), PROFILE_104) == expected  # type: ignore[arg-type]
    assert decode_asdu(memoryview(raw), PROFILE_104) == expected  # type: ignore[arg-type]


# ============================================================================================
# Decoding errors
# ============================================================================================

GI = bytes.fromhex("64 01 06 00 01 00  00 00 00 14")


@pytest.mark.parametrize("length", range(6))
def test_shorter_than_header_is_malformed_without_header(length: int) -> None:
    with pytest.raises(MalformedAsduError) as info:
        decode_asdu(GI[:length], PROFILE_104)
    assert info.value.header is None
    assert info.value.raw == GI[:length]
    with pytest.raises(MalformedAsduError):
        decode_header(GI[:length], PROFILE_104)


@pytest.mark.parametrize("length", range(6, len(GI)))
def test_truncated_objects_are_malformed_with_header(length: int) -> None:
    with pytest.raises(MalformedAsduError) as info:
        decode_asdu(GI[:length], PROFILE_104)
    assert info.value.header == AsduHeader(100, False, 1, 6, False, False, 0, 1)


def test_trailing_garbage_is_malformed() -> None:
    with pytest.raises(MalformedAsduError) as info:
        decode_asdu(GI + b"\x00", PROFILE_104)
    assert info.value.raw == GI + b"\x00"
    assert info.value.header is not None


def test_count_zero_is_malformed() -> None:
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex("64 00 06 00 01 00"), PROFILE_104)


def test_count_not_matching_length_is_malformed() -> None:
    # says 2 objects, carries 1
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex("01 02 03 00 01 00  64 00 00 01"), PROFILE_104)
    # SQ=1, says 3 elements, carries 2
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex("01 83 14 00 01 00  e8 03 00 01 00"), PROFILE_104)


def test_sequence_overflowing_the_ioa_field_is_malformed() -> None:
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex("01 82 14 00 01 00  ff ff ff 01 00"), PROFILE_104)
    last = decode_asdu(bytes.fromhex("01 82 14 00 01 00  fe ff ff 01 00"), PROFILE_104)
    assert [o.ioa for o in last.objects] == [0xFFFFFE, 0xFFFFFF]


def test_unknown_type_99_has_header() -> None:
    raw = bytes.fromhex("63 01 06 05 01 00  00 00 00 14")
    with pytest.raises(UnknownTypeError) as info:
        decode_asdu(raw, PROFILE_104)
    assert isinstance(info.value, AsduError)
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.raw == raw
    assert info.value.header == AsduHeader(
        type_id=99,
        sequence=False,
        count=1,
        cause=6,
        negative=False,
        test=False,
        originator=5,
        common_address=1,
    )


@pytest.mark.parametrize(
    "type_id", [0, 20, 22, 29, 41, 44, 52, 57, 65, 69, 71, 99, 108, 109, 255]
)
def test_every_type_id_we_do_not_decode_is_unknown(type_id: int) -> None:
    raw = bytes((type_id,)) + bytes.fromhex("01 06 00 01 00  00 00 00 14")
    with pytest.raises(UnknownTypeError) as info:
        decode_asdu(raw, PROFILE_104)
    assert info.value.header is not None and info.value.header.type_id == type_id


def test_unknown_type_wins_over_unknown_cause() -> None:
    with pytest.raises(UnknownTypeError):
        decode_asdu(bytes.fromhex("63 01 3f 00 01 00  00 00 00 14"), PROFILE_104)


def test_unknown_cause_63_has_header() -> None:
    raw = bytes.fromhex("64 01 bf 00 01 00  00 00 00 14")  # cause 63 with test bit
    with pytest.raises(UnknownCauseError) as info:
        decode_asdu(raw, PROFILE_104)
    assert info.value.raw == raw
    assert info.value.header == AsduHeader(100, False, 1, 63, False, True, 0, 1)


@pytest.mark.parametrize("cause", [0, 14, 19, 42, 43, 48, 63])
def test_causes_not_in_cot_are_unknown(cause: int) -> None:
    raw = bytes((0x64, 0x01, cause)) + bytes.fromhex("00 01 00  00 00 00 14")
    with pytest.raises(UnknownCauseError):
        decode_asdu(raw, PROFILE_104)


def test_unknown_cause_even_with_wrong_length() -> None:
    # the cause is judged before the length, so the master gets COT 45 back
    with pytest.raises(UnknownCauseError):
        decode_asdu(bytes.fromhex("64 01 3f 00 01 00  00 00"), PROFILE_104)


# ============================================================================================
# negative_mirror
# ============================================================================================


@pytest.mark.parametrize(
    ("profile", "raw_hex", "cot", "expected_hex"),
    [
        pytest.param(
            PROFILE_104,
            "63 01 06 05 01 00  00 00 00 14",
            C.UNKNOWN_TYPE_ID,
            # 6c = P/N 40 + COT 44; OA 05 kept
            "63 01 6c 05 01 00  00 00 00 14",
            id="104 unknown type",
        ),
        pytest.param(
            PROFILE_104,
            "63 01 86 05 01 00  00 00 00 14",
            C.UNKNOWN_TYPE_ID,
            # ec = T 80 + P/N 40 + COT 44
            "63 01 ec 05 01 00  00 00 00 14",
            id="104 unknown type, test bit kept",
        ),
        pytest.param(
            PROFILE_104,
            "64 01 3f 00 01 00  00 00 00 14",
            C.UNKNOWN_CAUSE,
            # 6d = P/N 40 + COT 45
            "64 01 6d 00 01 00  00 00 00 14",
            id="104 unknown cause",
        ),
        pytest.param(
            PROFILE_104,
            "64 01 46 00 01 00  00 00 00 14",
            C.UNKNOWN_CAUSE,
            "64 01 6d 00 01 00  00 00 00 14",
            id="104 already negative",
        ),
        pytest.param(
            PROFILE_101,
            "63 01 06 01  00 00 14 ff",
            C.UNKNOWN_TYPE_ID,
            "63 01 6c 01  00 00 14 ff",
            id="101 unknown type",
        ),
        pytest.param(
            PROFILE_104,
            "64 01 06 00 01 00  00 00 00 14",
            C.UNKNOWN_COMMON_ADDRESS,
            # 6e = P/N 40 + COT 46
            "64 01 6e 00 01 00  00 00 00 14",
            id="104 unknown common address",
        ),
    ],
)
def test_negative_mirror_golden(
    profile: AsduProfile, raw_hex: str, cot: Cot, expected_hex: str
) -> None:
    mirrored = negative_mirror(bytes.fromhex(raw_hex), profile, cot)
    assert mirrored.hex(" ") == bytes.fromhex(expected_hex).hex(" ")


def test_negative_mirror_of_a_too_short_frame() -> None:
    with pytest.raises(MalformedAsduError):
        negative_mirror(b"\x63\x01", PROFILE_104, C.UNKNOWN_TYPE_ID)


# ============================================================================================
# Encoding errors (our bugs)
# ============================================================================================

SP = SinglePoint(1, True)


@pytest.mark.parametrize(
    ("profile", "asdu"),
    [
        pytest.param(
            PROFILE_104,
            _asdu(T.M_DP_NA_1, C.SPONTANEOUS, 1, SP),
            id="record class not of the type",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SP, DoublePoint(2, 1)),
            id="mixed record classes",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_TB_1, C.SPONTANEOUS, 1, SP),
            id="missing time tag",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SP, SinglePoint(3, True), sequence=True),
            id="SQ=1 non-consecutive",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SinglePoint(2, True), SP, sequence=True),
            id="SQ=1 descending",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(
                T.M_SP_NA_1,
                C.SPONTANEOUS,
                1,
                SinglePoint(0xFFFFFF, True),
                SinglePoint(0x1000000, True),
                sequence=True,
            ),
            id="SQ=1 past the last IOA",
        ),
        pytest.param(PROFILE_104, _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1), id="no objects"),
        pytest.param(
            PROFILE_104,
            _asdu(
                T.M_SP_NA_1,
                C.SPONTANEOUS,
                1,
                *[SinglePoint(i, True) for i in range(128)],
                sequence=True,
            ),
            id="128 objects",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(
                T.M_SP_TB_1,
                C.SPONTANEOUS,
                1,
                *[SinglePoint(i, True, time=T1) for i in range(23)],
            ),
            id="longer than 249 octets",
        ),
        pytest.param(
            PROFILE_104,
            Asdu(99, C.SPONTANEOUS, 1, (SP,)),  # type: ignore[arg-type]
            id="unknown type id",
        ),
        pytest.param(
            PROFILE_104,
            Asdu(T.M_SP_NA_1, 0, 1, (SP,)),  # type: ignore[arg-type]
            id="cause 0",
        ),
        pytest.param(
            PROFILE_104,
            Asdu(T.M_SP_NA_1, 63, 1, (SP,)),  # type: ignore[arg-type]
            id="cause 63",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 0x10000, SP),
            id="CA too big",
        ),
        pytest.param(PROFILE_104, _asdu(T.M_SP_NA_1, C.SPONTANEOUS, -1, SP), id="CA negative"),
        pytest.param(PROFILE_101, _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 256, SP), id="CA 1 octet"),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SP, originator=256),
            id="originator too big",
        ),
        pytest.param(
            PROFILE_101,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SP, originator=1),
            id="originator without room",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SinglePoint(0x1000000, True)),
            id="IOA too big",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SinglePoint(-1, True)),
            id="IOA negative",
        ),
        pytest.param(
            PROFILE_101,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SinglePoint(0x10000, True)),
            id="IOA 2 octets",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_SP_NA_1, C.SPONTANEOUS, 1, SinglePoint(1, True, Qds.OV)),
            id="OV in SIQ",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_DP_NA_1, C.SPONTANEOUS, 1, DoublePoint(1, 4)),
            id="DPI 4",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_DP_NA_1, C.SPONTANEOUS, 1, DoublePoint(1, 1, Qds(0x02))),
            id="undefined quality bit",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ST_NA_1, C.SPONTANEOUS, 1, StepPosition(1, 64)),
            id="VTI 64",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ST_NA_1, C.SPONTANEOUS, 1, StepPosition(1, -65)),
            id="VTI -65",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_BO_NA_1, C.SPONTANEOUS, 1, Bitstring32(1, -1)),
            id="BSI negative",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_BO_NA_1, C.SPONTANEOUS, 1, Bitstring32(1, 2**32)),
            id="BSI too big",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ME_NA_1, C.SPONTANEOUS, 1, MeasuredNormalized(1, 32768)),
            id="NVA 32768",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ME_NB_1, C.SPONTANEOUS, 1, MeasuredScaled(1, -32769)),
            id="SVA -32769",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ME_NC_1, C.SPONTANEOUS, 1, MeasuredFloat(1, 1e39)),
            id="float beyond float32",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_IT_NA_1, C.SPONTANEOUS, 1, IntegratedTotal(1, 2**31)),
            id="BCR 2**31",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_IT_NA_1, C.SPONTANEOUS, 1, IntegratedTotal(1, 0, sequence=32)),
            id="BCR sequence 32",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_ME_ND_1, C.SPONTANEOUS, 1, MeasuredNormalizedNoQuality(1, 40000)),
            id="ND 40000",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_SC_NA_1, C.ACTIVATION, 1, SingleCommand(1, True, qu=32)),
            id="QU 32",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_DC_NA_1, C.ACTIVATION, 1, DoubleCommand(1, 4)),
            id="DCS 4",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_RC_NA_1, C.ACTIVATION, 1, RegulatingStepCommand(1, -1)),
            id="RCS -1",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_SE_NA_1, C.ACTIVATION, 1, SetpointNormalized(1, 0, ql=128)),
            id="QL 128",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_SE_NC_1, C.ACTIVATION, 1, SetpointFloat(1, float("-1e40"))),
            id="setpoint float beyond float32",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_BO_NA_1, C.ACTIVATION, 1, Bitstring32Command(1, 2**32)),
            id="C_BO too big",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.M_EI_NA_1, C.INITIALIZED, 1, EndOfInitialization(0, 128)),
            id="COI 128",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_IC_NA_1, C.ACTIVATION, 1, InterrogationCommand(0, 256)),
            id="QOI 256",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_CI_NA_1, C.ACTIVATION, 1, CounterInterrogationCommand(0, 64)),
            id="RQT 64",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_CI_NA_1, C.ACTIVATION, 1, CounterInterrogationCommand(0, 5, 4)),
            id="FRZ 4",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_TS_NA_1, C.ACTIVATION, 1, TestCommand(0, 0x10000)),
            id="FBP too big",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_RP_NA_1, C.ACTIVATION, 1, ResetProcessCommand(0, -1)),
            id="QRP negative",
        ),
        pytest.param(
            PROFILE_104,
            _asdu(T.C_TS_TA_1, C.ACTIVATION, 1, TestCommandWithTime(0, 0x10000, T1)),
            id="TSC too big",
        ),
        *[
            pytest.param(
                PROFILE_104,
                _asdu(
                    T.C_CS_NA_1,
                    C.ACTIVATION,
                    1,
                    ClockSyncCommand(0, dataclasses.replace(T1, **{name: value})),  # type: ignore[arg-type]
                ),
                id=f"time {name} {value}",
            )
            for name, value in [
                ("milliseconds", 60_000),
                ("milliseconds", -1),
                ("minute", 60),
                ("hour", 24),
                ("day", 0),
                ("day", 32),
                ("month", 0),
                ("month", 13),
                ("year", 100),
                ("weekday", 8),
            ]
        ],
    ],
)
def test_encode_errors_are_local(profile: AsduProfile, asdu: Asdu) -> None:
    with pytest.raises(LocalProtocolError):
        encode_asdu(asdu, profile)


def test_longest_asdu_that_fits_is_encoded() -> None:
    # 6 + 22 * (3 + 1 + 7) = 248 <= 249
    asdu = _asdu(T.M_SP_TB_1, C.SPONTANEOUS, 1, *[SinglePoint(i, True, time=T1) for i in range(22)])
    assert len(encode_asdu(asdu, PROFILE_104)) == 248


def test_127_objects_are_fine() -> None:
    asdu = _asdu(
        T.M_SP_NA_1, C.SPONTANEOUS, 1, *[SinglePoint(i, True) for i in range(127)], sequence=True
    )
    assert len(encode_asdu(asdu, PROFILE_104)) == 6 + 3 + 127


# ============================================================================================
# Profile and object_size
# ============================================================================================


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cot_size": 0},
        {"cot_size": 3},
        {"ca_size": 0},
        {"ca_size": 3},
        {"ioa_size": 0},
        {"ioa_size": 4},
        {"max_asdu_length": 0},
        {"max_asdu_length": 20},
        {"max_asdu_length": 255},
        {"max_asdu_length": 1000},
        {"ioa_size": 2.0},
        {"cot_size": True},
    ],
)
def test_profile_rejects_bad_sizes(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AsduProfile(**kwargs)


def test_profile_defaults_are_104() -> None:
    assert PROFILE_104 == AsduProfile(cot_size=2, ca_size=2, ioa_size=3, max_asdu_length=249)
    assert PROFILE_104.header_length == 6
    assert PROFILE_101.header_length == 4
    # the smallest profile still carries one object of every type
    smallest = AsduProfile(cot_size=1, ca_size=1, ioa_size=1, max_asdu_length=4 + 1 + 12)
    assert smallest.max_asdu_length == 17


@pytest.mark.parametrize(
    ("type_id", "profile", "size"),
    [
        (T.M_SP_NA_1, PROFILE_104, 4),
        (T.M_SP_TB_1, PROFILE_104, 11),
        (T.M_ME_NC_1, PROFILE_104, 8),
        (T.M_IT_TB_1, PROFILE_104, 15),
        (T.M_ME_ND_1, PROFILE_101, 4),
        (T.C_RD_NA_1, PROFILE_101, 2),
        (T.C_CS_NA_1, PROFILE_104, 10),
        (T.C_TS_TA_1, PROFILE_104, 12),
    ],
)
def test_object_size(type_id: TypeId, profile: AsduProfile, size: int) -> None:
    assert object_size(type_id, profile) == size


def test_object_size_of_every_golden_vector_matches_its_length() -> None:
    for _, profile, asdu, hx in ALL_GOLDEN:
        if not asdu.sequence:
            expected = profile.header_length + len(asdu.objects) * object_size(
                asdu.type_id, profile
            )
            assert len(bytes.fromhex(hx)) == expected


# ============================================================================================
# Hypothesis strategies
# ============================================================================================

SIQ_QUALITIES = [Qds(q) for q in range(256) if q & ~0xF0 == 0]
QDS_QUALITIES = [Qds(q) for q in range(256) if q & ~0xF1 == 0]

int16s = st.integers(-(2**15), 2**15 - 1)
uint16s = st.integers(0, 2**16 - 1)
uint32s = st.integers(0, 2**32 - 1)
octets = st.integers(0, 255)
siq = st.sampled_from(SIQ_QUALITIES)
qds = st.sampled_from(QDS_QUALITIES)
# floats that float32 can hold after rounding, NaN and infinities included
floats32 = st.one_of(
    st.floats(width=32),
    st.floats(min_value=-3.0e38, max_value=3.0e38),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0]),
)

cp56 = st.builds(
    Cp56Time2a,
    milliseconds=st.integers(0, 59_999),
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(0, 99),
    weekday=st.integers(0, 7),
    invalid=st.booleans(),
    summer_time=st.booleans(),
)

profiles = st.builds(
    lambda cot, ca, ioa, extra: AsduProfile(
        cot, ca, ioa, min(254, 2 + cot + ca + ioa + 12 + extra)
    ),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 2, 3]),
    st.one_of(st.integers(0, 40), st.integers(0, 260)),
)


def _element(
    type_id: TypeId, time: st.SearchStrategy[Cp56Time2a | Cp24Time2a | None]
) -> st.SearchStrategy[Callable[[int], InformationObject]]:
    """Strategy: ioa -> record of the type, with a time tag exactly when the type has one."""
    b = st.booleans()
    qu = st.integers(0, 31)
    by_class: dict[type, st.SearchStrategy[tuple[Any, ...]]] = {
        SinglePoint: st.tuples(b, siq, time),
        DoublePoint: st.tuples(st.sampled_from(DoublePointValue), siq, time),
        StepPosition: st.tuples(st.integers(-64, 63), b, qds, time),
        Bitstring32: st.tuples(uint32s, qds, time),
        MeasuredNormalized: st.tuples(int16s, qds, time),
        MeasuredScaled: st.tuples(int16s, qds, time),
        MeasuredFloat: st.tuples(floats32, qds, time),
        IntegratedTotal: st.tuples(
            st.integers(-(2**31), 2**31 - 1), st.integers(0, 31), b, b, b, time
        ),
        MeasuredNormalizedNoQuality: st.tuples(int16s),
        SingleCommand: st.tuples(b, qu, b, time),
        DoubleCommand: st.tuples(st.integers(0, 3), qu, b, time),
        RegulatingStepCommand: st.tuples(st.integers(0, 3), qu, b, time),
        SetpointNormalized: st.tuples(int16s, st.integers(0, 127), b, time),
        SetpointScaled: st.tuples(int16s, st.integers(0, 127), b, time),
        SetpointFloat: st.tuples(floats32, st.integers(0, 127), b, time),
        Bitstring32Command: st.tuples(uint32s, time),
        EndOfInitialization: st.tuples(st.integers(0, 127), b),
        InterrogationCommand: st.tuples(octets),
        CounterInterrogationCommand: st.tuples(st.integers(0, 63), st.integers(0, 3)),
        ReadCommand: st.tuples(),
        ClockSyncCommand: st.tuples(cp56),
        TestCommand: st.tuples(uint16s),
        TestCommandWithTime: st.tuples(uint16s, cp56),
        ResetProcessCommand: st.tuples(octets),
        ProtectionEvent: st.tuples(st.integers(0, 3), st.integers(0, 59_999),
                                   st.sampled_from([Qdp(q) for q in range(0, 256, 8)]), time),
        ProtectionStartEvents: st.tuples(st.integers(0, 63), st.integers(0, 59_999),
                                         st.sampled_from([Qdp(q) for q in range(0, 256, 8)]),
                                         time),
        ProtectionOutputCircuit: st.tuples(st.integers(0, 15), st.integers(0, 59_999),
                                           st.sampled_from([Qdp(q) for q in range(0, 256, 8)]),
                                           time),
        ParameterNormalized: st.tuples(int16s, st.integers(0, 63), b, b),
        ParameterScaled: st.tuples(int16s, st.integers(0, 63), b, b),
        ParameterFloat: st.tuples(floats32, st.integers(0, 63), b, b),
        ParameterActivation: st.tuples(octets),
        DelayAcquisitionCommand: st.tuples(uint16s),
    }
    cls = OBJECT_CLASS[type_id]
    return by_class[cls].map(lambda fields: lambda ioa: cls(ioa, *fields))


cp24 = st.builds(Cp24Time2a, milliseconds=st.integers(0, 59_999), minute=st.integers(0, 59),
                 invalid=st.booleans())
# the file types (whole-ASDU codec, variable segments) have their own tests: test_codec_file.py
RECORD_TYPES = [tid for tid in TypeId if tid not in FILE_TYPES]
ELEMENTS = {tid: _element(tid, cp56 if tid in TIME_TAGGED_TYPES
                          else cp24 if tid in CP24_TIME_TAGGED_TYPES else st.none())
            for tid in RECORD_TYPES}


def _f32(value: float) -> float | str:
    if math.isnan(value):
        return "nan"
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def normalized(asdu: Asdu) -> Asdu:
    """``asdu`` with float values as float32 would carry them (NaN made comparable)."""
    objects = tuple(
        dataclasses.replace(o, value=_f32(o.value))  # type: ignore[arg-type]
        if isinstance(o, MeasuredFloat | SetpointFloat | ParameterFloat)
        else o
        for o in asdu.objects
    )
    return dataclasses.replace(asdu, objects=objects)


@st.composite
def asdus(draw: st.DrawFn, profile: AsduProfile) -> Asdu:
    type_id = draw(st.sampled_from(RECORD_TYPES))
    size = object_size(type_id, profile) - profile.ioa_size
    room = profile.max_asdu_length - profile.header_length
    ioa_max = (1 << (8 * profile.ioa_size)) - 1
    sequence = size > 0 and draw(st.booleans())
    if sequence:
        limit = min(127, (room - profile.ioa_size) // size)
    else:
        limit = min(127, room // (profile.ioa_size + size))
    count = draw(st.integers(1, min(limit, 8) if draw(st.booleans()) else limit))
    if sequence:
        first = draw(st.integers(0, ioa_max - count + 1))
        ioas = list(range(first, first + count))
    else:
        ioas = draw(st.lists(st.integers(0, ioa_max), min_size=count, max_size=count))
    makers = draw(st.lists(ELEMENTS[type_id], min_size=count, max_size=count))
    return Asdu(
        type_id=type_id,
        cot=draw(st.sampled_from(list(Cot))),
        common_address=draw(st.integers(0, (1 << (8 * profile.ca_size)) - 1)),
        objects=tuple(make(ioa) for make, ioa in zip(makers, ioas, strict=True)),
        sequence=sequence,
        negative=draw(st.booleans()),
        test=draw(st.booleans()),
        originator=draw(st.integers(0, 255)) if profile.cot_size == 2 else 0,
    )


@st.composite
def profile_and_asdu(draw: st.DrawFn) -> tuple[AsduProfile, Asdu]:
    profile = draw(profiles)
    return profile, draw(asdus(profile))


# ============================================================================================
# Properties
# ============================================================================================

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(profile_and_asdu())
def test_round_trip(case: tuple[AsduProfile, Asdu]) -> None:
    profile, asdu = case
    raw = encode_asdu(asdu, profile)
    assert len(raw) <= profile.max_asdu_length
    decoded = decode_asdu(raw, profile)
    assert normalized(decoded) == normalized(asdu)
    assert encode_asdu(decoded, profile) == raw


@pytest.mark.parametrize("type_id", RECORD_TYPES, ids=lambda t: t.name)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_round_trip_every_type(type_id: TypeId, data: st.DataObject) -> None:
    profile = data.draw(profiles)
    make = data.draw(ELEMENTS[type_id])
    obj = make(data.draw(st.integers(0, (1 << (8 * profile.ioa_size)) - 1)))
    asdu = Asdu(type_id, Cot.SPONTANEOUS, 1, (obj,))
    assert normalized(decode_asdu(encode_asdu(asdu, profile), profile)) == normalized(asdu)


@FAST
@given(profiles, st.binary(max_size=300))
def test_fuzz_decode_raises_only_asdu_errors(profile: AsduProfile, data: bytes) -> None:
    try:
        decoded = decode_asdu(data, profile)
    except AsduError as exc:
        assert exc.raw == data
        return
    assert isinstance(decoded, Asdu)


@FAST
@given(
    profile_and_asdu(),
    st.lists(st.tuples(st.integers(0, 300), octets), max_size=4),
    st.integers(-3, 3),
)
def test_fuzz_decode_mutated_valid_asdus(
    case: tuple[AsduProfile, Asdu], flips: list[tuple[int, int]], resize: int
) -> None:
    """Mutations of valid frames reach deep into the decoders; a successful decode re-encodes."""
    profile, asdu = case
    raw = bytearray(encode_asdu(asdu, profile))
    for position, value in flips:
        raw[position % len(raw)] = value
    if resize < 0:
        del raw[resize:]
    else:
        raw.extend(bytes(resize))
    data = bytes(raw)
    try:
        decoded = decode_asdu(data, profile)
    except AsduError as exc:
        assert exc.raw == data
        if exc.header is not None:
            assert exc.header == decode_header(data, profile)
        return
    if len(data) <= profile.max_asdu_length:
        again = decode_asdu(encode_asdu(decoded, profile), profile)
        assert normalized(again) == normalized(decoded)


@FAST
@given(profiles, st.binary(min_size=6, max_size=40), st.sampled_from(list(Cot)))
def test_negative_mirror_changes_only_the_cause_octet(
    profile: AsduProfile, data: bytes, cot: Cot
) -> None:
    mirrored = negative_mirror(data, profile, cot)
    assert len(mirrored) == len(data)
    assert mirrored[:2] == data[:2] and mirrored[3:] == data[3:]
    header = decode_header(mirrored, profile)
    original = decode_header(data, profile)
    assert header == dataclasses.replace(original, cause=int(cot), negative=True)
