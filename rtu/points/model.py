"""Point kinds, quality flags and frozen point records.

A point's value is what the field says, in engineering terms: a bool for a single point, a
double-point state code, an int for steps, bitstrings, scaled values and counters, a float in
[-1, 1) for normalized values, a float for short floats. Time stamps are POSIX seconds (UTC) at
which the source saw the value; the protocol layer turns them into CP56Time2a.
"""

from __future__ import annotations

from dataclasses import field
from enum import Enum, IntEnum, IntFlag

from rtu.frozen import frozen
from rtu.points.records import event_record


class PointKind(Enum):
    # monitored
    SINGLE = "single"
    DOUBLE = "double"
    STEP = "step"
    BITSTRING = "bitstring"
    NORMALIZED = "normalized"
    SCALED = "scaled"
    FLOAT = "float"
    COUNTER = "counter"
    # protection equipment events (events only: never interrogated, read or sent cyclically)
    PROTECTION = "protection"  # single event (M_EP_TD_1): on/off, elapsed time
    PROTECTION_START = "protection_start"  # packed start events (M_EP_TE_1), relay duration
    PROTECTION_TRIP = "protection_trip"  # output circuit information (M_EP_TF_1), operating time
    # controlled
    SINGLE_COMMAND = "single_command"
    DOUBLE_COMMAND = "double_command"
    REGULATING_STEP = "regulating_step"
    SETPOINT_NORMALIZED = "setpoint_normalized"
    SETPOINT_SCALED = "setpoint_scaled"
    SETPOINT_FLOAT = "setpoint_float"
    BITSTRING_COMMAND = "bitstring_command"

    # looked up by value: a str hashes in C, an Enum member through Python (Enum.__hash__),
    # which costs seconds over 100,000 points at start-up
    @property
    def is_command(self) -> bool:
        return self._value_ in _COMMAND_VALUES

    @property
    def is_analog(self) -> bool:
        return self._value_ in _ANALOG_VALUES

    @property
    def is_protection(self) -> bool:
        """An event of protection equipment: reported as an event only, never interrogated,
        read, sent cyclically or scanned in the background (it has no state to answer)."""
        return self._value_ in _PROTECTION_VALUES


_COMMAND_KINDS = frozenset(
    {
        PointKind.SINGLE_COMMAND,
        PointKind.DOUBLE_COMMAND,
        PointKind.REGULATING_STEP,
        PointKind.SETPOINT_NORMALIZED,
        PointKind.SETPOINT_SCALED,
        PointKind.SETPOINT_FLOAT,
        PointKind.BITSTRING_COMMAND,
    }
)
_ANALOG_KINDS = frozenset({PointKind.NORMALIZED, PointKind.SCALED, PointKind.FLOAT})
_PROTECTION_KINDS = frozenset({PointKind.PROTECTION, PointKind.PROTECTION_START,
                               PointKind.PROTECTION_TRIP})
_COMMAND_VALUES = frozenset(k.value for k in _COMMAND_KINDS)
_ANALOG_VALUES = frozenset(k.value for k in _ANALOG_KINDS)
_PROTECTION_VALUES = frozenset(k.value for k in _PROTECTION_KINDS)


class Quality(IntFlag):
    """Quality of a point value. The low byte uses the QDS bit positions of IEC 60870-5-101."""

    GOOD = 0
    OV = 0x01  # overflow: value out of its range
    EI = 0x08  # elapsed time invalid (protection events' QDP)
    BL = 0x10  # blocked
    SB = 0x20  # substituted
    NT = 0x40  # not topical: the source could not refresh it
    IV = 0x80  # invalid
    CY = 0x100  # counter carry (integrated totals)
    CA = 0x200  # counter adjusted (integrated totals)
    TRANSIENT = 0x400  # step position in transient state (VTI bit 7); not a quality, carried here


