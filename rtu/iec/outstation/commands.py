"""Command handling: select-before-operate, execution and termination.

An IEC command (single, double, regulating step, set-point, bitstring) is checked here (common
address and originator are checked by the outstation's dispatch), translated into the point
database's :class:`~rtu.points.commands.CommandRequest` and handed to the executor. ACT_CON is
sent when the command is accepted and ACT_TERM when the executor reports it carried out. For a
point the executor :meth:`~rtu.points.commands.ConfirmingExecutor.confirms` (a command forwarded
to another device), the select's ACT_CON, the execute's ACT_CON and its ACT_TERM follow that
device's own answers, and a deactivation cancels the device's selection.

Command age (IEC 60870-5-104 ed. 2): a time-tagged command (C_xx_TA_1), select or execute,
whose time tag is further than ``max_command_age`` from station time (the clock events are
stamped with), or marked invalid, is not executed: negative ACT_CON, or no answer with
``command_age_action = "drop"``. While our own clock is not synchronised it is still checked
(and logged), unless ``command_age_unsynchronised = "skip"``.

Selections belong to one session and one point. One that has expired, or whose session has
closed, is simply gone: it never makes another master's execute fail. A session's selections
are released when it stops (its connection closed or its 101 link lost).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import tzinfo
from typing import Protocol

from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32Command,
    Cp56Time2a,
    DoubleCommand,
    InformationObject,
    RegulatingStepCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
)
from rtu.iec.asdu.types import Cot, Qu, TypeId
from rtu.iec.outstation.mapping import COMMAND_KINDS, NORMALIZED_SCALE
from rtu.iec.outstation.session import Session
from rtu.iec.outstation.settings import Clock, CommandAgeAction, OutstationConfig
from rtu.points.commands import (
    CommandExecutor,
    CommandGuard,
    CommandRequest,
    ConfirmingExecutor,
    Pulse,
)
from rtu.points.database import PointDatabase
from rtu.points.model import DoublePointValue, Point, PointKind, Quality, StepDirection

log = logging.getLogger(__package__)  # one logger for the outstation, as before the split

# QU of the standard -> how the output is driven
PULSE_OF_QU: dict[int, Pulse] = {
    Qu.NONE: Pulse.DEFAULT,
    Qu.SHORT_PULSE: Pulse.SHORT,
    Qu.LONG_PULSE: Pulse.LONG,
    Qu.PERSISTENT: Pulse.PERSISTENT,
}


def command_request(point: Point, value: bool | float, qu: int, link: str, *,
                    originator: int = 0, selected: bool = False) -> CommandRequest:
    """The point database's request for an IEC command on ``point``: ``value`` is the SCS
    (bool), the DCS or RCS code, or the set-point value in engineering terms; ``qu`` its QU."""
    if point.kind is PointKind.DOUBLE_COMMAND:
        value = DoublePointValue(int(value))
    elif point.kind is PointKind.REGULATING_STEP:
        value = StepDirection(int(value))
    return CommandRequest(point, value, PULSE_OF_QU[qu], link, originator, selected)


class CommandHost(Protocol):
    """What command handling needs from its outstation."""

    @property
    def db(self) -> PointDatabase: ...

    @property
    def config(self) -> OutstationConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def executor(self) -> CommandExecutor: ...

    command_reason: str  # why the command answered next was refused (for the audit)

    @property
    def time_valid(self) -> bool: ...

    def now(self) -> float: ...

    def zone(self) -> tzinfo | None: ...

    def ca_of(self, ioa: int) -> int: ...


@dataclass(slots=True)
class _Selection:
    session: Session
    type_id: TypeId
    value: bool | int | float
    qu: int
    deadline: float


class CommandHandler:
    """Select-before-operate state and the commands in progress, for every session."""

    def __init__(self, host: CommandHost) -> None:
        self.host = host
        self._selections: dict[int, _Selection] = {}  # IOA -> the selection holding it
        self._executing: set[int] = set()  # IOAs with a command in progress

    def handle(self, session: Session, asdu: Asdu) -> None:
        """One command ASDU (type in COMMAND_KINDS) for this station."""
        host = self.host
        if len(asdu.objects) != 1:
            # confirm what was asked (a deactivation with DEACT_CON); any other cause is unknown
            cause = {Cot.ACTIVATION: Cot.ACTIVATION_CON, Cot.DEACTIVATION: Cot.DEACTIVATION_CON}
            host.command_reason = f"{len(asdu.objects)} objects in one command"
            session.respond(asdu.reply(cause.get(asdu.cot, Cot.UNKNOWN_CAUSE), negative=True))
            return
        allowed = host.config.command_originators
        if allowed and asdu.originator not in allowed and asdu.cot in (Cot.ACTIVATION,
                                                                       Cot.DEACTIVATION):
            # without an originator field (COT of 1 octet) the address reads 0: refused too
            log.warning("command %s on IOA %d from %s refused: originator address %d is not in "
                        "command_originators", asdu.type_id.name, asdu.objects[0].ioa,
                        session.name, asdu.originator)
            host.command_reason = (f"originator address {asdu.originator} is not in "
                                   "command_originators")
            session.respond(asdu.reply(
                Cot.DEACTIVATION_CON if asdu.cot == Cot.DEACTIVATION else Cot.ACTIVATION_CON,
                negative=True))
            return
        obj = asdu.objects[0]
        point = host.db.by_ioa(obj.ioa)
        if point is None or point.kind is not COMMAND_KINDS[asdu.type_id] \
                or host.ca_of(obj.ioa) != asdu.common_address:  # another logical station's
            host.command_reason = f"no {asdu.type_id.name} command point at IOA {obj.ioa}"
            session.respond(asdu.reply(
                Cot.UNKNOWN_IOA if asdu.cot in (Cot.ACTIVATION, Cot.DEACTIVATION) else Cot.UNKNOWN_CAUSE,
                negative=True))
            return
        now = host.clock.monotonic()
        if asdu.cot == Cot.DEACTIVATION:
            self._deactivate(session, asdu, point, now)
            return
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        parsed = _command_value(obj)
        if parsed is None:
            host.command_reason = "qualifier or state not permitted"
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        value, qu, select = parsed
        tag = getattr(obj, "time", None)
        if isinstance(tag, Cp56Time2a) and host.config.max_command_age:
            too_late = self._age_refusal(tag)
            if too_late is not None:
                drop = host.config.command_age_action is CommandAgeAction.DROP
                log.warning("%s %s on %s from %s not executed%s: %s", asdu.type_id.name,
                            "select" if select else "execute", point.name, session.name,
                            " (dropped, no answer)" if drop else "", too_late)
                if not drop:
                    host.command_reason = too_late
                    session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
                return
        if point.kind is PointKind.SETPOINT_NORMALIZED:
            value = int(value) / NORMALIZED_SCALE
        lapsed = self._drop_lapsed(point, now)
        refusal = self._refusal(session, point, now) or self._guard(command_request(
            point, value, qu, session.name, originator=asdu.originator, selected=not select
            and point.ioa in self._selections))
        if refusal:
            log.warning("command on %s from %s refused: %s", point.name, session.name, refusal)
            host.command_reason = refusal
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        selection = self._selections.get(point.ioa)
        confirming = None if asdu.test else self._confirming(point)
        if select:
            if confirming is not None:
                self._select_remote(confirming, session, asdu, point, value, qu)
                return
            self._selections[point.ioa] = _Selection(session, asdu.type_id, value, qu,
                                                     now + host.config.select_timeout)
            session.respond(asdu.reply(Cot.ACTIVATION_CON))
            return
        if selection is not None:
            # (a live selection of another session was refused above: this one is ours)
            matches = (selection.type_id == asdu.type_id and selection.value == value
                       and selection.qu == qu)
            del self._selections[point.ioa]
            if not matches:
                log.warning("execute on %s from %s does not match its select", point.name,
                            session.name)
                host.command_reason = "execute does not match its select"
                session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
                return
        elif lapsed is not None and lapsed.session is session:
            log.warning("execute on %s from %s after its select timed out", point.name,
                        session.name)
            host.command_reason = "execute after its select timed out"
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        elif point.select_required:
            log.warning("execute on %s from %s without select; select-before-operate required",
                        point.name, session.name)
            host.command_reason = "select-before-operate required"
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
        self._execute(session, asdu, point, value, qu, selected=selection is not None)

    def _drop_lapsed(self, point: Point, now: float) -> _Selection | None:
        """Forget the point's selection if it has expired or its session has closed; return it."""
        selection = self._selections.get(point.ioa)
        if selection is None or (selection.deadline > now and not selection.session.closed):
            return None
        del self._selections[point.ioa]
        log.info("selection of %s by %s lapsed", point.name, selection.session.name)
        return selection

    def release(self, session: Session) -> int:
        """Release every selection ``session`` holds (its connection closed, its link was
        lost, it stopped data transfer); returns how many. A device holding one of them (a
        confirming executor) is told to cancel it."""
        held = [(ioa, s) for ioa, s in self._selections.items() if s.session is session]
        for ioa, selection in held:
            del self._selections[ioa]
            point = self.host.db.by_ioa(ioa)
            confirming = self._confirming(point) if point is not None else None
            if confirming is not None and point is not None:
                confirming.cancel(command_request(point, selection.value, selection.qu,
                                                  session.name, selected=True))
        if held:
            log.info("%s gone: %d selection(s) released", session.name, len(held))
        return len(held)

    def _age_refusal(self, tag: Cp56Time2a) -> str | None:
        """Why a command with time tag ``tag`` is too old (or too new), or None."""
        host = self.host
        limit = host.config.max_command_age
        if tag.invalid:
            return "its time tag is marked invalid (IV)"
        if not host.time_valid:
            if not host.config.check_age_unsynchronised:
                log.info("command age not checked: our clock is not synchronised")
                return None
            log.info("command age checked against our clock, which is not synchronised")
        try:
            sent = tag.to_timestamp(host.zone())
        except ValueError:
            return "its time tag is not a possible date"
        age = host.now() - sent
        if age > limit:
            return f"its time tag is {age:.3f} s old (max_command_age {limit:g} s)"
        if age < -limit:
            return f"its time tag is {-age:.3f} s in the future (max_command_age {limit:g} s)"
        return None

    def _deactivate(self, session: Session, asdu: Asdu, point: Point, now: float) -> None:
        selection = self._selections.get(point.ioa)
        held = selection is not None and selection.session is session and selection.deadline > now
        if held and selection is not None:
            del self._selections[point.ioa]
            confirming = self._confirming(point)
            if confirming is not None:
                confirming.cancel(command_request(point, selection.value, selection.qu,
                                                  session.name, originator=asdu.originator,
                                                  selected=True))
        if not held:
            self.host.command_reason = "no selection of this master to deactivate"
        session.respond(asdu.reply(Cot.DEACTIVATION_CON, negative=not held))

    def _refusal(self, session: Session, point: Point, now: float) -> str | None:
        if self.host.db.value(point.name).quality & Quality.BL:
            return "the point is blocked"
        if point.ioa in self._executing:
            return "a command on this point is still executing"
        held = self._selections.get(point.ioa)
        if held is not None and held.session is not session and held.deadline > now:
            return f"selected by {held.session.name}"
        return None

    def _guard(self, request: CommandRequest) -> str | None:
        """The executor's refusal (interlocks, local control), asked at select and execute."""
        executor = self.host.executor
        return executor.refusal(request) if isinstance(executor, CommandGuard) else None

    def _confirming(self, point: Point) -> ConfirmingExecutor | None:
        executor = self.host.executor
        if isinstance(executor, ConfirmingExecutor) and executor.confirms(point):
            return executor
        return None

    # -- execution ---------------------------------------------------------------------------
    def _execute(self, session: Session, asdu: Asdu, point: Point, value: bool | float, qu: int,
                 *, selected: bool) -> None:
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
                if not success:
                    self.host.command_reason = "the output did not execute"
                # return information (COT 11) reported before this must reach the master first
                session.respond(asdu.reply(Cot.ACTIVATION_TERMINATION, negative=not success),
                                after_events=True)
            log.info("command %s %s on %s: %s", asdu.type_id.name, value, point.name,
                     "executed" if success else "FAILED")

        request = command_request(point, value, qu, session.name, originator=asdu.originator,
                                  selected=selected)
        try:
            self.host.executor.execute(request, done)
        except Exception:  # the executor is ours; still never leave the master without ACT_TERM
            log.exception("command executor raised for %s", point.name)
            done(False)

    def _select_remote(self, executor: ConfirmingExecutor, session: Session, asdu: Asdu,
                       point: Point, value: bool | float, qu: int) -> None:
        """A select the device answers: ACT_CON (and the selection) once it has."""
        self._executing.add(point.ioa)  # nothing else on the point meanwhile
        finished = False
        request = command_request(point, value, qu, session.name, originator=asdu.originator)

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
                    self.host.clock.monotonic() + self.host.config.select_timeout)
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

        request = command_request(point, value, qu, session.name, originator=asdu.originator,
                                  selected=selected)
        try:
            executor.operate(request, confirmed, done)
        except Exception:
            log.exception("command executor raised for %s", point.name)
            if not state["finished"]:
                done(False)


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
