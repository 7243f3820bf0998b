"""The IEC 60870-5-101 link layer (IEC 60870-5-2 transmission procedures): what both modes share.

The link layer is split by role and mode, as lib60870-C does it, into sans-I/O cores:

* :mod:`rtu.iec.cs101.unbalanced`: :class:`~rtu.iec.cs101.unbalanced.UnbalancedLink`, the
  outstation as a secondary station polled by the master;
* :mod:`rtu.iec.cs101.balanced`: :class:`~rtu.iec.cs101.balanced.BalancedLink`, primary and
  secondary station of a point-to-point balanced line;
* :mod:`rtu.iec.cs101.secondary`: the secondary station's answers to the master's primary frames
  (FCB/FCV, repetitions), used by both cores;
* this module: the control field, the parameters, the events the cores hand out, the statistics
  and :class:`FrameReceiver` (the FT1.2 parser with its inter-character timeout and accounting).

Like the 104 core (:mod:`rtu.iec.cs104.connection`), a core takes ``receive_data(bytes, now)``
and returns events, hands out its answers through ``data_to_send()`` and exposes
``next_deadline()`` / ``on_timer(now)``.  It never calls back into the application layer: the
driver (:mod:`rtu.servers.iec101`) passes the application's ASDUs in and acts on the events.
Time is always passed in as ``now`` (monotonic seconds); nothing here reads a clock or touches a
port.

Malformed input is never raised: framing errors are counted by the FT1.2 parser, frames that
make no sense here are dropped with a :class:`FrameDiscarded` event (logged at DEBUG).
"""

from __future__ import annotations

import logging
import math
from enum import Enum, IntEnum
from typing import Final

from rtu.frozen import frozen
from rtu.iec.cs101.ft12 import ADDRESS_SIZES, SINGLE_CHAR_ACK, Ft12Frame, Ft12Parser

__all__ = [
    "CONTROL_ACD",
    "CONTROL_DFC",
    "CONTROL_DIR",
    "CONTROL_FCB",
    "CONTROL_FCV",
    "CONTROL_PRM",
    "FCV_FUNCTIONS",
    "FUNCTION_MASK",
    "MIN_IDLE_BITS",
    "SINGLE_CHAR_BYTES",
    "STATISTICS",
    "AsduReceived",
    "DataConfirmed",
    "Event",
    "FrameDiscarded",
    "FrameReceiver",
    "LinkMode",
    "LinkParameters",
    "LinkStateChanged",
    "PrimaryFunction",
    "SecondaryFunction",
    "inter_character_timeout",
    "primary_control",
    "secondary_control",
]

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------- control field

CONTROL_DIR: Final = 0x80
"""Balanced mode: 1 in frames from the controlling station, 0 from the outstation."""
CONTROL_PRM: Final = 0x40
"""1: the frame comes from the primary (initiating) station."""
CONTROL_FCB: Final = 0x20
"""Primary: frame count bit."""
CONTROL_FCV: Final = 0x10
"""Primary: frame count bit valid."""
CONTROL_ACD: Final = 0x20
"""Secondary, unbalanced: class 1 data waiting (access demand)."""
CONTROL_DFC: Final = 0x10
"""Secondary: data flow control, further messages would overflow the secondary."""
FUNCTION_MASK: Final = 0x0F

_BITS_PER_OCTET: Final = 8
SINGLE_CHAR_BYTES: Final = bytes((SINGLE_CHAR_ACK,))


class LinkMode(Enum):
    """The transmission procedure of the line."""

    UNBALANCED = "unbalanced"
    BALANCED = "balanced"


class PrimaryFunction(IntEnum):
    """Function codes of frames from the primary station (PRM=1)."""

    RESET_REMOTE_LINK = 0
    RESET_USER_PROCESS = 1
    TEST_LINK = 2
    USER_DATA_CONFIRMED = 3
    USER_DATA_UNCONFIRMED = 4
    REQUEST_LINK_STATUS = 9
    REQUEST_CLASS_1 = 10
    REQUEST_CLASS_2 = 11


class SecondaryFunction(IntEnum):
    """Function codes of frames from the secondary station (PRM=0)."""

    ACK = 0
    NACK = 1
    USER_DATA = 8
    NACK_NO_DATA = 9
    LINK_STATUS = 11
    LINK_SERVICE_NOT_FUNCTIONING = 14
    LINK_SERVICE_NOT_IMPLEMENTED = 15


FCV_FUNCTIONS: Final = frozenset(
    {
        PrimaryFunction.TEST_LINK,
        PrimaryFunction.USER_DATA_CONFIRMED,
        PrimaryFunction.REQUEST_CLASS_1,
        PrimaryFunction.REQUEST_CLASS_2,
    }
)
"""The primary functions defined with FCV=1 (the others carry FCV=0)."""

