"""The IEC 60870-5-104 APCI connection state machine (IEC 60870-5-104 clause 5), sans-I/O.

One :class:`Connection` per TCP connection.  The driver feeds received octets to
:meth:`Connection.receive_data`, writes :meth:`Connection.data_to_send` to the socket, calls
:meth:`Connection.on_timer` at :meth:`Connection.next_deadline`, and closes the socket on
:class:`ConnectionFailed`.  Time is always passed in as ``now`` (monotonic seconds); this
module reads no clock and touches no socket.

Sequence numbers: ``V(S)`` is our next N(S), ``V(R)`` the N(S) we expect next.  The send
times of our unacknowledged I-frames sit in a deque, oldest first, so the oldest
unacknowledged N(S) is ``V(S) - len(deque)`` (mod 32768) and t1 for I-frames is
``deque[0] + t1``.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from enum import Enum
from typing import Final

from rtu.frozen import frozen
from rtu.iec.cs104.apci import (
    MAX_ASDU_LENGTH,
    SEQ_MODULO,
    ApciError,
    FrameFormat,
    FrameParser,
    UFunction,
    encode_i_frame_header,
    encode_s_frame,
    encode_u_frame,
)
from rtu.iec.errors import LocalProtocolError

__all__ = [
    "Acknowledged",
    "ApciParameters",
    "AsduReceived",
    "Connection",
    "ConnectionFailed",
    "DataTransferStarted",
    "DataTransferStopped",
    "Event",
    "Role",
]

logger = logging.getLogger(__name__)

MAX_WINDOW: Final = SEQ_MODULO - 1
"""Largest k or w: the window must stay below the sequence number space."""


@frozen
class ApciParameters:
    """k, w and the timeouts t0..t3 in seconds (defaults: IEC 60870-5-104 clause 9.6).

    Validation: 1 <= k <= 32767, 1 <= w <= 32767, every timeout > 0, t2 < t1.
    w <= 2k/3 is recommended by the standard but not enforced.  t0 (connection
    establishment) is carried for the driver; the connection core does not use it.
    """

    k: int = 12
    w: int = 8
    t0: float = 30.0
    t1: float = 15.0
    t2: float = 10.0
    t3: float = 20.0

    def __post_init__(self) -> None:
        # Wrong types raise ValueError too (not TypeError): config loading catches one kind.
        for name in ("k", "w"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name}={value!r}: must be an integer")  # noqa: TRY004
            if not 1 <= value <= MAX_WINDOW:
                raise ValueError(f"{name}={value}: must satisfy 1 <= {name} <= {MAX_WINDOW}")
        for name in ("t0", "t1", "t2", "t3"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}={value!r}: must be a number of seconds")  # noqa: TRY004
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name}={value}: must be a finite number of seconds > 0")
        if not self.t2 < self.t1:
            raise ValueError(
                f"t2={self.t2}: must be less than t1={self.t1} "
                "(acknowledge before the peer's t1 expires)"
            )


class Role(Enum):
    """Which end of the link this connection is."""

    CONTROLLED = "controlled"
    """The outstation (TCP server): answers STARTDT/STOPDT."""
    CONTROLLING = "controlling"
    """A master: sends STARTDT/STOPDT (used by tests and the benchmark)."""


@frozen
class AsduReceived:
    """An I-frame arrived in sequence; its ASDU, for the application layer."""

    asdu: bytes


@frozen
class DataTransferStarted:
    """STARTDT is in force: I-frames may flow."""


@frozen
class DataTransferStopped:
    """STOPDT completed (controlled: STOPDT con sent; controlling: STOPDT con received)."""


@frozen
class Acknowledged:
    """The ``count`` oldest of our unacknowledged I-frames are acknowledged, in send order."""

    count: int


@frozen
class ConnectionFailed:
    """Protocol violation or t1 expiry: the driver must close the socket."""

    reason: str


Event = AsduReceived | DataTransferStarted | DataTransferStopped | Acknowledged | ConnectionFailed

_I: Final = FrameFormat.I
_S: Final = FrameFormat.S
_STARTED: Final = DataTransferStarted()
_STOPPED: Final = DataTransferStopped()


class Connection:
    """The APCI state of one 104 connection (either role); see the module docstring."""

    __slots__ = (
        "_failed",
        "_out",
        "_params",
        "_parser",
        "_pending_u",
        "_recv_seq",
        "_recv_unacked",
        "_role",
        "_send_seq",
        "_started",
        "_stopping",
        "_t2_deadline",
        "_t3_deadline",
        "_test_deadline",
        "_u_deadline",
        "_unacked_times",
    )

    def __init__(self, params: ApciParameters, now: float, role: Role = Role.CONTROLLED) -> None:
        self._params = params
        self._role = role
        self._parser = FrameParser()
        self._out: list[bytes] = []
        self._send_seq = 0  # V(S)
        self._recv_seq = 0  # V(R)
        self._unacked_times: deque[float] = deque()
        self._recv_unacked = 0  # received I-frames we have not acknowledged yet
        self._started = False
        self._stopping = False
        self._pending_u: UFunction | None = None  # STARTDT/STOPDT act awaiting its con
        self._u_deadline: float | None = None
        self._test_deadline: float | None = None  # t1 of our TESTFR act
        self._t2_deadline: float | None = None
        self._t3_deadline: float | None = now + params.t3
        self._failed: str | None = None

    # ------------------------------------------------------------------ state

    @property
    def role(self) -> Role:
        return self._role

    @property
    def params(self) -> ApciParameters:
        return self._params

    @property
    def started(self) -> bool:
        """STARTDT is in force (also while a STOPDT is still completing)."""
        return self._started

    @property
    def can_send(self) -> bool:
        """Started, not stopping, not failed, and fewer than k unacknowledged I-frames."""
        return (
            self._started
            and not self._stopping
            and self._failed is None
            and len(self._unacked_times) < self._params.k
        )

    @property
    def send_room(self) -> int:
        """How many I-frames may be sent now: k minus the unacknowledged ones while
        :attr:`can_send` holds, else 0 (one look for a driver's send loop)."""
        if not self._started or self._stopping or self._failed is not None:
            return 0
        return self._params.k - len(self._unacked_times)

    @property
    def unacknowledged(self) -> int:
        """Our I-frames sent and not yet acknowledged by the peer (kept after a failure)."""
        return len(self._unacked_times)

    @property
    def failed(self) -> str | None:
        """The reason once the connection has failed; then every call is a no-op."""
        return self._failed

    # ------------------------------------------------------------- driver API

    def data_to_send(self) -> bytes:
        """Everything queued for the socket since the last call (b"" once failed)."""
        out = self._out
        if not out:
            return b""
        self._out = []
        return b"".join(out)

    def next_deadline(self) -> float | None:
        """The earliest armed t1/t2/t3 deadline, or None (always None once failed)."""
        if self._failed is not None:
            return None
        deadline = self._t3_deadline
        for candidate in (
            self._t2_deadline,
            self._u_deadline,
            self._test_deadline,
            self._unacked_times[0] + self._params.t1 if self._unacked_times else None,
        ):
            if candidate is not None and (deadline is None or candidate < deadline):
                deadline = candidate
        return deadline

    def on_timer(self, now: float) -> list[Event]:
        """Fire every timer due at *now*: t1 fails the connection, t2 acknowledges, t3 tests."""
        if self._failed is not None:
            return []
        params = self._params
        times = self._unacked_times
        if times and now >= times[0] + params.t1:
            oldest = (self._send_seq - len(times)) % SEQ_MODULO
            return [
                self._fail(
                    f"t1 expired: I-frame N(S)={oldest} not acknowledged within {params.t1} s"
                )
            ]
        if self._u_deadline is not None and now >= self._u_deadline:
            name = self._pending_u.name if self._pending_u is not None else "U-frame"
            return [self._fail(f"t1 expired: {name} not confirmed within {params.t1} s")]
        if self._test_deadline is not None and now >= self._test_deadline:
            return [self._fail(f"t1 expired: TESTFR_ACT not confirmed within {params.t1} s")]
        if self._t2_deadline is not None and now >= self._t2_deadline:
            logger.debug("t2 expired: acknowledging %d I-frame(s)", self._recv_unacked)
            self._send_s_frame()
        if self._t3_deadline is not None and now >= self._t3_deadline:
            if self._test_deadline is None:
                logger.debug("t3 expired: idle for %s s, sending TESTFR act", params.t3)
                self._out.append(encode_u_frame(UFunction.TESTFR_ACT))
                self._test_deadline = now + params.t1
                self._t3_deadline = None  # re-armed by the next frame we receive
            else:
                self._t3_deadline = now + params.t3
        return []

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Process every complete frame in the stream so far, in order."""
        if self._failed is not None:
            return []
        events: list[Event] = []
        parser = self._parser
        received = False
        try:
            parser.receive_data(data)
            next_raw = parser.next_raw
            while (raw := next_raw()) is not None:
                received = True
                kind, first, second, asdu = raw
                if kind is _I:
                    self._on_i_frame(first, second, asdu, now, events)
                elif kind is _S:
                    self._acknowledge(second, events)
                else:
                    self._on_u_frame(UFunction(first), events)
                if self._failed is not None:
                    return events
        except ApciError as error:
            events.append(self._fail(str(error)))
            return events
        if received:
            self._t3_deadline = now + self._params.t3
        return events

    # -------------------------------------------------------- application API

    def send_asdu(self, asdu: bytes, now: float) -> int:
        """Queue *asdu* in an I-frame (which also acknowledges what we received); its N(S).

        Raises LocalProtocolError unless :attr:`can_send`, or for an ASDU that is empty or
        longer than 249 octets.
        """
        if not self.can_send:
            raise LocalProtocolError(f"cannot send an I-frame now ({self._send_blocker()})")
        size = len(asdu)
        if not 1 <= size <= MAX_ASDU_LENGTH:
            raise LocalProtocolError(f"ASDU of {size} octets: must be 1..{MAX_ASDU_LENGTH}")
        send_seq = self._send_seq
        out = self._out
        out.append(encode_i_frame_header(send_seq, self._recv_seq, size))
        out.append(bytes(asdu))
        self._send_seq = (send_seq + 1) % SEQ_MODULO
        self._unacked_times.append(now)
        self._recv_unacked = 0
        self._t2_deadline = None
        return send_seq

    def start_data_transfer(self, now: float) -> None:
        """Controlling role: send STARTDT act (DataTransferStarted follows its con)."""
        if self._failed is not None:
            return
        self._require_controlling("start_data_transfer")
        if self._started or self._pending_u is not None:
            raise LocalProtocolError(
                "start_data_transfer: data transfer already started or pending"
            )
        self._send_u_act(UFunction.STARTDT_ACT, now)

    def stop_data_transfer(self, now: float) -> None:
        """Controlling role: send STOPDT act (DataTransferStopped follows its con)."""
        if self._failed is not None:
            return
        self._require_controlling("stop_data_transfer")
        if not self._started or self._pending_u is not None:
            raise LocalProtocolError("stop_data_transfer: data transfer not started, or pending")
        if self._recv_unacked:
            self._send_s_frame()
        self._stopping = True
        self._send_u_act(UFunction.STOPDT_ACT, now)

    def suspend_data_transfer(self) -> None:
        """Controlled role: another connection of this one's redundancy group started data
        transfer (IEC 60870-5-104 ed. 2), so this one is stopped without a frame (the standard
        gives the controlled station none for it). I-frames already sent stay under t1 and may
        still be acknowledged; an I-frame from the peer now closes the connection, as in any
        stopped state; a new STARTDT act starts it again."""
        if self._failed is not None:
            return
        if self._role is not Role.CONTROLLED:
            raise LocalProtocolError("suspend_data_transfer: only in the controlled role")
        if self._recv_unacked:
            self._send_s_frame()
        self._started = False
        self._stopping = False

    def send_test_frame(self, now: float) -> None:
        """Send TESTFR act (both roles); no second one while one awaits its con."""
        if self._failed is not None or self._test_deadline is not None:
            return
        self._out.append(encode_u_frame(UFunction.TESTFR_ACT))
        self._test_deadline = now + self._params.t1

    # ---------------------------------------------------------------- testing

    def _set_sequence_numbers(self, send_seq: int, recv_seq: int) -> None:
        """Test-only: jump V(S) and V(R), e.g. close to the 32768 wrap."""
        if self._unacked_times or self._recv_unacked:
            raise LocalProtocolError("_set_sequence_numbers: frames still unacknowledged")
        if not (0 <= send_seq < SEQ_MODULO and 0 <= recv_seq < SEQ_MODULO):
            raise LocalProtocolError("_set_sequence_numbers: outside 0..32767")
        self._send_seq = send_seq
        self._recv_seq = recv_seq

    # --------------------------------------------------------------- internals

    def _on_i_frame(
        self, send_seq: int, recv_seq: int, asdu: bytes, now: float, events: list[Event]
    ) -> None:
        if not self._started or (self._stopping and self._role is Role.CONTROLLED):
            state = "stopping" if self._started else "stopped"
            events.append(
                self._fail(f"I-frame N(S)={send_seq} received while data transfer is {state}")
            )
            return
        expected = self._recv_seq
        if send_seq != expected:
            events.append(
                self._fail(f"sequence error: received I-frame N(S)={send_seq}, expected {expected}")
            )
            return
        if not self._acknowledge(recv_seq, events):
            return
        self._recv_seq = (expected + 1) % SEQ_MODULO
        self._recv_unacked += 1
        if self._recv_unacked >= self._params.w or self._stopping:
            self._send_s_frame()
        elif self._t2_deadline is None:
            self._t2_deadline = now + self._params.t2
        events.append(AsduReceived(asdu))

    def _acknowledge(self, recv_seq: int, events: list[Event]) -> bool:
        """Apply a received N(R); False (and failed) if it is out of range."""
        times = self._unacked_times
        outstanding = len(times)
        oldest = (self._send_seq - outstanding) % SEQ_MODULO
        count = (recv_seq - oldest) % SEQ_MODULO
        if count > outstanding:
            events.append(
                self._fail(
                    f"N(R)={recv_seq} out of range: must lie between the oldest unacknowledged "
                    f"N(S)={oldest} and the next N(S)={self._send_seq} (mod {SEQ_MODULO})"
                )
            )
            return False
        if count:
            if count == outstanding:
                times.clear()
            else:
                for _ in range(count):
                    times.popleft()
            events.append(Acknowledged(count))
            if self._stopping and not times and self._role is Role.CONTROLLED:
                self._finish_stop(events)
        return True

    def _on_u_frame(self, function: UFunction, events: list[Event]) -> None:
        if function is UFunction.TESTFR_ACT:
            self._out.append(encode_u_frame(UFunction.TESTFR_CON))
        elif function is UFunction.TESTFR_CON:
            if self._test_deadline is None:
                logger.debug("unsolicited TESTFR con ignored")
            self._test_deadline = None
        elif self._role is Role.CONTROLLED:
            self._on_u_controlled(function, events)
        else:
            self._on_u_controlling(function, events)

    def _on_u_controlled(self, function: UFunction, events: list[Event]) -> None:
        if function is UFunction.STARTDT_ACT:
            self._out.append(encode_u_frame(UFunction.STARTDT_CON))
            if self._stopping:
                logger.debug("STARTDT act while stopping: stop cancelled")
                self._stopping = False
            elif not self._started:
                logger.debug("data transfer started")
                self._started = True
                events.append(_STARTED)
        elif function is UFunction.STOPDT_ACT:
            if not self._started:
                self._out.append(encode_u_frame(UFunction.STOPDT_CON))
            elif not self._stopping:
                self._stopping = True
                if self._unacked_times:
                    logger.debug(
                        "STOPDT act: waiting for %d I-frame(s) to be acknowledged",
                        len(self._unacked_times),
                    )
                else:
                    self._finish_stop(events)
        else:
            events.append(self._fail(f"unexpected {function.name} in the controlled role"))

    def _on_u_controlling(self, function: UFunction, events: list[Event]) -> None:
        if function is UFunction.STARTDT_CON and self._pending_u is UFunction.STARTDT_ACT:
            self._pending_u = None
            self._u_deadline = None
            self._started = True
            logger.debug("data transfer started")
            events.append(_STARTED)
        elif function is UFunction.STOPDT_CON and self._pending_u is UFunction.STOPDT_ACT:
            self._pending_u = None
            self._u_deadline = None
            self._started = False
            self._stopping = False
            logger.debug("data transfer stopped")
            events.append(_STOPPED)
        elif function in (UFunction.STARTDT_CON, UFunction.STOPDT_CON):
            pending = self._pending_u.name if self._pending_u is not None else "nothing"
            events.append(self._fail(f"unexpected {function.name} while awaiting {pending}"))
        else:
            events.append(self._fail(f"unexpected {function.name} in the controlling role"))

    def _finish_stop(self, events: list[Event]) -> None:
        """Controlled role: all our I-frames are acknowledged; confirm the STOPDT."""
        if self._recv_unacked:
            self._send_s_frame()
        self._out.append(encode_u_frame(UFunction.STOPDT_CON))
        self._started = False
        self._stopping = False
        logger.debug("data transfer stopped")
        events.append(_STOPPED)

    def _send_s_frame(self) -> None:
        self._out.append(encode_s_frame(self._recv_seq))
        self._recv_unacked = 0
        self._t2_deadline = None

    def _send_u_act(self, function: UFunction, now: float) -> None:
        self._out.append(encode_u_frame(function))
        self._pending_u = function
        self._u_deadline = now + self._params.t1

    def _require_controlling(self, what: str) -> None:
        if self._role is not Role.CONTROLLING:
            raise LocalProtocolError(f"{what}: only the controlling role sends STARTDT/STOPDT")

    def _send_blocker(self) -> str:
        if self._failed is not None:
            return f"failed: {self._failed}"
        if not self._started:
            return "data transfer stopped"
        if self._stopping:
            return "STOPDT in progress"
        return f"k={self._params.k} I-frames unacknowledged"

    def _fail(self, reason: str) -> ConnectionFailed:
        self._failed = reason
        self._out = []
        self._pending_u = None
        self._u_deadline = None
        self._test_deadline = None
        self._t2_deadline = None
        self._t3_deadline = None
        logger.debug("connection failed: %s", reason)
        return ConnectionFailed(reason)
