"""The point database: the sole owner of point state.

Sources call :meth:`PointDatabase.update`; the database decides whether the change is
reportable (any change of a digital value or of quality; an analog change beyond its deadband)
and tells subscribers with a :class:`PointChanged` (a value subscriber, the outstation's, is
told the point, new value and origin without one). Subscribers must not raise and must not
block: they queue the change and return.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter

from rtu.points.model import (
    PROTECTION_MS_MAX,
    ChangeOrigin,
    Point,
    PointChanged,
    PointKind,
    PointValue,
    Quality,
    protection_parts,
)

log = logging.getLogger(__name__)

Subscriber = Callable[[PointChanged], None]
#: a subscriber told (point, new value, origin) directly, without a PointChanged record
ValueSubscriber = Callable[[Point, PointValue, ChangeOrigin], None]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT16_MIN, _INT16_MAX = -(2**15), 2**15 - 1
_STEP_MIN, _STEP_MAX = -64, 63
_BITSTRING_MAX = 2**32 - 1
_NORMALIZED_MIN, _NORMALIZED_MAX = -1.0, 1.0 - 2.0**-15
_DPI_MAX = 3
# the element bits a protection event may carry: ES (2 bits), SPE (6), OCI (4)
_PROTECTION_BITS = {PointKind.PROTECTION: 0x03, PointKind.PROTECTION_START: 0x3F,
                    PointKind.PROTECTION_TRIP: 0x0F}


_SINGLE = PointKind.SINGLE
_FIELD = ChangeOrigin.FIELD


class UnknownPointError(KeyError):
    """No point of that name or IOA."""


def _duplicate(points: tuple[Point, ...]) -> None:
    """Raise ValueError naming the first point whose name or IOA an earlier one has."""
    names: set[str] = set()
    by_ioa: dict[int, str] = {}
    for point in points:
        if point.name in names:
            raise ValueError(f"duplicate point name {point.name!r}")
        if point.ioa in by_ioa:
            raise ValueError(f"IOA {point.ioa} of {point.name!r} is already used by "
                             f"{by_ioa[point.ioa]!r}")
        names.add(point.name)
        by_ioa[point.ioa] = point.name


class PointDatabase:
    def __init__(self, points: Iterable[Point]) -> None:
        listed = tuple(points)
        # built in C; the point by point check below only runs to name a duplicate
        self._points: dict[str, Point] = {p.name: p for p in listed}
        self._by_ioa: dict[int, Point] = {p.ioa: p for p in listed}
        if len(self._points) != len(listed) or len(self._by_ioa) != len(listed):
            _duplicate(listed)
        self._current: dict[str, PointValue] = {n: p.initial_value() for n, p in self._points.items()}
        # the value last reported to subscribers, of the points with a deadband rule (filled
        # below): deadbands are measured from it. Any other point reports every change of
        # value or quality, so what it last reported equals its current value and quality.
        self._subscribers: list[Subscriber] = []
        # what a change is handed to: a copy of _subscribers made when they change, not per
        # change (a subscriber may unsubscribe while the change is handed out)
        self._notify: tuple[Subscriber, ...] = ()
        self._last: set[Subscriber] = set()  # subscribed with last=True
        # the value subscribers (subscribe_values) behind their adapters in _subscribers, and
        # the one to call directly while it is the only subscriber (no PointChanged is made:
        # the commonest case, the outstation alone, skips a record per change)
        self._direct: dict[Subscriber, ValueSubscriber] = {}
        self._only: ValueSubscriber | None = None
        # what the only value subscriber is called with for a single point's change (the
        # commonest event), if it gave one (subscribe_values' ``single``): _only otherwise
        self._singles: dict[Subscriber, ValueSubscriber] = {}
        self._only_single: ValueSubscriber | None = None
        # point -> the origin its field changes are reported with meanwhile (attribute())
        self._causes: dict[str, list[ChangeOrigin]] = {}
        # operator overrides (`rtu substitute/block`): point -> the field's latest value, kept
        # while the override stands and reported again on release
        self._held: dict[str, PointValue] = {}
        # per point, decided once (enum properties and hashing are slow enough to matter on
        # the event path): the command points, the points with a deadband rule, and the
        # points whose deadband a master loaded (the point in force, few). Sets of names, not
        # a record per point: that cost 100 octets a point.
        self._commands = frozenset(n for n, p in self._points.items() if p.kind.is_command)
        self._deadbanded = frozenset(
            n for n, p in self._points.items()
            if p.kind.is_analog or p.kind is PointKind.COUNTER)
        self._loaded: dict[str, Point] = {}
        self._reported: dict[str, PointValue] = {n: self._current[n] for n in self._deadbanded}
        commands = self._commands
        self._monitored = tuple(sorted((p for n, p in self._points.items() if n not in commands),
                                       key=attrgetter("ioa")))
        # parameters a master loaded (P_ME KPA 2-4): a smoothing filter on the field's values,
        # and limits whose crossing is always reported (rtu/iec/outstation/parameters.py)
        self._smoothing: dict[str, _Smoothing] = {}
        self._limits: dict[str, tuple[float | None, float | None]] = {}

    # -- lookup -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._points)

    def __iter__(self) -> Iterator[Point]:
        return iter(self._points.values())

    def point(self, name: str) -> Point:
        try:
            return self._points[name]
        except KeyError:
            raise UnknownPointError(name) from None

    def by_ioa(self, ioa: int) -> Point | None:
        return self._by_ioa.get(ioa)

    def monitored(self) -> tuple[Point, ...]:
        """Monitored points in IOA order."""
        return self._monitored

    def value(self, name: str) -> PointValue:
        try:
            return self._current[name]
        except KeyError:
            raise UnknownPointError(name) from None

    # -- parameters a master loads (IEC 60870-5 P_ME) ----------------------------------------
    def set_deadband(self, name: str, deadband: float | None) -> None:
        """Report ``name``'s changes beyond ``deadband`` (absolute) from now on; None: back to
        the configured deadband. Analog kinds and counters only."""
        point, is_command, has_deadband = self._facts_of(name)
        if not has_deadband or is_command:
            raise ValueError(f"{name}: a {point.kind.value} point has no deadband")
        configured = self._points[name]
        if deadband is not None and deadband < 0:
            raise ValueError(f"{name}: deadband must be >= 0, got {deadband}")
        # the percentage deadband gives way to a loaded absolute one
        if deadband is None:
            self._loaded.pop(name, None)
        else:
            self._loaded[name] = dataclasses.replace(configured, deadband=deadband,
                                                     deadband_percent=0.0)

    def deadband(self, name: str) -> float:
        """The absolute deadband in force for ``name``."""
        return self._facts_of(name)[0].deadband

    def set_smoothing(self, name: str, time_constant: float | None) -> None:
        """Smooth ``name``'s field values with a first-order filter of ``time_constant``
        seconds (measured on the values' time stamps) from now on; None or 0: no smoothing.
        Analog kinds only."""
        point = self._analog(name)
        if time_constant is not None and not (math.isfinite(time_constant)
                                              and time_constant >= 0):
            raise ValueError(f"{name}: smoothing time constant must be >= 0, got {time_constant}")
        if not time_constant:
            self._smoothing.pop(point.name, None)
            return
        current = self._current[name]
        # from the present value; before any (IV), the first value starts the filter
        start = math.nan if current.quality & Quality.IV else float(current.value)
        self._smoothing[name] = _Smoothing(time_constant, start, current.timestamp)

    def smoothing(self, name: str) -> float:
        """The smoothing time constant in force for ``name`` (0: none)."""
        found = self._smoothing.get(name)
        return found.time_constant if found is not None else 0.0

    def set_limits(self, name: str, low: float | None, high: float | None) -> None:
        """Report every crossing of ``low`` or ``high`` by ``name``'s value, even within its
        deadband, from now on; None: no such limit. Analog kinds only."""
        self._analog(name)
        for limit in (low, high):
            if limit is not None and not math.isfinite(limit):
                raise ValueError(f"{name}: a limit must be a finite number, got {limit}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"{name}: low limit {low} above high limit {high}")
        if low is None and high is None:
            self._limits.pop(name, None)
        else:
            self._limits[name] = (low, high)

    def limits(self, name: str) -> tuple[float | None, float | None]:
        """The (low, high) limits in force for ``name``."""
        return self._limits.get(name, (None, None))

    def _analog(self, name: str) -> Point:
        try:
            point = self._facts_of(name)[0]
        except KeyError:
            raise UnknownPointError(name) from None
        if not point.kind.is_analog:
            raise ValueError(f"{name}: a {point.kind.value} point is not a measured value")
        return point

    # -- subscriptions ------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber, *, last: bool = False) -> Callable[[], None]:
        """Call ``callback`` for every reportable change; returns the unsubscribe function.

        Subscribers are told in the order they subscribed, except that those subscribed with
        ``last`` come after all others: a subscriber that updates points in turn (calculated
        points) lets everyone see the cause before its consequence."""
        if last:
            self._last.add(callback)
            self._subscribers.append(callback)
        else:
            first_last = next((i for i, s in enumerate(self._subscribers) if s in self._last),
                              len(self._subscribers))
            self._subscribers.insert(first_last, callback)
        self._subscribers_changed()

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)
                self._subscribers_changed()
            if callback not in self._subscribers:
                self._last.discard(callback)
                self._direct.pop(callback, None)
                self._singles.pop(callback, None)

        return unsubscribe

    def subscribe_values(self, callback: ValueSubscriber, *, last: bool = False,
                         single: ValueSubscriber | None = None) -> Callable[[], None]:
        """As :meth:`subscribe` (the same order, ``last`` and unsubscribe function), but
        ``callback`` is called with the change's point, new value and origin. While it is the
        only subscriber no :class:`PointChanged` is made: that saves a record per event, and
        a single point's change (the commonest) goes to ``single`` if given, which must do
        what ``callback`` does for one (its value is a bool)."""
        def adapter(change: PointChanged) -> None:
            callback(change.point, change.new, change.origin)

        self._direct[adapter] = callback
        if single is not None:
            self._singles[adapter] = single
        return self.subscribe(adapter, last=last)

    def _subscribers_changed(self) -> None:
        notify = self._notify = tuple(self._subscribers)
        self._only = self._direct.get(notify[0]) if len(notify) == 1 else None
        self._only_single = self._singles.get(notify[0], self._only) if self._only else None

    def attribute(self, name: str, origin: ChangeOrigin) -> Callable[[], None]:
        """Report the field changes of ``name`` with ``origin`` (the return information of a
        command moving a switch, or of a switch in local control) until the returned function
        is called; the newest attribution wins."""
        self.point(name)  # an unknown name raises here, not at the next change
        causes = self._causes.setdefault(name, [])
        causes.append(origin)

        def release() -> None:
            if origin in causes:
                causes.remove(origin)
            if not causes:
                self._causes.pop(name, None)

        return release

    # -- the only writer -----------------------------------------------------------------------
    def update(
        self,
        name: str,
        value: bool | float,
        quality: Quality = Quality.GOOD,
        *,
        timestamp: float,
        origin: ChangeOrigin = ChangeOrigin.FIELD,
        device_time: bool = False,
    ) -> bool:
        """Store a new value seen by a source at ``timestamp``; True if it was reported.

        ``device_time``: the time stamp comes from the device's own clock (an IEC 61850 ``t``,
        a DLMS capture time), not from ours, so a master's clock offset must not shift it."""
        point = self._points.get(name)
        if point is None:
            raise UnknownPointError(name)
        if point.kind is _SINGLE:
            # the commonest kind, on the event path: _apply inline, without what cannot apply
            # to it (a command, a deadband, smoothing, limits, loaded parameters)
            new = PointValue(bool(value), quality, timestamp, device_time)
            if self._held and name in self._held:
                self._held[name] = new
                return False
            current = self._current
            old = current[name]
            current[name] = new
            if new.quality == old.quality and new.value == old.value:
                return False
            only = self._only_single
            if only is not None and not self._causes:  # _report's common case, one frame less
                only(point, new, origin)
                return True
            return self._report(name, point, old, new, origin)
        if self._loaded:
            point = self._loaded.get(name, point)
        is_command, has_deadband = name in self._commands, name in self._deadbanded
        if self._smoothing:
            smoothing = self._smoothing.get(name)
            if smoothing is not None:
                value = smoothing.apply(float(value), timestamp)
        value, quality = _normalise(point, value, quality)
        new = PointValue(value, quality, timestamp, device_time)
        if self._held and name in self._held:
            self._held[name] = new  # substituted or blocked: the field value waits
            return False
        return self._apply(name, point, is_command, has_deadband, new, origin)

    def _apply(self, name: str, point: Point, is_command: bool, has_deadband: bool,
               new: PointValue, origin: ChangeOrigin) -> bool:
        current = self._current
        old = current[name]
        current[name] = new
        if is_command:
            return False
        reported = self._reported
        last = reported.get(name, old)
        # reportable: any change of quality; any change of value, beyond the deadband if the
        # kind has one; or a limit crossed (checked only if the rest says no)
        if new.quality == last.quality and (
                new.value == last.value
                or (has_deadband and _within_deadband(point, last, new))) and not (
                self._limits and _crosses(self._limits.get(name), last, new)):
            return False
        if name in reported:
            reported[name] = new
        return self._report(name, point, old, new, origin)

    def _report(self, name: str, point: Point, old: PointValue, new: PointValue,
                origin: ChangeOrigin) -> bool:
        """Tell the subscribers of a reportable change (with the origin it is attributed to);
        True."""
        if self._causes and origin is _FIELD:
            origin = self._cause(name, origin)
        only = self._only
        if only is not None:
            only(point, new, origin)
            return True
        change = PointChanged(point, old, new, origin)
        for subscriber in self._notify:
            subscriber(change)
        return True

    def _cause(self, name: str, origin: ChangeOrigin) -> ChangeOrigin:
        """The origin a field change of ``name`` is reported with (see :meth:`attribute`)."""
        causes = self._causes.get(name)
        return causes[-1] if causes else origin

    # -- operator overrides (commissioning) ------------------------------------------------------
    def overridden(self, name: str) -> bool:
        return name in self._held

    def substitute(self, name: str, value: bool | float, *, timestamp: float) -> PointValue:
        """Report ``value`` flagged SB (substituted) instead of what the field says, until
        :meth:`release`. ValueError for a command point or a value the kind does not take."""
        point, is_command, _ = self._facts_of(name)
        if is_command:
            raise ValueError(f"{name} is a command point: only monitored points are substituted")
        _refuse_event_only(point, "substituted", "substitute")
        field_value = self._held.get(name, self._current[name])
        value, quality = _normalise(point, value, Quality.SB)
        self._held[name] = field_value
        new = PointValue(value, quality | Quality.SB, timestamp)
        self._apply(name, point, False, False, new, ChangeOrigin.FIELD)  # no deadband: asked
        return new

    def block(self, name: str, *, timestamp: float) -> PointValue:
        """Freeze the point at its present value flagged BL (blocked) until :meth:`release`;
        a blocked command point refuses commands."""
        point, is_command, has_deadband = self._facts_of(name)
        _refuse_event_only(point, "blocked", "block")
        current = self._current[name]
        field_value = self._held.get(name, current)
        self._held[name] = field_value
        base = field_value if not is_command else current
        new = PointValue(base.value, (base.quality & ~Quality.SB) | Quality.BL, timestamp)
        self._apply(name, point, is_command, has_deadband, new, ChangeOrigin.FIELD)
        return new

    def release(self, name: str, *, timestamp: float) -> PointValue:
        """End a substitution or block: the field's latest value is reported again."""
        point, is_command, has_deadband = self._facts_of(name)
        if name not in self._held:
            raise ValueError(f"{name} is neither substituted nor blocked")
        field_value = self._held.pop(name)
        new = PointValue(field_value.value,
                         field_value.quality & ~(Quality.SB | Quality.BL), timestamp)
        self._apply(name, point, is_command, has_deadband, new, ChangeOrigin.FIELD)
        return new

    def _facts_of(self, name: str) -> tuple[Point, bool, bool]:
        """(the point in force, is a command, has a deadband rule)."""
        point = self._points.get(name)
        if point is None:
            raise UnknownPointError(name)
        return (self._loaded.get(name, point), name in self._commands,
                name in self._deadbanded)

    def set_quality(self, name: str, quality: Quality, *, timestamp: float) -> bool:
        """Keep the value, replace its quality (e.g. IV|NT when a device stops answering)."""
        current = self.value(name)
        return self.update(name, current.value, quality, timestamp=timestamp)


