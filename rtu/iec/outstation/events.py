"""Event state, with one owner: the numbered stream of events, the per-master queues and the
event groups (masters that share one stream: a 104 server's masters, a redundancy group, a 101
line).

:class:`EventStreams` is the only writer of event state. It numbers every event, records it in
the journal, and fans it out: to the queue of each started session of a group, or, while none
is started, to the group's backlog (bounded, oldest dropped and counted). Groups are created,
moved, merged and dropped only through it (on reload), and it hands a redundancy group's data
transfer from one session to another.

Overflow: a full queue drops its oldest event and counts it, in the queue and in the group
(:attr:`EventGroup.lost`, and per logical station :attr:`EventGroup.lost_by_station`), and tells
:class:`EventStreams`, which reports the loss with the stations whose events were dropped (the
outstation sets those stations' "events lost" points, health:events_lost). An end of initialisation and
the events of that point are never dropped: room for them is reserved beyond the queue's
size (they are few: one end of initialisation, one event per change of that point).

Hand-over inside a group: a session that starts takes the backlog (if it is the first) or the
longest tail of unacknowledged events of the sessions already started; a session that stops
gives its sent-but-unacknowledged and queued events back, to the backlog if it was the last,
else to each other started session that does not hold them yet.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from operator import attrgetter
from types import MappingProxyType
from typing import Final, Generic, Protocol, TypeVar

from rtu.iec.asdu.codec_prebuilt import SIQ_QUALITY_BITS
from rtu.iec.asdu.objects import (
    Cp56Time2a,
    DoublePoint,
    EndOfInitialization,
    InformationObject,
    SinglePoint,
)
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.points.records import event_record

log = logging.getLogger(__package__)  # one logger for the outstation, as before the split

_OVERFLOW_LOG_EVERY = 1000
_NO_SEQ = 1 << 62  # above any sequence number: "holds no journaled event"
_TYPE_AND_CAUSE = attrgetter("type_id", "cot")  # what events in one ASDU share (take_batch)


class EventRecord:
    """One event: its type, cause and information object, its journal sequence number, whether
    it is protected from overflow, and its common address.

    ``obj`` is made only where something reads it (issue 21 item 3): a single or double point's
    event is made as ``wire``, the object's octets in the reference profile (3-octet IOA,
    CP56Time2a: PROFILE_104's), and ``tag``, its time tag; the flush of a session with that
    profile is then a header and a join (rtu/iec/outstation/shared.py), and ``obj`` is worked
    out from the two, once, for whatever else needs it (another profile, a CP24 line, the
    sequence-of-events log, a hand-over). Immutable to the type checker (``Final``); compared
    and hashed by type, cause, object and common address, as the frozen dataclass it was."""

    __slots__ = ("_obj", "ca", "cot", "protected", "seq", "tag", "type_id", "wire")

    def __init__(self, type_id: TypeId, cot: Cot, obj: InformationObject | None, seq: int = 0,
                 protected: bool = False, ca: int = 0, wire: bytes = b"",
                 tag: Cp56Time2a | None = None) -> None:
        if obj is None and (tag is None or not wire):  # cheap: this is the event path
            raise ValueError(f"an event of {type_id!r} needs its object, or its octets "
                             "and time tag")
        self.type_id: Final = type_id
        self.cot: Final = cot
        self._obj = obj
        # the journal's sequence number (EventStreams.next_seq when generated); 0 = not
        # journaled (end of initialisation). Not part of an event's identity.
        self.seq: Final = seq
        # never dropped when a queue overflows (the "events lost" point's events)
        self.protected: Final = protected
        # the common address it goes out with; 0 = the station of its IOA (the only case of a
        # point-change event: only the end of initialisation of each logical station sets it)
        self.ca: Final = ca
        # the object's octets in the reference profile (b"": none made, encode ``obj``) and,
        # with them, its time tag (the object is made from the two when needed)
        self.wire: Final = wire
        self.tag: Final = tag

    @property
    def obj(self) -> InformationObject:
        obj = self._obj
        if obj is None:
            obj = self._obj = _from_wire(self.type_id, self.wire, self.tag)
        return obj

    @property
    def ioa(self) -> int:
        """The object's information object address (without making the object)."""
        obj = self._obj
        return obj.ioa if obj is not None else _wire_ioa(self.wire)

    @property
    def keep(self) -> bool:
        """Never dropped on overflow: an end of initialisation or a protected event."""
        return self.protected or self.type_id is TypeId.M_EI_NA_1

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not EventRecord:
            return NotImplemented
        assert isinstance(other, EventRecord)
        return (self.type_id, self.cot, self.ca, self.obj) == (
            other.type_id, other.cot, other.ca, other.obj)

    def __hash__(self) -> int:
        return hash((self.type_id, self.cot, self.obj, self.ca))

    def __repr__(self) -> str:
        return (f"EventRecord(type_id={self.type_id!r}, cot={self.cot!r}, obj={self.obj!r}, "
                f"seq={self.seq!r}, protected={self.protected!r}, ca={self.ca!r})")


