"""Protection events from protection signals: the logic, without a clock.

A protection point (kinds ``protection``, ``protection_start``, ``protection_trip``) is fed by
other points, its *inputs* (single or double points: GPIO inputs, calculated points, IEC 61850
``Str``/``Op`` attributes, simulated signals). :class:`ProtectionLogic` is told each input
change with the time stamp the source gave it, and answers the event to report, if any. Every
time it reports is a difference of those time stamps (never the wall clock at sending), so a
device's own ``t`` stamps give the device's elapsed times.

- ``protection`` (M_EP_TD_1), one ``signal``: ON reports ES = on with the time elapsed since
  the ``start`` signal went on; OFF reports ES = off with the time the signal was on.
- ``protection_start`` (M_EP_TE_1), up to six signals (general, L1, L2, L3, earth, reverse):
  each change of the set of active starts reports the set (SPE) and the relay duration time,
  measured from the moment the first start came (so the report of the start going off
  carries the whole duration).
- ``protection_trip`` (M_EP_TF_1), up to four signals (general, L1, L2, L3): each change of
  the set of output circuits reports it (OCI) with the relay operating time, from the moment
  the ``start`` signal went on.

A time that cannot be known (no ``start`` signal configured, or the start was not on, or the
difference is negative) is 0 with EI (elapsed time invalid); one beyond CP16Time2a's
59999 ms is 59999 with EI. The quality of the event is that of its inputs (IV, NT, SB, BL).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from rtu.frozen import frozen
from rtu.points.model import (
    PROTECTION_MS_MAX,
    DoublePointValue,
    PointKind,
    PointValue,
    Quality,
    protection_parts,
    protection_value,
)

__all__ = ["ROLES", "ProtectionLogic", "ProtectionReport", "describe", "is_on"]

# per kind, the input roles it takes and the element bit each sets (ES is computed)
ROLES: Final[Mapping[PointKind, Mapping[str, int]]] = {
    PointKind.PROTECTION: {"signal": 0},
    # SPE: GS, SL1, SL2, SL3, SIE, SRD
    PointKind.PROTECTION_START: {"general": 0x01, "l1": 0x02, "l2": 0x04, "l3": 0x08,
                                 "ie": 0x10, "srd": 0x20},
    # OCI: GC, CL1, CL2, CL3
    PointKind.PROTECTION_TRIP: {"general": 0x01, "l1": 0x02, "l2": 0x04, "l3": 0x08},
}
# the kinds whose time is measured from a separate start signal
WITH_START: Final = frozenset({PointKind.PROTECTION, PointKind.PROTECTION_TRIP})
_ES_OFF, _ES_ON = 1, 2
_INPUT_QUALITY: Final = Quality.IV | Quality.NT | Quality.SB | Quality.BL


def is_on(pv: PointValue) -> bool:
    """Whether an input (single or double point) is on."""
    value = pv.value
    if isinstance(value, bool):
        return value
    return int(value) == DoublePointValue.ON


@frozen
class ProtectionReport:
    """What to report: the point's value (rtu.points.model.protection_value) and quality."""

    value: int
    quality: Quality


@dataclass(slots=True)
class _Input:
    bit: int
    on: bool = False
    since: float | None = None  # when it went on (None: off, or on since before we knew)
    quality: Quality = Quality.GOOD


