"""The outstation application layer shared by IEC 60870-5-101 and -104.

One :class:`Outstation` serves every master. Each master association (a 104 connection, a 101
link) is a :class:`Session` with its own ASDU profile, its own queue of responses and events and
its own interrogation in progress. Sessions belong to an :class:`EventGroup`: while no session of
a group is active, the group's backlog keeps the events (bounded, oldest dropped and counted) and
hands them, in order, to the next session that becomes active; events sent but not acknowledged
when a session ends go back to the front of the backlog.

Sans-I/O: nothing here reads a clock or touches a socket. The driver injects a :class:`Clock`,
feeds received ASDU bytes to :meth:`Session.receive`, is woken through the session's ``wake``
callback when output is waiting, and pulls encoded ASDUs with :meth:`Session.next_output`.
Commands reach the field through the injected :class:`CommandExecutor`, which reports completion
through a callback; only then is ACT_TERM sent. An executor that forwards commands to another
device (an IEC 61850 control object) also implements :class:`ConfirmingExecutor`: for the points
it :meth:`~ConfirmingExecutor.confirms`, the select's ACT_CON, the execute's ACT_CON and its
ACT_TERM follow that device's own answers, and a deactivation cancels the device's selection.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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
from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DoubleCommand,
    DoublePoint,
    EndOfInitialization,
    InformationObject,
    IntegratedTotal,
    InterrogationCommand,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredScaled,
    ReadCommand,
    RegulatingStepCommand,
    ResetProcessCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
    SinglePoint,
    StepPosition,
    TestCommand,
)
from rtu.iec.asdu.types import (
    FBP_TEST_PATTERN,
    QOI_GROUP_FIRST,
    QOI_GROUP_LAST,
    QOI_STATION,
    RQT_GENERAL,
    Cot,
    Qds,
    Qu,
    TypeId,
    counter_cot,
    interrogation_cot,
)
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointChanged, PointKind, PointValue, Quality

log = logging.getLogger(__name__)

_NORMALIZED_SCALE = 32768
_INT16_MIN, _INT16_MAX = -32768, 32767
_SIQ_MASK = int(Qds.IV | Qds.NT | Qds.SB | Qds.BL)
_QDS_MASK = _SIQ_MASK | int(Qds.OV)
_TRANSIENT = int(Quality.TRANSIENT)
# Qds for every octet value: building an IntFlag per event is slow, a tuple index is not
_QDS_BY_OCTET: tuple[Qds, ...] = tuple(Qds(i) for i in range(256))
_BROADCAST = {1: 0xFF, 2: 0xFFFF}
_COUNTER_SEQUENCE_MODULO = 32
_QRP_GENERAL_RESET = 1
_QRP_RESET_EVENT_BUFFER = 2
_FRZ_READ = 0
_FRZ_FREEZE = 1
_MAX_OBJECTS_PER_ASDU = 127
_OVERFLOW_LOG_EVERY = 1000

# monitored kind -> (type without time tag, type with CP56Time2a)
MONITOR_TYPES: dict[PointKind, tuple[TypeId, TypeId]] = {
    PointKind.SINGLE: (TypeId.M_SP_NA_1, TypeId.M_SP_TB_1),
    PointKind.DOUBLE: (TypeId.M_DP_NA_1, TypeId.M_DP_TB_1),
    PointKind.STEP: (TypeId.M_ST_NA_1, TypeId.M_ST_TB_1),
    PointKind.BITSTRING: (TypeId.M_BO_NA_1, TypeId.M_BO_TB_1),
    PointKind.NORMALIZED: (TypeId.M_ME_NA_1, TypeId.M_ME_TD_1),
    PointKind.SCALED: (TypeId.M_ME_NB_1, TypeId.M_ME_TE_1),
    PointKind.FLOAT: (TypeId.M_ME_NC_1, TypeId.M_ME_TF_1),
    PointKind.COUNTER: (TypeId.M_IT_NA_1, TypeId.M_IT_TB_1),
}

# command type -> the point kind it operates
COMMAND_KINDS: dict[TypeId, PointKind] = {
    TypeId.C_SC_NA_1: PointKind.SINGLE_COMMAND,
    TypeId.C_SC_TA_1: PointKind.SINGLE_COMMAND,
    TypeId.C_DC_NA_1: PointKind.DOUBLE_COMMAND,
    TypeId.C_DC_TA_1: PointKind.DOUBLE_COMMAND,
    TypeId.C_RC_NA_1: PointKind.REGULATING_STEP,
    TypeId.C_RC_TA_1: PointKind.REGULATING_STEP,
    TypeId.C_SE_NA_1: PointKind.SETPOINT_NORMALIZED,
    TypeId.C_SE_TA_1: PointKind.SETPOINT_NORMALIZED,
    TypeId.C_SE_NB_1: PointKind.SETPOINT_SCALED,
    TypeId.C_SE_TB_1: PointKind.SETPOINT_SCALED,
    TypeId.C_SE_NC_1: PointKind.SETPOINT_FLOAT,
    TypeId.C_SE_TC_1: PointKind.SETPOINT_FLOAT,
    TypeId.C_BO_NA_1: PointKind.BITSTRING_COMMAND,
    TypeId.C_BO_TA_1: PointKind.BITSTRING_COMMAND,
}

# system commands that may be sent to the broadcast common address
_BROADCAST_TYPES = frozenset({TypeId.C_IC_NA_1, TypeId.C_CI_NA_1, TypeId.C_CS_NA_1, TypeId.C_RP_NA_1})

_ORIGIN_COT = {
    ChangeOrigin.FIELD: Cot.SPONTANEOUS,
    ChangeOrigin.REMOTE_COMMAND: Cot.RETURN_INFO_REMOTE,
    ChangeOrigin.LOCAL_COMMAND: Cot.RETURN_INFO_LOCAL,
}


class Clock(Protocol):
    """Injected by the driver; the cores never read a clock themselves."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


