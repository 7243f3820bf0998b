"""Type identifications, causes of transmission and quality bits, named as in IEC 60870-5-101/104."""

from __future__ import annotations

from enum import IntEnum, IntFlag
from typing import Final

from rtu.points import model as _points

# DPI/DCS states are the point model's double-point states (the codes are the standard's)
DoublePointValue = _points.DoublePointValue


class TypeId(IntEnum):
    # process information in monitor direction
    M_SP_NA_1 = 1
    M_SP_TA_1 = 2  # 101 only: CP24Time2a time tags (ms and minute, no hour)
    M_DP_NA_1 = 3
    M_DP_TA_1 = 4
    M_ST_NA_1 = 5
    M_ST_TA_1 = 6
    M_BO_NA_1 = 7
    M_BO_TA_1 = 8
    M_ME_NA_1 = 9
    M_ME_TA_1 = 10
    M_ME_NB_1 = 11
    M_ME_TB_1 = 12
    M_ME_NC_1 = 13
    M_ME_TC_1 = 14
    M_IT_NA_1 = 15
    M_IT_TA_1 = 16
    M_EP_TA_1 = 17
    M_EP_TB_1 = 18
    M_EP_TC_1 = 19
    M_ME_ND_1 = 21
    M_SP_TB_1 = 30
    M_DP_TB_1 = 31
    M_ST_TB_1 = 32
    M_BO_TB_1 = 33
    M_ME_TD_1 = 34
    M_ME_TE_1 = 35
    M_ME_TF_1 = 36
    M_IT_TB_1 = 37
    M_EP_TD_1 = 38
    M_EP_TE_1 = 39
    M_EP_TF_1 = 40
    # process information in control direction
    C_SC_NA_1 = 45
    C_DC_NA_1 = 46
    C_RC_NA_1 = 47
    C_SE_NA_1 = 48
    C_SE_NB_1 = 49
    C_SE_NC_1 = 50
    C_BO_NA_1 = 51
    C_SC_TA_1 = 58
    C_DC_TA_1 = 59
    C_RC_TA_1 = 60
    C_SE_TA_1 = 61
    C_SE_TB_1 = 62
    C_SE_TC_1 = 63
    C_BO_TA_1 = 64
    # system information
    M_EI_NA_1 = 70
    C_IC_NA_1 = 100
    C_CI_NA_1 = 101
    C_RD_NA_1 = 102
    C_CS_NA_1 = 103
    C_TS_NA_1 = 104
    C_RP_NA_1 = 105
    C_CD_NA_1 = 106  # 101 only: delay acquisition (CP16Time2a)
    C_TS_TA_1 = 107
    # parameters in control direction
    P_ME_NA_1 = 110
    P_ME_NB_1 = 111
    P_ME_NC_1 = 112
    P_AC_NA_1 = 113
    # file transfer
    F_FR_NA_1 = 120
    F_SR_NA_1 = 121
    F_SC_NA_1 = 122
    F_LS_NA_1 = 123
    F_AF_NA_1 = 124
    F_SG_NA_1 = 125
    F_DR_TA_1 = 126
    F_SC_NB_1 = 127


class Cot(IntEnum):
    PERIODIC = 1
    BACKGROUND = 2
    SPONTANEOUS = 3
    INITIALIZED = 4
    REQUEST = 5
    ACTIVATION = 6
    ACTIVATION_CON = 7
    DEACTIVATION = 8
    DEACTIVATION_CON = 9
    ACTIVATION_TERMINATION = 10
    RETURN_INFO_REMOTE = 11
    RETURN_INFO_LOCAL = 12
    FILE_TRANSFER = 13
    INTERROGATED_BY_STATION = 20
    INTERROGATED_BY_GROUP_1 = 21
    INTERROGATED_BY_GROUP_2 = 22
    INTERROGATED_BY_GROUP_3 = 23
    INTERROGATED_BY_GROUP_4 = 24
    INTERROGATED_BY_GROUP_5 = 25
    INTERROGATED_BY_GROUP_6 = 26
    INTERROGATED_BY_GROUP_7 = 27
    INTERROGATED_BY_GROUP_8 = 28
    INTERROGATED_BY_GROUP_9 = 29
    INTERROGATED_BY_GROUP_10 = 30
    INTERROGATED_BY_GROUP_11 = 31
    INTERROGATED_BY_GROUP_12 = 32
    INTERROGATED_BY_GROUP_13 = 33
    INTERROGATED_BY_GROUP_14 = 34
    INTERROGATED_BY_GROUP_15 = 35
    INTERROGATED_BY_GROUP_16 = 36
    REQUESTED_BY_GENERAL_COUNTER = 37
    REQUESTED_BY_GROUP_1_COUNTER = 38
    REQUESTED_BY_GROUP_2_COUNTER = 39
    REQUESTED_BY_GROUP_3_COUNTER = 40
    REQUESTED_BY_GROUP_4_COUNTER = 41
    UNKNOWN_TYPE_ID = 44
    UNKNOWN_CAUSE = 45
    UNKNOWN_COMMON_ADDRESS = 46
    UNKNOWN_IOA = 47


class Qds(IntFlag):
    """Quality descriptor bits (QDS; the same positions in SIQ, DIQ and VTI's QDS)."""

    OV = 0x01
    BL = 0x10
    SB = 0x20
    NT = 0x40
    IV = 0x80


class Qdp(IntFlag):
    """Quality descriptor of protection events (QDP; SEP uses the same bits above its ES)."""

    EI = 0x08  # elapsed time invalid
    BL = 0x10
    SB = 0x20
    NT = 0x40
    IV = 0x80


