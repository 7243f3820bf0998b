"""The IEC 60870-5-101 link layer (IEC 60870-5-2 transmission procedures), sans-I/O.

One :class:`LinkLayer` per serial line and outstation link address.  The driver feeds received
octets to :meth:`LinkLayer.receive_data`, writes :meth:`LinkLayer.data_to_send` to the port,
calls :meth:`LinkLayer.on_timer` at :meth:`LinkLayer.next_deadline` and
:meth:`LinkLayer.poll_application` whenever the application may have new data.  Time is always
passed in as ``now`` (monotonic seconds); this module reads no clock and touches no port.

Unbalanced mode: the outstation is a secondary station only, polled by the master.  It answers
frames carrying its own link address; broadcast user data is accepted and never answered.

Balanced mode: both stations are primary and secondary.  Our secondary answers the master's
primary frames exactly as in unbalanced mode (without class polling); our primary establishes
the link (request status of link, reset of remote link), sends the application's data as
confirmed user data, one frame outstanding at a time, repeats it after ``repeat_timeout`` up to
``max_repeats`` times, and tests an idle link.  Frames from the controlling station carry
DIR=1, ours DIR=0.  Addresses follow lib60870: our primary frames carry ``remote_address``
(the master's secondary answers with that address), the master's primary frames and our
answers carry our ``address``.

The frame count bit (FCB) of the secondary: for the functions defined with FCV=1 (test link,
confirmed user data, class 1 and class 2 requests) a frame with the FCB of the previous accepted
one is a repetition, answered with the identical octets of the previous answer and not passed to
the application again; a toggled FCB confirms our previous answer.  After a reset of remote
link the next FCV=1 frame is accepted whatever its FCB (lib60870 masters do not always start
again with FCB=1); our own primary starts with FCB=1 after each reset, as the standard expects.

Malformed input is never raised: framing errors are counted by the FT1.2 parser, frames that
make no sense here are dropped with a :class:`FrameDiscarded` event (logged at DEBUG).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final, Protocol

from rtu.iec.cs101.ft12 import (
    ADDRESS_SIZES,
    SINGLE_CHAR_ACK,
    FixedFrame,
    Ft12Frame,
    Ft12Parser,
    SingleChar,
    VariableFrame,
    encode_fixed,
    encode_variable,
)

__all__ = [
    "CONTROL_ACD",
    "CONTROL_DFC",
    "CONTROL_DIR",
    "CONTROL_FCB",
    "CONTROL_FCV",
    "CONTROL_PRM",
    "FCV_FUNCTIONS",
    "FUNCTION_MASK",
    "ApplicationLayer",
    "Event",
    "FrameDiscarded",
    "LinkLayer",
    "LinkMode",
    "LinkParameters",
    "LinkStateChanged",
    "PrimaryFunction",
    "SecondaryFunction",
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
_SINGLE_CHAR_BYTES: Final = bytes((SINGLE_CHAR_ACK,))


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

_USER_DATA_FUNCTIONS: Final = frozenset(
    {PrimaryFunction.USER_DATA_CONFIRMED, PrimaryFunction.USER_DATA_UNCONFIRMED}
)
_UNBALANCED_ONLY: Final = frozenset(
    {PrimaryFunction.REQUEST_CLASS_1, PrimaryFunction.REQUEST_CLASS_2}
)
_BALANCED_ONLY: Final = frozenset({PrimaryFunction.TEST_LINK})


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


@dataclass(frozen=True, slots=True)
class LinkParameters:
    """Link layer configuration; ``__post_init__`` raises ValueError naming the field.

    With ``address_size`` 0 (balanced only) no address travels on the line: ``address`` and
    ``remote_address`` are then not used.  ``idle_timeout`` is the FT1.2 inter-character
    limit handed to the parser (seconds, None = off).
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


# ------------------------------------------------------------------- application and events