@dataclass(frozen=True, slots=True)
class OutstationConfig:
    common_address: int = 1
    select_timeout: float = 10.0  # seconds between select and execute
    event_queue_size: int = 10_000  # per session and per group backlog
    time_invalid_until_sync: bool = False  # set IV in time tags until the first clock sync
    initialisation_cause: int = 0  # COI of M_EI_NA_1 after start-up: 0 = power on
    # originator addresses whose commands are accepted; empty = any. System commands (GI, clock
    # sync, read, test, reset process) are not restricted. Needs a 2-octet COT (101: cot_size 2).
    command_originators: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.select_timeout <= 0:
            raise ValueError("select_timeout must be > 0 seconds")
        if self.event_queue_size < 1:
            raise ValueError("event_queue_size must be >= 1")
        for originator in self.command_originators:
            if not 0 <= originator <= 255:
                raise ValueError(f"command_originators: {originator} is not an address 0..255")


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """A command the outstation has accepted (ACT_CON sent); the executor must run it."""

    point: Point
    type_id: TypeId
    value: bool | int | float  # SCS as bool; DCS/RCS code; set-point value (engineering); bitstring
    qu: int  # 0 none, 1 short pulse, 2 long pulse, 3 persistent (commands with QU only)
    session: str
    selected: bool = False  # the master selected it first (select-before-operate)


Done = Callable[[bool], None]


class CommandExecutor(Protocol):
    def execute(self, request: CommandRequest, done: Done) -> None:
        """Start the command; call ``done(success)`` when it has really been carried out."""


@runtime_checkable
class ConfirmingExecutor(Protocol):
    """An executor whose confirmations come from elsewhere (a device it forwards commands to).

    For a point it :meth:`confirms`, the outstation sends no ACT_CON of its own: ``select``
    answers the master's select (``done(True)``: positive ACT_CON, the selection holds), and
    ``operate`` answers the execute twice, ``confirmed`` for ACT_CON (a negative one ends the
    command) and then ``done`` for ACT_TERM. ``cancel`` releases a selection the master
    deactivated (or that the outstation dropped). Each callback at most once, on the loop.
    """

    def confirms(self, point: Point) -> bool: ...

    def select(self, request: CommandRequest, done: Done) -> None: ...

    def cancel(self, request: CommandRequest) -> None: ...

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None: ...


@dataclass(frozen=True, slots=True)
class EventRecord:
    type_id: TypeId
    cot: Cot
    obj: InformationObject
    # the journal's sequence number (Outstation.next_seq when generated); 0 = not journaled
    # (end of initialisation). Not part of an event's identity: equal events compare equal.
    seq: int = field(default=0, compare=False)


class EventJournal(Protocol):
    """Where point-change events are recorded as they are generated, so that they survive a
    restart (rtu/eventstore.py). ``append`` is on the event path: it must only queue."""

    def append(self, record: EventRecord) -> None: ...

    def before_send(self) -> None:
        """An ASDU of events is about to be built (a journal that promises to record events
        before they are sent records what it has queued now)."""


@dataclass(frozen=True, slots=True)
class Output:
    """One encoded ASDU ready for the link, with the events it carries (for acknowledgement)."""

    asdu: bytes
    events: tuple[EventRecord, ...] = ()


