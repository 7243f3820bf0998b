"""The outstation's own state as points: health signals and the source that feeds them.

A health signal is a named yes/no fact about the outstation. A monitored single point whose
``source`` is ``"health:SIGNAL"`` reports it: a master reads it in a general interrogation and
receives its changes as time-tagged spontaneous events, like any other point.

Signals (the full list; docs/commissioning.md explains them):

* ``clock_synchronised``: ON while station time is synchronised: the outstation's
  :attr:`~rtu.iec.outstation.Outstation.time_valid` (the system clock is synchronised, as
  rtu/clockstate.py reads it, or a master's clock synchronisation is in force). It is the
  same state that decides IV on the time tags the outstation creates.
* ``journal``: event persistence healthy: ON when the event journal works or is not configured,
  OFF while it is configured and its last commit failed, or it could not be opened at all
  (the outstation then runs without persistence).
* ``events_lost``: the outstation's "events lost" state
  (:attr:`~rtu.iec.outstation.Outstation.events_lost`): ON once an event queue of some master
  (a session queue or a group's backlog), or the journal, dropped events, OFF again once every
  event group that lost events has been answered a station interrogation. Its points are the
  outstation's own ([station] events_lost_ioa, or the [[points]] entry of this signal; with
  several logical stations, one per station at its common address, each for that station's
  losses): the outstation sets them and reserves room for their events, so this source never
  writes them.
* ``config_fallback``: configuration fallback active: the outstation started with a refused
  configuration file and runs its last-known-good copy (rtu/lastgood.py); OFF again after the
  first successful reload.
* ``certificate``: the station's TLS certificate ([iec104.tls] certificate) expires within
  :data:`CERTIFICATE_WARNING_DAYS` days (or has expired, or cannot be read). OFF without TLS.
* ``source:NAME``: communication OK with the field device NAME: a [[modbus.devices]] entry, a
  [[dlms.meters]] meter, an [[iec61850.devices]] device, an [[adc.devices]] converter, ``gpio``
  (the GPIO chip of [gpio]) or ``simulation`` (the bench's simulated field). OFF while the
  device does not answer or its source is restarting.
* ``link:104:NAME``: a 104 master of event group NAME has data transfer started (STARTDT).
  NAME is the [iec104] event group (``iec104`` unless configured), or the name of one of its
  redundancy groups.
* ``link:101:NAME``: the 101 line's link layer is up. NAME is the line's event group (the
  [iec101] ``group``), its serial device (``/dev/ttyUSB0``) or that device's file name
  (``ttyUSB0``).

:class:`HealthSource` evaluates every mapped signal once per :data:`HEALTH_INTERVAL` and hands
the values to the point database, which reports the changes. The evaluation only reads state the
components keep anyway: no hook on any hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from rtu.clockstate import system_clock_synchronised
from rtu.frozen import frozen
from rtu.points.database import PointDatabase
from rtu.points.model import PointKind, Quality
from rtu.points.timestamps import posix_seconds

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

log = logging.getLogger(__name__)

HEALTH_PREFIX: Final = "health:"
HEALTH_INTERVAL: Final = 1.0  # seconds between evaluations
CERTIFICATE_WARNING_DAYS: Final = 30
CERTIFICATE_RECHECK: Final = 3600.0  # seconds between reads of the certificate file
FIXED_SIGNALS: Final = ("clock_synchronised", "journal", "events_lost", "config_fallback",
                        "certificate")
FAMILIES: Final = ("source:", "link:104:", "link:101:")
# the value a point has before the first evaluation (at start-up, before any master is told):
# what the first evaluation normally finds, so that starting up sends no event
_DEFAULTS: Final = {"journal": True}
_DEFAULT_FAMILIES: Final = {"source:": True}  # a device is OK until it fails to answer
_INVALID: Final = Quality.IV | Quality.NT
# signals whose point another owner sets (the outstation: its events are never dropped)
_OWNED_ELSEWHERE: Final = frozenset({"events_lost"})


def signal_error(source: str, kind: PointKind | None) -> str | None:
    """Why ``source`` (``"health:..."``) cannot feed a point of ``kind``; None when it can."""
    signal = source[len(HEALTH_PREFIX):]
    if kind is not None and kind is not PointKind.SINGLE:
        return f"health signals feed single points, not {kind.value} points"
    if signal in FIXED_SIGNALS:
        return None
    for family in FAMILIES:
        if signal.startswith(family) and len(signal) > len(family):
            return None
    return ("unknown health signal; expected one of "
            + ", ".join(f"health:{s}" for s in FIXED_SIGNALS)
            + ", " + ", ".join(f"health:{f}NAME" for f in FAMILIES))


def health_source(p: _Expecting, value: str, path: str, kind: PointKind | None) -> str | None:
    """The [[points]] check of ``source = "health:..."`` (rtu/config registers it)."""
    problem = signal_error(value, kind)
    if problem:
        p.expected(path, "a health signal", value, problem)
        return None
    return value


class _Expecting(Protocol):
    def expected(self, path: str, expectation: str, value: object, note: str = "") -> None: ...


# -- what the supervisor's components say ----------------------------------------------------------
@frozen
class DeviceHealth:
    """One field device (or a source without devices) as `rtu status` shows it."""

    name: str
    kind: str  # modbus, dlms, iec61850, adc, gpio, simulation...
    source: str  # the supervisor's source that serves it
    ok: bool | None  # communication OK (the health:source:NAME signal); None: not known yet
    detail: str


def source_devices(sup: Supervisor) -> list[DeviceHealth]:
    """Every field device of the running configuration with its communication state."""
    running = {id(source): not task.done() for source, task in sup.source_tasks()}
    devices: list[DeviceHealth] = []
    for source in sup.sources:
        devices.extend(_devices_of(source, running.get(id(source), False)))
    return devices


def _devices_of(source: object, running: bool) -> list[DeviceHealth]:
    name = str(getattr(source, "name", "?"))
    kind, _, device = name.partition(":")
    not_running = "source not running (restarting)"
    if kind in ("101", "health", "calculated"):
        return []  # a master link, this very source, or points computed from other points
    if kind == "modbus":
        rows = []
        bus_up = getattr(source, "bus_up", None)
        for state in getattr(source, "devices", ()):
            up = getattr(state, "up", None)
            ok = None if running and up is None and bus_up is not False else \
                running and up is True and bus_up is not False
            detail = ("answering" if up else "not polled yet" if up is None
                      else "NOT ANSWERING") if running else not_running
            if bus_up is False:
                detail = "bus NOT REACHABLE"
            rows.append(DeviceHealth(state.config.name, "modbus", name, ok, detail))
        return rows
    if kind == "dlms":
        up = getattr(source, "up", None)
        detail = str(getattr(source, "health", "")) if running else not_running
        ok = None if running and up is None else running and up is True
        return [DeviceHealth(device, kind, name, ok, detail)]
    if kind == "iec61850":
        state = str(getattr(source, "state", ""))
        ok = None if running and state == "connecting" else running and state == "connected"
        return [DeviceHealth(device, kind, name, ok, state if running else not_running)]
    if kind == "adc":
        failing = sorted(getattr(source, "failing_channels", ()))
        detail = ("reading" if not failing else "channels FAILING: " + ", ".join(failing))
        return [DeviceHealth(device, kind, name, running and not failing,
                             detail if running else not_running)]
    if kind == "gpio":
        processor = getattr(source, "processor", None)
        ok = bool(getattr(processor, "ok", False))
        detail = ("reading" if ok else "inputs NOT READABLE") if running else not_running
        return [DeviceHealth(name, kind, name, running and ok, detail)]
    detail = "running" if running else not_running
    status = getattr(source, "status", None)
    if callable(status) and running:
        detail = str(status())
    return [DeviceHealth(name, kind, name, running, detail)]


def link_states(sup: Supervisor) -> dict[str, bool]:
    """``link:104:NAME`` and ``link:101:NAME`` signals of the configured servers."""
    links: dict[str, bool] = {}
    for server in sup.servers.values():  # each server names its own links
        links.update(server.links())
    return links


def journal_healthy(sup: Supervisor) -> bool:
    """OFF while a configured journal fails, or could not be opened at all (running without
    persistence: ``Supervisor.journal_unavailable`` says why)."""
    if sup.journal_unavailable is not None:
        return False
    journal = sup.journal
    return journal is None or journal.last_error is None


# -- the station certificate -----------------------------------------------------------------------
def certificate_not_after(path: str) -> float:
    """The notAfter time (POSIX seconds) of the first certificate in a PEM file; ValueError or
    OSError if it cannot be read."""
    import base64

    text = Path(path).read_text(encoding="ascii", errors="replace")
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise ValueError(f"{path}: no PEM certificate")
    der = base64.b64decode("".join(text[start + len(begin):stop].split()))
    certificate, _ = _der_item(der, 0)
    tbs, _ = _der_item(certificate[1], 0)
    items = _der_children(tbs[1])
    if items and items[0][0] == 0xA0:  # explicit version
        items = items[1:]
    if len(items) < 4:
        raise ValueError(f"{path}: not an X.509 certificate")
    validity = _der_children(items[3][1])  # serial, signature, issuer, validity
    if len(validity) != 2:
        raise ValueError(f"{path}: no validity in the certificate")
    tag, value = validity[1]
    text_time = value.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text_time[:2])
        text_time = f"{1900 + year if year >= 50 else 2000 + year}{text_time[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError(f"{path}: notAfter has tag 0x{tag:02X}")
    moment = datetime.strptime(text_time, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    return posix_seconds(moment)


def _der_item(data: bytes, offset: int) -> tuple[tuple[int, bytes], int]:
    """(tag, content) at ``offset`` and the offset after it."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return (tag, data[offset:offset + length]), offset + length