class ApplicationLayer(Protocol):
    """What the link layer needs from the outstation (an adapter over a Session)."""

    def has_class1(self) -> bool:
        """Class 1 data is waiting (sets ACD in unbalanced mode)."""

    def next_class1(self) -> bytes | None:
        """Take the next class 1 ASDU (events, command responses, interrogation data)."""

    def next_class2(self) -> bytes | None:
        """Take the next class 2 ASDU (cyclic or background data), if any."""

    def confirmed(self) -> None:
        """The last ASDU taken was confirmed by the peer."""

    def receive(self, asdu: bytes) -> None:
        """User data from the master."""

    def link_up(self) -> None:
        """Unbalanced: the master reset the link; balanced: our link is established."""

    def link_down(self) -> None:
        """The link was lost or reset again: the application takes back unconfirmed data."""


@dataclass(frozen=True, slots=True)
class LinkStateChanged:
    """The link came up or went down (the application has been told already)."""

    up: bool
    reason: str


@dataclass(frozen=True, slots=True)
class FrameDiscarded:
    """Received octets or a frame were dropped (framing error, or not valid here)."""

    reason: str


Event = LinkStateChanged | FrameDiscarded


class _Primary(Enum):
    """States of our primary station (balanced mode)."""

    NONE = "no primary (unbalanced)"
    REQUEST_STATUS = "request status of link sent"
    RESET_LINK = "reset of remote link sent"
    IDLE = "link available"
    SEND_CONFIRM = "awaiting ACK"
    BUSY = "secondary busy"


_FRAMES_RECEIVED: Final = "frames_received"
_FRAMES_SENT: Final = "frames_sent"
_REPEATS: Final = "repeats"
_DUPLICATES: Final = "duplicates"
_DISCARDED: Final = "discarded"
_IGNORED: Final = "ignored"
_FRAMING_ERRORS: Final = "framing_errors"
_STATISTICS: Final = (
    _FRAMES_RECEIVED,
    _FRAMES_SENT,
    _REPEATS,
    _DUPLICATES,
    _DISCARDED,
    _IGNORED,
    _FRAMING_ERRORS,
)


