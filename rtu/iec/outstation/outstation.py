"""The outstation application layer shared by IEC 60870-5-101 and -104: the ASDU handlers and
the one API through which everything outside changes event state.

One :class:`Outstation` serves every master. Each master association (a 104 connection, a 101
link) is a :class:`~rtu.iec.outstation.session.Session` with its own ASDU profile, its own
queue of responses and events and its own interrogation in progress. Sessions belong to an
event group (rtu/iec/outstation/events.py, the one owner of event state): while no session of a
group is active, the group's backlog keeps the events (bounded, oldest dropped and counted) and
hands them, in order, to the next session that becomes active; events sent but not acknowledged
when a session ends go back to the front of the backlog.

Reload, the supervisor, the servers and the journal change event state only through this
class: :meth:`Outstation.move_group`, :meth:`~Outstation.regroup`, :meth:`~Outstation.drop_group`,
:meth:`~Outstation.take_all_waiting` / :meth:`~Outstation.requeue` (carrying events to a rebuilt
outstation or restoring a journal), :meth:`~Outstation.continue_sequence`,
:meth:`~Outstation.attach_journal`, :meth:`~Outstation.reconfigure` and
:meth:`~Outstation.hand_over` (a redundancy group's switchover).

Sans-I/O: nothing here reads a clock or touches a socket. The driver injects a
:class:`~rtu.iec.outstation.settings.Clock`. Commands reach the field through the injected
:class:`~rtu.points.commands.CommandExecutor` (rtu/iec/outstation/commands.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import Any

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.codec_prebuilt import POINT_ELEMENTS, point_elements
from rtu.iec.asdu.objects import (
    Asdu,
    ClockSyncCommand,
    Cp56Time2a,
    InterrogationCommand,
    ReadCommand,
    ResetProcessCommand,
    TestCommand,
)
from rtu.iec.asdu.types import (
    FBP_TEST_PATTERN,
    QOI_GROUP_FIRST,
    QOI_GROUP_LAST,
    QOI_STATION,
    Cot,
    TypeId,
    interrogation_cot,
)
from rtu.iec.outstation.commands import CommandHandler
from rtu.iec.outstation.counters import Counters
from rtu.iec.outstation.cyclic import CyclicScheduler, cyclic_period
from rtu.iec.outstation.events import (
    WIRE_IOA_SIZE,
    EventGroup,
    EventJournal,
    EventLog,
    EventRecord,
    EventStreams,
)
from rtu.iec.outstation.files import FileService
from rtu.iec.outstation.giplan import interrogation_pending, prepare_plans
from rtu.iec.outstation.lost import EventsLost
from rtu.iec.outstation.mapping import (
    COMMAND_KINDS,
    MONITOR_TYPES,
    ORIGIN_COT,
    WIRE_TOPS,
    EventMaker,
    chunk_by_type,
    event_recipe,
    monitor_object,
)
from rtu.iec.outstation.parameters import OnChange, Parameters
from rtu.iec.outstation.session import (
    CommandAudit,
    Interrogation,
    Session,
    refuse_station_activation,
)
from rtu.iec.outstation.settings import Clock, ClockSyncMode, OutstationConfig
from rtu.iec.outstation.timetag import ClearsTags, TagCache
from rtu.points.commands import CommandExecutor
from rtu.points.counters import CounterReset
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointKind, PointValue

log = logging.getLogger(__package__)  # one logger for the outstation, as before the split

_BROADCAST = {1: 0xFF, 2: 0xFFFF}
_QRP_GENERAL_RESET = 1
_QRP_RESET_EVENT_BUFFER = 2

# system commands that may be sent to the broadcast common address
_BROADCAST_TYPES = frozenset({TypeId.C_IC_NA_1, TypeId.C_CI_NA_1, TypeId.C_CS_NA_1, TypeId.C_RP_NA_1})

_SPONTANEOUS = Cot.SPONTANEOUS
_SINGLE_EVENT = MONITOR_TYPES[PointKind.SINGLE][1]  # M_SP_TB_1
_FIELD = ChangeOrigin.FIELD


class Outstation:
    # what the time tags of our time stamps depend on (rtu/iec/outstation/timetag.py)
    clock_offset = ClearsTags[float]()  # master time - system time, from the last clock sync
    clock_synchronised = ClearsTags[bool]()  # a master synchronised our clock (not expired)
    system_clock_synchronised = ClearsTags[bool]()  # the kernel / time daemon says so (driver)
    time_zone = ClearsTags[tzinfo | None]()  # the system time zone (driver), for local_time

    def __init__(
        self,
        database: PointDatabase,
        config: OutstationConfig,
        clock: Clock,
        executor: CommandExecutor,
        *,
        on_reset_process: Callable[[int], None] | None = None,
        counter_reset: CounterReset | None = None,
        on_parameters: OnChange | None = None,
    ) -> None:
        """``counter_reset``: the counters a master may reset (FRZ 2 and 3); None: none."""
        self.db = database
        self._config = config
        self.clock = clock
        self.executor = executor
        self.on_reset_process = on_reset_process
        # time (rtu/iec/outstation/outstation.py "time" below): the driver reports the system
        # clock's synchronisation and the time zone, and takes the offset to keep it
        self._tags = TagCache()  # emptied by setting the clock state below and the settings
        self._clock_offset = 0.0
        self._clock_synchronised = False
        self._system_clock_synchronised = False
        self._time_zone: tzinfo | None = None
        self._synced_at: float | None = None  # monotonic time of the last master sync
        # called with (offset, wall time of the sync) after each master sync: the driver keeps
        # it in the state directory
        self.on_clock_sync: Callable[[float, float], None] | None = None
        # clock_sync = "system": sets the system clock to the POSIX seconds given, returns
        # None or why it could not (the driver's; None = not possible)
        self.step_clock: Callable[[float], str | None] | None = None
        self._streams: EventStreams[Session] = EventStreams(config.event_queue_size,
                                                            config.initialisation_cause)
        self._set_stations(config)
        self._publish = self._streams.publish  # bound once: it is on every event's path
        # the "events lost" points (health:events_lost, rtu/iec/outstation/lost.py); the IOAs
        # whose events are protected are read on every event's path: kept here
        self._lost = EventsLost(self, config)
        self._lost_ioas = self._lost.ioas
        self._streams.on_loss = self._lost.lost
        self._commands = CommandHandler(self)
        self._counters = Counters(self, counter_reset)
        # thresholds loaded by masters (P_ME, P_AC); ``on_parameters`` keeps them
        self.parameters = Parameters(self, on_parameters)
        self._cyclic = self._schedule(config)
        # how a monitored point's events are made (its time-tagged type and the maker of its
        # object: mapping.event_recipe) depends on its kind alone: one recipe per kind, found
        # per event by the kind's value in a dict of a few entries (by point name it was a
        # lookup in a table of every point, cold in the cache, and a dict entry per point)
        recipes: dict[str, tuple[TypeId, EventMaker, int]] = {}
        for p in database.monitored():
            if p.kind._value_ not in recipes:
                recipes[p.kind._value_] = (*event_recipe(p), WIRE_TOPS.get(p.kind, 0))
        self._recipes = recipes
        self.soe: EventLog | None = None  # the sequence-of-events log (rtu/soe.py), if any
        self.audit: CommandAudit | None = None  # the command audit (rtu/audit.py), if any
        self.files: FileService | None = None  # file transfer ([files], rtu/files/), if any
        self.command_reason = ""  # why the command answered next was refused (for the audit)
        self._unsubscribe = database.subscribe_values(self._on_point_changed,
                                                      single=self._on_single_changed)

    def close(self) -> None:
        self._unsubscribe()

    # -- settings ----------------------------------------------------------------------------
    @property
    def config(self) -> OutstationConfig:
        return self._config

    def reconfigure(self, config: OutstationConfig) -> None:
        """New station settings (a live reload). Queues that exist keep their size; groups
        made from now on use the new one."""
        self._config = config
        self._tags.clear()
        self._streams.queue_size = config.event_queue_size
        self._streams.initialisation_cause = config.initialisation_cause
        self._set_stations(config)
        self._lost.configure(config)
        self._lost_ioas = self._lost.ioas
        if (config.cyclic_groups, config.background_scan) != self._cyclic_settings:
            self._cyclic = self._schedule(config)

    # -- logical stations ----------------------------------------------------------------------
    def _set_stations(self, config: OutstationConfig) -> None:
        """Each point belongs to a logical station: its own common address, or the station's.
        IOAs are unique across the whole outstation, so an IOA tells its station."""
        own = config.common_address
        # only the points of other stations: one entry per point would cost memory and
        # start-up time where (as mostly) every point is the station's own
        self._station_of = {p.ioa: p.common_address for p in self.db
                            if p.common_address and p.common_address != own}
        others = sorted(set(self._station_of.values()))
        self._stations = (own, *others)
        self._station_of_ca = frozenset(self._stations)
        # per station: (the database's monitored tuple it was cut from, the station's points)
        self._station_monitored: dict[int, tuple[tuple[Point, ...], tuple[Point, ...]]] = {}
        self._streams.stations = self._stations
        self._streams.station_of = self.station_of_event

    def station_of_event(self, record: EventRecord) -> int:
        """The common address ``record`` goes out with (its own, else its IOA's station)."""
        return record.ca or self.ca_of(record.ioa)

    @property
    def stations(self) -> tuple[int, ...]:
        """The common addresses served, the station's own first."""
        return self._stations

    def ca_of(self, ioa: int) -> int:
        """The common address of the point at ``ioa`` (the station's own for IOA 0)."""
        return self._station_of.get(ioa, self._config.common_address)

    def _monitored_of(self, ca: int) -> tuple[Point, ...]:
        """The monitored points of station ``ca``, one tuple per station kept while the
        database's stays the same (the shared GI plans are keyed by the tuple,
        rtu/iec/outstation/giplan.py)."""
        monitored = self.db.monitored()
        if len(self._stations) <= 1:
            return monitored
        cached = self._station_monitored.get(ca)
        if cached is None or cached[0] is not monitored:
            cached = (monitored, tuple(self.station_points(ca, monitored)))
            self._station_monitored[ca] = cached
        return cached[1]

    def prepare_interrogation(self, profiles: Iterable[AsduProfile]) -> None:
        """Work out each station's GI plan and its IOA octets in ``profiles`` now (after
        READY=1, after a rebuild), not in the first GI: 20 ms of blocked loop at 50,000 points."""
        prepare_plans([self._monitored_of(ca) for ca in self._stations], tuple(profiles))

    def station_points(self, ca: int, points: Sequence[Point]) -> list[Point]:
        """Those of ``points`` that belong to station ``ca``."""
        station_of, own = self._station_of, self._config.common_address
        return [p for p in points if station_of.get(p.ioa, own) == ca]

    # -- periodic and background data (rtu/iec/outstation/cyclic.py) -----------------------------
    def _schedule(self, config: OutstationConfig) -> CyclicScheduler | None:
        """The schedule of periodic and background data; None if there is none."""
        self._cyclic_settings = (config.cyclic_groups, config.background_scan)
        groups = dict(config.cyclic_groups)
        if not config.background_scan and not any(cyclic_period(p, groups) > 0
                                                  for p in self.db.monitored()):
            return None
        return CyclicScheduler(self.db.monitored(), groups, config.background_scan,
                               self.clock.monotonic())

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` has periodic or background data to send (monotonic time)."""
        return None if self._cyclic is None else self._cyclic.next_deadline()

    def on_timer(self, now: float) -> None:
        """Queue the periodic and background data due at ``now`` to every active session
        (and drop file transfers their master left: the driver calls this once a second)."""
        if self.files is not None:
            self.files.expire(now)
        if self._cyclic is None:
            return
        for cot, points in self._cyclic.due(now):
            sessions = [s for g in self._streams.groups.values() for s in g.active]
            if not sessions:
                continue
            for ca in self._stations:
                for type_id, chunk in chunk_by_type(self.station_points(ca, points)):
                    objects = [monitor_object(p, self.db.value(p.name), None) for p in chunk]
                    for session in sessions:
                        if session.group.stations and ca not in session.group.stations:
                            continue
                        for part in session.pack(type_id, objects):
                            session.offer_cyclic(Asdu(type_id, cot, ca, tuple(part)))

    # -- time --------------------------------------------------------------------------------
    # Time tags this outstation creates use station time: the system clock plus the offset of
    # the last clock synchronisation by a master (clock_sync = "offset"). Time stamps that come
    # from a device's own clock (PointValue.device_time) are never shifted. IV is set on the
    # tags we create while neither the system clock is synchronised nor a master synchronised
    # it (invalid_time_until_synced), and on any time outside 2000-2099 (clamped).
    def now(self) -> float:
        """Station time (POSIX seconds): system time corrected by the last clock sync."""
        return self.clock.wall() + self.clock_offset

    @property
    def time_valid(self) -> bool:
        """True while the time we stamp events with is synchronised (system clock or master)."""
        return self.system_clock_synchronised or self.clock_synchronised

    def zone(self) -> tzinfo | None:
        """The zone time tags are expressed in: None for UTC."""
        return self.time_zone if self._config.local_time else None

    def time_tag(self, timestamp: float, *, device_time: bool = False) -> Cp56Time2a:
        if device_time:
            zone = self.time_zone if self._config.local_time else None
            return Cp56Time2a.from_timestamp(timestamp, zone=zone)
        return self._our_time_tag(timestamp)

    def _our_time_tag(self, timestamp: float) -> Cp56Time2a:
        """The tag of a time stamp of our clock: shifted by a master's clock offset."""
        tags = self._tags
        if tags.low < timestamp < tags.high:
            return tags.tag
        config = self._config
        invalid = config.invalid_time_until_synced and not (
            self._system_clock_synchronised or self._clock_synchronised)
        return tags.make(timestamp, self._clock_offset, invalid,
                         self._time_zone if config.local_time else None)

    def set_system_clock_state(self, synchronised: bool) -> None:
        """The driver's periodic report of the system clock's synchronisation (it also lets a
        master's offset expire: clock_offset_lifetime)."""
        if synchronised != self.system_clock_synchronised:
            log.log(logging.INFO if synchronised else logging.WARNING,
                    "system clock %s", "synchronised" if synchronised else "NOT synchronised")
        self.system_clock_synchronised = synchronised
        self.expire_clock_offset()

    def expire_clock_offset(self) -> bool:
        """Drop a master's clock offset older than clock_offset_lifetime; True if it did."""
        lifetime = self._config.clock_offset_lifetime
        if not lifetime or self._synced_at is None:
            return False
        if self.clock.monotonic() - self._synced_at < lifetime:
            return False
        log.warning("clock offset %+.3f s of the last clock synchronisation expired after %g s",
                    self.clock_offset, lifetime)
        self.clock_offset = 0.0
        self.clock_synchronised = False
        self._synced_at = None
        return True

    def restore_clock_offset(self, offset: float, synced_wall: float) -> bool:
        """The offset of a clock synchronisation before a restart, made at system time
        ``synced_wall``; not taken if it has expired since (False)."""
        if self._config.clock_sync is not ClockSyncMode.OFFSET:
            return False
        age = self.clock.wall() - synced_wall
        lifetime = self._config.clock_offset_lifetime
        if lifetime and not 0 <= age < lifetime:
            log.info("clock offset %+.3f s from before the restart has expired", offset)
            return False
        self.clock_offset = offset
        self.clock_synchronised = True
        self._synced_at = self.clock.monotonic() - max(age, 0.0)
        log.info("clock offset %+.3f s of the last clock synchronisation restored", offset)
        return True

    def adopt_clock(self, other: Outstation) -> None:
        """Take over the clock state of ``other``, the outstation this one replaces (a reload
        that rebuilds the field side): the offset, its age and both synchronisation states."""
        self.clock_offset = other.clock_offset
        self.clock_synchronised = other.clock_synchronised
        self.system_clock_synchronised = other.system_clock_synchronised
        self._synced_at = other._synced_at
        if self._config.clock_sync is not ClockSyncMode.OFFSET:
            self.clock_offset = 0.0

    def clock_status(self) -> dict[str, object]:
        """The clock state for ``rtu status`` (and the "clock synchronised" health point)."""
        return {
            "valid": self.time_valid,
            "system_synchronised": self.system_clock_synchronised,
            "master_synchronised": self.clock_synchronised,
            "offset": round(self.clock_offset, 3),
            "mode": self._config.clock_sync.value,
            "time_tags": "local" if self._config.local_time else "utc",
        }

    # -- event state: the one API ------------------------------------------------------------
    @property
    def groups(self) -> Mapping[str, EventGroup[Session]]:
        """The event groups by name, read-only (for status; change them with the methods here)."""
        return self._streams.groups

    def group_names(self) -> tuple[str, ...]:
        return tuple(self._streams.groups)

    def group(self, name: str, stations: frozenset[int] = frozenset()) -> EventGroup[Session]:
        """The event group ``name``, created on first use with end of initialisation queued;
        ``stations``: it takes only these logical stations' events and requests (empty: all)."""
        return self._streams.group(name, stations)

    def open_session(self, name: str, profile: AsduProfile, group: str, wake: Callable[[], None]) -> Session:
        session = Session(self, name, profile, self._streams.group(group), wake)
        session.group.join(session)
        return session

    def hand_over(self, session: Session) -> list[tuple[Session, int]]:
        """``session`` takes its group's data transfer over (a 104 redundancy switchover): the
        group's other started sessions stop, their unacknowledged events go to ``session``.
        Returns those sessions, each with how many events it had not had acknowledged."""
        return self._streams.hand_over(session)

    def move_group(self, old: str, new: str) -> int:
        return self._streams.move_group(old, new)

    def regroup(self, old: Sequence[str], new: Sequence[str]) -> int:
        return self._streams.regroup(old, new)

    def drop_group(self, name: str) -> int:
        return self._streams.drop_group(name)

    def take_all_waiting(self) -> dict[str, list[EventRecord]]:
        return self._streams.take_all_waiting()

    def requeue(self, group: str, events: Sequence[EventRecord]) -> bool:
        return self._streams.requeue(group, events)

    def mark_initialisation(self, cause: int, *, after_parameter_change: bool) -> None:
        self._streams.mark_initialisation(cause, after_parameter_change=after_parameter_change)

    @property
    def next_seq(self) -> int:
        """The sequence number the next event gets."""
        return self._streams.next_seq

    def continue_sequence(self, next_seq: int) -> None:
        """Number events from ``next_seq`` on (unless already beyond it)."""
        self._streams.continue_sequence(next_seq)

    @property
    def journal(self) -> EventJournal | None:
        return self._streams.journal

    def attach_journal(self, journal: EventJournal | None) -> None:
        """Record every event from now on in ``journal`` (None: stop recording)."""
        self._streams.journal = journal

    def held_from(self) -> dict[str, int]:
        """For each group, the sequence number of the oldest event it still holds (see
        :meth:`~rtu.iec.outstation.events.EventStreams.held_from`)."""
        return self._streams.held_from()

    def queued_events(self) -> int:
        return self._streams.queued_events()

    def group_status(self) -> list[dict[str, Any]]:
        """Each event group as `rtu status` shows it: its backlog and its sessions' queues."""
        return [{
            "name": group.name,
            "backlog": len(group.backlog),
            "overflowed": group.backlog.overflowed,
            "lost": group.lost,
            # per logical station (common address -> events; a journal loss counts 0)
            "lost_by_station": {str(ca): n for ca, n in sorted(group.lost_by_station.items())},
            "sessions": [{"name": s.name, "active": s.active, "queued": len(s.events),
                          "overflowed": s.events.overflowed} for s in group.sessions],
        } for group in self._streams.groups.values()]

    def _on_single_changed(self, point: Point, new: PointValue, origin: ChangeOrigin) -> None:
        """:meth:`_on_point_changed` of a single point, the commonest event (the database
        calls it for those alone, see ``subscribe_values``): its value is a bool, so its
        octets are made without the general path's checks. A time stamp outside the cached
        tag's millisecond (its first event), or of the device's clock, takes the general
        path."""
        tags = self._tags
        if new.device_time or not tags.low < new.timestamp < tags.high:
            self._on_point_changed(point, new, origin)
            return
        ioa = point.ioa
        try:
            wire = ioa.to_bytes(WIRE_IOA_SIZE, "little") + (
                POINT_ELEMENTS.get(new.quality) or point_elements(new.quality)
            )[new.value] + tags.octets  # type: ignore[index]
        except OverflowError:  # an IOA beyond three octets: the general path makes the object
            self._on_point_changed(point, new, origin)
            return
        record = self._publish(_SINGLE_EVENT,
                               _SPONTANEOUS if origin is _FIELD else ORIGIN_COT[origin], None,
                               ioa in self._lost_ioas, wire, tags.tag)
        soe = self.soe
        if soe is not None:
            soe.event(record)

    def _on_point_changed(self, point: Point, new: PointValue, origin: ChangeOrigin) -> None:
        type_id, make, top = self._recipes[point.kind._value_]
        timestamp = new.timestamp
        tags = self._tags
        if new.device_time:
            tag = self.time_tag(timestamp, device_time=True)
        elif tags.low < timestamp < tags.high:  # _our_time_tag's shortcut, without the call
            tag = tags.tag
        else:
            tag = self._our_time_tag(timestamp)
        wire, value = b"", new.value
        if top and 0 <= value <= top:  # the object's octets, not the object (EventRecord)
            elements = POINT_ELEMENTS.get(new.quality) or point_elements(new.quality)
            try:
                wire = point.ioa.to_bytes(WIRE_IOA_SIZE, "little") + elements[value] + (  # type: ignore[index]
                    tags.octets if tag is tags.tag else tags.octets_of(tag))
            except (TypeError, OverflowError):  # not the int the database stores: the object
                wire = b""
        record = self._publish(type_id, _SPONTANEOUS if origin is _FIELD else ORIGIN_COT[origin],
                               None if wire else make(point, new, tag),
                               point.ioa in self._lost_ioas, wire, tag)
        soe = self.soe
        if soe is not None:
            soe.event(record)

    # -- events lost (rtu/iec/outstation/lost.py) ---------------------------------------------
    @property
    def events_lost(self) -> bool:
        """Whether the "events lost" state is on (a group lost events and has not been
        interrogated since)."""
        return self._lost.active

    def events_lost_status(self) -> dict[str, object]:
        """For ``rtu status``: see :meth:`EventsLost.status`."""
        return self._lost.status()

    def report_loss(self, what: str) -> None:
        """Events were lost outside the groups' queues (``what``, e.g. the event journal
        deleted unacknowledged events): every group is told, as for a queue overflow."""
        self._lost.lost_elsewhere(what)

    def interrogation_done(self, session: Session, interrogation: Interrogation) -> None:
        """A station interrogation ended: it may answer a loss of that station's events."""
        self._lost.interrogation_done(session, interrogation)

    # -- dispatch ----------------------------------------------------------------------------
    def handle(self, session: Session, asdu: Asdu) -> None:
        """Act on one control-direction ASDU received from ``session``."""
        ca_size = session.profile.ca_size
        broadcast = asdu.common_address == _BROADCAST[ca_size]
        served = session.group.stations or self._station_of_ca
        if asdu.common_address not in served and not (
            broadcast and asdu.type_id in _BROADCAST_TYPES
        ):
            self.command_reason = f"no logical station at common address {asdu.common_address}"
            session.respond(asdu.reply(Cot.UNKNOWN_COMMON_ADDRESS, negative=True))
            return
        handler = HANDLERS.get(asdu.type_id)
        if handler is None:
            session.respond(asdu.reply(Cot.UNKNOWN_TYPE_ID, negative=True))
            return
        if not broadcast:
            handler(self, session, asdu)
            return
        # each logical station answers from its own address (a reset of process: once);
        # interrogations of several stations follow each other
        stations = [ca for ca in self._stations if ca in served]
        if asdu.type_id is TypeId.C_RP_NA_1:
            stations = stations[:1]
        for ca in stations:
            handler(self, session, Asdu(asdu.type_id, asdu.cot, ca, asdu.objects, asdu.sequence,
                                        asdu.negative, asdu.test, asdu.originator))

    def _interrogation(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, InterrogationCommand)
        if asdu.cot == Cot.DEACTIVATION:
            running = session.interrogation is not None
            session.interrogation = None
            session.respond(asdu.reply(Cot.DEACTIVATION_CON, negative=not running))
            return
        if refuse_station_activation(session, asdu):
            return
        current = session.interrogation
        if not QOI_STATION <= obj.qoi <= QOI_GROUP_LAST or (
                current is not None and not _queues_behind(current, asdu)):
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        group = None if obj.qoi == QOI_STATION else obj.qoi - QOI_GROUP_FIRST + 1
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        monitored = self._monitored_of(asdu.common_address)
        gi = Interrogation(asdu, interrogation_cot(obj.qoi),
                           interrogation_pending(monitored, group),
                           session.group.station_losses(asdu.common_address))
        if self._config.parameters_in_gi:  # their values now, sent after the monitored data
            gi.parameters.extend(self.parameters.interrogation_objects(
                [p for p in monitored if p.kind.is_analog and (group is None or group in p.groups)]))
        if current is None:
            session.interrogation = gi
        else:  # another station's: it follows the one running
            current.following.append(gi)

    def _counter_interrogation(self, session: Session, asdu: Asdu) -> None:
        self._counters.handle(session, asdu)

    def _read(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ReadCommand)
        if asdu.cot != Cot.REQUEST:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        point = self.db.by_ioa(obj.ioa)
        # a protection event has no state to read: its IOA answers as an unknown one
        if point is None or point.kind.is_command or point.kind.is_protection \
                or self.ca_of(obj.ioa) != asdu.common_address:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        type_id = MONITOR_TYPES[point.kind][0]
        answer = monitor_object(point, self.db.value(point.name), None)
        session.respond(Asdu(type_id, Cot.REQUEST, asdu.common_address, (answer,),
                             test=asdu.test, originator=asdu.originator))

    def _clock_sync(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ClockSyncCommand)
        if refuse_station_activation(session, asdu):
            return
        try:
            master_time = obj.time.to_timestamp(self.zone())
        except ValueError:
            master_time = None
        if session.line_clock is not None and master_time is not None:
            master_time += session.line_clock.take_delay(obj)  # 101: the delay loaded by C_CD
        if master_time is None or obj.time.invalid:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        old = self.now()
        if self._config.clock_sync is ClockSyncMode.SYSTEM:
            refusal = self._step_refusal(asdu.originator, master_time)
            if refusal is not None:
                log.warning("clock synchronisation from %s refused: %s", session.name, refusal)
                session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
                return
            self.clock_offset = 0.0
            log.info("system clock set by %s (originator %d): moved by %+.3f s", session.name,
                     asdu.originator, master_time - old)
        else:
            self.clock_offset = master_time - self.clock.wall()
            log.info("clock synchronised by %s: station time moved by %+.3f s", session.name,
                     master_time - old)
        self.clock_synchronised = True
        self._synced_at = self.clock.monotonic()
        if self.on_clock_sync is not None:
            self.on_clock_sync(self.clock_offset, self.clock.wall())
        now_tag = Cp56Time2a.from_timestamp(self.now(), zone=self.zone())
        session.respond(asdu.reply(Cot.ACTIVATION_CON, objects=(ClockSyncCommand(0, now_tag),)))

    def _step_refusal(self, originator: int, master_time: float) -> str | None:
        """Step the system clock (clock_sync = "system"); why not, or None when done."""
        if originator not in self._config.command_originators:
            return f"originator address {originator} is not in command_originators"
        if self.step_clock is None:
            return "this outstation cannot set the system clock"
        return self.step_clock(master_time)

    def _delay_acquisition(self, session: Session, asdu: Asdu) -> None:
        """C_CD_NA_1: a 101 line's (rtu/iec/outstation/lineclock.py); 104 has none (COT 44)."""
        if session.line_clock is None:
            session.respond(asdu.reply(Cot.UNKNOWN_TYPE_ID, negative=True))
            return
        answer = session.line_clock.acquisition(asdu)
        if answer is not None:
            session.respond(answer)

    def _test_command(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        if refuse_station_activation(session, asdu):
            return
        bad_pattern = isinstance(obj, TestCommand) and obj.fbp != FBP_TEST_PATTERN
        session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=bad_pattern))

    def _reset_process(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ResetProcessCommand)
        if refuse_station_activation(session, asdu):
            return
        allowed = self.config.command_originators
        if allowed and asdu.originator not in allowed:
            # a reset acts on the station as a command does: the same originators only
            log.warning("reset process (QRP %d) from %s refused: originator address %d is not "
                        "in command_originators", obj.qrp, session.name, asdu.originator)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        if obj.qrp == _QRP_RESET_EVENT_BUFFER:
            removed = session.events.remove_if(lambda r: not r.keep)
            log.warning("reset process from %s: %d queued time-tagged events discarded",
                        session.name, removed)
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
        elif obj.qrp == _QRP_GENERAL_RESET and self.on_reset_process is not None:
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
            self.on_reset_process(obj.qrp)
        else:
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))

    def session_stopped(self, session: Session) -> None:
        """``session`` stopped data transfer or closed: its selections are released."""
        self._commands.release(session)
        if self.files is not None:
            self.files.release(session)

    def _command(self, session: Session, asdu: Asdu) -> None:
        self._commands.handle(session, asdu)

    def _parameter(self, session: Session, asdu: Asdu) -> None:
        self.parameters.handle(session, asdu)

    def attach_files(self, service: FileService) -> None:
        """Serve file transfer (types 120-127) from ``service``, with station time tags."""
        zone = self.zone

        def to_time(tag: Cp56Time2a) -> float | None:
            try:
                return tag.to_timestamp(zone())
            except ValueError:
                return None

        service.time_tag = self.time_tag
        service.to_time = to_time
        self.files = service

    def _file(self, session: Session, asdu: Asdu) -> None:
        if self.files is None:  # no [files]: the types are not offered
            session.respond(asdu.reply(Cot.UNKNOWN_TYPE_ID, negative=True))
            return
        for answer in self.files.handle(session, session.name, asdu, self.clock.monotonic(),
                                        session.profile):
            session.respond(answer)


def _queues_behind(running: Interrogation, asdu: Asdu) -> bool:
    """An interrogation of another logical station (a broadcast's next station, or a master
    asking two stations at once) waits behind the one ``running``; the same station's again
    is refused."""
    busy = {running.request.common_address, *(g.request.common_address for g in running.following)}
    return asdu.common_address not in busy


_Handler = Callable[[Outstation, Session, Asdu], None]
# the control-direction types the outstation answers, and their handlers
HANDLERS: dict[TypeId, _Handler] = {
    TypeId.C_IC_NA_1: Outstation._interrogation,
    TypeId.C_CI_NA_1: Outstation._counter_interrogation,
    TypeId.C_RD_NA_1: Outstation._read,
    TypeId.C_CS_NA_1: Outstation._clock_sync,
    TypeId.C_TS_NA_1: Outstation._test_command,
    TypeId.C_TS_TA_1: Outstation._test_command,
    TypeId.C_RP_NA_1: Outstation._reset_process,
    TypeId.C_CD_NA_1: Outstation._delay_acquisition,
    **{t: Outstation._command for t in COMMAND_KINDS},
    **{t: Outstation._parameter for t in (TypeId.P_ME_NA_1, TypeId.P_ME_NB_1, TypeId.P_ME_NC_1,
                                          TypeId.P_AC_NA_1)},
    **{t: Outstation._file for t in TypeId if TypeId.F_FR_NA_1 <= t <= TypeId.F_SC_NB_1},
}