WIRE_IOA_SIZE: Final = 3  # EventRecord.wire's profile: PROFILE_104's IOA, CP56Time2a


def _wire_ioa(wire: bytes) -> int:
    """The information object address at the head of ``wire`` (EventRecord's octets)."""
    return int.from_bytes(wire[:WIRE_IOA_SIZE], "little")


def _from_wire(type_id: TypeId, wire: bytes, tag: Cp56Time2a | None) -> InformationObject:
    """The object whose octets are ``wire`` (EventRecord's reference profile), with ``tag``:
    the object the codec encodes to those octets, equal to the one the event would have had."""
    ioa = _wire_ioa(wire)
    octet = wire[WIRE_IOA_SIZE]
    quality = Qds(octet & SIQ_QUALITY_BITS)
    if type_id is TypeId.M_SP_TB_1:
        return SinglePoint(ioa, bool(octet & 1), quality, tag)
    return DoublePoint(ioa, octet & 3, quality, tag)


class EventJournal(Protocol):
    """Where point-change events are recorded as they are generated, so that they survive a
    restart (rtu/eventstore.py). ``append`` is on the event path: it must only queue."""

    def append(self, record: EventRecord) -> None: ...

    def before_send(self) -> None:
        """An ASDU of events is about to be built (a journal that promises to record events
        before they are sent records what it has queued now)."""


class EventLog(Protocol):
    """The sequence-of-events log (rtu/soe.py): told of every event and of each master's
    acknowledgement. Both are on the event path: they must only queue."""

    def event(self, record: EventRecord) -> None: ...

    def delivered(self, master: str, records: tuple[EventRecord, ...]) -> None: ...


@event_record
class Output:
    """One encoded ASDU ready for the link, with the events it carries (for acknowledgement)."""

    asdu: bytes
    events: tuple[EventRecord, ...] = ()


