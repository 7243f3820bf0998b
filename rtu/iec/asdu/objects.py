"""Frozen information-object records and the ASDU that carries them.

Values are kept as they travel on the wire (raw int16 for normalized values, DPI codes for
double points) so that encode/decode round-trips exactly; scaling belongs to the application.
The type id of the ASDU decides whether an object's ``time`` is encoded (CP56Time2a variants,
and on 101 the CP24Time2a ones).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

from rtu.frozen import frozen
from rtu.iec.asdu.types import CP24_EQUIVALENT, Cot, Qdp, Qds, TypeId
from rtu.points.records import event_record
from rtu.points.timestamps import posix_seconds, utc_datetime

GOOD = Qds(0)  # no quality flag set
GOOD_QDP = Qdp(0)  # protection events: no quality flag set

_MS_PER_SECOND = 1000
_SECONDS_PER_MINUTE = 60
_YEARS_PER_CENTURY = 100
_FIRST_YEAR, _LAST_YEAR = 2000, 2099  # what the two-digit year of a CP56Time2a can say
_DAY = 86_400
# beyond these a time is clamped anyway: keeps the calendar arithmetic far from datetime's limits
_EARLIEST = posix_seconds(datetime(_FIRST_YEAR, 1, 1)) - 2 * _DAY
_LATEST = posix_seconds(datetime(_LAST_YEAR + 1, 1, 1)) + 2 * _DAY
# (minute, hour, day, month, year % 100, ISO weekday, summer time) of the last minute seen
_Fields = tuple[int, int, int, int, int, int, bool]
_last_minute: list[object] = [None, ()]
# the last time tag made by from_timestamp and what it was made from: events of the same
# millisecond share one record (and the codec encodes a shared record's octets once per ASDU)
_last_tag: list[object] = [None, None]
_FIRST_FIELDS: _Fields = (0, 0, 1, 1, 0, 6, False)  # 2000-01-01 00:00, a Saturday
_LAST_FIELDS: _Fields = (59, 23, 31, 12, 99, 4, False)  # 2099-12-31 23:59, a Thursday


# every time within this much of the centre of its millisecond gets the same time tag:
# from_timestamp's rounding decides only at 0.5 ms, and the float error of times of this
# century is below a microsecond. Away from the ends of the range, where a tag may be clamped.
_SAME_TAG_HALF_WIDTH = 0.00045
_SPAN_EARLIEST = _EARLIEST + 4 * _DAY
_SPAN_LATEST = _LATEST - 4 * _DAY


def same_tag_span(seconds: float) -> tuple[float, float] | None:
    """An open interval around POSIX ``seconds`` every time of which gets the same time tag
    from :meth:`Cp56Time2a.from_timestamp` as ``seconds`` (with the same other arguments); None
    near or beyond the ends of 2000-2099 (and for NaN), where a tag may be clamped."""
    if not _SPAN_EARLIEST < seconds < _SPAN_LATEST:
        return None
    whole = int(seconds // 1)
    centre = whole + round((seconds - whole) * 1000.0) / 1000.0
    return centre - _SAME_TAG_HALF_WIDTH, centre + _SAME_TAG_HALF_WIDTH


def _minute_fields(minute_start: int, zone: tzinfo | None) -> _Fields | None:
    """The calendar fields of the minute starting at POSIX ``minute_start``, in UTC or in
    ``zone``; None if its year is outside 2000-2099. Pure arithmetic (no ``time_t``)."""
    key = (minute_start, zone)
    if _last_minute[0] == key:
        return _last_minute[1]  # type: ignore[return-value]
    dt = utc_datetime(minute_start)
    summer = False
    if zone is not None:
        dt = dt.astimezone(zone)
        summer = bool(dt.dst())
    if not _FIRST_YEAR <= dt.year <= _LAST_YEAR:
        return None
    fields = (dt.minute, dt.hour, dt.day, dt.month, dt.year % _YEARS_PER_CENTURY, dt.isoweekday(),
              summer)
    _last_minute[0], _last_minute[1] = key, fields
    return fields


@event_record
class Cp56Time2a:
    """Seven-octet time tag, fields as on the wire (year 0-99 means 2000-2099)."""

    milliseconds: int  # within the minute, 0..59999
    minute: int
    hour: int
    day: int
    month: int
    year: int
    weekday: int = 0  # 1 = Monday .. 7 = Sunday, 0 = not used
    invalid: bool = False
    summer_time: bool = False

    @classmethod
    def from_timestamp(
        cls, seconds: float, *, invalid: bool = False, with_weekday: bool = False,
        zone: tzinfo | None = None,
    ) -> Cp56Time2a:
        """Time tag for POSIX ``seconds``: UTC, or local time of ``zone`` with the SU bit set
        while it observes daylight saving time.

        A time outside 2000-2099 (a board whose clock starts at 1970) cannot be expressed: it
        is clamped to the first or last millisecond of that range and marked invalid (IV),
        never wrapped or raised. The calendar fields are computed once per minute and reused
        (events arrive in time order, so this is the common case on the event path), and a
        call for the same millisecond as the previous one returns the same (immutable) record."""
        if math.isnan(seconds) or seconds < _EARLIEST:
            return cls._clamped(_FIRST_FIELDS, 0, with_weekday)
        if seconds > _LATEST:
            return cls._clamped(_LAST_FIELDS, 59_999, with_weekday)
        whole, ms_in_second = _second_and_ms(seconds)
        key = (whole, ms_in_second, invalid, with_weekday, zone)
        if _last_tag[0] == key:
            return _last_tag[1]  # type: ignore[return-value]
        minute_start = whole - whole % _SECONDS_PER_MINUTE
        fields = _minute_fields(minute_start, zone)
        if fields is None:
            low = utc_datetime(minute_start).year < _FIRST_YEAR + 1
            return cls._clamped(_FIRST_FIELDS if low else _LAST_FIELDS, 0 if low else 59_999,
                                with_weekday)
        tag = cls(
            (whole - minute_start) * _MS_PER_SECOND + ms_in_second,
            fields[0], fields[1], fields[2], fields[3], fields[4],
            fields[5] if with_weekday else 0,
            invalid,
            fields[6],
        )
        _last_tag[0], _last_tag[1] = key, tag
        return tag

    @classmethod
    def _clamped(cls, fields: _Fields, milliseconds: int, with_weekday: bool) -> Cp56Time2a:
        return cls(milliseconds, fields[0], fields[1], fields[2], fields[3], fields[4],
                   fields[5] if with_weekday else 0, True, False)

    def _minute_start(self, zone: tzinfo | None) -> datetime:
        # the SU bit picks the summer-time reading of a local hour that occurs twice
        fold = 0 if zone is None or self.summer_time else 1
        return datetime(_FIRST_YEAR + self.year, self.month, self.day, self.hour, self.minute,
                        tzinfo=zone or UTC, fold=fold)

    def to_datetime(self, zone: tzinfo | None = None) -> datetime:
        """The aware datetime of this tag: UTC, or local time of ``zone``. ValueError for
        impossible dates."""
        return utc_datetime(self.to_timestamp(zone)).astimezone(zone or UTC)

    def to_timestamp(self, zone: tzinfo | None = None) -> float:
        """POSIX seconds for this tag (UTC, or local time of ``zone``); raises ValueError for
        impossible dates. Pure arithmetic: valid on platforms with a 32-bit ``time_t``."""
        return posix_seconds(self._minute_start(zone)) + self.milliseconds / 1000.0

def _second_and_ms(seconds: float) -> tuple[int, int]:
    """POSIX ``seconds`` as its whole second and the millisecond in it, rounded to the
    millisecond as a CP56Time2a holds it (999.6 ms carries into the next second)."""
    whole = int(seconds // 1)
    ms = round((seconds - whole) * 1000.0)
    if ms >= _MS_PER_SECOND:
        return whole + 1, ms - _MS_PER_SECOND
    return whole, ms


def minute_start_of(seconds: float) -> int:
    """POSIX second at which the minute of :meth:`Cp56Time2a.from_timestamp`'s tag for
    ``seconds`` starts (away from the ends of 2000-2099: see :func:`same_tag_span`)."""
    whole = _second_and_ms(seconds)[0]
    return whole - whole % _SECONDS_PER_MINUTE


def tag_in_minute(tag: Cp56Time2a, minute_start: int, seconds: float,
                  ) -> tuple[Cp56Time2a, float, float] | None:
    """The tag :meth:`Cp56Time2a.from_timestamp` makes for ``seconds``, and
    :func:`same_tag_span` of ``seconds``, worked out from ``tag``, which from_timestamp made
    (with the same arguments) for a time of the minute that starts at ``minute_start``: only
    the milliseconds differ within a minute. None unless ``seconds`` falls in that minute,
    away from the ends of the range (the event path's tag of each new millisecond, without the
    calendar, the clamping tests and the caches of from_timestamp)."""
    if not _SPAN_EARLIEST < seconds < _SPAN_LATEST:
        return None
    whole, ms = _second_and_ms(seconds)
    second = whole - minute_start
    if not 0 <= second < _SECONDS_PER_MINUTE:
        return None
    centre = whole + ms / 1000.0  # same_tag_span's centre: the carry gives the same float
    return (Cp56Time2a(second * _MS_PER_SECOND + ms, tag.minute, tag.hour, tag.day, tag.month,
                       tag.year, tag.weekday, tag.invalid, tag.summer_time),
            centre - _SAME_TAG_HALF_WIDTH, centre + _SAME_TAG_HALF_WIDTH)


@frozen
class Cp24Time2a:
    """Three-octet time tag of the 101 CP24 types: milliseconds within the minute and the
    minute (IV bit); the hour and date are those of the last clock synchronisation."""

    milliseconds: int  # within the minute, 0..59999
    minute: int  # 0..59
    invalid: bool = False

    @classmethod
    def of(cls, t: Cp56Time2a | Cp24Time2a) -> Cp24Time2a:
        """The CP24Time2a part of ``t`` (a CP56Time2a loses its hour and date)."""
        if isinstance(t, Cp24Time2a):
            return t
        return cls(t.milliseconds, t.minute, t.invalid)


# the time tag a monitor record carries: CP56Time2a (or CP24Time2a on a 101 CP24 type)
TimeTag = Cp56Time2a | Cp24Time2a


@event_record
class SinglePoint:
    ioa: int
    value: bool
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class DoublePoint:
    ioa: int
    value: int  # DoublePointValue
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class StepPosition:
    ioa: int
    value: int  # -64..63
    transient: bool = False
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class Bitstring32:
    ioa: int
    value: int  # 0..2**32-1
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class MeasuredNormalized:
    ioa: int
    value: int  # raw int16; the normalized value is value / 32768
    quality: Qds = GOOD
    time: TimeTag | None = None


@frozen
class MeasuredNormalizedNoQuality:
    ioa: int
    value: int  # raw int16 (M_ME_ND_1)


@event_record
class MeasuredScaled:
    ioa: int
    value: int  # int16
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class MeasuredFloat:
    ioa: int
    value: float  # IEEE 754 single precision
    quality: Qds = GOOD
    time: TimeTag | None = None


@event_record
class IntegratedTotal:
    ioa: int
    value: int  # int32
    sequence: int = 0  # 0..31
    carry: bool = False
    adjusted: bool = False
    invalid: bool = False
    time: TimeTag | None = None


@frozen
class SingleCommand:
    ioa: int
    state: bool
    qu: int = 0
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class DoubleCommand:
    ioa: int
    state: int  # DCS: 1 off, 2 on (0 and 3 not permitted)
    qu: int = 0
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class RegulatingStepCommand:
    ioa: int
    state: int  # RCS: 1 lower, 2 higher
    qu: int = 0
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class SetpointNormalized:
    ioa: int
    value: int  # raw int16
    ql: int = 0  # 0..127
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class SetpointScaled:
    ioa: int
    value: int
    ql: int = 0
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class SetpointFloat:
    ioa: int
    value: float
    ql: int = 0
    select: bool = False
    time: Cp56Time2a | None = None


@frozen
class Bitstring32Command:
    ioa: int
    value: int
    time: Cp56Time2a | None = None


@frozen
class EndOfInitialization:
    ioa: int
    cause: int = 0  # COI: 0 power on, 1 local manual reset, 2 remote reset
    after_parameter_change: bool = False


@frozen
class InterrogationCommand:
    ioa: int
    qoi: int


@frozen
class CounterInterrogationCommand:
    ioa: int
    rqt: int
    frz: int = 0


@frozen
class ReadCommand:
    ioa: int


@frozen
class ClockSyncCommand:
    ioa: int
    time: Cp56Time2a


@frozen
class TestCommand:
    __test__ = False  # not a pytest test class
    ioa: int
    fbp: int = 0x55AA


@frozen
class TestCommandWithTime:
    __test__ = False  # not a pytest test class
    ioa: int
    tsc: int
    time: Cp56Time2a


@frozen
class ResetProcessCommand:
    ioa: int
    qrp: int


@frozen
class DelayAcquisitionCommand:
    """C_CD_NA_1 (101): a time in milliseconds (CP16Time2a, 0..59999): the master's send time
    (SDT) in an activation and its confirmation, the transmission delay when spontaneous."""

    ioa: int
    milliseconds: int


@event_record
class ProtectionEvent:
    """M_EP_TD_1: an event of protection equipment (SEP), its elapsed time (CP16Time2a, ms)."""

    ioa: int
    state: int  # ES: 1 off, 2 on (0 and 3 indeterminate)
    elapsed_ms: int  # 0..59999
    quality: Qdp = GOOD_QDP  # EI, BL, SB, NT, IV
    time: TimeTag | None = None


@event_record
class ProtectionStartEvents:
    """M_EP_TE_1: packed start events (SPE), the relay duration time (CP16Time2a, ms)."""

    ioa: int
    spe: int  # GS, SL1-3, SIE, SRD bits
    duration_ms: int
    quality: Qdp = GOOD_QDP
    time: TimeTag | None = None


@event_record
class ProtectionOutputCircuit:
    """M_EP_TF_1: packed output circuit information (OCI), the relay operating time (ms)."""

    ioa: int
    oci: int  # GC, CL1-3 bits
    operating_ms: int
    quality: Qdp = GOOD_QDP
    time: TimeTag | None = None


@frozen
class ParameterNormalized:
    """P_ME_NA_1: a parameter of a measured value, normalized (raw int16 / 32768)."""

    ioa: int
    value: int  # raw int16
    kpa: int  # kind of parameter: 1 threshold, 2 smoothing, 3 low limit, 4 high limit
    lpc: bool = False  # local parameter change
    pop: bool = False  # parameter not in operation


@frozen
class ParameterScaled:
    """P_ME_NB_1: a parameter of a measured value, scaled (int16)."""

    ioa: int
    value: int
    kpa: int
    lpc: bool = False
    pop: bool = False


@frozen
class ParameterFloat:
    """P_ME_NC_1: a parameter of a measured value, short float."""

    ioa: int
    value: float
    kpa: int
    lpc: bool = False
    pop: bool = False


@frozen
class ParameterActivation:
    """P_AC_NA_1: activate (COT 6) or deactivate (COT 8) parameters (QPA)."""

    ioa: int
    qpa: int


# -- file transfer (types 120-127; rtu/iec/asdu/codec_file.py) --------------------------------
@frozen
class FileReady:
    """F_FR_NA_1: the file NOF is ready (LOF octets); ``negative``: FRQ bit 7, select refused."""

    ioa: int
    nof: int
    length: int  # LOF, 0..16777215
    negative: bool = False
    frq: int = 0  # FRQ bits 0-6 (0 = default)


@frozen
class SectionReady:
    """F_SR_NA_1: section NOS of file NOF is ready (LOF octets); ``not_ready``: SRQ bit 7."""

    ioa: int
    nof: int
    section: int  # NOS, 1..255
    length: int
    not_ready: bool = False
    srq: int = 0  # SRQ bits 0-6


@frozen
class FileCall:
    """F_SC_NA_1: call directory (SCQ 0), select/call/deactivate file, call section (SCQ)."""

    ioa: int
    nof: int
    section: int
    scq: int  # bits 0-3: 0 default, 1 select file, 2 call file, 3 deactivate file,
    # 4 delete file, 5 select section, 6 call section, 7 deactivate section
    error: int = 0  # bits 4-7: 1 no memory, 2 checksum failed, 3 unexpected service,
    # 4 unexpected name of file, 5 unexpected name of section


@frozen
class LastSegment:
    """F_LS_NA_1: last section (LSQ 1, 2) or last segment (LSQ 3, 4), with the checksum CHS
    (sum modulo 256 of the file's or the section's octets)."""

    ioa: int
    nof: int
    section: int
    lsq: int
    checksum: int


@frozen
class FileAck:
    """F_AF_NA_1: acknowledgement of a file (AFQ 1 positive, 2 negative) or a section (3, 4)."""

    ioa: int
    nof: int
    section: int
    afq: int  # bits 0-3
    error: int = 0  # bits 4-7, as FileCall.error


@frozen
class Segment:
    """F_SG_NA_1: one segment of section NOS (LOS = len(data), at most 255)."""

    ioa: int
    nof: int
    section: int
    data: bytes


@frozen
class DirectoryEntry:
    """F_DR_TA_1: one file of the directory (SOF: STATUS bits 0-4, LFD, FOR, FA) + CP56."""

    ioa: int
    nof: int
    length: int
    time: Cp56Time2a
    status: int = 0
    last: bool = False  # LFD: the last file of the directory
    subdirectory: bool = False  # FOR: the name is a subdirectory
    active: bool = False  # FA: a file transfer of it is active


@frozen
class QueryLog:
    """F_SC_NB_1: request the archive file NOF for the range start..stop (query log)."""

    ioa: int
    nof: int
    start: Cp56Time2a
    stop: Cp56Time2a


FILE_OBJECTS = (FileReady, SectionReady, FileCall, LastSegment, FileAck, Segment,
                DirectoryEntry, QueryLog)


InformationObject = (
    SinglePoint
    | DoublePoint
    | StepPosition
    | Bitstring32
    | MeasuredNormalized
    | MeasuredNormalizedNoQuality
    | MeasuredScaled
    | MeasuredFloat
    | IntegratedTotal
    | SingleCommand
    | DoubleCommand
    | RegulatingStepCommand
    | SetpointNormalized
    | SetpointScaled
    | SetpointFloat
    | Bitstring32Command
    | EndOfInitialization
    | InterrogationCommand
    | CounterInterrogationCommand
    | ReadCommand
    | ClockSyncCommand
    | TestCommand
    | TestCommandWithTime
    | ResetProcessCommand
    | DelayAcquisitionCommand
    | ProtectionEvent
    | ProtectionStartEvents
    | ProtectionOutputCircuit
    | ParameterNormalized
    | ParameterScaled
    | ParameterFloat
    | ParameterActivation
    | FileReady
    | SectionReady
    | FileCall
    | LastSegment
    | FileAck
    | Segment
    | DirectoryEntry
    | QueryLog
)

# The record class each type id carries.
OBJECT_CLASS: dict[TypeId, type] = {
    TypeId.M_SP_NA_1: SinglePoint,
    TypeId.M_SP_TA_1: SinglePoint,
    TypeId.M_SP_TB_1: SinglePoint,
    TypeId.M_DP_NA_1: DoublePoint,
    TypeId.M_DP_TA_1: DoublePoint,
    TypeId.M_DP_TB_1: DoublePoint,
    TypeId.M_ST_NA_1: StepPosition,
    TypeId.M_ST_TA_1: StepPosition,
    TypeId.M_ST_TB_1: StepPosition,
    TypeId.M_BO_NA_1: Bitstring32,
    TypeId.M_BO_TA_1: Bitstring32,
    TypeId.M_BO_TB_1: Bitstring32,
    TypeId.M_ME_NA_1: MeasuredNormalized,
    TypeId.M_ME_TA_1: MeasuredNormalized,
    TypeId.M_ME_TD_1: MeasuredNormalized,
    TypeId.M_ME_NB_1: MeasuredScaled,
    TypeId.M_ME_TB_1: MeasuredScaled,
    TypeId.M_ME_TE_1: MeasuredScaled,
    TypeId.M_ME_NC_1: MeasuredFloat,
    TypeId.M_ME_TC_1: MeasuredFloat,
    TypeId.M_ME_TF_1: MeasuredFloat,
    TypeId.M_IT_NA_1: IntegratedTotal,
    TypeId.M_IT_TA_1: IntegratedTotal,
    TypeId.M_IT_TB_1: IntegratedTotal,
    TypeId.M_ME_ND_1: MeasuredNormalizedNoQuality,
    TypeId.C_SC_NA_1: SingleCommand,
    TypeId.C_SC_TA_1: SingleCommand,
    TypeId.C_DC_NA_1: DoubleCommand,
    TypeId.C_DC_TA_1: DoubleCommand,
    TypeId.C_RC_NA_1: RegulatingStepCommand,
    TypeId.C_RC_TA_1: RegulatingStepCommand,
    TypeId.C_SE_NA_1: SetpointNormalized,
    TypeId.C_SE_TA_1: SetpointNormalized,
    TypeId.C_SE_NB_1: SetpointScaled,
    TypeId.C_SE_TB_1: SetpointScaled,
    TypeId.C_SE_NC_1: SetpointFloat,
    TypeId.C_SE_TC_1: SetpointFloat,
    TypeId.C_BO_NA_1: Bitstring32Command,
    TypeId.C_BO_TA_1: Bitstring32Command,
    TypeId.M_EI_NA_1: EndOfInitialization,
    TypeId.C_IC_NA_1: InterrogationCommand,
    TypeId.C_CI_NA_1: CounterInterrogationCommand,
    TypeId.C_RD_NA_1: ReadCommand,
    TypeId.C_CS_NA_1: ClockSyncCommand,
    TypeId.C_TS_NA_1: TestCommand,
    TypeId.C_TS_TA_1: TestCommandWithTime,
    TypeId.C_RP_NA_1: ResetProcessCommand,
    TypeId.M_EP_TA_1: ProtectionEvent,
    TypeId.M_EP_TB_1: ProtectionStartEvents,
    TypeId.M_EP_TC_1: ProtectionOutputCircuit,
    TypeId.C_CD_NA_1: DelayAcquisitionCommand,
    TypeId.M_EP_TD_1: ProtectionEvent,
    TypeId.M_EP_TE_1: ProtectionStartEvents,
    TypeId.M_EP_TF_1: ProtectionOutputCircuit,
    TypeId.P_ME_NA_1: ParameterNormalized,
    TypeId.P_ME_NB_1: ParameterScaled,
    TypeId.P_ME_NC_1: ParameterFloat,
    TypeId.P_AC_NA_1: ParameterActivation,
    TypeId.F_FR_NA_1: FileReady,
    TypeId.F_SR_NA_1: SectionReady,
    TypeId.F_SC_NA_1: FileCall,
    TypeId.F_LS_NA_1: LastSegment,
    TypeId.F_AF_NA_1: FileAck,
    TypeId.F_SG_NA_1: Segment,
    TypeId.F_DR_TA_1: DirectoryEntry,
    TypeId.F_SC_NB_1: QueryLog,
}

# Types whose objects carry a CP24Time2a tag on the wire (101 only).
CP24_TIME_TAGGED_TYPES: frozenset[TypeId] = frozenset(CP24_EQUIVALENT.values())

# Types whose objects carry a CP56Time2a tag on the wire.
TIME_TAGGED_TYPES: frozenset[TypeId] = frozenset(
    t for t in TypeId if 30 <= t <= 40 or 58 <= t <= 64 or t in (TypeId.C_CS_NA_1, TypeId.C_TS_TA_1)
)


@frozen
class Asdu:
    """One application service data unit. ``sequence`` is the SQ bit (consecutive IOAs)."""

    type_id: TypeId
    cot: Cot
    common_address: int
    objects: tuple[InformationObject, ...]
    sequence: bool = False
    negative: bool = False
    test: bool = False
    originator: int = 0

    def reply(self, cot: Cot, *, negative: bool = False, objects: tuple[InformationObject, ...] | None = None) -> Asdu:
        """The same ASDU sent back with another cause (mirrors originator and test bit)."""
        return Asdu(
            type_id=self.type_id,
            cot=cot,
            common_address=self.common_address,
            objects=self.objects if objects is None else objects,
            sequence=self.sequence,
            negative=negative,
            test=self.test,
            originator=self.originator,
        )