class LinkLayer:
    """The link layer of one 101 outstation; see the module docstring."""

    __slots__ = (
        "_answer_carried_data",
        "_app",
        "_balanced",
        "_broadcast",
        "_deadline",
        "_last_activity",
        "_last_answer",
        "_last_fcb",
        "_link_up",
        "_next_fcb",
        "_out",
        "_own",
        "_params",
        "_parser",
        "_pending_asdu",
        "_pending_frame",
        "_primary",
        "_remote",
        "_repeats",
        "_secondary_reset",
        "_stats",
        "_unsupported",
    )

    def __init__(self, params: LinkParameters, app: ApplicationLayer, now: float) -> None:
        self._params = params
        self._app = app
        self._balanced = params.mode is LinkMode.BALANCED
        self._unsupported = _UNBALANCED_ONLY if self._balanced else _BALANCED_ONLY
        self._parser = Ft12Parser(params.address_size, idle_timeout=params.idle_timeout)
        self._out: list[bytes] = []
        wire = params.address_size > 0
        self._own = params.address if wire else 0
        self._remote = params.remote_address if wire else 0
        self._broadcast = params.effective_broadcast
        self._stats = dict.fromkeys(_STATISTICS, 0)
        # secondary station
        self._secondary_reset = False  # the master has reset our secondary
        self._last_fcb: bool | None = None  # FCB of the last accepted FCV=1 frame
        self._last_answer: bytes | None = None  # our answer to it, resent on a repetition
        self._answer_carried_data = False  # that answer held an ASDU not yet confirmed
        # link state: unbalanced = reset by the master; balanced = our primary established it
        self._link_up = False
        # primary station (balanced)
        self._primary = _Primary.NONE
        self._deadline: float | None = None  # response timeout, or end of a busy wait
        self._repeats = 0
        self._next_fcb = True
        self._pending_frame: bytes | None = None  # our frame awaiting its ACK
        self._pending_asdu: bytes | None = None  # the ASDU in it (None: test link)
        self._last_activity = now
        if self._balanced:
            self._request_link_status(now)

    # ------------------------------------------------------------------------ state

    @property
    def params(self) -> LinkParameters:
        return self._params

    @property
    def link_up(self) -> bool:
        """Unbalanced: the master has reset the link; balanced: our primary established it."""
        return self._link_up

    @property
    def statistics(self) -> dict[str, int]:
        """A snapshot of the counters.

        ``frames_received``/``frames_sent``: valid FT1.2 frames; ``repeats``: our primary's
        repeated frames (and link status requests sent again); ``duplicates``: repeated master
        frames answered from the stored answer; ``discarded``: :class:`FrameDiscarded` frames;
        ``ignored``: frames for other stations and other secondaries' answers (normal on a
        shared line); ``framing_errors``: the FT1.2 parser's discards.
        """
        return dict(self._stats)

    # ------------------------------------------------------------------- driver API

    def data_to_send(self) -> bytes:
        """Everything queued for the line since the last call."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return b"".join(out)

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must run next (always None in unbalanced mode)."""
        state = self._primary
        if state is _Primary.NONE:
            return None
        if state is _Primary.IDLE:
            interval = self._params.test_interval
            return self._last_activity + interval if interval > 0 else None
        return self._deadline

    def on_timer(self, now: float) -> list[Event]:
        """Balanced: repeat an unanswered frame, lose the link, end a busy wait, test the link."""
        events: list[Event] = []
        state = self._primary
        if state is _Primary.NONE:
            return events
        params = self._params
        deadline = self._deadline
        if state is _Primary.IDLE:
            interval = params.test_interval
            if interval > 0 and now >= self._last_activity + interval:
                logger.debug("link idle for %s s: sending test link", interval)
                self._send_primary_fcv(None, now)
            return events
        if deadline is None or now < deadline:
            return events
        if state in (_Primary.REQUEST_STATUS, _Primary.RESET_LINK):
            logger.debug(
                "%s: no answer within %s s, requesting status again",
                state.value,
                params.repeat_timeout,
            )
            self._stats[_REPEATS] += 1
            self._request_link_status(now)
        elif state is _Primary.SEND_CONFIRM:
            if self._repeats < params.max_repeats and self._pending_frame is not None:
                self._repeats += 1
                self._stats[_REPEATS] += 1
                logger.debug(
                    "no ACK within %s s: repeat %d of %d",
                    params.repeat_timeout,
                    self._repeats,
                    params.max_repeats,
                )
                self._send(self._pending_frame)
                self._deadline = now + params.repeat_timeout
                self._last_activity = now
            else:
                self._lose_link(
                    f"no ACK within {params.repeat_timeout} s after {params.max_repeats} repeat(s)",
                    now,
                    events,
                )
        else:  # BUSY: the wait is over
            asdu = self._pending_asdu
            self._primary = _Primary.IDLE
            self._deadline = None
            if asdu is not None:
                self._send_primary_fcv(asdu, now)
            else:
                self._poll(now)
        return events

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Process every complete frame in the stream so far, in order; answers go to the line.

        ``receive_data(b"", now)`` after a quiet line applies the FT1.2 idle rule (when
        ``idle_timeout`` is set): a broken partial frame is dropped and reported.
        """
        events: list[Event] = []
        parser = self._parser
        errors = parser.errors
        frames = parser.feed(data, now)
        if parser.errors != errors:
            count = parser.errors - errors
            self._stats[_FRAMING_ERRORS] += count
            events.append(FrameDiscarded(f"FT1.2 framing: {count} discard(s)"))
        for frame in frames:
            self._stats[_FRAMES_RECEIVED] += 1
            if self._balanced:
                self._on_frame_balanced(frame, now, events)
            else:
                self._on_frame_unbalanced(frame, events)
        return events

    def poll_application(self, now: float) -> None:
        """Balanced: send the application's next ASDU if our primary is free (else no-op)."""
        if self._primary is _Primary.IDLE and self._link_up:
            self._poll(now)

    # ------------------------------------------------------------ receive dispatch

    def _on_frame_unbalanced(self, frame: Ft12Frame, events: list[Event]) -> None:
        if isinstance(frame, SingleChar) or not frame.control & CONTROL_PRM:
            # Another secondary's answer on a shared line (or our own echo): not for us.
            self._stats[_IGNORED] += 1
            return
        if frame.address == self._broadcast:
            self._on_broadcast(frame, events)
        elif frame.address != self._own:
            self._stats[_IGNORED] += 1
        else:
            self._serve(frame, events)

    def _on_frame_balanced(self, frame: Ft12Frame, now: float, events: list[Event]) -> None:
        if isinstance(frame, SingleChar):
            self._last_activity = now
            self._on_response(SecondaryFunction.ACK, frame, now, events)
            return
        control = frame.control
        if not control & CONTROL_DIR:
            self._discard("DIR=0 (a frame from an outstation: our own echo?)", frame, events)
            return
        if control & CONTROL_PRM:
            if frame.address == self._broadcast:
                self._last_activity = now
                self._on_broadcast(frame, events)
            elif frame.address != self._own:
                self._discard(f"primary frame for link address {frame.address}", frame, events)
            else:
                self._last_activity = now
                self._serve(frame, events)
        elif frame.address != self._remote:
            self._discard(f"answer from link address {frame.address}", frame, events)
        else:
            self._last_activity = now
            self._on_response(control & FUNCTION_MASK, frame, now, events)

    # ------------------------------------------------------------- secondary station

    def _serve(self, frame: FixedFrame | VariableFrame, events: list[Event]) -> None:
        """Answer a primary frame addressed to us (both modes)."""
        control = frame.control
        code = control & FUNCTION_MASK
        try:
            function = PrimaryFunction(code)
        except ValueError:
            function = None
        if function is None or function in self._unsupported:
            logger.debug(
                "primary function %d not implemented in %s mode", code, self._params.mode.value
            )
            self._send(self._fixed_answer(SecondaryFunction.LINK_SERVICE_NOT_IMPLEMENTED))
            return
        asdu = frame.asdu if isinstance(frame, VariableFrame) else b""
        if function in _USER_DATA_FUNCTIONS and not asdu:
            self._discard(f"{function.name} without user data", frame, events)
            return
        if function not in FCV_FUNCTIONS:
            self._serve_without_fcv(function, asdu, frame, events)
            return
        if not control & CONTROL_FCV:
            self._discard(
                f"{function.name} with FCV=0 (the function requires FCV=1)", frame, events
            )
            return
        if not self._secondary_reset:
            # Until the link is reset the FCB state is undefined: we could not tell a new frame
            # from a repetition, so accepting could execute a command twice or lose data.  The
            # standard's answer is NACK (message not accepted); the master learns at once that
            # it must reset the link, no FCB is consumed and the application is not involved.
            logger.debug("%s before reset of remote link: NACK", function.name)
            self._send(self._fixed_answer(SecondaryFunction.NACK))
            return
        fcb = bool(control & CONTROL_FCB)
        if fcb == self._last_fcb and self._last_answer is not None:
            logger.debug("%s repeated (FCB=%d): previous answer sent again", function.name, fcb)
            self._stats[_DUPLICATES] += 1
            self._send(self._last_answer)
            return
        if self._answer_carried_data:
            self._answer_carried_data = False
            self._app.confirmed()
        self._last_fcb = fcb
        if function is PrimaryFunction.USER_DATA_CONFIRMED:
            self._app.receive(asdu)
            answer, carried = self._ack(), False
        elif function is PrimaryFunction.TEST_LINK:
            answer, carried = self._ack(), False
        else:
            taken = (
                self._app.next_class1()
                if function is PrimaryFunction.REQUEST_CLASS_1
                else self._app.next_class2()
            )
            answer, carried = self._data_answer(taken), taken is not None
        self._last_answer = answer
        self._answer_carried_data = carried
        self._send(answer)

    def _serve_without_fcv(
        self,
        function: PrimaryFunction,
        asdu: bytes,
        frame: FixedFrame | VariableFrame,
        events: list[Event],
    ) -> None:
        """The FCV=0 functions: they never touch the FCB state."""
        if function is PrimaryFunction.REQUEST_LINK_STATUS:
            self._send(self._fixed_answer(SecondaryFunction.LINK_STATUS, acd=self._acd()))
        elif function is PrimaryFunction.RESET_REMOTE_LINK:
            self._on_reset(events)
        elif function is PrimaryFunction.RESET_USER_PROCESS:
            self._send(self._ack())
        elif not self._secondary_reset:  # USER_DATA_UNCONFIRMED: no answer is possible
            self._discard("unconfirmed user data before reset of remote link", frame, events)
        else:
            self._app.receive(asdu)

    def _on_reset(self, events: list[Event]) -> None:
        """Reset of remote link: clear the FCB state, ACK; unbalanced: the link is up."""
        self._secondary_reset = True
        self._last_fcb = None
        self._last_answer = None
        self._answer_carried_data = False  # not confirmed: link_down gives it back
        if not self._balanced:
            if self._link_up:
                reason = "link reset again by the master"
                logger.info("101 link %d: %s", self._own, reason)
                self._link_up = False
                self._app.link_down()
                events.append(LinkStateChanged(False, reason))
            logger.info("101 link %d: reset by the master, link up", self._own)
            self._link_up = True
            self._app.link_up()
            events.append(LinkStateChanged(True, "reset of remote link"))
        else:
            logger.debug("our secondary reset by the master")
        self._send(self._ack())  # after link_up: the application may have queued class 1 data

    def _on_broadcast(self, frame: FixedFrame | VariableFrame, events: list[Event]) -> None:
        """Broadcast: user data is accepted and never answered; anything else is dropped."""
        code = frame.control & FUNCTION_MASK
        if (
            code not in _USER_DATA_FUNCTIONS
            or not isinstance(frame, VariableFrame)
            or not frame.asdu
        ):
            self._discard(f"broadcast with function {code} (only user data)", frame, events)
        elif not self._secondary_reset:
            self._discard("broadcast user data before reset of remote link", frame, events)
        else:
            self._app.receive(frame.asdu)

    def _acd(self) -> bool:
        return not self._balanced and self._app.has_class1()

    def _fixed_answer(self, function: SecondaryFunction, *, acd: bool = False) -> bytes:
        control = secondary_control(function, acd=acd)
        return encode_fixed(control, self._own, self._params.address_size)

    def _ack(self) -> bytes:
        acd = self._acd()
        if self._params.single_char_ack and not acd:
            return _SINGLE_CHAR_BYTES
        return self._fixed_answer(SecondaryFunction.ACK, acd=acd)

    def _data_answer(self, asdu: bytes | None) -> bytes:
        """Class 1/2 data as USER_DATA (ACD: more class 1 waiting), else NACK no data."""
        acd = self._acd()
        if asdu is not None:
            control = secondary_control(SecondaryFunction.USER_DATA, acd=acd)
            return encode_variable(control, self._own, self._params.address_size, asdu)
        if self._params.single_char_ack and not acd:  # 0xE5 cannot carry ACD
            return _SINGLE_CHAR_BYTES
        return self._fixed_answer(SecondaryFunction.NACK_NO_DATA, acd=acd)

    # --------------------------------------------------------------- primary station

    def _on_response(self, code: int, frame: Ft12Frame, now: float, events: list[Event]) -> None:
        """An answer of the master's secondary to our primary (balanced)."""
        state = self._primary
        dfc = isinstance(frame, FixedFrame | VariableFrame) and bool(frame.control & CONTROL_DFC)
        if code == SecondaryFunction.LINK_STATUS and state is _Primary.REQUEST_STATUS:
            if dfc:
                logger.debug("status of link with DFC=1: asking again later")
                return
            self._send_primary_fixed(PrimaryFunction.RESET_REMOTE_LINK)
            self._primary = _Primary.RESET_LINK
            self._deadline = now + self._params.repeat_timeout
        elif code == SecondaryFunction.ACK and state is _Primary.RESET_LINK:
            self._next_fcb = True
            self._primary = _Primary.IDLE
            self._deadline = None
            self._link_up = True
            logger.info("101 link %d: link established", self._own)
            self._app.link_up()
            events.append(LinkStateChanged(True, "link established"))
            self._after_transaction(dfc, now)
        elif code == SecondaryFunction.ACK and state is _Primary.SEND_CONFIRM:
            self._pending_frame = None
            if self._pending_asdu is not None:
                self._pending_asdu = None
                self._app.confirmed()
            self._primary = _Primary.IDLE
            self._deadline = None
            self._after_transaction(dfc, now)
        elif (
            code
            in (
                SecondaryFunction.NACK,
                SecondaryFunction.LINK_SERVICE_NOT_FUNCTIONING,
                SecondaryFunction.LINK_SERVICE_NOT_IMPLEMENTED,
            )
            and state is _Primary.SEND_CONFIRM
        ):
            self._on_refused(code, now, events)
        elif state in (_Primary.REQUEST_STATUS, _Primary.RESET_LINK) and code in (
            SecondaryFunction.NACK,
            SecondaryFunction.LINK_SERVICE_NOT_FUNCTIONING,
        ):
            logger.debug("link establishment refused (function %d): trying again later", code)
        else:
            self._discard(f"unexpected answer function {code} ({state.value})", frame, events)

    def _on_refused(self, code: int, now: float, events: list[Event]) -> None:
        """NACK (or link service not functioning/implemented) for our user data or test."""
        self._pending_frame = None
        if self._pending_asdu is None:
            # A test link the master does not support still shows that the line works.
            logger.debug("test link answered with function %d", code)
            self._primary = _Primary.IDLE
            self._deadline = None
            self._poll(now)
            return
        # Not accepted: the master saw this FCB and answered, so the ASDU goes again later as a
        # new frame (toggled FCB).  Refusals count as repeats: a master that never accepts
        # loses the link like one that never answers.
        if self._repeats >= self._params.max_repeats:
            self._lose_link(f"user data refused with function {code}", now, events)
            return
        self._repeats += 1
        self._stats[_REPEATS] += 1
        logger.debug(
            "user data refused with function %d: waiting %s s", code, self._params.repeat_timeout
        )
        self._primary = _Primary.BUSY
        self._deadline = now + self._params.repeat_timeout

    def _after_transaction(self, dfc: bool, now: float) -> None:
        """Our primary is free again: send the next ASDU, or wait first when DFC=1."""
        if dfc:
            logger.debug("DFC=1: the master is busy, waiting %s s", self._params.repeat_timeout)
            self._primary = _Primary.BUSY
            self._deadline = now + self._params.repeat_timeout
        else:
            self._poll(now)

    def _poll(self, now: float) -> None:
        app = self._app
        asdu = app.next_class1()
        if asdu is None:
            asdu = app.next_class2()
        if asdu is not None:
            self._repeats = 0
            self._send_primary_fcv(asdu, now)

    def _send_primary_fcv(self, asdu: bytes | None, now: float) -> None:
        """Send confirmed user data (or a test link when *asdu* is None) with the next FCB."""
        fcb = self._next_fcb
        self._next_fcb = not fcb
        size = self._params.address_size
        if asdu is None:
            control = primary_control(PrimaryFunction.TEST_LINK, fcb=fcb, fcv=True)
            frame = encode_fixed(control, self._remote, size)
            self._repeats = 0
        else:
            control = primary_control(PrimaryFunction.USER_DATA_CONFIRMED, fcb=fcb, fcv=True)
            frame = encode_variable(control, self._remote, size, asdu)
        self._pending_frame = frame
        self._pending_asdu = asdu
        self._primary = _Primary.SEND_CONFIRM
        self._deadline = now + self._params.repeat_timeout
        self._last_activity = now
        self._send(frame)

    def _send_primary_fixed(self, function: PrimaryFunction) -> None:
        control = primary_control(function)
        self._send(encode_fixed(control, self._remote, self._params.address_size))

    def _request_link_status(self, now: float) -> None:
        self._send_primary_fixed(PrimaryFunction.REQUEST_LINK_STATUS)
        self._primary = _Primary.REQUEST_STATUS
        self._deadline = now + self._params.repeat_timeout
        self._last_activity = now

    def _lose_link(self, reason: str, now: float, events: list[Event]) -> None:
        logger.warning("101 link %d lost: %s", self._own, reason)
        self._pending_frame = None
        self._pending_asdu = None
        if self._link_up:
            self._link_up = False
            self._app.link_down()
            events.append(LinkStateChanged(False, reason))
        self._request_link_status(now)

    # ------------------------------------------------------------------- plumbing

    def _send(self, frame: bytes) -> None:
        self._out.append(frame)
        self._stats[_FRAMES_SENT] += 1

    def _discard(self, reason: str, frame: Ft12Frame, events: list[Event]) -> None:
        self._stats[_DISCARDED] += 1
        logger.debug("101 link %d: frame discarded, %s: %r", self._own, reason, frame)
        events.append(FrameDiscarded(reason))