class EventQueue:
    """A bounded FIFO of events. When full, the oldest event is dropped and counted (never silent)."""

    def __init__(self, name: str, maxlen: int) -> None:
        self.name = name
        self.maxlen = maxlen
        self._items: deque[EventRecord] = deque()
        self.overflowed = 0
        # running totals, for "send after everything queued so far" barriers
        self.added = 0
        self.removed = 0

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, record: EventRecord) -> None:
        if len(self._items) >= self.maxlen:
            self._items.popleft()
            self.removed += 1
            self._count_overflow(1)
        self._items.append(record)
        self.added += 1

    def extend_front(self, records: Iterable[EventRecord]) -> None:
        """Put ``records`` (in their order) before everything queued; trims the newest if full."""
        items = list(records)
        self._items.extendleft(reversed(items))
        self.added += len(items)
        excess = len(self._items) - self.maxlen
        if excess > 0:
            # the returned events are older than the queued ones: drop from the old end
            for _ in range(excess):
                self._items.popleft()
            self.removed += excess
            self._count_overflow(excess)

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

    def remove_if(self, predicate: Callable[[EventRecord], bool]) -> int:
        kept = [r for r in self._items if not predicate(r)]
        removed = len(self._items) - len(kept)
        self._items = deque(kept)
        self.removed += removed
        return removed

    def _count_overflow(self, n: int) -> None:
        before = self.overflowed
        self.overflowed += n
        if before == 0 or before // _OVERFLOW_LOG_EVERY != self.overflowed // _OVERFLOW_LOG_EVERY:
            log.warning(
                "event queue %s full (%d): dropped the oldest events, %d dropped so far",
                self.name, self.maxlen, self.overflowed,
            )


class EventGroup:
    """Masters that share one stream of events (for 104: the masters of one redundancy group)."""

    def __init__(self, name: str, maxlen: int) -> None:
        self.name = name
        self.backlog = EventQueue(f"{name}/backlog", maxlen)
        self.sessions: list[Session] = []
        self.active: list[Session] = []  # the sessions with data transfer started, kept by Session

    def active_sessions(self) -> list[Session]:
        return list(self.active)


@dataclass(slots=True)
class _Selection:
    session: Session
    type_id: TypeId
    value: bool | int | float
    qu: int
    deadline: float


@dataclass(slots=True)
class _Interrogation:
    request: Asdu
    cot: Cot
    # remaining (type id, points) chunks; values are read when each ASDU is built
    pending: deque[tuple[TypeId, list[Point]]]


