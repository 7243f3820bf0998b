"""Counter interrogation (C_CI_NA_1): read, freeze, freeze with reset and reset.

Mode B of the standard's counter acquisition: the master freezes the counters (FRZ 1, or FRZ 2
which also resets them), then reads the frozen values (FRZ 0, COT 37-41). FRZ 3 resets without
freezing. Each freeze advances the BCR sequence number (0-31).

Only counters whose source can reset them are reset (:class:`~rtu.points.counters.CounterReset`:
the bench simulation's counts, derived counts); a meter's register is frozen and read without
reset, and that is logged. A reset is a change of the point like any other (the database is the
only writer): the source sets it to zero, reported as return information caused by a remote
command (COT 11). ``command_originators`` applies to FRZ 2 and 3: they change the field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from rtu.iec.asdu.objects import Asdu, CounterInterrogationCommand
from rtu.iec.asdu.types import (
    FRZ_FREEZE,
    FRZ_FREEZE_RESET,
    FRZ_READ,
    FRZ_RESET,
    RQT_GENERAL,
    Cot,
    TypeId,
    counter_cot,
)
from rtu.iec.outstation.mapping import counter_object
from rtu.iec.outstation.session import Session, refuse_station_activation
from rtu.iec.outstation.settings import Clock, OutstationConfig
from rtu.points.counters import CounterReset
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind, PointValue

log = logging.getLogger(__package__)  # one logger for the outstation

_SEQUENCE_MODULO = 32  # the BCR sequence number is 5 bits


class CounterHost(Protocol):
    """What counter interrogation needs from its outstation."""

    @property
    def db(self) -> PointDatabase: ...

    @property
    def config(self) -> OutstationConfig: ...

    @property
    def clock(self) -> Clock: ...

    def station_points(self, ca: int, points: Sequence[Point]) -> list[Point]: ...


class Counters:
    """The frozen counter values and the sequence number, shared by every master."""

    def __init__(self, host: CounterHost, reset: CounterReset | None = None) -> None:
        self.host = host
        self.reset = reset
        self.sequence = 0
        self.frozen: dict[str, PointValue] = {}  # counter name -> value at its last freeze

    def handle(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, CounterInterrogationCommand)
        if refuse_station_activation(session, asdu):
            return
        if not 1 <= obj.rqt <= RQT_GENERAL or obj.frz not in (FRZ_READ, FRZ_FREEZE,
                                                               FRZ_FREEZE_RESET, FRZ_RESET):
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        db = self.host.db
        counters = [p for p in self.host.station_points(asdu.common_address, db.monitored())
                    if p.kind is PointKind.COUNTER
                    and (obj.rqt == RQT_GENERAL or obj.rqt in p.groups)]
        resets = obj.frz in (FRZ_FREEZE_RESET, FRZ_RESET)
        if resets and not self._originator_allowed(session, asdu):
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        resettable = [p for p in counters if self.reset is not None and self.reset.resets(p)]
        if obj.frz == FRZ_RESET and not resettable:
            log.warning("counter reset (RQT %d) from %s refused: none of its %d counters can be "
                        "reset", obj.rqt, session.name, len(counters))
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        if obj.frz == FRZ_READ:
            self._read(session, asdu, obj.rqt, counters)
        else:
            if obj.frz in (FRZ_FREEZE, FRZ_FREEZE_RESET):
                self.sequence = (self.sequence + 1) % _SEQUENCE_MODULO
                self.frozen.update((p.name, db.value(p.name)) for p in counters)
            if resets:
                self._reset(session, obj.rqt, counters, resettable)
        session.respond(asdu.reply(Cot.ACTIVATION_TERMINATION))

    def _originator_allowed(self, session: Session, asdu: Asdu) -> bool:
        allowed = self.host.config.command_originators
        if allowed and asdu.originator not in allowed:
            log.warning("counter reset from %s refused: originator address %d is not in "
                        "command_originators", session.name, asdu.originator)
            return False
        return True

    def _reset(self, session: Session, rqt: int, counters: list[Point],
               resettable: list[Point]) -> None:
        reset = self.reset
        assert reset is not None or not resettable
        now = self.host.clock.wall()
        for point in resettable:
            assert reset is not None
            reset.reset(point, now)
        kept = [p.name for p in counters if p not in resettable]
        if kept:
            log.warning("counter reset (RQT %d) from %s: %d counters reset; %d read-only "
                        "counters not reset: %s", rqt, session.name, len(resettable), len(kept),
                        ", ".join(kept))
        else:
            log.info("counter reset (RQT %d) from %s: %d counters reset", rqt, session.name,
                     len(resettable))

    def _read(self, session: Session, asdu: Asdu, rqt: int, counters: list[Point]) -> None:
        db = self.host.db
        cot = counter_cot(rqt)
        objects = [counter_object(p, self.frozen.get(p.name) or db.value(p.name), None,
                                  self.sequence) for p in counters]
        for chunk in session.pack(TypeId.M_IT_NA_1, objects):
            session.respond(Asdu(TypeId.M_IT_NA_1, cot, asdu.common_address, tuple(chunk),
                                 test=asdu.test, originator=asdu.originator))
