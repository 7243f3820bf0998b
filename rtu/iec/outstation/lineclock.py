"""The clock duties of one 101 line (sans-I/O): the hour of CP24Time2a time tags and the
acquisition of the transmission delay (C_CD_NA_1).

**CP24 hour announcements.** A CP24Time2a tag holds milliseconds and minute only; the master
takes hour and date from the outstation's clock synchronisation message. On a line with
``time_tag = "cp24"`` the outstation therefore sends a spontaneous C_CS_NA_1 (COT 3) carrying
its full CP56Time2a time, one per logical station the line serves:

* at each change of the hour of station time (the hour of the time tags it makes, so local
  time when ``local_time`` is on), while the link is up;
* when the link comes up (start-up, a link reset), before the first CP24 event;
* before an event whose hour differs from the hour last announced (the timer of the change of
  the hour has not fired yet: the announcement never trails the events of the new hour).

Events of the hour already announced that are still queued go first, so that the master reads
each event against the hour it happened in. An event older than the hour announced (a backlog
kept across a link outage of more than an hour) cannot say so in CP24: it is sent with the
minute it has, and the master sees it in the hour announced (a limit of CP24Time2a).

The driver asks :meth:`LineClock.next_deadline` for the monotonic time of the next change of the
hour (at most ``RECHECK`` seconds ahead, so that a step of the system clock is noticed within
that time) and wakes the session then; the decision is always made again from station time.

**Delay acquisition** (IEC 60870-5-101 clause 7.4.x, procedure of IEC 60870-5-5 clause 6.7):
the master sends C_CD_NA_1 with COT 6 carrying SDT, its send time (CP16Time2a, ms within the
minute); the outstation confirms (COT 7) with SDT increased by the time the command spent in the
outstation, from its receipt to the moment its confirmation is handed to the link, so that the
master computes the transmission delay as half of (its time of receipt of the confirmation -
that value). The master then sends the delay itself with C_CD_NA_1 COT 3 (spontaneous, not
confirmed); the outstation adds it to the time of the next C_CS_NA_1 received on this line.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from rtu.iec.asdu.objects import (
    Asdu,
    ClockSyncCommand,
    Cp56Time2a,
    DelayAcquisitionCommand,
)
from rtu.iec.asdu.types import CP24_EQUIVALENT, Cot, TypeId
from rtu.iec.outstation.events import EventRecord

log = logging.getLogger(__package__)

RECHECK: Final = 60.0  # seconds: the longest wait between two looks at station time
CP16_MAX: Final = 59_999  # milliseconds a CP16Time2a holds
_MS_PER_MINUTE: Final = 60_000
_MINUTES_PER_HOUR: Final = 60
# year, month, day, hour and SU of a CP56Time2a: local time repeats an hour in autumn, with SU
# set the first time only, and that is a change of the hour too
HourKey = tuple[int, int, int, int, bool]


def hour_of(t: Cp56Time2a) -> HourKey:
    return (t.year, t.month, t.day, t.hour, t.summer_time)


def _event_hour(record: EventRecord) -> HourKey | None:
    time = getattr(record.obj, "time", None)
    return hour_of(time) if isinstance(time, Cp56Time2a) else None


class LineClock:
    """One 101 line's clock duties; see the module docstring.

    ``now_tag``: station time as the CP56Time2a the outstation stamps events with;
    ``monotonic``: seconds of a monotonic clock; ``common_addresses``: the logical stations the
    line's link address serves (one announcement each); ``cp24``: the line's time_tag."""

    def __init__(self, now_tag: Callable[[], Cp56Time2a], monotonic: Callable[[], float],
                 common_addresses: Sequence[int], *, cp24: bool) -> None:
        if not common_addresses:
            raise ValueError("a line serves at least one common address")
        self.now_tag = now_tag
        self.monotonic = monotonic
        self.common_addresses = tuple(common_addresses)
        self.cp24 = cp24
        self.announced: HourKey | None = None  # None: not since the link came up
        self.announcements = 0  # sent since start-up (shown by tests and status)
        self._pending: deque[Asdu] = deque()
        self.delay_ms: int | None = None  # loaded by C_CD_NA_1 COT 3, for the next C_CS
        self._delay_for: ClockSyncCommand | None = None  # the C_CS it was last applied to
        self._delay_used = 0.0

    # -- CP24 hour announcements ---------------------------------------------------------
    def restart(self) -> None:
        """The link came up: announce the hour again before the first CP24 event."""
        self.announced = None
        self._pending.clear()

    def due(self, head: EventRecord | None) -> bool:
        """Is an announcement to be sent before ``head`` (the next queued event, if any)?"""
        if not self.cp24:
            return False
        if self._pending:
            return True
        if head is not None and head.type_id not in CP24_EQUIVALENT:
            return False  # an end of initialisation or untagged data: it goes first
        tag = self.now_tag()
        now_hour = hour_of(tag)
        if now_hour == self.announced:
            return False
        # events of the hour announced go first
        return head is None or self.announced is None or _event_hour(head) != self.announced

    def announcement(self, head: EventRecord | None) -> Asdu | None:
        """The next C_CS_NA_1 COT 3 to send before ``head``, or None."""
        if not self.due(head):
            return None
        if not self._pending:
            tag = self.now_tag()
            self.announced = hour_of(tag)
            self._pending.extend(
                Asdu(TypeId.C_CS_NA_1, Cot.SPONTANEOUS, ca, (ClockSyncCommand(0, tag),))
                for ca in self.common_addresses)
        self.announcements += 1
        return self._pending.popleft()

    def splits(self, first: EventRecord, nxt: EventRecord) -> bool:
        """Must ``nxt`` go in another ASDU than ``first`` (CP24: another hour)?"""
        if not self.cp24:
            return False
        return _event_hour(first) != _event_hour(nxt)

    def next_deadline(self) -> float | None:
        """Monotonic time of the next change of the hour of station time (at most RECHECK
        seconds ahead); None on a CP56 line."""
        if not self.cp24:
            return None
        tag = self.now_tag()
        left_ms = (_MINUTES_PER_HOUR - 1 - tag.minute) * _MS_PER_MINUTE \
            + _MS_PER_MINUTE - tag.milliseconds
        return self.monotonic() + min(left_ms / 1000.0, RECHECK)

    # -- delay acquisition (C_CD_NA_1) ----------------------------------------------------
    def acquisition(self, asdu: Asdu) -> Asdu | Callable[[], Asdu] | None:
        """The answer to a C_CD_NA_1 from the master: a callable that builds the ACT_CON when
        it is handed to the link, a negative answer, or None (a delay loaded: no answer)."""
        obj = asdu.objects[0]
        assert isinstance(obj, DelayAcquisitionCommand)
        if obj.ioa != 0:
            return asdu.reply(Cot.UNKNOWN_IOA, negative=True)
        if asdu.cot == Cot.SPONTANEOUS:
            if obj.milliseconds > CP16_MAX:
                log.warning("transmission delay of %d ms refused: a CP16Time2a holds at most "
                            "%d ms", obj.milliseconds, CP16_MAX)
                return None
            self.delay_ms = obj.milliseconds
            log.info("transmission delay %d ms loaded for the next clock synchronisation",
                     obj.milliseconds)
            return None
        if asdu.cot != Cot.ACTIVATION:
            return asdu.reply(Cot.UNKNOWN_CAUSE, negative=True)
        if obj.milliseconds > CP16_MAX:
            return asdu.reply(Cot.ACTIVATION_CON, negative=True)
        received = self.monotonic()
        sdt = obj.milliseconds

        def confirmation() -> Asdu:
            spent = max(0, round((self.monotonic() - received) * 1000.0))
            value = (sdt + spent) % _MS_PER_MINUTE
            return asdu.reply(Cot.ACTIVATION_CON, objects=(DelayAcquisitionCommand(0, value),))

        return confirmation

    def take_delay(self, command: ClockSyncCommand) -> float:
        """Seconds to add to the time of ``command``, the C_CS_NA_1 being handled: the delay
        loaded, used once (a broadcast one is handled once per station: each gets it)."""
        if command is self._delay_for:
            return self._delay_used
        delay, self.delay_ms = self.delay_ms, None
        self._delay_for = command
        self._delay_used = 0.0 if delay is None else delay / 1000.0
        return self._delay_used