def _refuse_event_only(point: Point, done: str, do: str) -> None:
    if point.kind.is_protection:
        # its value is its last event: holding or replacing it would report an old event anew
        raise ValueError(f"{point.name} is a protection event (events only) and cannot be "
                         f"{done}; {do} the points that feed it instead")


class _Smoothing:
    """A first-order low-pass filter: each value moves the output towards it by
    1 - exp(-dt / T) of the difference, dt the time since the previous value."""

    __slots__ = ("last_time", "output", "time_constant")

    def __init__(self, time_constant: float, output: float, last_time: float) -> None:
        self.time_constant = time_constant
        self.output = output
        self.last_time = last_time

    def apply(self, value: float, timestamp: float) -> float:
        if not math.isfinite(value):
            return value  # an invalid value passes (flagged IV), the filter keeps its state
        if not math.isfinite(self.output):
            self.output = value
        else:
            dt = max(0.0, timestamp - self.last_time)  # a clock step back: no movement
            self.output += (value - self.output) * -math.expm1(-dt / self.time_constant)
        self.last_time = timestamp
        return self.output


def _crosses(limits: tuple[float | None, float | None] | None, last: PointValue,
             new: PointValue) -> bool:
    """Whether the value crossed a limit since it was last reported."""
    if limits is None:
        return False
    low, high = limits
    before, after = float(last.value), float(new.value)
    return (low is not None and (before < low) != (after < low)) or (
        high is not None and (before > high) != (after > high))