# SPE (start events of protection equipment) and OCI (output circuit information) bits
SPE_GS, SPE_SL1, SPE_SL2, SPE_SL3, SPE_SIE, SPE_SRD = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
OCI_GC, OCI_CL1, OCI_CL2, OCI_CL3 = 0x01, 0x02, 0x04, 0x08
SPE_NAMES: Final = ((SPE_GS, "GS"), (SPE_SL1, "SL1"), (SPE_SL2, "SL2"), (SPE_SL3, "SL3"),
                    (SPE_SIE, "SIE"), (SPE_SRD, "SRD"))
OCI_NAMES: Final = ((OCI_GC, "GC"), (OCI_CL1, "CL1"), (OCI_CL2, "CL2"), (OCI_CL3, "CL3"))


def bits_text(bits: int, names: tuple[tuple[int, str], ...]) -> str:
    """The names of the set bits of an SPE or OCI octet joined by '|' ("GS|SL1"), or "none"."""
    return "|".join(name for bit, name in names if bits & bit) or "none"


class Qu(IntEnum):
    """Qualifier of command (QU), bits 2-6 of SCO/DCO/RCO."""

    NONE = 0
    SHORT_PULSE = 1
    LONG_PULSE = 2
    PERSISTENT = 3


# Qualifier of interrogation: station interrogation and groups 1-16 (21..36).
QOI_STATION = 20
QOI_GROUP_FIRST = 21
QOI_GROUP_LAST = 36

# Qualifier of counter interrogation, request bits (RQT).
RQT_GENERAL = 5

# QPM of a parameter of measured values: KPA (bits 0-5) and two flags.
KPA_THRESHOLD = 1  # the threshold (deadband) of a measured value
KPA_SMOOTHING = 2  # the smoothing factor (filter time constant)
KPA_LOW_LIMIT = 3  # the low limit for the transmission of measured values
KPA_HIGH_LIMIT = 4  # the high limit for the transmission of measured values
QPM_KPA_MASK = 0x3F
QPM_LPC = 0x40  # local parameter change
QPM_POP = 0x80  # parameter not in operation
# QPA of P_AC_NA_1
QPA_LOADED = 1  # act/deact of the previously loaded parameters (IOA 0)
QPA_OBJECT = 2  # act/deact of the parameter of the addressed object
QPA_CYCLIC = 3  # act/deact of the persistent cyclic or periodic transmission of the object

# FRZ of a counter interrogation's QCC (bits 6-7): what happens to the counters asked for.
FRZ_READ = 0  # read (the frozen value if there is one)
FRZ_FREEZE = 1  # freeze without reset
FRZ_FREEZE_RESET = 2  # freeze with reset
FRZ_RESET = 3  # reset

# Fixed test bit pattern of C_TS_NA_1.
FBP_TEST_PATTERN = 0x55AA

# Monitor-direction types and their time-tagged counterparts.
TIME_TAGGED: dict[TypeId, TypeId] = {
    TypeId.M_SP_NA_1: TypeId.M_SP_TB_1,
    TypeId.M_DP_NA_1: TypeId.M_DP_TB_1,
    TypeId.M_ST_NA_1: TypeId.M_ST_TB_1,
    TypeId.M_BO_NA_1: TypeId.M_BO_TB_1,
    TypeId.M_ME_NA_1: TypeId.M_ME_TD_1,
    TypeId.M_ME_NB_1: TypeId.M_ME_TE_1,
    TypeId.M_ME_NC_1: TypeId.M_ME_TF_1,
    TypeId.M_IT_NA_1: TypeId.M_IT_TB_1,
}


# 101 line option time_tag = "cp24": each CP56Time2a monitor type and the CP24Time2a type it
# goes out as (the same element, a 3-octet time tag). The one table of that mapping.
CP24_EQUIVALENT: dict[TypeId, TypeId] = {
    TypeId.M_SP_TB_1: TypeId.M_SP_TA_1,
    TypeId.M_DP_TB_1: TypeId.M_DP_TA_1,
    TypeId.M_ST_TB_1: TypeId.M_ST_TA_1,
    TypeId.M_BO_TB_1: TypeId.M_BO_TA_1,
    TypeId.M_ME_TD_1: TypeId.M_ME_TA_1,
    TypeId.M_ME_TE_1: TypeId.M_ME_TB_1,
    TypeId.M_ME_TF_1: TypeId.M_ME_TC_1,
    TypeId.M_IT_TB_1: TypeId.M_IT_TA_1,
    TypeId.M_EP_TD_1: TypeId.M_EP_TA_1,
    TypeId.M_EP_TE_1: TypeId.M_EP_TB_1,
    TypeId.M_EP_TF_1: TypeId.M_EP_TC_1,
}
# Types the standard defines for 101 only (never sent or accepted on 104).
TYPES_101_ONLY: frozenset[TypeId] = frozenset({*CP24_EQUIVALENT.values(), TypeId.C_CD_NA_1})


def interrogation_cot(qoi: int) -> Cot:
    """COT of data answering an interrogation with qualifier ``qoi`` (20 -> 20, 21..36 -> 21..36)."""
    if not QOI_STATION <= qoi <= QOI_GROUP_LAST:
        raise ValueError(f"QOI {qoi} is not a station or group interrogation")
    return Cot(qoi)


def counter_cot(rqt: int) -> Cot:
    """COT of counters answering a counter interrogation with request ``rqt`` (1-4 groups, 5 general)."""
    if rqt == RQT_GENERAL:
        return Cot.REQUESTED_BY_GENERAL_COUNTER
    if 1 <= rqt <= 4:
        return Cot(Cot.REQUESTED_BY_GROUP_1_COUNTER + rqt - 1)
    raise ValueError(f"RQT {rqt} is not a counter request")
