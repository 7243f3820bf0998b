"""IEC 61850 devices over MMS (open61850): values and reports in, commands out.

One :class:`Iec61850DeviceSource` per ``[[iec61850.devices]]`` entry. Per association:

1. connect (TCP, COTP, MMS initiate) within ``timeout``;
2. learn where each configured point lives: the data set members of every configured report
   control block (GetNamedVariableListAttributes) and the MMS types of those members and of the
   data objects the other points belong to (GetVariableAccessAttributes). A point's quality and
   time stamp are the ``q`` and ``t`` of the nearest enclosing structure that has both (for
   ``MMXU1.TotW.mag.f`` that is ``MMXU1.TotW``);
3. read every point once (the start-up state, with the device's own ``q`` and ``t``);
4. enable each report control block (reserve, IntgPd, TrgOps data/quality change, integrity
   and GI, OptFlds, RptEna) and ask it for a general interrogation. A buffered block is given
   the EntryID of the last report received, so the device replays what it buffered while the
   association was down;
5. from then on each report updates its points with the device's time stamp and quality;
   points that no report carries are read again every ``poll_interval`` (if set).

A failed or lost association sets every point of the device IV|NT (value kept) and is retried
after ``reconnect_delay``, doubling up to ``reconnect_delay_max``; the first successful pass
through 1-4 makes them valid again. Communication failures never leave :meth:`run`; only a bug
does (the supervisor then restarts the source).

Quality: IEC 61850-7-3 quality onto the IEC 60870-5-101 QDS bits (:func:`map_quality`)

=================================  ====================================================
IEC 61850                          IEC 60870-5
=================================  ====================================================
validity invalid                   IV
validity questionable              NT (the value is not known to be current and right)
detailQual overflow                OV
detailQual oldData                 NT
source substituted                 SB
operatorBlocked                    BL
test                               IV (60870-5 has a test flag per ASDU, not per value;
                                   a value from a device under test must not be used)
other detailQual bits              none of their own (the device sets validity with them)
=================================  ====================================================

Commands (a :class:`rtu.points.commands.ConfirmingExecutor` for the command points mapped to
control objects): the device's ctlModel, read once per association, decides the services. A
master's select (S/E = 1) becomes a read of ``SBO`` (sbo-with-normal-security) or a write of
``SBOw`` (sbo-with-enhanced-security), and its ACT_CON is the device's answer; for a direct
control model there is nothing to select on the device and the select is confirmed at once. An
execute writes ``Oper`` (after selecting on the device first if the master did not select and
the device wants it): the write's answer is the ACT_CON; the ACT_TERM follows at once for normal
security, or when the device's CommandTermination arrives for enhanced security (negative with
a LastApplError, or after ``command_timeout`` without one). A master's deactivation writes
``Cancel``. Commands go to the device with originator category remote-control (3).

ctlVal: the type of each object's ``Oper.ctlVal`` is read once per association. Single and
double commands need a BOOLEAN (SPC, DPC); set-points (C_SE_NA/NB/NC, with or without time
tag) need an AnalogueValue (APC) and write its ``f`` and/or ``i`` as (value - offset) / scale.
A command the object cannot take, or a value that does not fit, is refused (negative ACT_CON)
with a log line naming the device and the object reference, as is a device's refusal.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Final

from open61850.data import (
    IECData,
    VisibleStringData,
)
from open61850.mms import (
    DataAccessError,
    InformationReport,
    LastApplError,
    MmsClient,
    MmsError,
    ObjectName,
    Origin,
    decode_report,
    is_report,
)
from open61850.mms.control import (
    CTL_MODEL_DIRECT_ENHANCED,
    CTL_MODEL_SBO_ENHANCED,
    CTL_MODEL_SBO_NORMAL,
    CTL_MODEL_STATUS_ONLY,
    CTL_MODELS,
    LAST_APPL_ERROR,
    OR_CAT_REMOTE_CONTROL,
    cancel_value,
    next_ctl_num,
    oper_value,
    read_ctl_model,
)
from open61850.mms.rcb import RcbError, RcbSettings, enable, read_status
from open61850.mms.report import TrgOps
from open61850.mms.types import ArrayType, MmsType

from rtu.frozen import frozen
from rtu.points.commands import CommandExecutor, CommandRequest, Done, ForwardingExecutor
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind, Quality
from rtu.points.timestamps import posix_seconds
from rtu.sources.iec61850.config import (
    IEC61850,
    Iec61850Config,
    Iec61850DeviceConfig,
    Iec61850Read,
    Iec61850Report,
)
from rtu.sources.iec61850.mapping import (
    Location,
    MappingError,
    control_object,
    convert,
    ctl_val_type,
    ctl_value,
    locate,
    map_quality,
    member_path,
    object_name,
    pick,
    posix_time,
    rcb_name,
)

log = logging.getLogger(__name__)

INVALID: Final = Quality.IV | Quality.NT
_QUALITY_NAMES: Final = ("q",)
_TIME_NAMES: Final = ("t",)
_STATE_POLL: Final = 0.5  # seconds between checks that the association is still up

ClientFactory = Callable[..., MmsClient]


@frozen
class Binding:
    read: Iec61850Read
    kind: PointKind
    location: Location


@dataclass(slots=True, eq=False)
class Container:
    """A variable read or reported as a whole: a data set member or a data object."""

    name: ObjectName
    bindings: list[Binding] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class ReportPlan:
    config: Iec61850Report
    rcb: ObjectName
    members: list[Container] = field(default_factory=list)  # in data set order
    keys: set[str] = field(default_factory=set)  # RptID and data set names its reports carry
    entry_id: bytes | None = None  # of the last report (buffered blocks)


# -- commands -------------------------------------------------------------------------------------
class _CommandWatch:
    """LastApplError and CommandTermination of one control object, from the receive thread."""

    def __init__(self, obj: ObjectName) -> None:
        self.obj = obj
        self.oper = ObjectName(f"{obj.item}$Oper", obj.domain)
        self.cond = threading.Condition()
        self.error: LastApplError | None = None
        self.terminations: list[LastApplError | None] = []  # None: positive

    def __call__(self, report: InformationReport) -> None:
        if report.list_name is not None:
            return
        error: LastApplError | None = None
        for name, result in zip(report.variables, report.results, strict=False):
            if name == LAST_APPL_ERROR and not isinstance(result, DataAccessError):
                try:
                    error = LastApplError.from_data(result)
                except ValueError:
                    continue
        prefix = str(self.obj)
        if error is not None and not (error.control_object == prefix
                                      or error.control_object.startswith(prefix + "$")):
            return
        with self.cond:
            if self.oper in report.variables:
                self.terminations.append(error)
            elif error is not None:
                self.error = error
            else:
                return
            self.cond.notify_all()

    def last_error(self, grace: float) -> LastApplError | None:
        with self.cond:
            self.cond.wait_for(lambda: self.error is not None, timeout=grace)
            return self.error

    def termination(self, timeout: float) -> tuple[bool, str]:
        with self.cond:
            if not self.cond.wait_for(lambda: bool(self.terminations), timeout=timeout):
                return False, f"no CommandTermination within {timeout:g} s"
            first = self.terminations[0]
        if first is None:
            return True, "CommandTermination+"
        return False, f"CommandTermination- ({first})"


@dataclass(slots=True, eq=False)
class _Selected:
    ctl_val: IECData
    ctl_num: int


_ERROR_GRACE: Final = 0.5  # seconds a LastApplError may trail a refused write


# -- the runtime ----------------------------------------------------------------------------------
class Iec61850DeviceSource:
    """Reads one IEC 61850 device into the database and forwards commands to it."""

    def __init__(self, config: Iec61850DeviceConfig, db: PointDatabase, *,
                 connect: ClientFactory = MmsClient.connect,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = f"{IEC61850}:{config.name}"
        self.config = config
        self.db = db
        self._connect = connect
        self.wall = wall
        self.monotonic = monotonic
        self.kinds = {r.point: db.point(r.point).kind for r in config.points}
        self.controls = {c.point: control_object(c.object) for c in config.controls}
        self.control_configs = {c.point: c for c in config.controls}
        self.plans = [ReportPlan(r, rcb_name(r)) for r in config.reports]
        self.polled: list[Container] = []  # data objects of points no report carries
        self.client: MmsClient | None = None
        self.up: bool | None = None  # None: not tried yet
        self.state = "connecting"  # for `rtu status`
        self.reports_received = 0
        self.report_reasons: dict[str, int] = {}  # reason for inclusion -> members reported
        self._delay = config.reconnect_delay
        self._ctl_models: dict[ObjectName, int] = {}
        self._ctl_types: dict[ObjectName, MmsType | None] = {}  # of each object's ctlVal
        self._selected: dict[str, _Selected] = {}  # command point -> its selection on the device
        self._commands = asyncio.Lock()
        self._reports: asyncio.Queue[InformationReport] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Source ------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._session()
                except (MmsError, OSError, ValueError, TimeoutError) as exc:
                    self._down(exc)
                finally:
                    self._close()
                await asyncio.sleep(self._delay)
                self._delay = min(self._delay * 2, self.config.reconnect_delay_max)
        except Exception:
            self._invalidate()  # a bug: the supervisor restarts us
            raise
        finally:
            self._close()

    def status(self) -> str:
        return self.state

    # -- one association ---------------------------------------------------------------------------
    async def _session(self) -> None:
        c = self.config
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[InformationReport] = asyncio.Queue()
        self._reports = queue

        def on_report(message: InformationReport) -> None:  # the receive thread
            if is_report(message):
                loop.call_soon_threadsafe(queue.put_nowait, message)

        client = await asyncio.to_thread(self._connect, c.host, c.port, timeout=c.timeout,
                                         on_information_report=on_report)
        self.client = client
        self._ctl_models.clear()
        self._ctl_types.clear()
        self._selected.clear()
        await asyncio.to_thread(self._learn, client)
        await self._read(self._all_containers(), initial=True)
        for plan in self.plans:
            await asyncio.to_thread(self._enable, client, plan)
        self._up()
        next_poll = self.monotonic() + c.poll_interval if c.poll_interval else math.inf
        while True:
            wait = min(_STATE_POLL, max(0.0, next_poll - self.monotonic()))
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that
                # lands as a report arrives (CPython gh-86296) and the stop would hang
                async with asyncio.timeout(wait):
                    message = await queue.get()
            except TimeoutError:
                pass
            else:
                self._on_report(message)
                while not queue.empty():
                    self._on_report(queue.get_nowait())
            if not client.is_connected:
                reason = client.wait_closed(0)
                raise MmsError(f"association lost: {reason or 'closed'}")
            if self.monotonic() >= next_poll:
                next_poll = self.monotonic() + c.poll_interval
                if self.polled:
                    await self._read(self.polled, initial=False)

    def _all_containers(self) -> list[Container]:
        return [m for plan in self.plans for m in plan.members if m.bindings] + self.polled

    def _learn(self, client: MmsClient) -> None:
        """Data set members and types: where every point is (blocking, in a thread)."""
        reads = {r.point: object_name(r.reference, r.fc) for r in self.config.points}
        placed: set[str] = set()
        types: dict[ObjectName, MmsType] = {}

        def type_of(name: ObjectName) -> MmsType:
            if name not in types:
                types[name] = client.get_type(name)
            return types[name]

        for plan in self.plans:
            status = read_status(client, plan.rcb)
            if not status.dat_set:
                raise ValueError(f"{plan.config.rcb}: the block names no data set")
            plan.keys = {k for k in (status.rpt_id, status.dat_set, str(plan.rcb)) if k}
            plan.members = [Container(m) for m in client.get_data_set_members(status.dat_set)]
            for member in plan.members:
                for read in self.config.points:
                    path = member_path(member.name, reads[read.point])
                    if path is None:
                        continue
                    member.bindings.append(self._bind(read, type_of(member.name), path))
                    placed.add(read.point)
        self.polled = []
        by_object: dict[ObjectName, Container] = {}
        for read in self.config.points:
            if read.point in placed:
                continue
            target = reads[read.point]
            parts = target.item.split("$")  # LN, FC, DO, DA...
            holder = ObjectName("$".join(parts[:3]), target.domain)
            container = by_object.get(holder)
            if container is None:
                container = by_object[holder] = Container(holder)
                self.polled.append(container)
            container.bindings.append(self._bind(read, type_of(holder), tuple(parts[3:])))

    def _bind(self, read: Iec61850Read, mms_type: MmsType, path: tuple[str, ...]) -> Binding:
        try:
            location = locate(mms_type, path)
        except ValueError as exc:
            raise ValueError(f"{read.point}: {read.reference} [{read.fc}]: {exc}") from None
        if isinstance(mms_type, ArrayType):
            raise MappingError(f"{read.point}: {read.reference} is inside an array")
        return Binding(read, self.kinds[read.point], location)

    def _enable(self, client: MmsClient, plan: ReportPlan) -> None:
        c = self.config
        settings = RcbSettings(
            trg_ops=TrgOps(data_change=True, quality_change=True,
                           integrity=c.integrity_period > 0, general_interrogation=True),
            intg_pd_ms=round(c.integrity_period * 1000) if c.integrity_period else None,
            entry_id=plan.entry_id if plan.config.buffered else None,
        )
        try:
            enable(client, plan.rcb, settings)
        except RcbError as exc:
            if settings.entry_id is None or exc.attribute != "EntryID":
                raise
            log.warning("%s: %s refused the last EntryID (%s); enabling without it, buffered "
                        "reports of the outage are lost", self.name, plan.config.rcb, exc)
            plan.entry_id = None
            settings.entry_id = None
            enable(client, plan.rcb, settings)

    async def _read(self, containers: Sequence[Container], *, initial: bool) -> None:
        client = self.client
        if not containers or client is None:
            return
        results = await asyncio.to_thread(client.read_many, [c.name for c in containers])
        now = self.wall()
        for container, result in zip(containers, results, strict=True):
            if isinstance(result, DataAccessError):
                log.warning("%s: reading %s failed: %s; its points are invalid", self.name,
                            container.name, result)
                for binding in container.bindings:
                    self._set_invalid(binding.read.point, now)
                continue
            for binding in container.bindings:
                self._store(binding, result, None, now)

    def _on_report(self, message: InformationReport) -> None:
        try:
            report = decode_report(message)
        except MmsError as exc:
            log.warning("%s: undecodable report ignored: %s", self.name, exc)
            return
        plan = next((p for p in self.plans
                     if report.rpt_id in p.keys or (report.data_set or "") in p.keys), None)
        if plan is None:
            log.debug("%s: report %r of no configured block ignored", self.name, report.rpt_id)
            return
        self.reports_received += 1
        if report.entry_id is not None:
            plan.entry_id = report.entry_id
        now = self.wall()
        entry_time = posix_seconds(report.time_of_entry) if report.time_of_entry else None
        for entry in report.entries:
            if entry.index >= len(plan.members):
                log.warning("%s: report %r member #%d is not in the data set (%d members)",
                            self.name, report.rpt_id, entry.index, len(plan.members))
                continue
            if entry.reason is not None:
                for reason, present in vars(entry.reason).items():
                    if present:
                        self.report_reasons[reason] = self.report_reasons.get(reason, 0) + 1
            for binding in plan.members[entry.index].bindings:
                if isinstance(entry.value, DataAccessError):
                    self._set_invalid(binding.read.point, now)
                else:
                    self._store(binding, entry.value, entry_time, now)

    def _store(self, binding: Binding, value: IECData, entry_time: float | None,
               now: float) -> None:
        read = binding.read
        location = binding.location
        try:
            raw = pick(value, location.value)
            converted = convert(binding.kind, raw, read.scale, read.offset)
            quality = map_quality(pick(value, location.quality)) if location.quality else \
                Quality.GOOD
            stamp = posix_time(pick(value, location.time)) if location.time else None
        except ValueError as exc:
            log.warning("%s: %s (%s [%s]): %s; invalid", self.name, read.point, read.reference,
                        read.fc, exc)
            self._set_invalid(read.point, now)
            return
        # the device's own time stamps (t, the report's time of entry) are not ours to shift
        timestamp = stamp if stamp is not None else entry_time if entry_time is not None else now
        self.db.update(read.point, converted, quality, timestamp=timestamp,
                       device_time=stamp is not None or entry_time is not None)

    # -- up and down -------------------------------------------------------------------------------
    def _up(self) -> None:
        c = self.config
        if self.up is False:
            log.info("iec61850 device %s (%s:%d) reachable again", c.name, c.host, c.port)
        else:
            log.info("iec61850 device %s (%s:%d): %d points, %d report control blocks", c.name,
                     c.host, c.port, len(c.points), len(self.plans))
        self.up = True
        self.state = "connected"
        self._delay = c.reconnect_delay

    def _down(self, exc: BaseException) -> None:
        c = self.config
        if self.up is not False:
            log.warning("iec61850 device %s (%s:%d): %s; its %d points are invalid, trying "
                        "again in %.1f s", c.name, c.host, c.port, exc, len(c.points),
                        self._delay)
        else:
            log.debug("iec61850 device %s: %s; next try in %.1f s", c.name, exc, self._delay)
        self.up = False
        self.state = f"unreachable: {exc}"
        self._invalidate()

    def _invalidate(self) -> None:
        now = self.wall()
        for read in self.config.points:
            self._set_invalid(read.point, now)

    def _set_invalid(self, name: str, now: float) -> None:
        current = self.db.value(name)
        if current.quality & INVALID != INVALID:
            self.db.set_quality(name, current.quality | INVALID, timestamp=now)

    def _close(self) -> None:
        client, self.client = self.client, None
        self._reports = None
        if client is not None:
            client.close()

    # -- commands (ConfirmingExecutor, through Iec61850Commands) ----------------------------------
    def select(self, request: CommandRequest, done: Done) -> None:
        self._spawn(self._select(request, done))

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        self._spawn(self._operate(request, confirmed, done))

    def cancel(self, request: CommandRequest) -> None:
        self._spawn(self._cancel(request))

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _ctl_val(self, client: MmsClient, request: CommandRequest) -> IECData:
        """The ctlVal of ``request`` for its object, whose ctlVal type is read once per
        association (blocking); MappingError (a ValueError) when the object is not of the
        class the command needs (a set-point needs an APC) or the value does not fit."""
        obj = self.controls[request.point.name]
        if obj not in self._ctl_types:
            oper = ObjectName(f"{obj.item}$Oper", obj.domain)
            self._ctl_types[obj] = ctl_val_type(client.get_type(oper))
        control = self.control_configs[request.point.name]
        return ctl_value(request.point.kind, request.value, self._ctl_types[obj],
                         control.scale, control.offset)

    def _reference(self, request: CommandRequest) -> str:
        """The configured object reference of ``request``'s point, for the log."""
        control = self.control_configs.get(request.point.name)
        return control.object if control is not None else "(not mapped)"

    def _origin(self, request: CommandRequest) -> Origin:
        return Origin(OR_CAT_REMOTE_CONTROL, f"rtu {request.link}".encode()[:64])

    def _model(self, client: MmsClient, obj: ObjectName) -> int:
        model = self._ctl_models.get(obj)
        if model is None:
            model = self._ctl_models[obj] = read_ctl_model(client, obj)
        if model not in CTL_MODELS or model == CTL_MODEL_STATUS_ONLY:
            raise ValueError(f"{obj} cannot be operated (ctlModel {model})")
        return model

    def _device_select(self, client: MmsClient, request: CommandRequest) -> str:
        """Select ``request``'s object on the device if its model wants it; '' or why not."""
        obj = self.controls[request.point.name]
        ctl_val = self._ctl_val(client, request)
        model = self._model(client, obj)
        stale = self._selected.pop(request.point.name, None)
        if stale is not None:  # an earlier selection never operated (timed out at the master)
            self._write_cancel(client, obj, stale, request)
        ctl_num = next_ctl_num()
        if model == CTL_MODEL_SBO_NORMAL:
            try:
                selected = client.read(ObjectName(f"{obj.item}$SBO", obj.domain))
            except DataAccessError as exc:
                return f"SBO read refused ({exc})"
            if not (isinstance(selected, VisibleStringData) and selected.value):
                return "the device did not select the object"
        elif model == CTL_MODEL_SBO_ENHANCED:
            watch = _CommandWatch(obj)
            client.add_report_listener(watch)
            try:
                client.write(ObjectName(f"{obj.item}$SBOw", obj.domain),
                             oper_value(ctl_val, origin=self._origin(request), ctl_num=ctl_num))
            except DataAccessError as exc:
                return f"SBOw refused ({exc}; {watch.last_error(_ERROR_GRACE) or 'no reason'})"
            finally:
                client.remove_report_listener(watch)
        else:
            return ""  # direct control: nothing to select on the device
        self._selected[request.point.name] = _Selected(ctl_val, ctl_num)
        return ""

    def _write_oper(self, client: MmsClient, request: CommandRequest,
                    watch: _CommandWatch) -> tuple[str, int]:
        """Select (if needed and not done) and write Oper: ('', ctlModel) or (why not, model)."""
        obj = self.controls[request.point.name]
        ctl_val = self._ctl_val(client, request)
        model = self._model(client, obj)
        selection = self._selected.pop(request.point.name, None)
        if model in (CTL_MODEL_SBO_NORMAL, CTL_MODEL_SBO_ENHANCED) and (
                selection is None or selection.ctl_val != ctl_val):
            why = self._device_select(client, request)
            if why:
                return why, model
            selection = self._selected.pop(request.point.name, None)
        ctl_num = selection.ctl_num if selection is not None else next_ctl_num()
        try:
            client.write(ObjectName(f"{obj.item}$Oper", obj.domain),
                         oper_value(ctl_val, origin=self._origin(request), ctl_num=ctl_num))
        except DataAccessError as exc:
            return f"Oper refused ({exc}; {watch.last_error(_ERROR_GRACE) or 'no reason'})", model
        return "", model

    async def _select(self, request: CommandRequest, done: Done) -> None:
        why = await self._command(request, "select", self._device_select, request)
        done(not why)

    async def _operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        obj = self.controls.get(request.point.name)
        client = self.client
        if obj is None or client is None:
            log.warning("command %s refused: device %s is %s", request.point.name,
                        self.config.name, "not connected" if obj else "not mapped")
            confirmed(False)
            return
        watch = _CommandWatch(obj)
        client.add_report_listener(watch)
        try:
            async with self._commands:
                try:
                    why, model = await asyncio.to_thread(self._write_oper, client, request, watch)
                except (MmsError, OSError, ValueError) as exc:
                    why, model = str(exc), CTL_MODEL_STATUS_ONLY
                if why:
                    log.warning("command %s on %s (device %s): %s", request.point.name,
                                self._reference(request), self.config.name, why)
                    confirmed(False)
                    return
                confirmed(True)
                if model not in (CTL_MODEL_DIRECT_ENHANCED, CTL_MODEL_SBO_ENHANCED):
                    done(True)
                    return
                ok, what = await asyncio.to_thread(watch.termination,
                                                   self.config.command_timeout)
            if not ok:
                log.warning("command %s on %s (device %s): %s", request.point.name,
                            self._reference(request), self.config.name, what)
            done(ok)
        finally:
            client.remove_report_listener(watch)

    def _write_cancel(self, client: MmsClient, obj: ObjectName, selection: _Selected,
                      request: CommandRequest) -> None:
        value = cancel_value(selection.ctl_val, origin=self._origin(request),
                             ctl_num=selection.ctl_num)
        try:
            client.write(ObjectName(f"{obj.item}$Cancel", obj.domain), value)
        except (MmsError, OSError) as exc:
            log.warning("cancel of %s on %s (device %s) failed: %s", request.point.name,
                        self._reference(request), self.config.name, exc)

    async def _cancel(self, request: CommandRequest) -> None:
        selection = self._selected.pop(request.point.name, None)
        obj = self.controls.get(request.point.name)
        client = self.client
        if selection is None or obj is None or client is None:
            return
        async with self._commands:
            await asyncio.to_thread(self._write_cancel, client, obj, selection, request)

    async def _command(self, request: CommandRequest, what: str,
                       step: Callable[[MmsClient, CommandRequest], str],
                       arg: CommandRequest) -> str:
        obj = self.controls.get(request.point.name)
        client = self.client
        if obj is None or client is None:
            why = "the device is not connected" if obj else "the point is not mapped"
        else:
            try:
                async with self._commands:
                    why = await asyncio.to_thread(step, client, arg)
            except (MmsError, OSError, ValueError) as exc:
                why = str(exc)
        if why:
            log.warning("%s of %s on %s (device %s) refused: %s", what, request.point.name,
                        self._reference(request), self.config.name, why)
        return why