class DoublePointValue(IntEnum):
    """The state of a double point (two contacts), and of a double command's target state.

    The codes are those of IEC 60870-5-101's DPI/DCS, so the protocol layer maps them 1:1."""

    INDETERMINATE = 0  # intermediate: neither contact closed
    OFF = 1
    ON = 2
    INDETERMINATE_OR_FAULTY = 3  # both contacts closed


class StepDirection(IntEnum):
    """What a regulating-step command asks for (codes of IEC 60870-5-101's RCS)."""

    LOWER = 1
    HIGHER = 2


class ChangeOrigin(Enum):
    """Why a value changed; the outstation maps it onto the cause of transmission."""

    FIELD = "field"  # spontaneous
    REMOTE_COMMAND = "remote_command"  # return information caused by a remote command
    LOCAL_COMMAND = "local_command"  # return information caused by a local command


@event_record
class PointValue:
    value: bool | int | float
    quality: Quality
    timestamp: float  # POSIX seconds at which the source saw the value
    # the time stamp is the device's own (IEC 61850 ``t``, DLMS capture time): a master's
    # clock synchronisation of this outstation does not shift it. Not part of the value.
    device_time: bool = field(default=False, compare=False)


# A protection event's value is one int: the element's bits (ES of a single event: 1 off,
# 2 on; SPE of start events; OCI of a trip) in the low octet and the elapsed, relay duration or
# operating time in milliseconds (CP16Time2a, 0..59999) above it, so that an event is one value
PROTECTION_MS_MAX = 59999
_PROTECTION_BITS = 0xFF


def protection_value(bits: int, ms: int) -> int:
    """The value of a protection event point: ``bits`` (ES, SPE or OCI) and ``ms``."""
    if not 0 <= bits <= _PROTECTION_BITS or not 0 <= ms <= PROTECTION_MS_MAX:
        raise ValueError(f"protection event bits 0..255 and 0..{PROTECTION_MS_MAX} ms, "
                         f"got {bits}, {ms}")
    return ms << 8 | bits


def protection_parts(value: int) -> tuple[int, int]:
    """(bits, milliseconds) of a protection event point's value."""
    return value & _PROTECTION_BITS, value >> 8


@frozen
class Point:
    """A configured point. ``ioa`` is unique per station."""

    name: str
    ioa: int
    kind: PointKind
    groups: frozenset[int] = field(default_factory=frozenset)  # interrogation groups 1-16
    deadband: float = 0.0  # absolute, analog kinds and counters
    deadband_percent: float = 0.0  # of (high - low)
    low: float | None = None  # engineering range; outside it the value is flagged OV
    high: float | None = None
    # commands
    target: str | None = None  # name of the output this command drives
    feedback: str | None = None  # monitored point reporting the output's position
    select_required: bool = False  # refuse direct execute: select-before-operate only
    source: str = ""  # what feeds a monitored point: "sim" (bench simulation) or "" (commands/feedback only)
    cyclic: float = 0.0  # seconds between periodic reports (COT 1); 0 = none of its own
    common_address: int = 0  # the logical station (CA) it belongs to; 0 = the station's own
    description: str = ""

    def initial_value(self) -> PointValue:
        """The value before any source reported: invalid (IV), not topical. One frozen
        object per kind, shared by every point of that kind."""
        return _INITIAL[self.kind._value_]


def _initial(kind: PointKind) -> PointValue:
    zero: bool | int | float
    if kind in (PointKind.SINGLE, PointKind.SINGLE_COMMAND):
        zero = False
    elif kind in (PointKind.FLOAT, PointKind.NORMALIZED, PointKind.SETPOINT_FLOAT,
                  PointKind.SETPOINT_NORMALIZED):
        zero = 0.0
    else:
        zero = 0
    quality = Quality.GOOD if kind.is_command else Quality.IV | Quality.NT
    return PointValue(zero, quality, 0.0)


_INITIAL: dict[str, PointValue] = {kind.value: _initial(kind) for kind in PointKind}


@event_record
class PointChanged:
    """Emitted by the database for every reportable change of a monitored point."""

    point: Point
    old: PointValue
    new: PointValue
    origin: ChangeOrigin = ChangeOrigin.FIELD
