"""Element codecs of the system information types (M_EI, C_IC, C_CI, C_RD, C_CS, C_TS,
C_RP, C_CD, C_TS_TA): element octets only.  Pure functions, moved out of
:mod:`rtu.iec.asdu.codec`.
"""

from __future__ import annotations

from rtu.iec.asdu.codec_base import (
    COI_AFTER_PARAMETER_CHANGE,
    COI_CAUSE_MASK,
    OCTET_BYTES,
    QCC_FRZ_MASK,
    QCC_FRZ_SHIFT,
    QCC_RQT_MASK,
    U8,
    U16,
    out_of_range,
)
from rtu.iec.asdu.objects import (
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DelayAcquisitionCommand,
    EndOfInitialization,
    InterrogationCommand,
    ReadCommand,
    ResetProcessCommand,
    TestCommand,
    TestCommandWithTime,
)


def enc_end_of_init(obj: EndOfInitialization) -> bytes:
    cause = obj.cause
    if not 0 <= cause <= COI_CAUSE_MASK:
        raise out_of_range(obj, "cause", cause)
    return OCTET_BYTES[cause | COI_AFTER_PARAMETER_CHANGE if obj.after_parameter_change else cause]


def enc_interrogation(obj: InterrogationCommand) -> bytes:
    return U8.pack(obj.qoi)


def enc_counter_interrogation(obj: CounterInterrogationCommand) -> bytes:
    rqt = obj.rqt
    frz = obj.frz
    if not 0 <= rqt <= QCC_RQT_MASK:
        raise out_of_range(obj, "rqt", rqt)
    if not 0 <= frz <= QCC_FRZ_MASK:
        raise out_of_range(obj, "frz", frz)
    return OCTET_BYTES[rqt | frz << QCC_FRZ_SHIFT]


def enc_nothing(obj: ReadCommand | ClockSyncCommand) -> bytes:
    return b""


def enc_test(obj: TestCommand) -> bytes:
    return U16.pack(obj.fbp)


def enc_reset_process(obj: ResetProcessCommand) -> bytes:
    return U8.pack(obj.qrp)


def enc_delay_acquisition(obj: DelayAcquisitionCommand) -> bytes:
    # CP16Time2a: 0..59999 ms; a received value beyond is mirrored as it came (16 bits)
    if not 0 <= obj.milliseconds <= 0xFFFF:
        raise out_of_range(obj, "milliseconds", obj.milliseconds)
    return U16.pack(obj.milliseconds)


def enc_test_with_time(obj: TestCommandWithTime) -> bytes:
    return U16.pack(obj.tsc)


def dec_end_of_init(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> EndOfInitialization:
    coi = data[off]
    return EndOfInitialization(ioa, coi & COI_CAUSE_MASK, bool(coi & COI_AFTER_PARAMETER_CHANGE))


def dec_interrogation(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> InterrogationCommand:
    return InterrogationCommand(ioa, data[off])


def dec_counter_interrogation(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> CounterInterrogationCommand:
    qcc = data[off]
    return CounterInterrogationCommand(
        ioa, qcc & QCC_RQT_MASK, (qcc >> QCC_FRZ_SHIFT) & QCC_FRZ_MASK
    )


def dec_read(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> ReadCommand:
    return ReadCommand(ioa)


def dec_clock_sync(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> ClockSyncCommand:
    assert time is not None  # C_CS_NA_1 is time-tagged: the caller decodes the CP56 first
    return ClockSyncCommand(ioa, time)


def dec_test(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> TestCommand:
    return TestCommand(ioa, U16.unpack_from(data, off)[0])


def dec_reset_process(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> ResetProcessCommand:
    return ResetProcessCommand(ioa, data[off])


def dec_delay_acquisition(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> DelayAcquisitionCommand:
    return DelayAcquisitionCommand(ioa, U16.unpack_from(data, off)[0])


def dec_test_with_time(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> TestCommandWithTime:
    assert time is not None  # C_TS_TA_1 is time-tagged: the caller decodes the CP56 first
    return TestCommandWithTime(ioa, U16.unpack_from(data, off)[0], time)