class Outstation:
    def __init__(
        self,
        database: PointDatabase,
        config: OutstationConfig,
        clock: Clock,
        executor: CommandExecutor,
        *,
        on_reset_process: Callable[[int], None] | None = None,
    ) -> None:
        self.db = database
        self.config = config
        self.clock = clock
        self.executor = executor
        self.on_reset_process = on_reset_process
        self.clock_offset = 0.0  # master time - system time, from the last clock sync
        self.clock_synchronised = False
        self.groups: dict[str, EventGroup] = {}
        self._selections: dict[int, _Selection] = {}
        self._executing: set[int] = set()
        self._counter_sequence = 0
        self._frozen_counters: dict[str, PointValue] | None = None
        # the time-tagged type of each monitored point's events, looked up by name per event
        self._event_type: dict[str, TypeId] = {
            p.name: MONITOR_TYPES[p.kind][1] for p in database.monitored()
        }
        # every point-change event gets the next sequence number; the journal (None: none)
        # records them and asks held_from() which ones are still needed
        self.next_seq = 1
        self.journal: EventJournal | None = None
        self._unsubscribe = database.subscribe(self._on_point_changed)

    def close(self) -> None:
        self._unsubscribe()

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        """Station time (POSIX seconds): system time corrected by the last clock sync."""
        return self.clock.wall() + self.clock_offset

    def time_tag(self, timestamp: float) -> Cp56Time2a:
        invalid = self.config.time_invalid_until_sync and not self.clock_synchronised
        return Cp56Time2a.from_timestamp(timestamp + self.clock_offset, invalid=invalid)

    # -- sessions and groups -----------------------------------------------------------------
    def group(self, name: str) -> EventGroup:
        """The event group ``name``, created on first use with end of initialisation queued."""
        group = self.groups.get(name)
        if group is None:
            group = EventGroup(name, self.config.event_queue_size)
            group.backlog.append(
                EventRecord(
                    TypeId.M_EI_NA_1,
                    Cot.INITIALIZED,
                    EndOfInitialization(0, self.config.initialisation_cause),
                )
            )
            self.groups[name] = group
        return group

    def open_session(self, name: str, profile: AsduProfile, group: str, wake: Callable[[], None]) -> Session:
        session = Session(self, name, profile, self.group(group), wake)
        session.group.sessions.append(session)
        return session

    # -- events ------------------------------------------------------------------------------
    def _on_point_changed(self, change: PointChanged) -> None:
        point = change.point
        origin = change.origin
        seq = self.next_seq
        self.next_seq = seq + 1
        record = EventRecord(
            self._event_type[point.name],
            Cot.SPONTANEOUS if origin is ChangeOrigin.FIELD else _ORIGIN_COT[origin],
            monitor_object(point, change.new, self.time_tag(change.new.timestamp)),
            seq,
        )
        journal = self.journal
        if journal is not None:
            journal.append(record)
        for group in self.groups.values():
            active = group.active
            if not active:
                group.backlog.append(record)
                continue
            for session in active:
                session.events.append(record)
                session.wake()

    def held_from(self) -> dict[str, int]:
        """For each group, the sequence number of the oldest event it still holds: queued in
        its backlog or a session's queue, or sent and not yet acknowledged. ``next_seq`` when it
        holds none. Every event below a group's mark has been acknowledged by one of its
        masters, or dropped (and counted) by one of its queues.

        Queues hold events in sequence order (new events are appended, returned ones go back
        to the front), so each queue's first journaled record is its oldest; the few frames
        in flight are all looked at.
        """
        marks: dict[str, int] = {}
        for name, group in self.groups.items():
            low = min(self.next_seq, _first_seq(group.backlog))
            for session in group.sessions:
                low = min(low, _first_seq(session.events))
                for out in session._inflight:
                    for record in out.events:
                        if 0 < record.seq < low:
                            low = record.seq
            marks[name] = low
        return marks

    def queued_events(self) -> int:
        total = 0
        for group in self.groups.values():
            total += len(group.backlog)
            total += sum(len(s.events) for s in group.sessions)
        return total

    # -- command execution -------------------------------------------------------------------
    def _execute(self, session: Session, request: Asdu, obj: InformationObject, point: Point,
                 value: bool | float, qu: int) -> None:
        self._executing.add(point.ioa)
        finished = False

        def done(success: bool) -> None:
            nonlocal finished
            if finished:
                log.error("command executor reported %s twice; ignored", point.name)
                return
            finished = True
            self._executing.discard(point.ioa)
            if not session.closed:
                # return information (COT 11) reported before this must reach the master first
                session.respond(request.reply(Cot.ACTIVATION_TERMINATION, negative=not success),
                                after_events=True)
            log.info("command %s %s on %s: %s", request.type_id.name, value, point.name,
                     "executed" if success else "FAILED")

        command = CommandRequest(point, request.type_id, value, qu, session.name)
        try:
            self.executor.execute(command, done)
        except Exception:  # the executor is ours; still never leave the master without ACT_TERM
            log.exception("command executor raised for %s", point.name)
            done(False)

    def _confirming(self, point: Point) -> ConfirmingExecutor | None:
        executor = self.executor
        if isinstance(executor, ConfirmingExecutor) and executor.confirms(point):
            return executor
        return None

    def _select_remote(self, executor: ConfirmingExecutor, session: Session, asdu: Asdu,
                       point: Point, value: bool | float, qu: int) -> None:
        """A select the device answers: ACT_CON (and the selection) once it has."""
        self._executing.add(point.ioa)  # nothing else on the point meanwhile
        finished = False
        request = CommandRequest(point, asdu.type_id, value, qu, session.name)

        def done(success: bool) -> None:
            nonlocal finished
            if finished:
                log.error("command executor answered the select of %s twice; ignored",
                          point.name)
                return
            finished = True
            self._executing.discard(point.ioa)
            if success and session.closed:
                executor.cancel(request)  # nobody left to execute it
                return
            if success:
                self._selections[point.ioa] = _Selection(
                    session, asdu.type_id, value, qu,
                    self.clock.monotonic() + self.config.select_timeout)
            if not session.closed:
                session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=not success))
            log.info("select %s %s on %s: %s", asdu.type_id.name, value, point.name,
                     "confirmed by the device" if success else "REFUSED by the device")

        try:
            executor.select(request, done)
        except Exception:  # the executor is ours; still answer the master
            log.exception("command executor raised selecting %s", point.name)
            done(False)

    def _operate_remote(self, executor: ConfirmingExecutor, session: Session, asdu: Asdu,
                        point: Point, value: bool | float, qu: int, *, selected: bool) -> None:
        """An execute the device answers: ACT_CON when it accepts, ACT_TERM when it is done."""
        self._executing.add(point.ioa)
        state = {"confirmed": False, "finished": False}

        def finish(success: bool) -> None:
            state["finished"] = True
            self._executing.discard(point.ioa)
            log.info("command %s %s on %s: %s", asdu.type_id.name, value, point.name,
                     "executed" if success else "FAILED")

        def confirmed(success: bool) -> None:
            if state["confirmed"] or state["finished"]:
                log.error("command executor confirmed %s twice; ignored", point.name)
                return
            state["confirmed"] = True
            if not session.closed:
                session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=not success))
            if not success:
                finish(False)

        def done(success: bool) -> None:
            if state["finished"]:
                log.error("command executor reported %s twice; ignored", point.name)
                return
            if not state["confirmed"]:
                confirmed(success)  # an answer without a confirmation: confirm it first
                if not success:
                    return
            if not session.closed:
                session.respond(asdu.reply(Cot.ACTIVATION_TERMINATION, negative=not success),
                                after_events=True)
            finish(success)

        request = CommandRequest(point, asdu.type_id, value, qu, session.name, selected=selected)
        try:
            executor.operate(request, confirmed, done)
        except Exception:
            log.exception("command executor raised for %s", point.name)
            if not state["finished"]:
                done(False)

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, session: Session, asdu: Asdu) -> None:
        """Act on one control-direction ASDU received from ``session``."""
        ca_size = session.profile.ca_size
        broadcast = asdu.common_address == _BROADCAST[ca_size]
        if asdu.common_address != self.config.common_address and not (
            broadcast and asdu.type_id in _BROADCAST_TYPES
        ):
            session.respond(asdu.reply(Cot.UNKNOWN_COMMON_ADDRESS, negative=True))
            return
        if broadcast:
            # answers come from this station's own address
            asdu = Asdu(asdu.type_id, asdu.cot, self.config.common_address, asdu.objects,
                        asdu.sequence, asdu.negative, asdu.test, asdu.originator)
        handler = _HANDLERS.get(asdu.type_id)
        if handler is None:
            session.respond(asdu.reply(Cot.UNKNOWN_TYPE_ID, negative=True))
            return
        handler(self, session, asdu)

    def _interrogation(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, InterrogationCommand)
        if asdu.cot == Cot.DEACTIVATION:
            running = session.interrogation is not None
            session.interrogation = None
            session.respond(asdu.reply(Cot.DEACTIVATION_CON, negative=not running))
            return
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if obj.ioa != 0:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        if not QOI_STATION <= obj.qoi <= QOI_GROUP_LAST or session.interrogation is not None:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        if obj.qoi == QOI_STATION:
            points = [p for p in self.db.monitored() if p.kind is not PointKind.COUNTER]
        else:
            group = obj.qoi - QOI_GROUP_FIRST + 1
            points = [p for p in self.db.monitored()
                      if p.kind is not PointKind.COUNTER and group in p.groups]
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        session.interrogation = _Interrogation(asdu, interrogation_cot(obj.qoi), _chunk_by_type(points))

    def _counter_interrogation(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, CounterInterrogationCommand)
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if obj.ioa != 0:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        if not 1 <= obj.rqt <= RQT_GENERAL or obj.frz not in (_FRZ_READ, _FRZ_FREEZE):
            # freeze with reset and reset would have to reset counters owned by their sources
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        counters = [p for p in self.db.monitored() if p.kind is PointKind.COUNTER
                    and (obj.rqt == RQT_GENERAL or obj.rqt in p.groups)]
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        if obj.frz == _FRZ_FREEZE:
            self._counter_sequence = (self._counter_sequence + 1) % _COUNTER_SEQUENCE_MODULO
            self._frozen_counters = {p.name: self.db.value(p.name) for p in counters}
        else:
            frozen = self._frozen_counters or {}
            cot = counter_cot(obj.rqt)
            objects = [
                counter_object(p, frozen.get(p.name) or self.db.value(p.name), None,
                               self._counter_sequence)
                for p in counters
            ]
            for chunk in session.pack(TypeId.M_IT_NA_1, objects):
                session.respond(Asdu(TypeId.M_IT_NA_1, cot, asdu.common_address, tuple(chunk),
                                     test=asdu.test, originator=asdu.originator))
        session.respond(asdu.reply(Cot.ACTIVATION_TERMINATION))

    def _read(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ReadCommand)
        if asdu.cot != Cot.REQUEST:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        point = self.db.by_ioa(obj.ioa)
        if point is None or point.kind.is_command:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        type_id = MONITOR_TYPES[point.kind][0]
        answer = monitor_object(point, self.db.value(point.name), None)
        session.respond(Asdu(type_id, Cot.REQUEST, asdu.common_address, (answer,),
                             test=asdu.test, originator=asdu.originator))

    def _clock_sync(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ClockSyncCommand)
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if obj.ioa != 0:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        try:
            master_time = obj.time.to_timestamp()
        except ValueError:
            master_time = None
        if master_time is None or obj.time.invalid:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        old = self.now()
        self.clock_offset = master_time - self.clock.wall()
        self.clock_synchronised = True
        log.info("clock synchronised by %s: station time moved by %+.3f s", session.name,
                 master_time - old)
        now_tag = Cp56Time2a.from_timestamp(self.now())
        session.respond(asdu.reply(Cot.ACTIVATION_CON, objects=(ClockSyncCommand(0, now_tag),)))

    def _test_command(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if obj.ioa != 0:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        bad_pattern = isinstance(obj, TestCommand) and obj.fbp != FBP_TEST_PATTERN
        session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=bad_pattern))

    def _reset_process(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ResetProcessCommand)
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if obj.ioa != 0:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        allowed = self.config.command_originators
        if allowed and asdu.originator not in allowed:
            # a reset acts on the station as a command does: the same originators only
            log.warning("reset process (QRP %d) from %s refused: originator address %d is not "
                        "in command_originators", obj.qrp, session.name, asdu.originator)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        if obj.qrp == _QRP_RESET_EVENT_BUFFER:
            removed = session.events.remove_if(lambda r: r.type_id != TypeId.M_EI_NA_1)
            log.warning("reset process from %s: %d queued time-tagged events discarded",
                        session.name, removed)
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
        elif obj.qrp == _QRP_GENERAL_RESET and self.on_reset_process is not None:
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
            self.on_reset_process(obj.qrp)
        else:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))

    def _command(self, session: Session, asdu: Asdu) -> None:
        if len(asdu.objects) != 1:
            # confirm what was asked (a deactivation with DEACT_CON); any other cause is unknown
            cause = {Cot.ACTIVATION: Cot.ACTIVATION_CON, Cot.DEACTIVATION: Cot.DEACTIVATION_CON}
            session.respond(asdu.reply(cause.get(asdu.cot, Cot.UNKNOWN_CAUSE), negative=True))
            return
        allowed = self.config.command_originators
        if allowed and asdu.originator not in allowed and asdu.cot in (Cot.ACTIVATION,
                                                                       Cot.DEACTIVATION):
            # without an originator field (COT of 1 octet) the address reads 0: refused too
            log.warning("command %s on IOA %d from %s refused: originator address %d is not in "
                        "command_originators", asdu.type_id.name, asdu.objects[0].ioa,
                        session.name, asdu.originator)
            session.respond(asdu.reply(
                Cot.DEACTIVATION_CON if asdu.cot == Cot.DEACTIVATION else Cot.ACTIVATION_CON,
                negative=True))
            return
        obj = asdu.objects[0]
        point = self.db.by_ioa(obj.ioa)
        if point is None or point.kind is not COMMAND_KINDS[asdu.type_id]:
            session.respond(asdu.reply(
                Cot.UNKNOWN_IOA if asdu.cot in (Cot.ACTIVATION, Cot.DEACTIVATION) else Cot.UNKNOWN_CAUSE,
                negative=True))
            return
        now = self.clock.monotonic()
        if asdu.cot == Cot.DEACTIVATION:
            selection = self._selections.get(point.ioa)
            held = selection is not None and selection.session is session and selection.deadline > now
            if held:
                del self._selections[point.ioa]
                confirming = self._confirming(point)
                if confirming is not None and selection is not None:
                    confirming.cancel(CommandRequest(point, selection.type_id, selection.value,
                                                     selection.qu, session.name, selected=True))
            session.respond(asdu.reply(Cot.DEACTIVATION_CON, negative=not held))
            return
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        parsed = _command_value(obj)
        if parsed is None:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        value, qu, select = parsed
        if point.kind is PointKind.SETPOINT_NORMALIZED:
            value = int(value) / _NORMALIZED_SCALE
        refusal = self._refusal(session, point, now)
        if refusal:
            log.warning("command on %s from %s refused: %s", point.name, session.name, refusal)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        selection = self._selections.get(point.ioa)
        confirming = None if asdu.test else self._confirming(point)
        if select:
            if confirming is not None:
                self._select_remote(confirming, session, asdu, point, value, qu)
                return
            self._selections[point.ioa] = _Selection(session, asdu.type_id, value, qu,
                                                     now + self.config.select_timeout)
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
            return
        if selection is not None:
            matches = (selection.session is session and selection.type_id == asdu.type_id
                       and selection.value == value and selection.qu == qu
                       and selection.deadline > now)
            del self._selections[point.ioa]
            if not matches:
                log.warning("execute on %s from %s does not match its select (or it timed out)",
                            point.name, session.name)
                session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
                return
        elif point.select_required:
            log.warning("execute on %s from %s without select; select-before-operate required",
                        point.name, session.name)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        if confirming is not None:
            self._operate_remote(confirming, session, asdu, point, value, qu,
                                 selected=selection is not None)
            return
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        if asdu.test:
            # test bit: confirm as if executed, but the process is not touched
            session.respond(asdu.reply(Cot.ACTIVATION_TERMINATION))
            return
        self._execute(session, asdu, obj, point, value, qu)

    def _refusal(self, session: Session, point: Point, now: float) -> str | None:
        if self.db.value(point.name).quality & Quality.BL:
            return "the point is blocked"
        if point.ioa in self._executing:
            return "a command on this point is still executing"
        held = self._selections.get(point.ioa)
        if held is not None and held.session is not session and held.deadline > now:
            return f"selected by {held.session.name}"
        return None


