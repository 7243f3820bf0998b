"""The balanced 101 link of an outstation: primary and secondary station, sans-I/O.

Both stations are primary and secondary.  Our secondary answers the master's primary frames as
in unbalanced mode (without class polling, ACD always 0).  Our primary establishes the link
(request status of link, reset of remote link), sends the application's ASDUs as confirmed user
data, one frame outstanding at a time, repeats it after ``repeat_timeout`` up to
``max_repeats`` times, and tests an idle link.  Frames from the controlling station carry DIR=1,
ours DIR=0.  Addresses follow lib60870: our primary frames carry ``remote_address`` (the
master's secondary answers with that address), the master's primary frames and our answers
carry our ``address``.

Driving it, like the 104 core (see :mod:`rtu.servers.iec101`)::

    events = link.receive_data(octets, now)   # act on the events (AsduReceived, ...)
    while link.can_send and (asdu := next_asdu()): link.send_asdu(asdu, now)
    port.write(link.data_to_send())
    # and on_timer(now) at next_deadline(): repeats, busy waits, test link, FT1.2 timeout

Each ASDU sent is confirmed by the master's ACK (:class:`DataConfirmed`).  A NACK (or DFC=1)
makes the primary wait ``repeat_timeout`` and send the same ASDU again as a new frame; after
``max_repeats`` unanswered or refused attempts the link is lost (:class:`LinkStateChanged`),
the core drops the ASDU and the application takes it back; the primary starts again with a
request of the link status, forever, every ``repeat_timeout``.
"""

from __future__ import annotations

import logging
from enum import Enum

from rtu.iec.cs101.ft12 import (
    FixedFrame,
    Ft12Frame,
    SingleChar,
    VariableFrame,
    encode_fixed,
    encode_variable,
)
from rtu.iec.cs101.link import (
    CONFIRMED,
    CONTROL_DFC,
    CONTROL_DIR,
    CONTROL_PRM,
    FRAMES_RECEIVED,
    FRAMES_SENT,
    FUNCTION_MASK,
    REPEATS,
    UNBALANCED_ONLY,
    Event,
    LinkMode,
    LinkParameters,
    LinkStateChanged,
    PrimaryFunction,
    SecondaryFunction,
    primary_control,
)
from rtu.iec.cs101.secondary import LinkCore, discard
from rtu.iec.errors import LocalProtocolError

__all__ = ["BalancedLink"]

logger = logging.getLogger(__name__)


class _Primary(Enum):
    """States of our primary station."""

    REQUEST_STATUS = "request status of link sent"
    RESET_LINK = "reset of remote link sent"
    IDLE = "link available"
    SEND_CONFIRM = "awaiting ACK"
    BUSY = "secondary busy"


_REFUSALS = (
    SecondaryFunction.NACK,
    SecondaryFunction.LINK_SERVICE_NOT_FUNCTIONING,
    SecondaryFunction.LINK_SERVICE_NOT_IMPLEMENTED,
)


