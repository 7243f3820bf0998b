"""One master association (a 104 connection, a 101 link): its responses, its events and its
interrogation in progress.

The driver feeds received ASDU bytes to :meth:`Session.receive`, is woken through ``wake`` when
output is waiting, pulls encoded ASDUs with :meth:`Session.next_output` and reports the peer's
acknowledgements with :meth:`Session.acknowledged`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rtu.iec.asdu.codec import (
    AsduError,
    AsduProfile,
    UnknownCauseError,
    UnknownTypeError,
    decode_asdu,
    encode_asdu,
    negative_mirror,
    object_size,
)
from rtu.iec.asdu.objects import Asdu, CounterInterrogationCommand, InformationObject
from rtu.iec.asdu.types import FRZ_FREEZE_RESET, FRZ_RESET, Cot, TypeId
from rtu.iec.outstation.events import (
    EventGroup,
    EventJournal,
    EventLog,
    EventQueue,
    EventRecord,
    Output,
)
from rtu.iec.outstation.giplan import interrogation_asdu
from rtu.iec.outstation.mapping import COMMAND_KINDS
from rtu.iec.outstation.settings import OutstationConfig
from rtu.iec.outstation.shared import event_asdu
from rtu.points.database import PointDatabase
from rtu.points.model import Point

if TYPE_CHECKING:
    from rtu.iec.outstation.lineclock import LineClock

log = logging.getLogger(__package__)  # one logger for the outstation, as before the split

_MAX_OBJECTS_PER_ASDU = 127
# cyclic/background ASDUs waiting for a slot; overflow: the oldest goes (the next cycle
# repeats its data), counted in cyclic_dropped and logged once per session
CYCLIC_QUEUE_SIZE = 64


class SessionHost(Protocol):
    """What a session needs from its outstation."""

    @property
    def db(self) -> PointDatabase: ...

    @property
    def config(self) -> OutstationConfig: ...

    @property
    def next_seq(self) -> int: ...

    @property
    def journal(self) -> EventJournal | None: ...

    # the sequence-of-events log and the command audit (rtu/soe.py, rtu/audit.py), if any
    soe: EventLog | None
    audit: CommandAudit | None
    command_reason: str  # why the command answered next was refused

    def handle(self, session: Session, asdu: Asdu) -> None: ...

    def session_stopped(self, session: Session) -> None:
        """``session`` stopped data transfer or closed: its selections are released."""

    def interrogation_done(self, session: Session, interrogation: Interrogation) -> None:
        """``session`` sent the ACT_TERM of ``interrogation``."""

    def ca_of(self, ioa: int) -> int: ...

    def station_of_event(self, record: EventRecord) -> int:
        """The common address ``record`` goes out with (its own, else its IOA's station)."""

    @property
    def stations(self) -> tuple[int, ...]:
        """The common addresses served, the station's own first."""


class CommandAudit(Protocol):
    """Told of every answer to a command (rtu/audit.py), with the reason of a refusal."""

    def answered(self, master: str, answer: Asdu, reason: str) -> None: ...


@dataclass(slots=True)
class Interrogation:
    request: Asdu
    cot: Cot
    # remaining (type id, points) chunks; values are read when each ASDU is built
    pending: deque[tuple[TypeId, list[Point]]]
    loss_epoch: int = 0  # the group's EventGroup.losses when it started
    # interrogations of other logical stations that follow this one (a broadcast)
    following: deque[Interrogation] = field(default_factory=deque)
    # points of pending[0] already sent: an index, so that no ASDU copies the rest of the list
    offset: int = 0
    # the parameters of its measured values (P_ME, [station] parameters_in_gi), sent after
    # the monitored data: (type id, objects) chunks; ``offset`` walks them the same way
    parameters: deque[tuple[TypeId, list[InformationObject]]] = field(default_factory=deque)


# parameter loading changes what the outstation reports: audited like commands
_AUDITED_TYPES = frozenset(COMMAND_KINDS) | {TypeId.P_ME_NA_1, TypeId.P_ME_NB_1, TypeId.P_ME_NC_1,
                                             TypeId.P_AC_NA_1}


def audited(answer: Asdu) -> bool:
    """Is ``answer`` one the command audit records: a command's, parameter loading's, or a
    counter interrogation's that resets counters (FRZ 2, 3)?"""
    if answer.type_id in _AUDITED_TYPES:
        return True
    if answer.type_id is TypeId.C_CI_NA_1 and answer.objects:
        obj = answer.objects[0]
        return isinstance(obj, CounterInterrogationCommand) \
            and obj.frz in (FRZ_FREEZE_RESET, FRZ_RESET)
    return False


def refuse_station_activation(session: Session, asdu: Asdu) -> bool:
    """A station-wide command (interrogation, clock sync, test, reset) must be an activation of
    IOA 0: otherwise answer it negatively (unknown cause, unknown IOA) and return True."""
    if asdu.cot != Cot.ACTIVATION:
        session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
        return True
    if asdu.objects[0].ioa != 0:
        session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
        return True
    return False


class Session:
    """One master association: its responses, its events and its interrogation in progress."""

    def __init__(self, outstation: SessionHost, name: str, profile: AsduProfile,
                 group: EventGroup[Session], wake: Callable[[], None]) -> None:
        self.outstation = outstation
        self.name = name
        self.profile = profile
        self.group = group
        self.wake = wake
        self.active = False
        self.closed = False
        self.events = EventQueue(f"{name}/events", outstation.config.event_queue_size,
                                 group.count_loss)
        # (response, barrier, after_events): sent once events.removed >= barrier (0 = at once)
        # and data transfer is on; ``after_events``: it follows every event queued before it.
        # A callable builds its ASDU when it is handed to the link (C_CD_NA_1's ACT_CON).
        self.responses: deque[tuple[Asdu | bytes | Callable[[], Asdu], int, bool]] = deque()
        # a 101 line's clock duties (CP24 hour announcements, delay acquisition); None on 104
        self.line_clock: LineClock | None = None
        # an end of initialisation waits in the queue: it goes before any response (item 5)
        self._ei_pending = False
        self.interrogation: Interrogation | None = None
        # periodic and background data (rtu/iec/outstation/cyclic.py), sent when nothing else
        # waits; ``cyclic_class2`` (unbalanced 101): only through next_class2()
        self.cyclic: deque[Asdu] = deque()
        self.cyclic_class2 = False
        self.cyclic_dropped = 0
        self._inflight: deque[Output] = deque()
        self._header = 2 + profile.cot_size + profile.ca_size
        self._per_asdu: dict[TypeId, int] = {}
        self._gi_turn = False
        # the number of the oldest event this session holds since it became active: it has
        # every event made since then (sent, acknowledged or queued)
        self._holds_from = 0
        # outputs handed back by deactivate() while the link still waits for their
        # acknowledgement (a redundancy switchover): the next acknowledgements are theirs
        self._stale_acks = 0

    # -- input -------------------------------------------------------------------------------
    def receive(self, raw: bytes) -> None:
        """One ASDU from the master. Malformed input is answered as the standard says, never raised."""
        try:
            asdu = decode_asdu(raw, self.profile)
        except UnknownTypeError:
            log.warning("%s: unknown type id in %s", self.name, raw.hex(" "))
            self.respond(negative_mirror(raw, self.profile, Cot.UNKNOWN_TYPE_ID))
            return
        except UnknownCauseError:
            log.warning("%s: unknown cause of transmission in %s", self.name, raw.hex(" "))
            self.respond(negative_mirror(raw, self.profile, Cot.UNKNOWN_CAUSE))
            return
        except AsduError as exc:
            log.warning("%s: malformed ASDU ignored: %s", self.name, exc)
            log.debug("%s: malformed ASDU %s", self.name, raw.hex(" "))
            return
        if asdu.negative or not asdu.objects:
            log.warning("%s: ignored %s with P/N set or no object", self.name, asdu.type_id.name)
            return
        self.outstation.handle(self, asdu)

    # -- state -------------------------------------------------------------------------------
    def activate(self) -> None:
        """Data transfer started: this session now receives events (and the backlog if first)."""
        if self.active or self.closed:
            return
        self.active = True
        if self.line_clock is not None:
            self.line_clock.restart()
        taken = self.group.start(self)
        self.events.extend_front(taken)
        self._ei_pending = any(r.type_id is TypeId.M_EI_NA_1 for r in taken)
        if self.responses:
            # answered before data transfer started (a 101 command that came before our own
            # link was up): the return information that came with the backlog goes first
            added = self.events.added
            self.responses = deque((r, added if after else 0, after)
                                   for r, _, after in self.responses)
        # (an end of initialisation, numbered 0, may come before or among the events taken)
        self._holds_from = min(r.seq for r in taken) if taken else self.outstation.next_seq
        self.wake()

    def deactivate(self, *, link_keeps_sent: bool = False) -> None:
        """Data transfer stopped (or the link went away): unacknowledged events go back.

        ``link_keeps_sent``: the link still waits for the acknowledgement of what it sent (a
        104 redundancy switchover), so its next acknowledgements are for those outputs."""
        if not self.active:
            return
        self.active = False
        self.interrogation = None
        returned = [r for out in self._inflight for r in out.events]
        returned.extend(self.events.take_all())
        if link_keeps_sent:
            self._stale_acks += len(self._inflight)
        self._inflight.clear()
        self.responses.clear()
        self.cyclic.clear()
        self.group.stop(self, returned)
        self.outstation.session_stopped(self)

    def take_missing(self, records: Sequence[EventRecord], source: str) -> None:
        """Events ``source`` (a session of the group that stopped) had not had acknowledged:
        those older than this session's stream go in front (they cannot keep their order)."""
        missing = [r for r in records if r.seq < self._holds_from]
        if not missing:
            return
        log.warning("%s: %d events older than %s's stream handed to it out of order",
                    source, len(missing), self.name)
        self.events.extend_front(missing)
        self._holds_from = min(r.seq for r in missing)
        self.wake()

    def close(self) -> None:
        self.deactivate()
        self.closed = True
        self.outstation.session_stopped(self)  # also if it never started
        self.group.leave(self)

    # -- output ------------------------------------------------------------------------------
    def respond(self, response: Asdu | bytes | Callable[[], Asdu], *,
                after_events: bool = False) -> None:
        """Queue a response; with ``after_events`` it follows every event queued so far (and,
        before data transfer has started, every event it will start with)."""
        audit = self.outstation.audit
        if audit is not None and isinstance(response, Asdu) and audited(response):
            audit.answered(self.name, response, self.outstation.command_reason)
            self.outstation.command_reason = ""
        barrier = self.events.added if after_events and self.active else 0
        self.responses.append((response, barrier, after_events))
        self.wake()

    def has_output(self) -> bool:
        return self.active and (bool(self.responses) or bool(self.events)
                                or self.interrogation is not None
                                or (bool(self.cyclic) and not self.cyclic_class2)
                                or (self.line_clock is not None and self.line_clock.due(None)))

    def offer_cyclic(self, asdu: Asdu) -> None:
        """Periodic or background data for this session (dropped while it is not active)."""
        if not self.active:
            return
        if len(self.cyclic) >= CYCLIC_QUEUE_SIZE:
            self.cyclic.popleft()
            self.cyclic_dropped += 1
            if self.cyclic_dropped == 1:
                log.warning("%s: periodic/background data is not taken as fast as it is made; "
                            "the oldest is dropped (counted in cyclic_dropped)", self.name)
        self.cyclic.append(asdu)
        self.wake()

    def next_class2(self) -> Output | None:
        """The next periodic or background ASDU (class 2 data on unbalanced 101)."""
        if not self.active or not self.cyclic:
            return None
        # not counted among the outputs awaiting acknowledgement: the driver tells class 2
        # confirmations from class 1 ones (cyclic data is never sent again)
        return Output(encode_asdu(self.cyclic.popleft(), self.profile))

    def next_output(self) -> Output | None:
        """The next ASDU to send, once data transfer is on: a pending end of initialisation
        first, then responses (each after the events it waits for), then interrogation data
        and events in turn. Interrogation data never overtakes a waiting response (its
        ACT_CON)."""
        if not self.active:
            return None
        # whether events are queued, looked at once (nothing below queues one before
        # _next_event_asdu takes them): EventQueue.__bool__ is a call
        has_events = bool(self.events)
        if not has_events and not self.responses and self.interrogation is None \
                and not self.cyclic and self.line_clock is None:
            # nothing to send (every flush ends here): what the steps below come to then
            self._ei_pending = False
            self._gi_turn = not self._gi_turn
            return None
        if self._ei_pending and not has_events:
            self._ei_pending = False
        if self.responses and not self._ei_pending \
                and self.responses[0][1] <= self.events.removed:
            item = self.responses.popleft()[0]
            if callable(item):
                item = item()
            out = Output(item if isinstance(item, bytes) else encode_asdu(item, self.profile))
        else:
            waiting = bool(self.responses)
            gi_first = self._gi_turn or not has_events
            self._gi_turn = not self._gi_turn
            out_or_none = None
            clock = self.line_clock
            if clock is not None and not self._ei_pending:
                hour = clock.announcement(self.events.peek() if has_events else None)
                if hour is not None:
                    out_or_none = Output(encode_asdu(hour, self.profile))
            if out_or_none is None and gi_first and self.interrogation is not None \
                    and not waiting:
                out_or_none = self._next_interrogation_asdu()
            if out_or_none is None and has_events:
                out_or_none = self._next_event_asdu()
            if out_or_none is None and self.interrogation is not None and not waiting:
                out_or_none = self._next_interrogation_asdu()
            if out_or_none is None and self.cyclic and not self.cyclic_class2:
                out_or_none = Output(encode_asdu(self.cyclic.popleft(), self.profile))
            if out_or_none is None:
                return None
            out = out_or_none
        self._inflight.append(out)
        return out

    def acknowledged(self, count: int) -> None:
        """The peer confirmed the ``count`` oldest outputs."""
        if self._stale_acks:
            stale = min(count, self._stale_acks)
            self._stale_acks -= stale
            count -= stale
        soe = self.outstation.soe
        for _ in range(min(count, len(self._inflight))):
            out = self._inflight.popleft()
            if soe is not None and out.events:
                soe.delivered(self.name, out.events)

    def pending_events(self) -> list[EventRecord]:
        """Events sent and not acknowledged, then those not sent yet, oldest first."""
        sent = [r for out in self._inflight for r in out.events]
        return sent + self.events.snapshot() if sent else self.events.snapshot()

    def oldest_held(self) -> int:
        """The sequence number of the oldest journaled event this session holds, queued or
        sent and not acknowledged (a large number if none)."""
        low = self.events.first_seq()
        for out in self._inflight:
            for record in out.events:
                if 0 < record.seq < low:
                    low = record.seq
        return low

    @property
    def unacknowledged_events(self) -> int:
        return sum(len(o.events) for o in self._inflight)

    def _max_objects(self, type_id: TypeId) -> int:
        n = self._per_asdu.get(type_id)
        if n is None:
            n = min(_MAX_OBJECTS_PER_ASDU,
                    (self.profile.max_asdu_length - self._header) // object_size(type_id, self.profile))
            self._per_asdu[type_id] = n
        return n

    def pack(self, type_id: TypeId, objects: Sequence[InformationObject]) -> list[Sequence[InformationObject]]:
        n = self._max_objects(type_id)
        return [objects[i:i + n] for i in range(0, len(objects), n)]

    def _next_event_asdu(self) -> Output:
        host = self.outstation
        journal = host.journal
        if journal is not None:
            journal.before_send()
        events = self.events
        first = events.peek()
        # one path for every case: the common address is compared only where there are
        # several logical stations, the hour only on a CP24 line
        stations = host.stations
        if len(stations) > 1:
            station_of: Callable[[EventRecord], int] | None = host.station_of_event
            ca = host.station_of_event(first)
        else:  # one station: every event goes out with its own address or the station's
            station_of = None
            ca = first.ca or stations[0]
        clock = self.line_clock
        split = clock.splits if clock is not None and clock.cp24 else None
        limit = self._per_asdu.get(first.type_id) or self._max_objects(first.type_id)
        batch = events.take_batch(limit, station_of, split)
        if first.type_id is TypeId.M_EI_NA_1:
            # each logical station's end of initialisation goes before any response
            self._ei_pending = bool(events) and events.peek().type_id is TypeId.M_EI_NA_1
        return Output(event_asdu(batch, ca, self.profile), batch)

    def _next_parameters_asdu(self, gi: Interrogation) -> Output:
        type_id, objects = gi.parameters[0]
        start = gi.offset
        end = start + self._max_objects(type_id)
        if end < len(objects):
            gi.offset = end
        else:
            gi.parameters.popleft()
            gi.offset = 0
        asdu = Asdu(type_id, gi.cot, gi.request.common_address, tuple(objects[start:end]),
                    test=gi.request.test, originator=gi.request.originator)
        return Output(encode_asdu(asdu, self.profile))

    def _next_interrogation_asdu(self) -> Output | None:
        gi = self.interrogation
        assert gi is not None
        db = self.outstation.db
        if not gi.pending and gi.parameters:
            return self._next_parameters_asdu(gi)
        if not gi.pending:
            if gi.following:
                nxt = gi.following.popleft()
                nxt.following.extend(gi.following)
                self.interrogation = nxt
            else:
                self.interrogation = None
            self.outstation.interrogation_done(self, gi)
            return Output(encode_asdu(gi.request.reply(Cot.ACTIVATION_TERMINATION), self.profile))
        type_id, points = gi.pending[0]
        start = gi.offset
        end = min(start + self._max_objects(type_id), len(points))
        if end < len(points):
            gi.offset = end
        else:
            gi.pending.popleft()
            gi.offset = 0
        request = gi.request
        return Output(interrogation_asdu(type_id, points, start, end, db.value, gi.cot,
                                         request.common_address, self.profile,
                                         test=request.test, originator=request.originator))