def _first_seq(queue: EventQueue) -> int:
    """The sequence number of the first journaled record in ``queue`` (a large number if none)."""
    for record in queue._items:
        if record.seq:
            return record.seq
    return 1 << 62


def _chunk_by_type(points: list[Point]) -> deque[tuple[TypeId, list[Point]]]:
    by_type: dict[TypeId, list[Point]] = {}
    for point in points:  # already in IOA order
        by_type.setdefault(MONITOR_TYPES[point.kind][0], []).append(point)
    return deque(sorted(by_type.items()))


def _command_value(obj: InformationObject) -> tuple[bool | int | float, int, bool] | None:
    """(value, QU, select) of a command object, or None if its qualifier is not permitted."""
    if isinstance(obj, SingleCommand):
        return (obj.state, obj.qu, obj.select) if obj.qu <= Qu.PERSISTENT else None
    if isinstance(obj, DoubleCommand | RegulatingStepCommand):
        if obj.state not in (1, 2) or obj.qu > Qu.PERSISTENT:
            return None
        return obj.state, obj.qu, obj.select
    if isinstance(obj, SetpointNormalized | SetpointScaled | SetpointFloat):
        return obj.value, 0, obj.select
    if isinstance(obj, Bitstring32Command):
        return obj.value, 0, False
    return None