class BalancedLink(LinkCore):
    """The balanced link of one 101 outstation; see the module docstring."""

    __slots__ = (
        "_deadline",
        "_last_activity",
        "_next_fcb",
        "_pending_asdu",
        "_pending_frame",
        "_primary",
        "_remote",
        "_repeats",
    )

    def __init__(self, params: LinkParameters, now: float) -> None:
        if params.mode is not LinkMode.BALANCED:
            raise LocalProtocolError(f"BalancedLink needs mode balanced, not {params.mode}")
        wire = params.address_size > 0
        super().__init__(params, params.address if wire else 0, unsupported=UNBALANCED_ONLY,
                         defer=False)
        self._remote = params.remote_address if wire else 0
        self._primary = _Primary.REQUEST_STATUS
        self._deadline: float | None = None  # response timeout, or end of a busy wait
        self._repeats = 0
        self._next_fcb = True
        self._pending_frame: bytes | None = None  # our frame awaiting its ACK
        self._pending_asdu: bytes | None = None  # the ASDU in it (None: test link)
        self._last_activity = now
        self._request_link_status(now)

    # ------------------------------------------------------------------------ state

    @property
    def can_send(self) -> bool:
        """The link is up and our primary is free: :meth:`send_asdu` may be called."""
        return self._link_up and self._primary is _Primary.IDLE

    def send_asdu(self, asdu: bytes, now: float) -> None:
        """Send *asdu* as confirmed user data (only while :attr:`can_send`)."""
        if not self.can_send:
            raise LocalProtocolError(f"send_asdu while the link is not free ({self._primary.value})")
        self._repeats = 0
        self._send_primary_fcv(bytes(asdu), now)

    # ------------------------------------------------------------------- driver API

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Process every complete frame in the stream so far, in order; answers go to the line.

        ``receive_data(b"", now)`` after a quiet line applies the FT1.2 inter-character
        timeout (when ``idle_timeout`` is set): a broken partial frame is dropped and reported.
        """
        events: list[Event] = []
        for frame in self._rx.feed(data, now, events):
            self._stats[FRAMES_RECEIVED] += 1
            self._on_frame(frame, now, events)
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must run next."""
        if self._primary is _Primary.IDLE:
            interval = self._params.test_interval
            primary = self._last_activity + interval if interval > 0 else None
        else:
            primary = self._deadline
        idle = self._rx.next_deadline()
        if primary is None or idle is None:
            return idle if primary is None else primary
        return min(primary, idle)

    def on_timer(self, now: float) -> list[Event]:
        """Repeat an unanswered frame, lose the link, end a busy wait, test the link, and apply
        the FT1.2 inter-character timeout."""
        events = self.receive_data(b"", now)
        state = self._primary
        params = self._params
        if state is _Primary.IDLE:
            interval = params.test_interval
            if interval > 0 and now >= self._last_activity + interval:
                logger.debug("link idle for %s s: sending test link", interval)
                self._send_primary_fcv(None, now)
            return events
        deadline = self._deadline
        if deadline is None or now < deadline:
            return events
        if state in (_Primary.REQUEST_STATUS, _Primary.RESET_LINK):
            logger.debug(
                "%s: no answer within %s s, requesting status again",
                state.value,
                params.repeat_timeout,
            )
            self._stats[REPEATS] += 1
            self._request_link_status(now)
        elif state is _Primary.SEND_CONFIRM:
            if self._repeats < params.max_repeats and self._pending_frame is not None:
                self._repeats += 1
                self._stats[REPEATS] += 1
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
        else:  # BUSY: the wait is over; a refused ASDU goes again as a new frame
            asdu = self._pending_asdu
            self._primary = _Primary.IDLE
            self._deadline = None
            if asdu is not None:
                self._send_primary_fcv(asdu, now)
        return events

    # ------------------------------------------------------------ receive dispatch

    def _on_frame(self, frame: Ft12Frame, now: float, events: list[Event]) -> None:
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
                self._secondary.on_broadcast(frame, events)
            elif frame.address != self._own:
                self._discard(f"primary frame for link address {frame.address}", frame, events)
            else:
                self._last_activity = now
                if self._secondary.serve(frame, events, acd=False) is not None:
                    logger.debug("our secondary reset by the master")
        elif frame.address != self._remote:
            self._discard(f"answer from link address {frame.address}", frame, events)
        else:
            self._last_activity = now
            self._on_response(control & FUNCTION_MASK, frame, now, events)

    # --------------------------------------------------------------- primary station

    def _on_response(self, code: int, frame: Ft12Frame, now: float, events: list[Event]) -> None:
        """An answer of the master's secondary to our primary."""
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
            events.append(LinkStateChanged(True, "link established"))
            self._after_transaction(dfc, now)
        elif code == SecondaryFunction.ACK and state is _Primary.SEND_CONFIRM:
            self._pending_frame = None
            if self._pending_asdu is not None:
                self._pending_asdu = None
                events.append(CONFIRMED)
            self._primary = _Primary.IDLE
            self._deadline = None
            self._after_transaction(dfc, now)
        elif code in _REFUSALS and state is _Primary.SEND_CONFIRM:
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
            return
        # Not accepted: the master saw this FCB and answered, so the ASDU goes again later as a
        # new frame (toggled FCB).  Refusals count as repeats: a master that never accepts
        # loses the link like one that never answers.
        if self._repeats >= self._params.max_repeats:
            self._lose_link(f"user data refused with function {code}", now, events)
            return
        self._repeats += 1
        self._stats[REPEATS] += 1
        logger.debug(
            "user data refused with function %d: waiting %s s", code, self._params.repeat_timeout
        )
        self._primary = _Primary.BUSY
        self._deadline = now + self._params.repeat_timeout

    def _after_transaction(self, dfc: bool, now: float) -> None:
        """Our primary is free again, or must first wait when DFC=1."""
        if dfc:
            logger.debug("DFC=1: the master is busy, waiting %s s", self._params.repeat_timeout)
            self._primary = _Primary.BUSY
            self._deadline = now + self._params.repeat_timeout

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
            events.append(LinkStateChanged(False, reason))
        self._request_link_status(now)

    # ------------------------------------------------------------------- plumbing

    def _send(self, frame: bytes) -> None:
        self._out.append(frame)
        self._stats[FRAMES_SENT] += 1

    def _discard(self, reason: str, frame: Ft12Frame, events: list[Event]) -> None:
        discard(self._stats, str(self._own), reason, frame, events)