class EventQueue:
    """A bounded FIFO of events. When full, the oldest event is dropped and counted (never silent)."""

    def __init__(self, name: str, maxlen: int,
                 on_overflow: Callable[[list[EventRecord]], None] | None = None) -> None:
        self.name = name
        self.maxlen = maxlen
        self.on_overflow = on_overflow  # called with the events dropped
        self._items: deque[EventRecord] = deque()
        self.overflowed = 0
        # running total of the events taken or dropped, for "send after everything queued so
        # far" barriers (with the queued ones, every event ever added: ``added``)
        self.removed = 0

    @property
    def added(self) -> int:
        """Every event ever queued here (taken, dropped or still queued)."""
        return self.removed + len(self._items)

    @property
    def fast_append(self) -> tuple[deque[EventRecord], int]:
        """The queue's deque and its bound, for a caller on the event path that appends to the
        deque while it is below the bound and calls :meth:`append` (which drops the oldest)
        once it is not. The deque stays the same object for the queue's life."""
        return self._items, self.maxlen

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, record: EventRecord) -> None:
        if len(self._items) >= self.maxlen:
            self._drop_oldest(1)
        self._items.append(record)

    def _drop_oldest(self, n: int) -> None:
        """Drop the ``n`` oldest events that may be dropped (not :attr:`EventRecord.keep`)."""
        items = self._items
        dropped: list[EventRecord] = []
        kept: list[EventRecord] = []  # kept records met at the old end go back, in order
        while len(dropped) < n and items:
            record = items.popleft()
            if record.keep:
                kept.append(record)
            else:
                dropped.append(record)
        if kept:
            items.extendleft(reversed(kept))
        if dropped:
            self.removed += len(dropped)
            self._count_overflow(dropped)

    def extend_front(self, records: Iterable[EventRecord]) -> None:
        """Put ``records`` (in their order) before everything queued; trims the oldest if full."""
        items = list(records)
        self._items.extendleft(reversed(items))
        excess = len(self._items) - self.maxlen
        if excess > 0:
            # the returned events are older than the queued ones: drop from the old end
            self._drop_oldest(excess)

    def extend_after_initialisation(self, records: Iterable[EventRecord]) -> None:
        """Put ``records`` (in their order) after the ends of initialisation that lead the
        queue and before everything else queued; trims the oldest if full."""
        items = list(records)
        lead: list[EventRecord] = []
        while self._items and self._items[0].type_id is TypeId.M_EI_NA_1:
            lead.append(self._items.popleft())
        self._items.extendleft(reversed(items))
        self._items.extendleft(reversed(lead))
        excess = len(self._items) - self.maxlen
        if excess > 0:
            # the ends of initialisation are kept: the oldest of ``records`` go first
            self._drop_oldest(excess)

    def take_all(self) -> list[EventRecord]:
        items = list(self._items)
        self._items.clear()
        self.removed += len(items)
        return items

    def peek(self) -> EventRecord:
        return self._items[0]

    def snapshot(self) -> list[EventRecord]:
        """The queued events, oldest first (the queue is unchanged)."""
        return list(self._items)

    def popleft(self) -> EventRecord:
        self.removed += 1
        return self._items.popleft()

    def take_batch(self, limit: int, station_of: Callable[[EventRecord], int] | None,
                   split: Callable[[EventRecord, EventRecord], bool] | None,
                   ) -> tuple[EventRecord, ...]:
        """The oldest event and those after it that go in one ASDU with it, ``limit`` at most:
        the same type and cause, the same common address (``station_of``: an event's; None
        where every event has the same one) and not ``split`` from it (a CP24 line's hour)."""
        items = self._items
        first = items[0]
        type_id, cot = first.type_id, first.cot
        ca = station_of(first) if station_of is not None else 0
        n = 1
        if station_of is None and split is None:  # the common case: type and cause only
            # each event's (type, cause) made in C; all alike (the commonest case) is a count
            kinds = list(map(_TYPE_AND_CAUSE, islice(items, 1, limit)))
            first_kind = (type_id, cot)
            if kinds.count(first_kind) == len(kinds):
                n += len(kinds)
            else:
                for kind in kinds:
                    if kind != first_kind:
                        break
                    n += 1
        else:
            for nxt in islice(items, 1, limit):
                if nxt.type_id != type_id or nxt.cot != cot or (
                        station_of is not None and station_of(nxt) != ca) or (
                        split is not None and split(first, nxt)):
                    break
                n += 1
        self.removed += n
        if n == len(items):  # the common case: everything queued goes in one ASDU
            batch = tuple(items)
            items.clear()
            return batch
        popleft = items.popleft
        return tuple([popleft() for _ in range(n)])

    def remove_if(self, predicate: Callable[[EventRecord], bool]) -> int:
        kept = [r for r in self._items if not predicate(r)]
        removed = len(self._items) - len(kept)
        self._items.clear()  # the same deque: see fast_append
        self._items.extend(kept)
        self.removed += removed
        return removed

    def first_seq(self) -> int:
        """The sequence number of the first journaled record (a large number if none).

        Records are queued in sequence order (new ones appended, returned ones put back in
        front), so the first journaled one is the oldest."""
        for record in self._items:
            if record.seq:
                return record.seq
        return _NO_SEQ

    def _count_overflow(self, dropped: list[EventRecord]) -> None:
        before = self.overflowed
        self.overflowed += len(dropped)
        if before == 0 or before // _OVERFLOW_LOG_EVERY != self.overflowed // _OVERFLOW_LOG_EVERY:
            log.warning(
                "event queue %s full (%d): dropped the oldest events, %d dropped so far",
                self.name, self.maxlen, self.overflowed,
            )
        if self.on_overflow is not None:
            self.on_overflow(dropped)


