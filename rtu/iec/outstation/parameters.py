"""Parameter loading (P_ME_NA_1, P_ME_NB_1, P_ME_NC_1) and activation (P_AC_NA_1): the
threshold (deadband) of a measured value loaded by a master.

Scope: the threshold (KPA 1) of analog points. A loaded threshold (COT 6, confirmed with COT
7) is in operation at once unless the master marks it not in operation (POP); from then on
the point database reports the point's changes beyond it. P_AC_NA_1 with QPA 2 activates
(COT 6) or deactivates (COT 8) the addressed point's loaded threshold, QPA 1 all of them;
deactivated, the configured deadband is back. Smoothing, low and high limits (KPA 2-4) and
QPA 3 are answered with a negative confirmation. ``command_originators`` applies.

The loaded thresholds are handed to ``on_change`` (the supervisor keeps them in the state
directory) and restored with :meth:`Parameters.restore`: a loaded threshold wins over the
configured deadband until the configuration changes that point's deadband.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from rtu.iec.asdu.objects import (
    Asdu,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
)
from rtu.iec.asdu.types import KPA_THRESHOLD, QPA_LOADED, QPA_OBJECT, Cot, TypeId
from rtu.iec.outstation.mapping import NORMALIZED_SCALE
from rtu.iec.outstation.session import Session
from rtu.iec.outstation.settings import OutstationConfig
from rtu.points.database import PointDatabase

log = logging.getLogger(__package__)  # one logger for the outstation


@dataclass(frozen=True, slots=True)
class LoadedThreshold:
    """A threshold a master loaded: its value, whether it is in operation, and the configured
    deadband it replaced (a restart keeps it only while the configuration still says that)."""

    threshold: float
    active: bool
    configured: float


class ParameterHost(Protocol):
    @property
    def db(self) -> PointDatabase: ...

    @property
    def config(self) -> OutstationConfig: ...

    def ca_of(self, ioa: int) -> int: ...


OnChange = Callable[[Mapping[str, LoadedThreshold]], None]


class Parameters:
    def __init__(self, host: ParameterHost, on_change: OnChange | None = None) -> None:
        self.host = host
        self.on_change = on_change
        self.loaded: dict[str, LoadedThreshold] = {}  # point name -> what the master loaded

    # -- state -------------------------------------------------------------------------------
    def restore(self, saved: Mapping[str, LoadedThreshold]) -> list[str]:
        """Apply thresholds kept from an earlier run; returns the names dropped because the
        point is gone, is no longer analog, or its configured deadband changed since."""
        db = self.host.db
        dropped = []
        for name, entry in saved.items():
            try:
                point = db.point(name)
            except KeyError:
                dropped.append(name)
                continue
            if not point.kind.is_analog or point.deadband != entry.configured:
                dropped.append(name)
                continue
            self.loaded[name] = entry
            if entry.active:
                db.set_deadband(name, entry.threshold)
        return dropped

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(dict(self.loaded))

    # -- handlers ----------------------------------------------------------------------------
    def handle(self, session: Session, asdu: Asdu) -> None:
        causes = (Cot.ACTIVATION, Cot.DEACTIVATION) if asdu.type_id is TypeId.P_AC_NA_1 \
            else (Cot.ACTIVATION,)
        if asdu.cot not in causes:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        if len(asdu.objects) != 1:
            session.respond(asdu.reply(
                Cot.ACTIVATION_CON if asdu.cot == Cot.ACTIVATION else Cot.DEACTIVATION_CON,
                negative=True))
            return
        if asdu.type_id is TypeId.P_AC_NA_1:
            self._activation(session, asdu)
        else:
            self._load(session, asdu)

    def _allowed(self, session: Session, asdu: Asdu) -> bool:
        allowed = self.host.config.command_originators
        if allowed and asdu.originator not in allowed:
            log.warning("parameter %s from %s refused: originator address %d is not in "
                        "command_originators", asdu.type_id.name, session.name, asdu.originator)
            return False
        return True

    def _load(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ParameterNormalized | ParameterScaled | ParameterFloat)
        if asdu.cot != Cot.ACTIVATION:
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        db = self.host.db
        point = db.by_ioa(obj.ioa)
        if point is None or not point.kind.is_analog or \
                self.host.ca_of(obj.ioa) != asdu.common_address:
            session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
            return
        threshold = obj.value / NORMALIZED_SCALE if isinstance(obj, ParameterNormalized) \
            else float(obj.value)
        if not self._allowed(session, asdu) or obj.kpa != KPA_THRESHOLD or not threshold >= 0:
            if obj.kpa != KPA_THRESHOLD:
                log.warning("parameter KPA %d for IOA %d from %s refused: only thresholds "
                            "(KPA 1) are loaded", obj.kpa, obj.ioa, session.name)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        active = not obj.pop
        self.loaded[point.name] = LoadedThreshold(threshold, active, point.deadband)
        db.set_deadband(point.name, threshold if active else None)
        log.info("threshold of %s (IOA %d) loaded by %s: %g%s", point.name, obj.ioa,
                 session.name, threshold, "" if active else " (not in operation)")
        session.respond(asdu.reply(Cot.ACTIVATION_CON))
        self._changed()

    def _activation(self, session: Session, asdu: Asdu) -> None:
        obj = asdu.objects[0]
        assert isinstance(obj, ParameterActivation)
        if asdu.cot not in (Cot.ACTIVATION, Cot.DEACTIVATION):
            session.respond(asdu.reply(Cot.UNKNOWN_CAUSE, negative=True))
            return
        confirm = Cot.ACTIVATION_CON if asdu.cot == Cot.ACTIVATION else Cot.DEACTIVATION_CON
        activate = asdu.cot == Cot.ACTIVATION
        if obj.qpa == QPA_OBJECT:
            point = self.host.db.by_ioa(obj.ioa)
            if point is None or self.host.ca_of(obj.ioa) != asdu.common_address:
                session.respond(asdu.reply(Cot.UNKNOWN_IOA, negative=True))
                return
            names = [point.name] if point.name in self.loaded else []
        elif obj.qpa == QPA_LOADED and obj.ioa == 0:
            names = [n for n in self.loaded
                     if self.host.ca_of(self.host.db.point(n).ioa) == asdu.common_address]
        else:
            names = []
        if not names or not self._allowed(session, asdu):
            session.respond(asdu.reply(confirm, negative=True))
            return
        db = self.host.db
        for name in names:
            entry = self.loaded[name]
            self.loaded[name] = LoadedThreshold(entry.threshold, activate, entry.configured)
            db.set_deadband(name, entry.threshold if activate else None)
        log.info("%s %d loaded thresholds (%s) for %s", "activated" if activate else
                 "deactivated", len(names), ", ".join(names), session.name)
        session.respond(asdu.reply(confirm))
        self._changed()