def _der_children(data: bytes) -> list[tuple[int, bytes]]:
    items, offset = [], 0
    while offset < len(data):
        item, offset = _der_item(data, offset)
        items.append(item)
    return items


class CertificateWatch:
    """``certificate``: ON when the station certificate expires within the warning time."""

    def __init__(self, wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self._cached: tuple[str, float, float | None] | None = None  # path, read at, notAfter

    def expiring(self, path: str | None) -> bool:
        if not path:
            return False
        now = self.monotonic()
        if self._cached is None or self._cached[0] != path or \
                now - self._cached[1] >= CERTIFICATE_RECHECK:
            try:
                not_after: float | None = certificate_not_after(path)
            except (OSError, ValueError) as exc:
                log.warning("station certificate %s: cannot read its expiry: %s", path, exc)
                not_after = None
            self._cached = (path, now, not_after)
        not_after = self._cached[2]
        return not_after is None or not_after - self.wall() < CERTIFICATE_WARNING_DAYS * 86400


# -- the source --------------------------------------------------------------------------------------
class HealthSource:
    """Feeds every point with ``source = "health:SIGNAL"`` from the supervisor's state."""

    name = "health"

    def __init__(self, db: PointDatabase, supervisor: Supervisor | None = None, *,
                 interval: float = HEALTH_INTERVAL,
                 wall: Callable[[], float] = time.time,
                 kernel_clock: Callable[[], bool | None] | None = None) -> None:
        self.db = db
        self.supervisor = supervisor  # re-pointed by the supervisor when it adopts a rebuild
        self.interval = interval
        self.wall = wall
        # the start-up value of clock_synchronised only (None: rtu.clockstate's reading)
        self.kernel_clock = kernel_clock
        self.certificate = CertificateWatch(wall)
        self.bindings: dict[str, list[str]] = {}
        for point in db:
            if point.source.startswith(HEALTH_PREFIX):
                signal = point.source[len(HEALTH_PREFIX):]
                self.bindings.setdefault(signal, []).append(point.name)
        self._unknown_logged: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.bindings)

    def initialise(self) -> None:
        """Give every health point its start-up value (before the outstation subscribes):
        ``journal`` and ``source:NAME`` ON (healthy until they fail), ``clock_synchronised``
        as the system clock is (the outstation does not exist yet), the others OFF. The events
        lost point is the outstation's: it sets it itself."""
        now = self.wall()
        for signal, names in self.bindings.items():
            if signal in _OWNED_ELSEWHERE:
                continue
            value = _DEFAULTS.get(signal, False)
            for family, default in _DEFAULT_FAMILIES.items():
                if signal.startswith(family):
                    value = default
            if signal == "clock_synchronised":
                value = bool((self.kernel_clock or system_clock_synchronised)())
            for name in names:
                self.db.update(name, value, timestamp=now)

    def signals(self) -> dict[str, bool | None]:
        """Every signal the running configuration has (also those no point maps); None: not
        known yet (a device not asked yet)."""
        sup = self.supervisor
        if sup is None:
            return {}
        tls = sup.config.iec104.tls if sup.config.iec104 is not None else None
        values: dict[str, bool | None] = {
            "clock_synchronised": sup.outstation.time_valid,
            "journal": journal_healthy(sup),
            "events_lost": sup.outstation.events_lost,
            "config_fallback": sup.config_fallback is not None,
            "certificate": self.certificate.expiring(tls.certificate if tls else None),
        }
        states: dict[str, list[bool | None]] = {}
        for device in source_devices(sup):
            states.setdefault(f"source:{device.name}", []).append(device.ok)
        for key, oks in states.items():  # a name several devices share: all must be OK
            values[key] = False if False in oks else None if None in oks else True
        values.update(link_states(sup))
        return values

    def refresh(self) -> None:
        """Evaluate the mapped signals and store them (the database reports what changed)."""
        if not self.bindings:
            return
        values = self.signals()
        now = self.wall()
        for signal, names in self.bindings.items():
            if signal in _OWNED_ELSEWHERE:
                continue
            if signal not in values:
                if signal not in self._unknown_logged:
                    self._unknown_logged.add(signal)
                    log.warning("health signal %r: no such device or link in this "
                                "configuration; its points %s stay invalid", signal,
                                ", ".join(names))
                for name in names:
                    self.db.set_quality(name, _INVALID, timestamp=now)
                continue
            value = values[signal]
            if value is None:
                continue  # not known yet: the start-up value stands
            for name in names:
                self.db.update(name, value, timestamp=now)

    async def run(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(self.interval)


def signal_rows(values: dict[str, bool | None], mapped: Iterable[str] = ()) -> list[dict[str, object]]:
    """`rtu status` rows: every signal with its state, and whether a point reports it."""
    used = set(mapped)
    return [{"signal": f"{HEALTH_PREFIX}{name}",
             "state": "ON" if on else "unknown" if on is None else "OFF",
             "mapped": name in used} for name, on in sorted(values.items())]