def monitor_object(point: Point, pv: PointValue, time: Cp56Time2a | None) -> InformationObject:
    """The information object reporting ``pv`` of a monitored point."""
    kind = point.kind
    q = int(pv.quality)
    if kind is PointKind.SINGLE:
        return SinglePoint(point.ioa, bool(pv.value), _QDS_BY_OCTET[q & _SIQ_MASK], time)
    if kind is PointKind.DOUBLE:
        return DoublePoint(point.ioa, int(pv.value), _QDS_BY_OCTET[q & _SIQ_MASK], time)
    qds = _QDS_BY_OCTET[q & _QDS_MASK]
    if kind is PointKind.STEP:
        return StepPosition(point.ioa, int(pv.value), bool(q & _TRANSIENT), qds, time)
    if kind is PointKind.BITSTRING:
        return Bitstring32(point.ioa, int(pv.value), qds, time)
    if kind is PointKind.NORMALIZED:
        raw = max(_INT16_MIN, min(_INT16_MAX, round(float(pv.value) * _NORMALIZED_SCALE)))
        return MeasuredNormalized(point.ioa, raw, qds, time)
    if kind is PointKind.SCALED:
        return MeasuredScaled(point.ioa, int(pv.value), qds, time)
    if kind is PointKind.FLOAT:
        return MeasuredFloat(point.ioa, float(pv.value), qds, time)
    if kind is PointKind.COUNTER:
        return counter_object(point, pv, time, 0)
    raise ValueError(f"{point.name}: {kind.value} is not a monitored kind")


