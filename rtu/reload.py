"""What a configuration reload (SIGHUP, ``systemctl reload rtu``) changes, and how queued events
survive it. The supervisor (rtu/supervisor.py) applies the plan; this module holds the pure parts.

A reload re-reads the file the outstation was started with (with the same command-line
overrides). An invalid file changes nothing: the error is logged and shown in systemd's
``STATUS=``. A valid one is compared with the running configuration, section by section:

* live, in place (the point database, the outstation and every event queue stay):
  ``[station]`` (common address, select timeout, time tags and clock settings, command age;
  a new ``event_queue_size`` applies to queues created afterwards), ``[commands]`` (pulse lengths,
  default QU), ``[logging]`` (level), ``[service]`` (control socket: the socket is reopened);
* ``[journal]`` commit_interval, max_events and fsync apply live; a change of ``enabled`` or
  ``path`` is refused (the running configuration stays): restart the service to apply it;
* a server restarted, its events kept: ``[iec104]`` changed: the listener is closed and
  reopened with the new settings, connected masters are disconnected (their unacknowledged
  events go back to the backlog and are sent again when a master reconnects and starts data
  transfer); ``[iec101]`` (or the field sizes) changed: the serial port is closed and reopened,
  events waiting for the old line move to the new one. Enabling or disabling a server works
  the same way (events of a disabled server's group are dropped, counted and logged);
* a rebuild of the field side, events carried over: anything else changed (the point list,
  relays, the simulation, Modbus and any other source section). The new components are built
  first (if that fails the running ones stay); then the sources stop, the servers close, every
  event still queued (backlogs, session queues, sent but unacknowledged) is carried into the
  new outstation, in order and right after its own end of initialisation (COI "local manual
  reset, after change of local parameters"; the old run's, if never confirmed, is dropped: each
  station's first ASDU after the rebuild is the new one), except events of points that no
  longer exist with the same IOA and type (dropped, counted and logged). Relays whose name and settings are
  unchanged keep their object, and so their state: a reload never switches an output. Point
  values are read again by the new sources (the simulation restarts from its initial state).

``[service] reload = "live-only"`` refuses a reload that needs a rebuild (the running
configuration stays, the refusal is logged and shown in ``STATUS=``): for sites where a
change of the point list must go through a restart.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Final

from rtu.config import AppConfig, ConfigError, JournalConfig, bench_config, load_config
from rtu.frozen import frozen
from rtu.iec.asdu.types import TypeId
from rtu.iec.outstation import MONITOR_TYPES, EventRecord, Outstation

log = logging.getLogger(__name__)

# AppConfig fields applied without rebuilding the field side; every other field (points,
# relays, simulation, modbus and whatever source sections come) needs a rebuild.
LIVE_FIELDS: Final = frozenset({
    "source", "station", "field_sizes", "iec104", "iec101", "logging", "commands", "service",
    "journal", "web",
})
# AppConfig's fields by the section names they hold: gpio_section is [gpio], compared as
# AppConfig.gpio (an absent section as an empty one)
_SECTION_NAMES: Final = tuple(f.name.removesuffix("_section")
                              for f in dataclasses.fields(AppConfig))
BENCH_SOURCE: Final = "<bench>"
COI_LOCAL_MANUAL_RESET: Final = 1  # cause of initialisation after a rebuild
COI_REMOTE_RESET: Final = 2  # cause of initialisation after a master's reset process


class ReloadError(Exception):
    """The reload was refused or failed; the running configuration stays."""


@frozen
class ReloadPlan:
    changed: tuple[str, ...]  # AppConfig fields that differ
    rebuild: bool  # the field side changed

    def touches(self, name: str) -> bool:
        return name in self.changed

    def describe(self) -> str:
        if not self.changed:
            return "nothing changed"
        what = ", ".join(self.changed)
        return f"{what} changed" + ("; rebuilding the field side" if self.rebuild else "")


def plan_reload(old: AppConfig, new: AppConfig) -> ReloadPlan:
    changed = tuple(
        name for name in _SECTION_NAMES
        # where it came from and its files say nothing about behaviour
        if name not in ("source", "origin", "sections")
        and getattr(old, name) != getattr(new, name)
    ) + tuple(  # the registered sources' sections (modbus, iec61850, dlms...), each by name
        name for name in dict.fromkeys([*old.sections, *new.sections])
        if old.section(name) != new.section(name)
    )
    return ReloadPlan(changed, rebuild=any(name not in LIVE_FIELDS for name in changed))


def check_journal_reload(old: JournalConfig, new: JournalConfig) -> None:
    """ReloadError if ``new`` turns the journal on or off or moves its file: that needs a
    restart (the events it protects must not be left behind in the old file)."""
    for key in ("enabled", "path"):
        if getattr(old, key) != getattr(new, key):
            raise ReloadError(f"journal.{key} changed: restart the service to apply it")


def file_loader(source: str, overrides: Callable[[AppConfig], AppConfig] | None = None
                ) -> Callable[[], AppConfig]:
    """A loader re-reading ``source`` (``<bench>``: the built-in profile), then applying the
    command line's ``overrides`` again. Raises ConfigError."""

    def load() -> AppConfig:
        config = bench_config() if source == BENCH_SOURCE else load_config(source)
        return overrides(config) if overrides is not None else config

    return load