class GroupMember(Protocol):
    """What a group needs from a session (rtu/iec/outstation/session.py)."""

    @property
    def name(self) -> str: ...

    @property
    def events(self) -> EventQueue: ...

    @property
    def unacknowledged_events(self) -> int: ...

    def wake(self) -> None: ...

    def pending_events(self) -> list[EventRecord]: ...

    def take_missing(self, records: Sequence[EventRecord], source: str) -> None: ...

    def oldest_held(self) -> int: ...

    def deactivate(self, *, link_keeps_sent: bool = False) -> None: ...


M = TypeVar("M", bound=GroupMember)


class EventGroup(Generic[M]):
    """Masters that share one stream of events (for 104: the masters of one redundancy group)."""

    def __init__(self, name: str, maxlen: int,
                 on_loss: Callable[[EventGroup[M], list[int]], None] | None = None,
                 stations: frozenset[int] = frozenset(),
                 station_of: Callable[[EventRecord], int] = lambda record: record.ca,
                 on_change: Callable[[], None] | None = None) -> None:
        self.name = name
        self.on_loss = on_loss  # called with the group and the stations whose events it lost
        self.on_change = on_change  # called when a session starts or stops
        self.station_of = station_of
        # the logical stations (common addresses) whose events it takes; empty = every one
        # (a 101 multi-drop line: one link address, one group, per station)
        self.stations = stations
        self.backlog = EventQueue(f"{name}/backlog", maxlen, self.count_loss)
        self.sessions: list[M] = []
        self.active: list[M] = []  # the sessions with data transfer started
        self.lost = 0  # events dropped by this group's queues (backlog and sessions')
        self.losses = 0  # times it lost events
        # per logical station (common address): events dropped, and times it lost some (a
        # station GI of that station started after the last one answers them)
        self.lost_by_station: dict[int, int] = {}
        self.losses_by_station: dict[int, int] = {}

    def count_loss(self, dropped: Sequence[EventRecord]) -> None:
        """The events ``dropped`` of this group were dropped (a queue of it overflowed)."""
        by_station: dict[int, int] = {}
        for record in dropped:
            station = self.station_of(record)
            by_station[station] = by_station.get(station, 0) + 1
        self.lost += len(dropped)
        self.losses += 1
        self.count_station_loss(by_station)

    def count_station_loss(self, by_station: Mapping[int, int]) -> None:
        """Events of these stations (common address: how many, 0 = unknown) were lost."""
        for station, n in by_station.items():
            self.lost_by_station[station] = self.lost_by_station.get(station, 0) + n
            self.losses_by_station[station] = self.losses_by_station.get(station, 0) + 1
        if self.on_loss is not None:
            self.on_loss(self, list(by_station))

    def station_losses(self, station: int) -> int:
        """How many times events of ``station`` were lost (see :meth:`count_station_loss`)."""
        return self.losses_by_station.get(station, 0)

    def active_sessions(self) -> list[M]:
        return list(self.active)

    def join(self, member: M) -> None:
        """A session of this group was opened (it receives events once it starts)."""
        self.sessions.append(member)

    def leave(self, member: M) -> None:
        """A session of this group was closed (after it stopped: see :meth:`stop`)."""
        if member in self.active:
            raise RuntimeError(f"{member.name} leaves group {self.name} while started")
        if member in self.sessions:
            self.sessions.remove(member)

    def start(self, member: M) -> list[EventRecord]:
        """``member`` started data transfer: the events it must send first, in order."""
        others = list(self.active)
        self.active.append(member)
        if self.on_change is not None:
            self.on_change()
        if not others:
            return self.backlog.take_all()
        # the group's events that no master has acknowledged yet come first, in order, so that
        # this stream stays in order even if the others' masters go away: each started session
        # holds every event since it started minus what its master acknowledged, a tail of the
        # same sequence, so the longest tail is all of them
        return max((s.pending_events() for s in others), key=len)

    def stop(self, member: M, returned: list[EventRecord]) -> None:
        """``member`` stopped data transfer and gives back the events it has not had confirmed."""
        self.active.remove(member)
        if self.on_change is not None:
            self.on_change()
        if not self.active:
            self.backlog.extend_front(returned)
            return
        if returned:
            # the others took every pending event when they started: normally nothing is
            # missing; anything older than what one holds goes in front (cannot keep order)
            for other in self.active:
                other.take_missing(returned, member.name)
            log.info("%s stopped with %d events unacknowledged; the group's other masters have them",
                     member.name, len(returned))

    def hand_over(self, member: M) -> list[tuple[M, int]]:
        """``member`` takes the group's data transfer over: every other started session stops
        (its link keeps waiting for acknowledgements of what it sent). Returns the sessions
        stopped, each with the number of events it had sent and not had acknowledged."""
        stopped: list[tuple[M, int]] = []
        for other in list(self.active):
            if other is member:
                continue
            unacknowledged = other.unacknowledged_events
            other.deactivate(link_keeps_sent=True)
            stopped.append((other, unacknowledged))
        return stopped

    def held_from(self, next_seq: int) -> int:
        low = min(next_seq, self.backlog.first_seq())
        for session in self.sessions:
            low = min(low, session.oldest_held())
        return low

    def queued(self) -> int:
        return len(self.backlog) + sum(len(s.events) for s in self.sessions)


