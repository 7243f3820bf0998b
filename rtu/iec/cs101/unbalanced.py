"""The unbalanced 101 link of an outstation: a secondary station polled by the master, sans-I/O.

The outstation answers frames carrying its own link address; broadcast user data is accepted
and never answered; frames for other stations and other secondaries' answers are ignored (a
shared RS-485 line).  The link is up once the master has reset it.

Driving it (see :mod:`rtu.servers.iec101`)::

    events = link.receive_data(octets, now)   # act on the events (AsduReceived, ...)
    if link.wants_class1: link.offer_class1(asdu)   # the application's next class 1 ASDU
    link.set_class1_waiting(more)              # class 1 data beyond the one offered (ACD)
    port.write(link.data_to_send())
    # and on_timer(now) at next_deadline() (the FT1.2 inter-character timeout)

The core holds at most one class 1 and one class 2 ASDU: a class 1 request is answered with the
offered class 1 ASDU (ACD=1 while more waits), else NACK no data (0xE5 when allowed).  Each ASDU
handed out is confirmed by the master's next FCB toggle (:class:`DataConfirmed`, oldest first);
when the link goes down the core drops what it holds and the application takes back every ASDU
not confirmed.  The ACK of a reset of remote link and of confirmed user data is built when the
driver next asks for output, so that its ACD covers what the application queued in answer.
"""

from __future__ import annotations

import logging

from rtu.iec.cs101.ft12 import Ft12Frame, SingleChar
from rtu.iec.cs101.link import (
    BALANCED_ONLY,
    CONTROL_PRM,
    FRAMES_RECEIVED,
    IGNORED,
    Event,
    LinkMode,
    LinkParameters,
    LinkStateChanged,
    PrimaryFunction,
)
from rtu.iec.cs101.secondary import LinkCore
from rtu.iec.errors import LocalProtocolError

__all__ = ["UnbalancedLink"]

logger = logging.getLogger(__name__)


class UnbalancedLink(LinkCore):
    """The unbalanced secondary link of one 101 outstation; see the module docstring."""

    __slots__ = ("_class1", "_class1_waiting", "_class2")

    def __init__(self, params: LinkParameters, now: float) -> None:
        if params.mode is not LinkMode.UNBALANCED:
            raise LocalProtocolError(f"UnbalancedLink needs mode unbalanced, not {params.mode}")
        super().__init__(params, params.address, unsupported=BALANCED_ONLY, defer=True)
        self._class1: bytes | None = None
        self._class2: bytes | None = None
        self._class1_waiting = False

    # ---------------------------------------------------------------- application data

    @property
    def wants_class1(self) -> bool:
        """The link is up and holds no class 1 ASDU: offer the next one."""
        return self._link_up and self._class1 is None

    @property
    def wants_class2(self) -> bool:
        """The link is up and holds no class 2 ASDU: offer the next one."""
        return self._link_up and self._class2 is None

    def offer_class1(self, asdu: bytes) -> None:
        """The next class 1 ASDU (events, command responses, interrogation data)."""
        if not self.wants_class1:
            raise LocalProtocolError("offer_class1 while the link is down or holds one")
        self._class1 = bytes(asdu)

    def offer_class2(self, asdu: bytes) -> None:
        """The next class 2 ASDU (cyclic or background data)."""
        if not self.wants_class2:
            raise LocalProtocolError("offer_class2 while the link is down or holds one")
        self._class2 = bytes(asdu)

    def set_class1_waiting(self, waiting: bool) -> None:
        """Whether the application has class 1 data beyond the ASDU offered (sets ACD)."""
        self._class1_waiting = waiting

    # ------------------------------------------------------------------- driver API

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Process every complete frame in the stream so far, in order; answers go to the line.

        ``receive_data(b"", now)`` after a quiet line applies the FT1.2 inter-character
        timeout (when ``idle_timeout`` is set): a broken partial frame is dropped and reported.
        """
        events: list[Event] = []
        self._close()
        for frame in self._rx.feed(data, now, events):
            self._stats[FRAMES_RECEIVED] += 1
            self._close()
            self._on_frame(frame, events)
        return events

    def data_to_send(self) -> bytes:
        """Everything queued for the line since the last call."""
        self._close()
        return super().data_to_send()

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must run: the end of a partial frame's inter-character wait."""
        return self._rx.next_deadline()

    def on_timer(self, now: float) -> list[Event]:
        """Apply the inter-character timeout (a secondary has no other timer)."""
        return self.receive_data(b"", now)

    # ------------------------------------------------------------------- internals

    def _acd(self) -> bool:
        return self._class1 is not None or (self._link_up and self._class1_waiting)

    def _close(self) -> None:
        self._secondary.close(acd=self._acd())

    def _on_frame(self, frame: Ft12Frame, events: list[Event]) -> None:
        if isinstance(frame, SingleChar) or not frame.control & CONTROL_PRM:
            # Another secondary's answer on a shared line (or our own echo): not for us.
            self._stats[IGNORED] += 1
            return
        if frame.address == self._broadcast:
            self._secondary.on_broadcast(frame, events)
            return
        if frame.address != self._own:
            self._stats[IGNORED] += 1
            return
        function = self._secondary.serve(frame, events, acd=self._acd())
        if function is PrimaryFunction.RESET_REMOTE_LINK:
            self._on_reset(events)
        elif function is PrimaryFunction.REQUEST_CLASS_1:
            asdu, self._class1 = self._class1, None
            self._secondary.answer_data(asdu, acd=self._acd())
        elif function is PrimaryFunction.REQUEST_CLASS_2:
            asdu, self._class2 = self._class2, None
            self._secondary.answer_data(asdu, acd=self._acd())

    def _on_reset(self, events: list[Event]) -> None:
        if self._link_up:
            reason = "link reset again by the master"
            logger.info("101 link %d: %s", self._own, reason)
            self._drop_application_data()
            events.append(LinkStateChanged(False, reason))
        logger.info("101 link %d: reset by the master, link up", self._own)
        self._link_up = True
        events.append(LinkStateChanged(True, "reset of remote link"))

    def _drop_application_data(self) -> None:
        self._class1 = None
        self._class2 = None
        self._class1_waiting = False
        self._secondary.forget_unconfirmed()
