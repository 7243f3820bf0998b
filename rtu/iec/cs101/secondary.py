"""The secondary station of a 101 link core: answers to the master's primary frames, sans-I/O.

Used by both cores (:mod:`.unbalanced`, :mod:`.balanced`), whose shared state is
:class:`LinkCore`; it knows nothing of the application
and nothing of our own primary station.  It writes answers to the core's output list and counts
them in the core's statistics.

The frame count bit (FCB): for the functions defined with FCV=1 (test link, confirmed user data,
class 1 and class 2 requests) a frame with the FCB of the previous accepted one is a repetition,
answered with the identical octets of the previous answer and not passed to the application
again; a toggled FCB confirms our previous answer (a :class:`DataConfirmed` event when it carried
an ASDU).  After a reset of remote link the next FCV=1 frame is accepted whatever its FCB
(lib60870 masters do not always start again with FCB=1).  Until the master has reset the link,
FCV=1 frames are answered with NACK: the FCB state is undefined, so a new frame could not be told
from a repetition.

Deferred answers (``defer=True``, unbalanced mode): the ACK of a reset of remote link or of
confirmed user data carries ACD, whether class 1 data waits, and that depends on what the
application does with the event (end of initialisation after the reset, the activation
confirmation of a command).  Such an ACK is therefore built by :meth:`SecondaryStation.close`,
which the core calls before it handles the next frame or hands out its output: by then the
driver has acted on the events and offered the application's data.
"""

from __future__ import annotations

import logging
from typing import Final

from rtu.iec.cs101.ft12 import FixedFrame, VariableFrame, encode_fixed, encode_variable
from rtu.iec.cs101.link import (
    CONFIRMED,
    CONTROL_FCB,
    CONTROL_FCV,
    DISCARDED,
    DUPLICATES,
    FCV_FUNCTIONS,
    FRAMES_SENT,
    FUNCTION_MASK,
    SINGLE_CHAR_BYTES,
    STATISTICS,
    USER_DATA_FUNCTIONS,
    AsduReceived,
    Event,
    FrameDiscarded,
    FrameReceiver,
    LinkParameters,
    PrimaryFunction,
    SecondaryFunction,
    secondary_control,
)

__all__ = ["LinkCore", "SecondaryStation", "discard"]

logger = logging.getLogger(__name__)

_CLASS_REQUESTS: Final = frozenset(
    {PrimaryFunction.REQUEST_CLASS_1, PrimaryFunction.REQUEST_CLASS_2}
)


def discard(
    stats: dict[str, int], label: str, reason: str, frame: object, events: list[Event]
) -> None:
    """Count and report a frame that makes no sense here (logged at DEBUG)."""
    stats[DISCARDED] += 1
    logger.debug("101 link %s: frame discarded, %s: %r", label, reason, frame)
    events.append(FrameDiscarded(reason))