def counter_object(point: Point, pv: PointValue, time: Cp56Time2a | None, sequence: int) -> IntegratedTotal:
    q = pv.quality
    return IntegratedTotal(point.ioa, int(pv.value), sequence, bool(q & Quality.CY),
                           bool(q & Quality.CA), bool(q & Quality.IV), time)


class Session:
    """One master association: its responses, its events and its interrogation in progress."""

    def __init__(self, outstation: Outstation, name: str, profile: AsduProfile, group: EventGroup,
                 wake: Callable[[], None]) -> None:
        self.outstation = outstation
        self.name = name
        self.profile = profile
        self.group = group
        self.wake = wake
        self.active = False
        self.closed = False
        self.events = EventQueue(f"{name}/events", outstation.config.event_queue_size)
        # (response, barrier): sent once events.removed >= barrier (0 = at once)
        self.responses: deque[tuple[Asdu | bytes, int]] = deque()
        self.interrogation: _Interrogation | None = None
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
        others = list(self.group.active)
        self.active = True
        self.group.active.append(self)
        if not others:
            taken = self.group.backlog.take_all()
        else:
            # the group's events that no master has acknowledged yet come first, in order, so
            # that this stream stays in order even if the others' masters go away: each started
            # session holds every event since it started minus what its master acknowledged,
            # a tail of the same sequence, so the longest tail is all of them
            taken = max((s.pending_events() for s in others), key=len)
        self.events.extend_front(taken)
        # (restored or carried-over events may precede an end of initialisation numbered 0)
        self._holds_from = min(r.seq for r in taken) if taken else self.outstation.next_seq
        self.wake()

    def deactivate(self, *, link_keeps_sent: bool = False) -> None:
        """Data transfer stopped (or the link went away): unacknowledged events go back.

        ``link_keeps_sent``: the link still waits for the acknowledgement of what it sent (a
        104 redundancy switchover), so its next acknowledgements are for those outputs."""
        if not self.active:
            return
        self.active = False
        self.group.active.remove(self)
        self.interrogation = None
        returned = [r for out in self._inflight for r in out.events]
        returned.extend(self.events.take_all())
        if link_keeps_sent:
            self._stale_acks += len(self._inflight)
        self._inflight.clear()
        self.responses.clear()
        if not self.group.active:
            self.group.backlog.extend_front(returned)
        elif returned:
            # the others took every pending event when they started: normally nothing is
            # missing; anything older than what one holds goes in front (cannot keep order)
            for other in self.group.active:
                missing = [r for r in returned if r.seq < other._holds_from]
                if missing:
                    log.warning("%s: %d events older than %s's stream handed to it out of order",
                                self.name, len(missing), other.name)
                    other.events.extend_front(missing)
                    other._holds_from = min(r.seq for r in missing)
                    other.wake()
            log.info("%s stopped with %d events unacknowledged; the group's other masters have them",
                     self.name, len(returned))

    def close(self) -> None:
        self.deactivate()
        self.closed = True
        if self in self.group.sessions:
            self.group.sessions.remove(self)

    # -- output ------------------------------------------------------------------------------
    def respond(self, response: Asdu | bytes, *, after_events: bool = False) -> None:
        """Queue a response; with ``after_events`` it follows every event queued so far."""
        self.responses.append((response, self.events.added if after_events else 0))
        self.wake()

    def has_output(self) -> bool:
        return bool(self.responses) or (self.active and (bool(self.events) or self.interrogation is not None))

    def next_output(self) -> Output | None:
        """The next ASDU to send: responses first, then interrogation data and events in turn."""
        if self.responses and (self.responses[0][1] <= self.events.removed or not self.active):
            item = self.responses.popleft()[0]
            out = Output(item if isinstance(item, bytes) else encode_asdu(item, self.profile))
        elif not self.active:
            return None
        else:
            gi_first = self._gi_turn or not self.events
            self._gi_turn = not self._gi_turn
            out_or_none = None
            if gi_first and self.interrogation is not None:
                out_or_none = self._next_interrogation_asdu()
            if out_or_none is None and self.events:
                out_or_none = self._next_event_asdu()
            if out_or_none is None and self.interrogation is not None:
                out_or_none = self._next_interrogation_asdu()
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
        for _ in range(min(count, len(self._inflight))):
            self._inflight.popleft()

    def pending_events(self) -> list[EventRecord]:
        """Events sent and not acknowledged, then those not sent yet, oldest first."""
        sent = [r for out in self._inflight for r in out.events]
        return sent + self.events.snapshot() if sent else self.events.snapshot()

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
        journal = self.outstation.journal
        if journal is not None:
            journal.before_send()
        events = self.events
        first = events.popleft()
        batch = [first]
        limit = self._max_objects(first.type_id)
        while events and len(batch) < limit:
            nxt = events.peek()
            if nxt.type_id != first.type_id or nxt.cot != first.cot:
                break
            batch.append(events.popleft())
        asdu = Asdu(first.type_id, first.cot, self.outstation.config.common_address,
                    tuple(r.obj for r in batch))
        return Output(encode_asdu(asdu, self.profile), tuple(batch))

    def _next_interrogation_asdu(self) -> Output | None:
        gi = self.interrogation
        assert gi is not None
        db = self.outstation.db
        if not gi.pending:
            self.interrogation = None
            return Output(encode_asdu(gi.request.reply(Cot.ACTIVATION_TERMINATION), self.profile))
        type_id, points = gi.pending[0]
        n = self._max_objects(type_id)
        chunk, rest = points[:n], points[n:]
        if rest:
            gi.pending[0] = (type_id, rest)
        else:
            gi.pending.popleft()
        objects = tuple(monitor_object(p, db.value(p.name), None) for p in chunk)
        asdu = Asdu(type_id, gi.cot, gi.request.common_address, objects,
                    test=gi.request.test, originator=gi.request.originator)
        return Output(encode_asdu(asdu, self.profile))


_Handler = Callable[[Outstation, Session, Asdu], None]
_HANDLERS: dict[TypeId, _Handler] = {
    TypeId.C_IC_NA_1: Outstation._interrogation,
    TypeId.C_CI_NA_1: Outstation._counter_interrogation,
    TypeId.C_RD_NA_1: Outstation._read,
    TypeId.C_CS_NA_1: Outstation._clock_sync,
    TypeId.C_TS_NA_1: Outstation._test_command,
    TypeId.C_TS_TA_1: Outstation._test_command,
    TypeId.C_RP_NA_1: Outstation._reset_process,
    **{t: Outstation._command for t in COMMAND_KINDS},
}