def _within_deadband(point: Point, last: PointValue, new: PointValue) -> bool:
    """Whether a changed value of a kind with a deadband stays within it (not reported)."""
    delta = abs(float(new.value) - float(last.value))
    if point.deadband and delta <= point.deadband:
        return True
    return bool(point.deadband_percent and point.low is not None and point.high is not None
                and delta <= abs(point.high - point.low) * point.deadband_percent / 100.0)


def _normalise(point: Point, value: bool | float, quality: Quality) -> tuple[bool | int | float, Quality]:
    """Coerce a source value to the kind's type and range; out of range is clamped and flagged OV."""
    kind = point.kind
    if kind in (PointKind.SINGLE, PointKind.SINGLE_COMMAND):
        return bool(value), quality
    if kind in (PointKind.DOUBLE, PointKind.DOUBLE_COMMAND, PointKind.REGULATING_STEP):
        v = int(value)
        if not 0 <= v <= _DPI_MAX:
            raise ValueError(f"{point.name}: double-point state must be 0..3, got {value!r}")
        return v, quality
    if kind is PointKind.STEP:
        return _clamp_int(int(value), _STEP_MIN, _STEP_MAX, quality)
    if kind in (PointKind.BITSTRING, PointKind.BITSTRING_COMMAND):
        v = int(value)
        if not 0 <= v <= _BITSTRING_MAX:
            raise ValueError(f"{point.name}: bitstring must be 0..2**32-1, got {value!r}")
        return v, quality
    if kind.is_protection:
        v = int(value)
        bits, ms = protection_parts(v)
        if v < 0 or ms > PROTECTION_MS_MAX or bits & ~_PROTECTION_BITS[kind]:
            raise ValueError(f"{point.name}: a {kind.value} event is bits "
                             f"0..{_PROTECTION_BITS[kind]} and 0..{PROTECTION_MS_MAX} ms "
                             f"(rtu.points.model.protection_value), got {value!r}")
        return v, quality
    if kind is PointKind.COUNTER:
        v = int(value)
        if not _INT32_MIN <= v <= _INT32_MAX:
            # a 32-bit counter wraps; the carry flag tells the master
            v = (v - _INT32_MIN) % 2**32 + _INT32_MIN
            quality |= Quality.CY
        return v, quality
    if kind in (PointKind.SCALED, PointKind.SETPOINT_SCALED):
        v_int, quality = _clamp_int(round(value), _INT16_MIN, _INT16_MAX, quality)
        return _range_check(point, v_int, quality)
    if kind in (PointKind.NORMALIZED, PointKind.SETPOINT_NORMALIZED):
        f = float(value)
        if math.isnan(f):
            return 0.0, quality | Quality.IV
        if f < _NORMALIZED_MIN or f > _NORMALIZED_MAX:
            return min(max(f, _NORMALIZED_MIN), _NORMALIZED_MAX), quality | Quality.OV
        return _range_check(point, f, quality)
    f = float(value)
    if math.isnan(f):
        return f, quality | Quality.IV
    return _range_check(point, f, quality)


def _clamp_int(v: int, lo: int, hi: int, quality: Quality) -> tuple[int, Quality]:
    if v < lo:
        return lo, quality | Quality.OV
    if v > hi:
        return hi, quality | Quality.OV
    return v, quality


def _range_check(point: Point, v: float, quality: Quality) -> tuple[int | float, Quality]:
    if (point.low is not None and v < point.low) or (point.high is not None and v > point.high):
        quality |= Quality.OV
    return v, quality