class SecondaryStation:
    """Answers primary frames addressed to our link address; see the module docstring."""

    __slots__ = (
        "_address",
        "_answer_carried_data",
        "_defer",
        "_deferred",
        "_label",
        "_last_answer",
        "_last_fcb",
        "_out",
        "_params",
        "_reset",
        "_stats",
        "_unsupported",
    )

    def __init__(
        self,
        params: LinkParameters,
        out: list[bytes],
        stats: dict[str, int],
        *,
        unsupported: frozenset[PrimaryFunction],
        defer: bool,
    ) -> None:
        self._params = params
        self._out = out
        self._stats = stats
        self._unsupported = unsupported
        self._defer = defer
        self._address = params.address if params.address_size else 0
        self._label = str(self._address)
        self._reset = False  # the master has reset our secondary
        self._last_fcb: bool | None = None  # FCB of the last accepted FCV=1 frame
        self._last_answer: bytes | None = None  # our answer to it, resent on a repetition
        self._answer_carried_data = False  # that answer held an ASDU not yet confirmed
        # a deferred ACK: None = none; True = it answers an FCV=1 frame (remember it)
        self._deferred: bool | None = None

    @property
    def reset(self) -> bool:
        """The master has reset the link (reset of remote link) since we started."""
        return self._reset

    # ------------------------------------------------------------------- serving

    def serve(
        self, frame: FixedFrame | VariableFrame, events: list[Event], *, acd: bool
    ) -> PrimaryFunction | None:
        """Handle a primary frame addressed to us; *acd*: class 1 data waits (unbalanced).

        Returns RESET_REMOTE_LINK after a reset (the core reports the link state), a class
        request accepted as a new frame (the core answers with :meth:`answer_data`), else None.
        """
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
            self._send(self._fixed(SecondaryFunction.LINK_SERVICE_NOT_IMPLEMENTED))
            return None
        asdu = frame.asdu if isinstance(frame, VariableFrame) else b""
        if function in USER_DATA_FUNCTIONS and not asdu:
            self._discard(f"{function.name} without user data", frame, events)
            return None
        if function not in FCV_FUNCTIONS:
            return self._serve_without_fcv(function, asdu, frame, events, acd=acd)
        if not control & CONTROL_FCV:
            self._discard(f"{function.name} with FCV=0 (the function requires FCV=1)", frame, events)
            return None
        if not self._reset:
            # The standard's answer is NACK (message not accepted): the master learns at once
            # that it must reset the link, no FCB is consumed, the application is not involved.
            logger.debug("%s before reset of remote link: NACK", function.name)
            self._send(self._fixed(SecondaryFunction.NACK))
            return None
        fcb = bool(control & CONTROL_FCB)
        if fcb == self._last_fcb and self._last_answer is not None:
            logger.debug("%s repeated (FCB=%d): previous answer sent again", function.name, fcb)
            self._stats[DUPLICATES] += 1
            self._send(self._last_answer)
            return None
        if self._answer_carried_data:
            self._answer_carried_data = False
            events.append(CONFIRMED)
        self._last_fcb = fcb
        if function in _CLASS_REQUESTS:
            return function
        if function is PrimaryFunction.USER_DATA_CONFIRMED:
            events.append(AsduReceived(asdu))
            self._ack(remember=True, acd=acd)
        else:  # TEST_LINK
            self._ack(remember=True, acd=acd)
        return None

    def _serve_without_fcv(
        self,
        function: PrimaryFunction,
        asdu: bytes,
        frame: FixedFrame | VariableFrame,
        events: list[Event],
        *,
        acd: bool,
    ) -> PrimaryFunction | None:
        """The FCV=0 functions: they never touch the FCB state."""
        if function is PrimaryFunction.REQUEST_LINK_STATUS:
            self._send(self._fixed(SecondaryFunction.LINK_STATUS, acd=acd))
        elif function is PrimaryFunction.RESET_REMOTE_LINK:
            self._reset = True
            self._last_fcb = None
            self._last_answer = None
            self._answer_carried_data = False  # not confirmed: the link going down gives it back
            self._ack(remember=False, acd=acd)
            return function
        elif function is PrimaryFunction.RESET_USER_PROCESS:
            self._send(self._single_or_ack(acd))
        elif not self._reset:  # USER_DATA_UNCONFIRMED: no answer is possible
            self._discard("unconfirmed user data before reset of remote link", frame, events)
        else:
            events.append(AsduReceived(asdu))
        return None

    def on_broadcast(self, frame: FixedFrame | VariableFrame, events: list[Event]) -> None:
        """Broadcast: user data is accepted and never answered; anything else is dropped."""
        code = frame.control & FUNCTION_MASK
        if (
            code not in USER_DATA_FUNCTIONS
            or not isinstance(frame, VariableFrame)
            or not frame.asdu
        ):
            self._discard(f"broadcast with function {code} (only user data)", frame, events)
        elif not self._reset:
            self._discard("broadcast user data before reset of remote link", frame, events)
        else:
            events.append(AsduReceived(frame.asdu))

    def answer_data(self, asdu: bytes | None, *, acd: bool) -> None:
        """Answer the class request :meth:`serve` returned: USER_DATA, or NACK no data."""
        if asdu is not None:
            control = secondary_control(SecondaryFunction.USER_DATA, acd=acd)
            answer = encode_variable(control, self._address, self._params.address_size, asdu)
        elif self._params.single_char_ack and not acd:  # 0xE5 cannot carry ACD
            answer = SINGLE_CHAR_BYTES
        else:
            answer = self._fixed(SecondaryFunction.NACK_NO_DATA, acd=acd)
        self._last_answer = answer
        self._answer_carried_data = asdu is not None
        self._send(answer)

    def close(self, *, acd: bool) -> None:
        """Send a deferred ACK now, with *acd* as it stands (no-op when none is deferred)."""
        remember = self._deferred
        if remember is None:
            return
        self._deferred = None
        answer = self._single_or_ack(acd)
        if remember:
            self._last_answer = answer
            self._answer_carried_data = False
        self._send(answer)

    def forget_unconfirmed(self) -> None:
        """The link went down: an answer holding an ASDU will not be confirmed any more."""
        self._answer_carried_data = False

    # ------------------------------------------------------------------ plumbing

    def _ack(self, *, remember: bool, acd: bool) -> None:
        if self._defer:
            self._deferred = remember
            return
        answer = self._single_or_ack(acd)
        if remember:
            self._last_answer = answer
            self._answer_carried_data = False
        self._send(answer)

    def _single_or_ack(self, acd: bool) -> bytes:
        if self._params.single_char_ack and not acd:
            return SINGLE_CHAR_BYTES
        return self._fixed(SecondaryFunction.ACK, acd=acd)

    def _fixed(self, function: SecondaryFunction, *, acd: bool = False) -> bytes:
        control = secondary_control(function, acd=acd)
        return encode_fixed(control, self._address, self._params.address_size)

    def _send(self, frame: bytes) -> None:
        self._out.append(frame)
        self._stats[FRAMES_SENT] += 1

    def _discard(self, reason: str, frame: object, events: list[Event]) -> None:
        discard(self._stats, self._label, reason, frame, events)


class LinkCore:
    """The state both outstation link cores keep (:mod:`.balanced`, :mod:`.unbalanced`): the
    parameters, the output queue and its drain, the counters, the frame receiver, our own and
    the broadcast address, the secondary station, and whether the link is up."""

    __slots__ = ("_broadcast", "_link_up", "_out", "_own", "_params", "_rx", "_secondary",
                 "_stats")

    def __init__(self, params: LinkParameters, own: int, *,
                 unsupported: frozenset[PrimaryFunction], defer: bool) -> None:
        self._params = params
        self._out: list[bytes] = []
        self._stats = dict.fromkeys(STATISTICS, 0)
        self._own = own
        self._broadcast = params.effective_broadcast
        self._rx = FrameReceiver(params, self._stats, str(own))
        self._secondary = SecondaryStation(
            params, self._out, self._stats, unsupported=unsupported, defer=defer
        )
        self._link_up = False

    @property
    def params(self) -> LinkParameters:
        return self._params

    @property
    def link_up(self) -> bool:
        """The link is up: balanced, our primary has established it; unbalanced, the master
        has reset it."""
        return self._link_up

    @property
    def statistics(self) -> dict[str, int]:
        """A snapshot of the counters (see :data:`rtu.iec.cs101.link.STATISTICS`)."""
        return dict(self._stats)

    def data_to_send(self) -> bytes:
        """Everything queued for the line since the last call."""
        out = self._out
        if not out:
            return b""
        data = b"".join(out)
        out.clear()
        return data