def load_or_error(loader: Callable[[], AppConfig]) -> AppConfig:
    """Run ``loader``; a ConfigError becomes a ReloadError with a one-line summary."""
    try:
        return loader()
    except ConfigError as exc:
        first = exc.errors[0] if exc.errors else str(exc)
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        for line in exc.errors:
            log.error("reload: %s", line)
        raise ReloadError(f"invalid configuration: {first}{more}") from exc
    except ValueError as exc:  # a command-line override no longer applies
        raise ReloadError(f"invalid configuration: {exc}") from exc


def move_group(outstation: Outstation, old: str, new: str) -> int:
    """Events waiting in group ``old`` go before those of group ``new`` (a 101 line renamed);
    group ``old`` is removed. Returns how many moved."""
    return outstation.move_group(old, new)


def regroup(outstation: Outstation, old: Sequence[str], new: Sequence[str]) -> int:
    """The 104 server's event groups changed from ``old`` to ``new`` (see
    :meth:`Outstation.regroup`). Returns how many events were dropped."""
    return outstation.regroup(old, new)


def drop_group(outstation: Outstation, name: str) -> int:
    """Remove group ``name`` (its server was disabled); returns the events dropped."""
    return outstation.drop_group(name)


def carry_events(old: Outstation, new: Outstation) -> tuple[int, int]:
    """Move every event waiting in ``old`` (sessions closed) into the same-named groups of
    ``new``, in front of what they hold. Events of points that ``new`` no longer has with that
    IOA and type, and events of groups ``new`` does not have, are dropped and counted.
    Returns (carried, dropped)."""
    carried = dropped = 0
    targets = set(new.group_names())
    for name, events in old.take_all_waiting().items():
        if name not in targets:
            if events:
                log.warning("reload: no group %s any more: %d queued events dropped", name,
                            len(events))
            dropped += len(events)
            continue
        # the old run's end of initialisation, if still unconfirmed, gives way to the new one
        events = [record for record in events if record.type_id is not TypeId.M_EI_NA_1]
        kept = [record for record in events if _still_valid(new, record)]
        if len(kept) < len(events):
            log.warning("reload: %d queued events of %s dropped: their points are gone or "
                        "changed type", len(events) - len(kept), name)
        new.requeue(name, kept)
        carried += len(kept)
        dropped += len(events) - len(kept)
    return carried, dropped


def _still_valid(outstation: Outstation, record: EventRecord) -> bool:
    point = outstation.db.by_ioa(record.ioa)
    return point is not None and point.kind in MONITOR_TYPES \
        and record.type_id in MONITOR_TYPES[point.kind]


def mark_reinitialised(outstation: Outstation, *, remote_reset: bool = False) -> None:
    """The end of initialisation queued by a rebuilt outstation's groups says why: local
    reset after a change of local parameters (COI 1 + bit 7), not power on; or, with
    ``remote_reset``, a master's reset process (COI 2)."""
    if remote_reset:
        outstation.mark_initialisation(COI_REMOTE_RESET, after_parameter_change=False)
    else:
        outstation.mark_initialisation(COI_LOCAL_MANUAL_RESET, after_parameter_change=True)
