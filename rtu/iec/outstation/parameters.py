"""Parameter loading (P_ME_NA_1, P_ME_NB_1, P_ME_NC_1) and activation (P_AC_NA_1): the
parameters of a measured value loaded by a master, and their report on interrogation.

The kinds of parameter (KPA), each in the point's own units (a normalized point's in its
-1..1 range) except the smoothing factor, in seconds:

* 1 threshold: changes of the value beyond it are reported (it replaces the configured
  deadband, absolute or percentage);
* 2 smoothing factor (filter time constant T): the field's values pass a first-order low-pass
  filter (each value moves the reported one towards it by 1 - exp(-dt/T), dt the time since
  the previous value); 0 = none;
* 3 low limit and 4 high limit for the transmission of measured values: every crossing of a
  limit (the value going below the low limit or back above it, above the high limit or back
  below it) is reported, even within the threshold.

A loaded parameter (COT 6, confirmed with COT 7) is in operation at once unless the master
marks it not in operation (POP): then the point's loaded parameters are kept but out of
operation until a P_AC_NA_1 activates them (activation is per object, as P_AC addresses it).
P_AC_NA_1 with QPA 2 activates (COT 6) or deactivates (COT 8) the addressed point's loaded
parameters, QPA 1 (IOA 0) all of them; deactivated, the configured deadband is back and there
is no smoothing and no limit (the configuration has none). QPA 3 is answered with a negative
confirmation. ``command_originators`` applies.

The loaded parameters are handed to ``on_change`` (the supervisor keeps them in the state
directory) and restored with :meth:`Parameters.restore`: they win over the configuration until
the configuration changes that point's deadband (then they are dropped) or a master deactivates
them.

On interrogation (``[station] parameters_in_gi``, off by default: a P_ME shares the measured
value's IOA with another type; c104, i.e. lib60870-C, ignores it without error, a master that
checks one type per IOA may not): after the monitored data
of a station or group interrogation, the P_ME objects of the station's measured values in that
group that have parameters (loaded ones, with POP set while out of operation, or a configured
absolute deadband as the threshold), with the interrogation's cause (20-36).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from rtu.frozen import frozen
from rtu.iec.asdu.objects import (
    Asdu,
    InformationObject,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
)
from rtu.iec.asdu.types import (
    KPA_HIGH_LIMIT,
    KPA_LOW_LIMIT,
    KPA_SMOOTHING,
    KPA_THRESHOLD,
    QPA_LOADED,
    QPA_OBJECT,
    Cot,
    TypeId,
)
from rtu.iec.outstation.mapping import NORMALIZED_SCALE
from rtu.iec.outstation.session import Session
from rtu.iec.outstation.settings import OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind

log = logging.getLogger(__package__)  # one logger for the outstation


@frozen
class LoadedThreshold:
    """The parameters a master loaded for one point: the threshold (None: not loaded, the
    configured deadband holds), whether they are in operation, the configured deadband they
    replaced (a restart keeps them only while the configuration still says that), and the
    smoothing time constant and low and high limits (None: not loaded)."""

    threshold: float | None
    active: bool
    configured: float
    smoothing: float | None = None
    low: float | None = None
    high: float | None = None


# the field of LoadedThreshold each kind of parameter sets
_KPA_FIELDS = {KPA_THRESHOLD: "threshold", KPA_SMOOTHING: "smoothing", KPA_LOW_LIMIT: "low",
               KPA_HIGH_LIMIT: "high"}
_PARAMETER_TYPES = {PointKind.NORMALIZED: TypeId.P_ME_NA_1, PointKind.SCALED: TypeId.P_ME_NB_1,
                    PointKind.FLOAT: TypeId.P_ME_NC_1}
_INT16_MIN, _INT16_MAX = -(2**15), 2**15 - 1
ParameterObject = ParameterNormalized | ParameterScaled | ParameterFloat


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
            try:
                self._apply(name, entry)
            except ValueError as exc:  # limits the wrong way round: not ours
                log.error("loaded parameters of %s dropped: %s", name, exc)
                dropped.append(name)
                continue
            self.loaded[name] = entry
        return dropped

    def _apply(self, name: str, entry: LoadedThreshold) -> None:
        """Put ``entry`` in operation for point ``name`` (or take it out: not active)."""
        db = self.host.db
        on = entry.active
        db.set_limits(name, entry.low if on else None, entry.high if on else None)
        db.set_smoothing(name, entry.smoothing if on else None)
        db.set_deadband(name, entry.threshold if on else None)

    # -- interrogation -------------------------------------------------------------------------
    def interrogation_objects(self, points: Sequence[Point]
                              ) -> list[tuple[TypeId, list[InformationObject]]]:
        """The P_ME objects reporting the parameters of ``points`` (the measured values of an
        interrogation), by type in the order of ``points``."""
        out: list[tuple[TypeId, list[InformationObject]]] = []
        db = self.host.db
        for point in points:
            type_id = _PARAMETER_TYPES.get(point.kind)
            if type_id is None:
                continue
            entry = self.loaded.get(point.name)
            values: list[tuple[int, float, bool]] = []  # (kpa, value, not in operation)
            if entry is None:
                if point.deadband > 0:
                    values.append((KPA_THRESHOLD, point.deadband, False))
            else:
                for kpa, name in _KPA_FIELDS.items():
                    value = getattr(entry, name)
                    if value is None and kpa == KPA_THRESHOLD and db.deadband(point.name) > 0:
                        value = db.deadband(point.name)  # the configured one, in operation
                        values.append((kpa, value, False))
                    elif value is not None:
                        values.append((kpa, value, not entry.active))
            objects: list[InformationObject] = [
                _parameter_object(type_id, point.ioa, kpa, value, pop) for kpa, value, pop in values]
            if not objects:
                continue
            if out and out[-1][0] is type_id:
                out[-1][1].extend(objects)
            else:
                out.append((type_id, objects))
        return out

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
        value = obj.value / NORMALIZED_SCALE if isinstance(obj, ParameterNormalized) \
            else float(obj.value)
        field = _KPA_FIELDS.get(obj.kpa)
        if not self._allowed(session, asdu) or field is None:
            if field is None:
                log.warning("parameter KPA %d for IOA %d from %s refused: only KPA 1-4 "
                            "(threshold, smoothing, low and high limit) are loaded", obj.kpa,
                            obj.ioa, session.name)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        before = self.loaded.get(point.name) or LoadedThreshold(None, True, point.deadband)
        entry = dataclasses.replace(before, active=not obj.pop, **{field: value})
        try:
            if not math.isfinite(value):
                raise ValueError(f"a {field} must be a finite number, got {value}")
            if field in ("threshold", "smoothing") and value < 0:
                raise ValueError(f"a {field} must be >= 0, got {value}")
            self._apply(point.name, entry)  # the limits are checked first: nothing changed
        except ValueError as exc:
            log.warning("parameter KPA %d for %s (IOA %d) from %s refused: %s", obj.kpa,
                        point.name, obj.ioa, session.name, exc)
            session.respond(asdu.reply(Cot.ACTIVATION_CON, negative=True))
            return
        self.loaded[point.name] = entry
        log.info("%s of %s (IOA %d) loaded by %s: %g%s", field, point.name, obj.ioa,
                 session.name, value, "" if entry.active else " (not in operation)")
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
        for name in names:
            entry = dataclasses.replace(self.loaded[name], active=activate)
            self._apply(name, entry)
            self.loaded[name] = entry
        log.info("%s the loaded parameters of %d points (%s) for %s", "activated" if activate else
                 "deactivated", len(names), ", ".join(names), session.name)
        session.respond(asdu.reply(confirm))
        self._changed()


def _parameter_object(type_id: TypeId, ioa: int, kpa: int, value: float,
                      pop: bool) -> ParameterObject:
    """One P_ME object of ``type_id`` (value in the point's units; seconds for smoothing)."""
    if type_id is TypeId.P_ME_NC_1:
        return ParameterFloat(ioa, value, kpa, pop=pop)
    raw = value * NORMALIZED_SCALE if type_id is TypeId.P_ME_NA_1 else value
    clamped = max(_INT16_MIN, min(_INT16_MAX, round(raw)))
    if type_id is TypeId.P_ME_NA_1:
        return ParameterNormalized(ioa, clamped, kpa, pop=pop)
    return ParameterScaled(ioa, clamped, kpa, pop=pop)