class ProtectionLogic:
    """The events of one protection point from its inputs' changes.

    ``inputs`` maps the input point names to their roles (see :data:`ROLES`); ``start`` is
    the optional start signal of a ``protection`` or ``protection_trip`` point."""

    def __init__(self, kind: PointKind, inputs: Mapping[str, str], start: str | None = None) -> None:
        if not kind.is_protection:
            raise ValueError(f"{kind.value} is not a protection kind")
        roles = ROLES[kind]
        unknown = [role for role in inputs.values() if role not in roles]
        if unknown or not inputs:
            raise ValueError(f"{kind.value}: roles {', '.join(roles)}, got {sorted(inputs.values())}")
        if start is not None and kind not in WITH_START:
            raise ValueError(f"{kind.value} has no start signal (its duration is its own)")
        self.kind = kind
        self._inputs = {name: _Input(roles[role]) for name, role in inputs.items()}
        self.start = start
        self._start_on = False
        self._start_since: float | None = None
        self._start_quality = Quality.GOOD
        self._bits = 0  # the start or trip set last reported (not the single event's)
        self._first_since: float | None = None  # start events: when the first start came

    def names(self) -> tuple[str, ...]:
        """Every point it reads (inputs, then the start signal)."""
        return (*self._inputs, *((self.start,) if self.start else ()))

    def initial(self, name: str, pv: PointValue) -> None:
        """An input's value at start-up: its state, no event (on since an unknown time)."""
        on = is_on(pv)
        since = pv.timestamp if on and pv.timestamp > 0 else None
        if name == self.start:
            self._start_on, self._start_since = on, since
            self._start_quality = pv.quality & _INPUT_QUALITY
        inp = self._inputs.get(name)
        if inp is not None:
            inp.on, inp.since, inp.quality = on, since, pv.quality & _INPUT_QUALITY
        self._bits = self._active()
        if self._bits and self._first_since is None:
            self._first_since = min((i.since for i in self._inputs.values()
                                     if i.on and i.since is not None), default=None)

    def change(self, name: str, pv: PointValue) -> ProtectionReport | None:
        """An input changed to ``pv`` (stamped by its source): the event to report, if any."""
        on = is_on(pv)
        t = pv.timestamp
        if name == self.start:
            if on and not self._start_on:
                self._start_since = t
            elif not on:
                self._start_since = None
            self._start_on = on
            self._start_quality = pv.quality & _INPUT_QUALITY
        inp = self._inputs.get(name)
        if inp is None:
            return None  # the start signal alone reports nothing
        was_on = inp.on
        inp.quality = pv.quality & _INPUT_QUALITY
        inp.on = on
        if on and not was_on:
            inp.since = t
        if self.kind is PointKind.PROTECTION:
            if on == was_on:
                return None
            if on:
                ms, valid = self._since_start(t)
            else:
                ms, valid = _elapsed(inp.since, t)
                inp.since = None
            return self._event(_ES_ON if on else _ES_OFF, ms, valid)
        if not on:
            inp.since = None
        bits = self._active()
        if bits == self._bits:
            return None
        previous, self._bits = self._bits, bits
        if self.kind is PointKind.PROTECTION_START:
            if not previous:
                self._first_since = t
            ms, valid = _elapsed(self._first_since, t)
            if not bits:
                self._first_since = None
            return self._event(bits, ms, valid)
        ms, valid = self._since_start(t)
        return self._event(bits, ms, valid)

    def _active(self) -> int:
        bits = 0
        for inp in self._inputs.values():
            if inp.on:
                bits |= inp.bit
        return bits

    def _since_start(self, t: float) -> tuple[int, bool]:
        if self.start is None or not self._start_on:
            return 0, False
        return _elapsed(self._start_since, t)

    def _event(self, bits: int, ms: int, valid: bool) -> ProtectionReport:
        quality = Quality.GOOD
        for inp in self._inputs.values():
            quality |= inp.quality
        if self.start is not None:
            quality |= self._start_quality
        if not valid:
            quality |= Quality.EI
        return ProtectionReport(protection_value(bits, ms), quality)


def describe(kind: PointKind, value: int) -> str:
    """A protection point's value for people: ``"on 110 ms"``, ``"general|l1 40 ms"``."""
    bits, ms = protection_parts(value)
    if kind is PointKind.PROTECTION:
        state = {1: "off", 2: "on"}.get(bits, "indeterminate")
        return f"{state} {ms} ms"
    names = "|".join(role for role, bit in ROLES[kind].items() if bits & bit) or "none"
    return f"{names} {ms} ms"


def _elapsed(since: float | None, t: float) -> tuple[int, bool]:
    """Milliseconds from ``since`` to ``t`` and whether that is a valid CP16Time2a."""
    if since is None:
        return 0, False
    ms = round((t - since) * 1000)
    if ms < 0:
        return 0, False
    if ms > PROTECTION_MS_MAX:
        return PROTECTION_MS_MAX, False
    return ms, True