# where an event goes: the group's stations (empty: all), its queue's deque and bound
# (EventQueue.fast_append), the queue's append, the session's wake (None for a backlog)
_Target = tuple[frozenset[int], deque[EventRecord], int, Callable[[EventRecord], None],
                Callable[[], None] | None]


class EventStreams(Generic[M]):
    """The one owner of event state: sequence numbers, the journal and the event groups."""

    def __init__(self, queue_size: int, initialisation_cause: int) -> None:
        self.queue_size = queue_size
        self.initialisation_cause = initialisation_cause
        self._groups: dict[str, EventGroup[M]] = {}
        # every point-change event gets the next sequence number; the journal (None: none)
        # records them and asks held_from() which ones are still needed
        self._next_seq = 1
        self.journal: EventJournal | None = None
        # called with the (group, station) pairs that lost events since the last report (the
        # outstation sets the "events lost" points); deferred to the end of the publish that
        # caused it
        self.on_loss: Callable[[list[tuple[str, int]]], None] | None = None
        self._publishing = False
        self._lost_groups: list[tuple[str, int]] = []
        # where an event goes (_Target), worked out when the groups or their started sessions
        # change, not per event, in the order of the groups and of their started sessions
        self._targets: tuple[_Target, ...] | None = None
        # the logical stations' common addresses: each gets its own end of initialisation;
        # station_of tells an event's station (its ca, else its IOA's)
        self.stations: tuple[int, ...] = ()
        self.station_of: Callable[[EventRecord], int] = lambda record: record.ca

    # -- reading -----------------------------------------------------------------------------
    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def groups(self) -> Mapping[str, EventGroup[M]]:
        """The event groups by name (read-only: change them through the methods below)."""
        return MappingProxyType(self._groups)

    def held_from(self) -> dict[str, int]:
        """For each group, the sequence number of the oldest event it still holds: queued in
        its backlog or a session's queue, or sent and not yet acknowledged. ``next_seq`` when it
        holds none. Every event below a group's mark has been acknowledged by one of its
        masters, or dropped (and counted) by one of its queues."""
        return {name: group.held_from(self._next_seq) for name, group in self._groups.items()}

    def queued_events(self) -> int:
        return sum(group.queued() for group in self._groups.values())

    # -- the event path ----------------------------------------------------------------------
    def publish(self, type_id: TypeId, cot: Cot, obj: InformationObject | None,
                protected: bool = False, wire: bytes = b"", tag: Cp56Time2a | None = None,
                ) -> EventRecord:
        """Number a new event, journal it and queue it for every group (``protected``: it is
        never dropped when a queue overflows; ``obj`` None: made from ``wire`` and ``tag``
        when needed, see :class:`EventRecord`)."""
        seq = self._next_seq
        self._next_seq = seq + 1
        record = EventRecord(type_id, cot, obj, seq, protected, 0, wire, tag)
        journal = self.journal
        if journal is not None:
            journal.append(record)
        targets = self._targets
        if targets is None:
            targets = self._targets = self._fan_out()
        station: int | None = None
        for stations, items, bound, append, wake in targets:
            if stations:
                if station is None:
                    station = self.station_of(record)
                if station not in stations:
                    continue
            if not items:
                items.append(record)
                if wake is not None:
                    wake()  # only schedules a flush: no session starts or stops meanwhile
            elif len(items) < bound:
                # not the first queued: the session's link was woken for the first and
                # flushes it, or waits for its window or its socket, then flushes on
                items.append(record)
            else:
                # full: the queue drops its oldest, counted. The only step here that can lose
                # events: the loss is reported once the event is in every queue (below)
                self._publishing = True
                try:
                    append(record)
                finally:
                    self._publishing = False
        if self._lost_groups:
            self._report_loss()
        return record

    def _fan_out(self) -> tuple[_Target, ...]:
        targets: list[_Target] = []
        for group in self._groups.values():
            if group.active:
                targets.extend((group.stations, *s.events.fast_append, s.events.append, s.wake)
                               for s in group.active)
            else:
                targets.append((group.stations, *group.backlog.fast_append,
                                group.backlog.append, None))
        return tuple(targets)

    def _changed(self) -> None:
        """The groups or their started sessions changed: work out the targets anew."""
        self._targets = None

    def _group_lost(self, group: EventGroup[M], stations: list[int]) -> None:
        for station in stations:
            if (group.name, station) not in self._lost_groups:
                self._lost_groups.append((group.name, station))
        if not self._publishing:
            self._report_loss()

    def _report_loss(self) -> None:
        lost, self._lost_groups = self._lost_groups, []
        if self.on_loss is not None:
            self.on_loss(lost)

    def continue_sequence(self, next_seq: int) -> None:
        """Number on from ``next_seq`` (a restored journal or the outstation this one replaces)."""
        self._next_seq = max(self._next_seq, next_seq)

    # -- groups ------------------------------------------------------------------------------
    def group(self, name: str, stations: frozenset[int] = frozenset()) -> EventGroup[M]:
        """The event group ``name``, created on first use with end of initialisation queued
        (``stations``: it takes only their events; empty = every station's)."""
        group = self._groups.get(name)
        if group is None:
            group = EventGroup(name, self.queue_size, self._group_lost, stations,
                               lambda record: self.station_of(record), self._changed)
            for ca in self.stations or (0,):
                if stations and ca not in stations:
                    continue
                group.backlog.append(EventRecord(
                    TypeId.M_EI_NA_1, Cot.INITIALIZED,
                    EndOfInitialization(0, self.initialisation_cause), ca=ca))
            self._groups[name] = group
            self._changed()
        return group

    def requeue(self, name: str, events: Sequence[EventRecord]) -> bool:
        """Put ``events`` (restored from the journal, or carried over from the outstation this
        one replaces) into group ``name``'s backlog, in their order, behind this run's ends of
        initialisation (one per station, which lead the backlog: the first ASDU of every
        station after a start-up or a reset of process is its end of initialisation) and in
        front of anything else queued. An end of initialisation among ``events`` (the previous
        run's, never confirmed) is dropped: this run's replaces it. False: there is no such
        group."""
        group = self._groups.get(name)
        if group is None:
            return False
        if group.stations:
            events = [r for r in events if self.station_of(r) in group.stations]
        kept = [r for r in events if r.type_id is not TypeId.M_EI_NA_1]
        group.backlog.extend_after_initialisation(kept)
        return True

    def take_waiting(self, name: str) -> list[EventRecord]:
        """Take every event of group ``name`` (its sessions must be closed: all is in the backlog)."""
        found = self._groups.get(name)
        if found is None:
            return []
        if found.sessions:
            raise RuntimeError(f"group {name} still has sessions: close them first")
        return found.backlog.take_all()

    def take_all_waiting(self) -> dict[str, list[EventRecord]]:
        """Empty every group (all sessions closed): its events by group name, oldest first."""
        return {name: self.take_waiting(name) for name in list(self._groups)}

    def move_group(self, old: str, new: str) -> int:
        """Events waiting in group ``old`` go before those of group ``new`` (a 101 line renamed);
        group ``old`` is removed. Returns how many moved."""
        if old == new or old not in self._groups:
            return 0
        events = self.take_waiting(old)
        del self._groups[old]
        self._changed()
        self.group(new).backlog.extend_front(events)
        return len(events)

    def regroup(self, old: Sequence[str], new: Sequence[str]) -> int:
        """A server's event groups changed from ``old`` to ``new`` (redundancy groups
        redefined; its sessions are closed). Groups in both keep their events; the events of a
        group that is gone are copied into every group that is new (their masters are the ones
        that may not have them), in front; without a new group they are dropped, counted and
        logged. Returns how many events were dropped."""
        added = [name for name in new if name not in old]
        for name in added:
            self.group(name)
        dropped = 0
        for name in old:
            if name in new or name not in self._groups:
                continue
            events = self.take_waiting(name)
            del self._groups[name]
            self._changed()
            for target in added:
                self._groups[target].backlog.extend_front(events)
            if not added and events:
                dropped += len(events)
                log.warning("reload: event group %s is gone and no new one replaces it: %d "
                            "queued events dropped", name, len(events))
            elif events:
                log.info("reload: %d events of event group %s go to %s", len(events), name,
                         ", ".join(added))
        return dropped

    def drop_group(self, name: str) -> int:
        """Remove group ``name`` (its server was disabled); returns the events dropped."""
        if name not in self._groups:
            return 0
        dropped = len(self.take_waiting(name))
        del self._groups[name]
        self._changed()
        if dropped:
            log.warning("reload: group %s removed with its server: %d queued events dropped",
                        name, dropped)
        return dropped

    def mark_initialisation(self, cause: int, *, after_parameter_change: bool) -> None:
        """The end of initialisation waiting in each backlog gets cause ``cause``."""
        for group in self._groups.values():
            items = group.backlog.take_all()
            group.backlog.extend_front([_with_cause(r, cause, after_parameter_change)
                                        for r in items])

    def hand_over(self, member: M) -> list[tuple[M, int]]:
        """``member`` takes over its group's data transfer (a redundancy switchover): see
        :meth:`EventGroup.hand_over`."""
        for group in self._groups.values():
            if member in group.sessions:
                return group.hand_over(member)
        return []


def _with_cause(record: EventRecord, cause: int, after_parameter_change: bool) -> EventRecord:
    if record.type_id is TypeId.M_EI_NA_1 and isinstance(record.obj, EndOfInitialization):
        return EventRecord(record.type_id, record.cot, EndOfInitialization(
            0, cause, after_parameter_change=after_parameter_change), record.seq,
            record.protected, record.ca)
    return record