USER_DATA_FUNCTIONS: Final = frozenset(
    {PrimaryFunction.USER_DATA_CONFIRMED, PrimaryFunction.USER_DATA_UNCONFIRMED}
)
UNBALANCED_ONLY: Final = frozenset(
    {PrimaryFunction.REQUEST_CLASS_1, PrimaryFunction.REQUEST_CLASS_2}
)
BALANCED_ONLY: Final = frozenset({PrimaryFunction.TEST_LINK})


def primary_control(
    function: PrimaryFunction | int,
    *,
    fcb: bool = False,
    fcv: bool = False,
    direction: bool = False,
) -> int:
    """The control field of a primary frame (PRM=1)."""
    control = CONTROL_PRM | (int(function) & FUNCTION_MASK)
    if fcb:
        control |= CONTROL_FCB
    if fcv:
        control |= CONTROL_FCV
    if direction:
        control |= CONTROL_DIR
    return control


def secondary_control(
    function: SecondaryFunction | int,
    *,
    acd: bool = False,
    dfc: bool = False,
    direction: bool = False,
) -> int:
    """The control field of a secondary frame (PRM=0)."""
    control = int(function) & FUNCTION_MASK
    if acd:
        control |= CONTROL_ACD
    if dfc:
        control |= CONTROL_DFC
    if direction:
        control |= CONTROL_DIR
    return control


# ----------------------------------------------------------------------------- parameters


def _address_limit(address_size: int) -> int:
    return (1 << (_BITS_PER_OCTET * address_size)) - 1