class Iec61850Commands(ForwardingExecutor):
    """Routes the commands of the points mapped to IEC 61850 control objects to their device
    and every other command on down the path (``fallback``: the relay executor, or a wrapper
    of it whose confirming and guarding calls pass through)."""

    def __init__(self, sources: Sequence[Iec61850DeviceSource],
                 fallback: CommandExecutor) -> None:
        super().__init__(fallback)
        self.fallback = fallback
        self.by_point = {point: s for s in sources for point in s.controls}

    def confirms(self, point: Point) -> bool:
        return point.name in self.by_point or super().confirms(point)

    def execute(self, request: CommandRequest, done: Done) -> None:
        source = self.by_point.get(request.point.name)
        if source is None:
            self.fallback.execute(request, done)
            return
        # not reached through the outstation (it operates confirmed points); still one answer
        source.operate(request, lambda ok: None if ok else done(False), done)

    def select(self, request: CommandRequest, done: Done) -> None:
        source = self.by_point.get(request.point.name)
        if source is None:
            super().select(request, done)
            return
        source.select(request, done)

    def cancel(self, request: CommandRequest) -> None:
        source = self.by_point.get(request.point.name)
        if source is None:
            super().cancel(request)
            return
        source.cancel(request)

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        source = self.by_point.get(request.point.name)
        if source is None:
            super().operate(request, confirmed, done)
            return
        source.operate(request, confirmed, done)


def iec61850_sources(config: Iec61850Config, db: PointDatabase) -> list[Iec61850DeviceSource]:
    """One source per configured device."""
    return [Iec61850DeviceSource(device, db) for device in config.devices]