@frozen
class LinkParameters:
    """Link layer configuration; ``__post_init__`` raises ValueError naming the field.

    With ``address_size`` 0 (balanced only) no address travels on the line: ``address`` and
    ``remote_address`` are then not used.  ``idle_timeout`` is the FT1.2 inter-character
    timeout handed to the parser (seconds, None = off); the serial driver sets it from the baud
    rate with :func:`inter_character_timeout`.
    """

    mode: LinkMode = LinkMode.UNBALANCED
    address: int = 1
    address_size: int = 1
    remote_address: int = 2
    single_char_ack: bool = True
    broadcast_address: int | None = None
    repeat_timeout: float = 1.0
    max_repeats: int = 3
    test_interval: float = 10.0
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        # Wrong types raise ValueError too (not TypeError): config loading catches one kind.
        if not isinstance(self.mode, LinkMode):
            raise ValueError(f"mode={self.mode!r}: must be a LinkMode")  # noqa: TRY004
        for name in ("address", "address_size", "remote_address", "max_repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}={value!r}: must be an integer")  # noqa: TRY004
        if self.address_size not in ADDRESS_SIZES:
            raise ValueError(f"address_size={self.address_size}: must be 0, 1 or 2")
        if self.address_size == 0 and self.mode is not LinkMode.BALANCED:
            raise ValueError("address_size=0: only allowed in balanced mode")
        if not isinstance(self.single_char_ack, bool):
            raise ValueError(  # noqa: TRY004
                f"single_char_ack={self.single_char_ack!r}: must be true or false"
            )
        self._check_addresses()
        if self.max_repeats < 0:
            raise ValueError(f"max_repeats={self.max_repeats}: must be >= 0")
        for name, minimum_excluded in (
            ("repeat_timeout", True),
            ("test_interval", False),
            ("idle_timeout", True),
        ):
            value = getattr(self, name)
            if value is None and name == "idle_timeout":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}={value!r}: must be a number of seconds")  # noqa: TRY004
            valid = value > 0 if minimum_excluded else value >= 0
            if not (valid and math.isfinite(value)):
                bound = "> 0" if minimum_excluded else ">= 0 (0 = never)"
                raise ValueError(f"{name}={value}: must be a finite number of seconds {bound}")

    def _check_addresses(self) -> None:
        size = self.address_size
        broadcast = self.broadcast_address
        if broadcast is not None and (
            isinstance(broadcast, bool) or not isinstance(broadcast, int)
        ):
            raise ValueError(f"broadcast_address={broadcast!r}: must be an integer or unset")
        if size == 0:
            if broadcast is not None:
                raise ValueError("broadcast_address: must be unset when address_size=0")
            return
        limit = _address_limit(size)
        for name in ("address", "remote_address", "broadcast_address"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= limit:
                raise ValueError(f"{name}={value}: must be 0..{limit} for address_size={size}")
        if self.address == self.effective_broadcast:
            raise ValueError(
                f"address={self.address}: must differ from the broadcast address "
                f"{self.effective_broadcast}"
            )

    @property
    def effective_broadcast(self) -> int | None:
        """The broadcast link address in force (None when no address travels)."""
        if self.address_size == 0:
            return None
        if self.broadcast_address is not None:
            return self.broadcast_address
        return _address_limit(self.address_size)


# ------------------------------------------------------------------ inter-character timeout

MIN_IDLE_BITS: Final = 33
"""FT1.2: a pause of 33 bit times or more inside a frame breaks it (IEC 60870-5-1)."""


def inter_character_timeout(baudrate: int, floor: float) -> float:
    """The FT1.2 inter-character timeout in force: 33 bit times at *baudrate*, at least *floor*.

    The floor covers USB serial adapters, which hand over received octets in bursts up to
    ~16 ms apart: at 9600 baud 33 bit times are only 3.4 ms.
    """
    if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
        raise ValueError(f"baudrate={baudrate!r}: must be a positive integer")
    if not (floor >= 0 and math.isfinite(floor)):
        raise ValueError(f"floor={floor!r}: must be a finite number of seconds >= 0")
    return max(MIN_IDLE_BITS / baudrate, floor)


# ------------------------------------------------------------------------------- events


@frozen
class LinkStateChanged:
    """The link came up or went down.

    Up: unbalanced, the master reset the link; balanced, our primary established it.  The
    application starts sending.  Down: the link was lost or reset again; the application takes
    back every ASDU handed to the core and not confirmed (the core has dropped them).
    """

    up: bool
    reason: str


@frozen
class FrameDiscarded:
    """Received octets or a frame were dropped (framing error, or not valid here)."""

    reason: str


@frozen
class AsduReceived:
    """User data from the master (confirmed, unconfirmed or broadcast), for the application."""

    asdu: bytes


@frozen
class DataConfirmed:
    """The peer confirmed the oldest ASDU handed to the core and not confirmed yet."""


Event = LinkStateChanged | FrameDiscarded | AsduReceived | DataConfirmed

CONFIRMED: Final = DataConfirmed()

# ---------------------------------------------------------------------------- statistics

FRAMES_RECEIVED: Final = "frames_received"
FRAMES_SENT: Final = "frames_sent"
REPEATS: Final = "repeats"
DUPLICATES: Final = "duplicates"
DISCARDED: Final = "discarded"
IGNORED: Final = "ignored"
FRAMING_ERRORS: Final = "framing_errors"
FRAGMENTS_DROPPED: Final = "fragments_dropped"
STATISTICS: Final = (
    FRAMES_RECEIVED,
    FRAMES_SENT,
    REPEATS,
    DUPLICATES,
    DISCARDED,
    IGNORED,
    FRAMING_ERRORS,
    FRAGMENTS_DROPPED,
)
"""The counters of a link core (``statistics``), shown by ``rtu status``.

``frames_received``/``frames_sent``: valid FT1.2 frames; ``repeats``: our primary's repeated
frames (and link status requests sent again); ``duplicates``: repeated master frames answered
from the stored answer; ``discarded``: :class:`FrameDiscarded` frames; ``ignored``: frames for
other stations and other secondaries' answers (normal on a shared line); ``framing_errors``: the
FT1.2 parser's discards; ``fragments_dropped``: partial frames broken by the inter-character
timeout (each also counts as a framing error).
"""

FRAGMENT_LOG_INTERVAL: Final = 60.0
"""At most one log line per this many seconds about dropped fragments (with the count)."""


class FrameReceiver:
    """The FT1.2 parser of one link core, with its accounting.

    Framing errors and fragments dropped by the inter-character timeout go into the core's
    statistics and a :class:`FrameDiscarded` event.  Dropped fragments are logged at WARNING,
    at most once per :data:`FRAGMENT_LOG_INTERVAL` seconds with the count since the last line,
    so a noisy line cannot flood the journal.
    """

    __slots__ = ("_label", "_last_log", "_parser", "_stats", "_unlogged")

    def __init__(self, params: LinkParameters, stats: dict[str, int], label: str) -> None:
        self._parser = Ft12Parser(params.address_size, idle_timeout=params.idle_timeout)
        self._stats = stats
        self._label = label
        self._last_log: float | None = None
        self._unlogged = 0

    def next_deadline(self) -> float | None:
        """When a partial frame in the buffer is broken by the inter-character timeout."""
        return self._parser.idle_deadline

    def feed(self, data: bytes, now: float, events: list[Event]) -> list[Ft12Frame]:
        """Every complete frame in the stream so far; accounting of what was dropped."""
        parser = self._parser
        errors, fragments = parser.errors, parser.fragments
        frames = parser.feed(data, now)
        if parser.errors != errors:
            count = parser.errors - errors
            self._stats[FRAMING_ERRORS] += count
            events.append(FrameDiscarded(f"FT1.2 framing: {count} discard(s)"))
        if parser.fragments != fragments:
            self._on_fragments(parser.fragments - fragments, now)
        return frames

    def _on_fragments(self, count: int, now: float) -> None:
        self._stats[FRAGMENTS_DROPPED] += count
        self._unlogged += count
        if self._last_log is not None and now - self._last_log < FRAGMENT_LOG_INTERVAL:
            return
        logger.warning(
            "101 link %s: %d partial frame(s) dropped after a pause longer than the "
            "inter-character timeout (%.3f s); %d in all",
            self._label,
            self._unlogged,
            self._parser.idle_timeout or 0.0,
            self._stats[FRAGMENTS_DROPPED],
        )
        self._unlogged = 0
        self._last_log = now
