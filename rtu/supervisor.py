"""The composition root: builds the database, sources, outstation and servers, and runs them.

The field side and the protocol servers come from the component registry (rtu/components.py):
the supervisor builds what the configuration enables and runs it, without naming any source
or server kind.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

from rtu.audit import Audit, build_audit
from rtu.clockstate import (
    ClockOffsetStore,
    set_system_clock,
    system_clock_synchronised,
    system_time_zone,
)
from rtu.components import (
    Field,
    Server,
    ServerComponent,
    build_field,
    build_servers,
    server_components,
)
from rtu.config import AppConfig
from rtu.control import ControlServer, control_socket_path, status_line
from rtu.health import HealthSource
from rtu.iec.outstation import Outstation
from rtu.iec.outstation.files import FileService
from rtu.iec.outstation.parameters import LoadedThreshold
from rtu.iec.outstation.settings import ClockSyncMode
from rtu.lastgood import save_last_good
from rtu.notify import notify
from rtu.paramstore import FILE_NAME, load_parameters, save_parameters
from rtu.points.counters import CounterReset, CounterResets
from rtu.points.database import PointDatabase
from rtu.reload import (
    ReloadError,
    ReloadPlan,
    carry_events,
    check_journal_reload,
    drop_group,
    file_loader,
    load_or_error,
    mark_reinitialised,
    plan_reload,
)
from rtu.soe import SoeError, SoeLog, open_configured
from rtu.sources.base import Source
from rtu.statedir import StateDirectoryError, state_directory, state_directory_path
from rtu.watchdog import Watchdog, watchdog_interval

if TYPE_CHECKING:
    from rtu.eventstore import JournalWriter
    from rtu.web.server import WebServer

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_SERVERS: Final = server_components()  # the registered protocol servers, in start order

RESTART_BACKOFF_FIRST = 1.0  # seconds before a failed source is restarted; doubles each time
RESTART_BACKOFF_MAX = 30.0
CLOCK_CHECK_INTERVAL = 10.0  # seconds between two readings of the system clock's state
CLOCK_OFFSET_FILE = "clock-offset.json"  # in the state directory
FIRST_OPEN_GRACE = 1.0  # seconds READY waits for a server (the 101 port's first open attempt)
RESET_ANSWER_WAIT = 5.0  # seconds a reset process waits for its ACT_CON to go out
RESET_LINGER = 0.1  # seconds then left to the kernel to send it
_TIMER_RECHECK = 1.0  # seconds: the periodic-data task looks at the outstation at least this often


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim): what start-up
    read and dropped (the configuration's text, the cache's octets) stays resident otherwise,
    10 MiB or more with 100,000 points. Called at READY=1 and after the work that follows it
    (the last-known-good copy, the configuration cache). A no-op on another C library."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class SystemClock:
    """Monotonic time for protocol timers, system time for time tags."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class Supervisor:
    def __init__(self, config: AppConfig, *,
                 loader: Callable[[], AppConfig] | None = None,
                 journal: JournalWriter | None = None,
                 reset_process: Callable[[int], None] | None = None,
                 journal_unavailable: str | None = None) -> None:
        """``journal``: the running journal, handed over by a reload's rebuild (the events it
        protects are carried over in memory); None opens [journal]'s file when enabled and
        queues what a previous run left in it, unless ``journal_unavailable`` says why the
        running outstation has none (a rebuild keeps running without persistence).
        ``reset_process``: what a master's reset of process does (default: this supervisor
        re-initialises in place)."""
        self.config = config
        self.db = PointDatabase(config.points)
        # the field side: every component the configuration enables (rtu/components.py).
        # The state read at start-up is what GI reports after end of initialisation; it is
        # not a stream of spontaneous changes, so it is read before the outstation subscribes.
        self.field: Field = build_field(
            config, self.db, lambda: state_directory(config.service.state_directory))
        self.field.initialise()
        self.commands = self.field.command_executor()
        # health points (source = "health:SIGNAL", rtu/health.py): start-up values now too
        self.health = HealthSource(self.db, self)
        self.health.initialise()
        self.outstation = Outstation(self.db, config.station, SystemClock(), self.commands,
                                     on_reset_process=reset_process or self._reset_process,
                                     counter_reset=CounterResets(
                                         o for o in self.field.provided
                                         if isinstance(o, CounterReset)),
                                     on_parameters=self._save_parameters)
        self._restore_parameters()
        # file transfer (types 120-127): the files a component offers ([files], rtu/files/)
        for offered in self.field.provided:
            if isinstance(offered, FileService):
                self.outstation.attach_files(offered)
        self._set_up_clock(config)
        # the protocol servers the configuration enables (registry order: 104, then 101)
        self.servers: dict[str, Server] = build_servers(self.outstation, config)
        # the event journal: the groups exist now (the servers made them), no event yet
        self.journal = journal
        # why the enabled journal could not be had (None: it runs, or it is disabled); the
        # outstation then runs without persistence and says so (rtu status, STATUS=)
        self.journal_unavailable = journal_unavailable
        if journal is not None:
            # a rebuild: number on from the running outstation, which stays attached until
            # its events have been carried over (_rebuild)
            assert journal.outstation is not None
            self.outstation.continue_sequence(journal.outstation.next_seq)
            self.outstation.attach_journal(journal)
        elif config.journal.enabled and journal_unavailable is None:
            self.journal = self._open_journal(config)
        # serial servers and field sources, each run under _supervise (restart with backoff)
        self.sources: list[Source] = [s for server in self.servers.values()
                                      for s in server.sources]
        self.sources.extend(self.field.sources)
        if self.health:
            self.sources.append(self.health)  # only when a point maps a health signal
        self._stop = asyncio.Event()
        # -- service state, kept across a reload that rebuilds the field side (_adopt) --
        self.loader = loader  # re-reads the configuration on reload (default: config.source)
        self.last_error: str | None = None  # the last source failure, for STATUS= and status
        self.reload_error: str | None = None  # why the last reload failed (None once one works)
        self.reloads = 0
        self.resets = 0  # reset process commands obeyed (re-initialised in place)
        self.restarts: dict[str, int] = {}  # source name -> restarts after a failure
        self.watchdog: Watchdog | None = None
        self.control: ControlServer | None = None
        self.web: WebServer | None = None  # the diagnostics page ([web]; rtu/web/)
        self.ready = asyncio.Event()  # set when READY=1 has been sent
        self.started_at = time.monotonic()
        self._tg: asyncio.TaskGroup | None = None
        self._source_tasks: list[tuple[Source, asyncio.Task[None]]] = []
        self._service_tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        self.soe: SoeLog | None = None  # the sequence-of-events log (rtu/soe.py), once running
        self.audit: Audit | None = None  # the command audit (rtu/audit.py), once running
        self._outstation_timer: asyncio.TimerHandle | None = None

    # -- what the components provide -----------------------------------------------------------
    def provided(self, kind: type[_T]) -> _T:
        """The object of type ``kind`` a field component provides (LookupError if none)."""
        found = self.field.get(kind)
        if found is None:
            raise LookupError(f"no field component provides a {kind.__name__}")
        return found

    def server(self, kind: type[_T]) -> _T | None:
        """The running server of type ``kind`` (Iec104Server...), None if none is enabled."""
        for server in self.servers.values():
            if isinstance(server.driver, kind):
                return server.driver
        return None

    def _open_journal(self, config: AppConfig) -> JournalWriter | None:
        """Open the journal file and queue what it holds before anything else. Start-up never
        fails on the journal: a file that cannot be used is moved aside and a new one started
        (rtu/eventstore.py); where no journal can be had at all (the state directory or the
        path unusable, the file held by another process) the outstation runs without
        persistence, logs why and shows it (``journal_unavailable``)."""
        from rtu.eventstore import EventStoreError, JournalWriter, journal_path, open_journal

        settings = config.journal
        try:
            path = journal_path(settings.path, state_directory(config.service.state_directory))
            store = open_journal(path, max_events=settings.max_events, fsync=settings.fsync)
        except (EventStoreError, StateDirectoryError, OSError) as exc:
            self.journal_unavailable = str(exc)
            log.error("%s: RUNNING WITHOUT PERSISTENCE: events not yet acknowledged will be "
                      "lost if the outstation stops; fix the journal path and restart", exc)
            return None
        writer = JournalWriter(store, settings)
        writer.restore(self.outstation, store.load())
        writer.attach(self.outstation)
        log.info("event journal %s: commit every %g s, fsync at every %s, at most %d events",
                 path, settings.commit_interval, settings.fsync, settings.max_events)
        return writer

    def _set_up_clock(self, config: AppConfig) -> None:
        """Hand the outstation what it needs to know about the system clock (it reads no clock
        state itself): synchronised or not, the time zone, the kept offset, clock stepping."""
        station = config.station
        outstation = self.outstation
        outstation.set_system_clock_state(system_clock_synchronised())
        if station.local_time:
            outstation.time_zone = system_time_zone()
        if station.clock_sync is ClockSyncMode.SYSTEM:
            outstation.step_clock = set_system_clock
        store = self._clock_store(config)
        if store is not None:
            kept = store.load()
            if kept is not None:
                outstation.restore_clock_offset(*kept)
            outstation.on_clock_sync = store.save

    @staticmethod
    def _clock_store(config: AppConfig) -> ClockOffsetStore | None:
        """Where a master's clock offset is kept: the state directory, when systemd gives one
        or [service] state_directory names one (not the per-user default, so that tests and
        tools run by hand leave nothing behind)."""
        if not (os.environ.get("STATE_DIRECTORY") or config.service.state_directory):
            return None
        try:
            directory = state_directory(config.service.state_directory)
        except OSError as exc:
            log.warning("a master's clock offset will not survive a restart: %s", exc)
            return None
        return ClockOffsetStore(directory / CLOCK_OFFSET_FILE)

    async def _watch_clock(self) -> None:
        """Report the system clock's synchronisation to the outstation every
        CLOCK_CHECK_INTERVAL seconds (and let a master's clock offset expire)."""
        while True:
            await asyncio.sleep(CLOCK_CHECK_INTERVAL)
            self.outstation.set_system_clock_state(system_clock_synchronised())

    async def start(self) -> None:
        """Open every server; returns once all are listening."""
        for server in self.servers.values():
            await server.start()
        if self._outstation_timer is None:
            self._arm_outstation_timer()

    # -- thresholds loaded by masters (rtu/paramstore.py) --------------------------------------
    def _parameters_path(self) -> Path:
        return state_directory(self.config.service.state_directory) / FILE_NAME

    def _restore_parameters(self) -> None:
        try:
            path = self._parameters_path()
        except OSError as exc:
            log.error("loaded thresholds not restored: %s", exc)
            return
        saved = load_parameters(path)
        dropped = self.outstation.parameters.restore(saved)
        if saved:
            log.info("%d thresholds loaded by masters restored from %s",
                     len(saved) - len(dropped), path)
        if dropped:
            log.warning("loaded thresholds of %s dropped: the point is gone or its configured "
                        "deadband changed", ", ".join(dropped))

    def _save_parameters(self, loaded: Mapping[str, LoadedThreshold]) -> None:
        try:
            save_parameters(self._parameters_path(), loaded)
        except OSError as exc:
            log.error("loaded thresholds not kept across a restart: %s", exc)

    def _arm_outstation_timer(self) -> None:
        """Drive the outstation's periodic and background data (its sans-I/O timer) on the
        loop, looking at least once a second: a reload may replace the outstation."""
        loop = asyncio.get_running_loop()
        deadline = self.outstation.next_deadline()
        now = time.monotonic()
        wait = _TIMER_RECHECK if deadline is None else min(max(deadline - now, 0.0),
                                                           _TIMER_RECHECK)
        self._outstation_timer = loop.call_later(wait, self._on_outstation_timer)

    def _on_outstation_timer(self) -> None:
        self.outstation.on_timer(time.monotonic())
        self._arm_outstation_timer()

    async def run(self) -> None:
        """Start, tell systemd we are ready, and run until stop() or SIGTERM/SIGINT.

        READY=1 goes out once every configured server is listening: the 104 socket is bound,
        and the 101 port is open or its first open attempt has failed (it goes on retrying
        with backoff: a missing USB adapter must not keep 104 from serving, nor systemd
        waiting). Then a watchdog task pings systemd while healthy and keeps STATUS= current
        (rtu/watchdog.py), the operator socket serves `rtu status` (rtu/control.py), and
        SIGHUP reloads the configuration (reload()). STOPPING=1 goes out on the way down.
        """
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        with suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        await self.start()
        # what start-up built lives as long as the process: keep it out of the collector's
        # full passes (15 ms with 10,000 points, a stall on the event path otherwise)
        gc.freeze()
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                # the servers' own sources (a serial line) first: READY waits for their
                # first open attempt; the field's after READY=1: its points stay "not yet
                # read" (IV) until a source has read them, and a gateway's library (pymodbus)
                # is imported by its source's first run, off the way to READY
                serving = [s for server in self.servers.values() for s in server.sources]
                self._start_sources(serving)
                await self._first_open_attempts()
                await self._start_service()
                notify("READY=1")
                self.ready.set()
                self._start_sources([s for s in self.sources if s not in serving])
                self._prepare_interrogation(collect=False)
                release_free_memory()
                self._keep_last_good()
                log.info("outstation ready: %d points, common address %d (%s)", len(self.db),
                         self.config.station.common_address, self.config.source)
                await self._stop.wait()
                for task in [t for _, t in self._source_tasks] + self._service_tasks:
                    task.cancel()
        finally:
            self._tg = None
            notify("STOPPING=1")
            if self.control is not None:
                await self.control.close()
                self.control = None
            if self.web is not None:
                await self.web.close()
                self.web = None
            await self.close()
            if self.journal is not None:
                await self.journal.close()  # the last commit: an orderly stop loses nothing
            if self.soe is not None:
                await self.soe.close()
                self.soe = None

    async def _supervise(self, source: Source) -> None:
        """Run a source for ever: a failure is logged and the source restarted with backoff."""
        delay = RESTART_BACKOFF_FIRST
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await source.run()
                log.warning("source %s stopped by itself; restarting in %.0f s", source.name, delay)
            except Exception as exc:
                log.exception("source %s failed; restarting in %.0f s", source.name, delay)
                self.last_error = f"{source.name}: {exc}"
            self.restarts[source.name] = self.restarts.get(source.name, 0) + 1
            if asyncio.get_running_loop().time() - started > RESTART_BACKOFF_MAX:
                delay = RESTART_BACKOFF_FIRST  # it ran fine for a while: start the backoff again
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_MAX)

    def stop(self) -> None:
        self._stop.set()

    # -- tasks, readiness and health ---------------------------------------------------------
    def source_tasks(self) -> list[tuple[Source, asyncio.Task[None]]]:
        return list(self._source_tasks)

    def _start_sources(self, sources: list[Source] | None = None) -> None:
        """Run ``sources`` (default: all) under _supervise in the running task group."""
        if self._tg is None:
            return  # not running (a test driving start()/reload() by hand)
        for source in self.sources if sources is None else sources:
            task = self._tg.create_task(self._supervise(source), name=f"source {source.name}")
            self._source_tasks.append((source, task))

    async def _stop_sources(self, sources: list[Source] | None = None) -> None:
        """Cancel the tasks of ``sources`` (default: all) and wait until they are done."""
        stopping = [(s, t) for s, t in self._source_tasks if sources is None or s in sources]
        self._source_tasks = [pair for pair in self._source_tasks if pair not in stopping]
        for _, task in stopping:
            task.cancel()
        await asyncio.gather(*(t for _, t in stopping), return_exceptions=True)

    async def _first_open_attempts(self) -> None:
        """Wait (at most FIRST_OPEN_GRACE each) for what each server's readiness needs (the
        101 port's first open attempt: it has succeeded by then or failed and is retrying)."""
        if self._tg is None:
            return
        for server in list(self.servers.values()):
            await server.ready(FIRST_OPEN_GRACE)

    async def _start_service(self) -> None:
        """The watchdog/status task and the operator socket (once per run)."""
        assert self._tg is not None
        if self.watchdog is None:
            self.watchdog = Watchdog(notify, timeout=watchdog_interval(),
                                     status=lambda: status_line(self))
            for component in _SERVERS:
                self.watchdog.add_check(component.name, self._server_check(component.name))
            self.watchdog.add_check("tasks", self._check_tasks)
        self._service_tasks.append(self._tg.create_task(self.watchdog.run(), name="watchdog"))
        self._service_tasks.append(self._tg.create_task(self._watch_clock(), name="clock"))
        if self.journal is not None:
            self._service_tasks.append(self._tg.create_task(self.journal.run(),
                                                            name="event journal"))
        if self.soe is None:
            try:
                self.soe = open_configured(self.config.soe, self.config.service.state_directory)
            except (SoeError, OSError) as exc:  # not fatal: the outstation serves without it
                log.error("%s; running without a sequence-of-events log", exc)
        if self.soe is not None:
            self.soe.attach(self.outstation)
            self._service_tasks.append(self._tg.create_task(self.soe.run(), name="soe log"))
        if self.audit is None:
            self.audit = build_audit(self)
            if self.audit.syslog is not None:
                self._service_tasks.append(self._tg.create_task(self.audit.syslog.run(),
                                                                name="audit syslog"))
        self.outstation.audit = self.audit
        await self._open_control()
        await self._open_web()

    def _server_check(self, name: str) -> Callable[[], str | None]:
        """The watchdog's check of server ``name`` (whichever instance runs at the time)."""
        def check() -> str | None:
            server = self.servers.get(name)
            if server is None or self._reload_lock.locked():
                return None
            return server.check()
        return check

    def _check_tasks(self) -> str | None:
        """Critical tasks: every source's supervisor loop (it only ends when cancelled)."""
        if self._reload_lock.locked() or self._stop.is_set():
            return None
        for source, task in self._source_tasks:
            if task.done():
                return f"the task running {source.name} has ended"
        return None

    async def _open_control(self) -> None:
        """(Re)open the operator socket where [service] control_socket says; not fatal."""
        path = control_socket_path(self.config.service.control_socket,
                                   state_dir=state_directory_path(
                                       self.config.service.state_directory))
        if self.control is not None:
            if self.control.path == path:
                return
            await self.control.close()
            self.control = None
        control = ControlServer(self, path)
        try:
            await control.start()
        except OSError as exc:
            log.error("operator socket %s: %s; `rtu status` and `rtu points` will not work",
                      path, exc)
            return
        self.control = control

    async def _open_web(self) -> None:
        """(Re)open the diagnostics page as [web] says (rtu/web/, loaded only with [web])."""
        if self.web is None and self.config.web is None:
            return
        from rtu.web.service import open_web

        self.web = await open_web(self, self.web)

    # -- reload --------------------------------------------------------------------------------
    def request_reload(self) -> None:
        """SIGHUP: reload in a task; reloads run one at a time."""
        if self._tg is None or self._stop.is_set():
            log.warning("reload requested while not running; ignored")
            return

        async def reload_logged() -> None:
            with suppress(ReloadError):
                await self.reload()

        task = self._tg.create_task(reload_logged(), name="reload")
        self._service_tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _forget_task(self, task: asyncio.Task[None]) -> None:
        if task in self._service_tasks:
            self._service_tasks.remove(task)

    async def reload(self, config: AppConfig | None = None) -> str:
        """Apply ``config`` (default: the configuration file read again); see rtu/reload.py.

        Returns what changed. ReloadError when the new configuration is invalid or refused:
        the running one stays, the error is logged and shown in STATUS=. systemd hears
        RELOADING=1 before and READY=1 after, whatever the outcome.
        """
        async with self._reload_lock:
            notify("RELOADING=1")
            try:
                loader = self.loader or file_loader(self.config.source)
                new = config if config is not None else await asyncio.to_thread(
                    load_or_error, loader)
                check_journal_reload(self.config.journal, new.journal)
                plan = plan_reload(self.config, new)
                if plan.rebuild and self.config.service.reload == "live-only":
                    raise ReloadError(f"{plan.describe()}: refused by [service] reload = "
                                      "\"live-only\"; restart the service to apply it")
                log.info("reload: %s", plan.describe())
                if plan.rebuild:
                    await self._rebuild(new)
                else:
                    await self._apply_live(new, plan)
                for component in _SERVERS:
                    server = self.servers.get(component.name)
                    if server is None or any(plan.touches(s) for s in component.sections):
                        continue
                    try:  # certificate, key and CRL files may have changed in place
                        server.refresh()
                    except ValueError as exc:
                        raise ReloadError(str(exc)) from exc
            except ReloadError as exc:
                self.reload_error = str(exc)
                log.error("reload failed, running configuration kept: %s", exc)
                raise
            finally:
                notify("READY=1")
                if self.watchdog is not None:
                    self.watchdog.send_status(force=True)
            if plan.rebuild:  # a live reload keeps the database, and its plans
                self._prepare_interrogation(collect=True)
            self.reloads += 1
            self.reload_error = None
            self._keep_last_good()
            if self.watchdog is not None:
                self.watchdog.send_status(force=True)
            return plan.describe()

    async def _apply_live(self, new: AppConfig, plan: ReloadPlan) -> None:
        """Same field side: keep the database, the outstation and its event queues."""
        for component in _SERVERS:
            if any(plan.touches(section) for section in component.sections):
                await self._replace_server(component, new)
        if plan.touches("station"):
            self.outstation.reconfigure(new.station)
            self.outstation.time_zone = system_time_zone() if new.station.local_time else None
            self.outstation.step_clock = set_system_clock \
                if new.station.clock_sync is ClockSyncMode.SYSTEM else None
        self.field.apply_live(new, plan.touches)  # e.g. [commands] to the relays
        if plan.touches("logging"):
            logging.getLogger().setLevel(new.logging.level)
        if plan.touches("journal") and self.journal is not None:
            self.journal.configure(new.journal)
        self.config = new
        if plan.touches("service"):
            await self._open_control()
        if plan.touches("web"):
            await self._open_web()

    async def _replace_server(self, component: ServerComponent, new: AppConfig) -> None:
        """Replace a running server with one built for ``new``, its queued events kept (a
        server disabled drops its event groups). If the new one cannot start, the old
        configuration's server is started again and the reload fails."""
        old = self.servers.get(component.name)
        if old is not None:
            await self._stop_sources(old.sources)  # a serial line: closes the port and session
            for source in old.sources:
                self.sources.remove(source)
            await old.close()  # sessions close: unacknowledged events go back to the backlog
            del self.servers[component.name]
        server = component.build(self.outstation, new)
        if server is None:
            if old is not None:
                for group in old.event_groups():
                    drop_group(self.outstation, group)
            return
        try:
            await server.start()
        except OSError as exc:
            again = component.build(self.outstation, self.config) if old is not None else None
            if again is not None:
                await again.start()
                self._add_server(component.name, again)
            raise ReloadError(server.start_failed(exc)) from exc
        if old is not None:
            server.take_groups(old)
        self._add_server(component.name, server)
        if self._tg is not None:
            await server.ready(FIRST_OPEN_GRACE)

    def _add_server(self, name: str, server: Server) -> None:
        self.servers[name] = server
        self.sources.extend(server.sources)
        self._start_sources(server.sources)

    async def _rebuild(self, new: AppConfig, *, remote_reset: bool = False) -> None:
        """The field side changed: stop everything, compose the new configuration, carry the
        queued events over, start again. If the new one cannot be built, the old one is built
        again (and the reload fails)."""
        await self._stop_sources()
        for server in self.servers.values():
            await server.close()
        kept = self.field.keep(new)  # e.g. the positions of relays configured as before
        old_outstation = self.outstation
        await self.close()
        failure: ReloadError | None = None
        try:
            fresh = Supervisor(new, loader=self.loader, journal=self.journal,
                               reset_process=self._reset_process,
                               journal_unavailable=self.journal_unavailable)
        except Exception as exc:  # a driver that cannot open, a bad combination...
            log.exception("reload: cannot build the new configuration; rebuilding the old")
            failure = ReloadError(f"cannot build the new configuration: {exc}")
            fresh = Supervisor(self.config, loader=self.loader, journal=self.journal,
                               reset_process=self._reset_process,
                               journal_unavailable=self.journal_unavailable)
        await fresh.field.restore(kept)
        fresh.outstation.adopt_clock(old_outstation)
        mark_reinitialised(fresh.outstation, remote_reset=remote_reset)
        carried, dropped = carry_events(old_outstation, fresh.outstation)
        log.info("reload: %d queued events carried over, %d dropped", carried, dropped)
        if self.journal is not None:
            self.journal.attach(fresh.outstation)  # its queues now hold what the old ones did
            if failure is None:
                self.journal.configure(new.journal)
        self._adopt(fresh)
        if self.web is not None:
            self.web.rebind()  # the page follows the new database
        if self.soe is not None:
            self.soe.attach(self.outstation)
        self.outstation.audit = self.audit
        for component in _SERVERS:
            running = self.servers.get(component.name)
            try:
                if running is not None:
                    await running.start()
            except OSError as exc:
                failure = ReloadError(f"{component.label}: cannot listen again: {exc}")
                break
        self._start_sources()
        await self._first_open_attempts()
        if failure is not None:
            raise failure

    def _adopt(self, fresh: Supervisor) -> None:
        """Take over what ``fresh`` composed for the new configuration; the service state
        (tasks, watchdog, operator socket, journal, counters) stays ours. ``fresh`` was built
        with our reset-process callback, so nothing it holds points back at it."""
        self.config = fresh.config
        self.db = fresh.db
        self.field = fresh.field
        self.commands = fresh.commands
        self.outstation = fresh.outstation
        self.servers = fresh.servers
        self.sources = fresh.sources
        self.health = fresh.health
        self.health.supervisor = self  # its signals read the running supervisor, not ``fresh``

    async def close(self) -> None:
        if self._outstation_timer is not None:
            self._outstation_timer.cancel()
            self._outstation_timer = None
        for server in self.servers.values():
            await server.close()
        self.outstation.close()
        self.field.close()

    def _prepare_interrogation(self, *, collect: bool) -> None:
        """Work out the GI plans now, not in the first GI, where they would block the loop
        (20 ms with 50,000 points) just when every master reconnects and interrogates; then
        keep them, with what start-up or the rebuild built, out of the collector's passes
        (``collect``: after a rebuild, what the old configuration left is collected first,
        so that no garbage is frozen: 65 ms with 100,000 points, once, where a later full
        pass over the unfrozen database would stall the loop again and again)."""
        self.outstation.prepare_interrogation(
            {p for server in self.servers.values() for p in server.asdu_profiles()})
        if collect:
            gc.collect()
        gc.freeze()

    # -- the configuration's origin and the last-known-good copy (rtu/lastgood.py) -------------
    @property
    def config_fallback(self) -> str | None:
        """Why the last-known-good configuration runs instead of the file (None: it does
        not); ends with the first successful reload."""
        origin = self.config.origin
        return origin.fallback if origin is not None else None

    def _keep_last_good(self) -> None:
        """Copy the running configuration into the state directory (in a thread); a failure
        is logged, never fatal."""
        config = self.config
        if config.origin is None or config.origin.fallback is not None or self._tg is None:
            return

        async def keep() -> None:
            try:
                directory = await asyncio.to_thread(
                    state_directory, config.service.state_directory)
                await asyncio.to_thread(save_last_good, config, directory)
            except OSError as exc:
                log.error("cannot keep the configuration as the last-known-good: %s", exc)
            release_free_memory()  # what comparing and copying the files took

        task = self._tg.create_task(keep(), name="keep last-known-good")
        self._service_tasks.append(task)
        task.add_done_callback(self._forget_task)

    def _reset_process(self, qrp: int) -> None:
        """A master's reset process (general reset): once its ACT_CON has gone out, the
        outstation re-initialises in place: everything is composed again from the running
        configuration (as a rebuilding reload does, queued events carried over) and every
        event group's end of initialisation says COI 2 (remote reset). The process keeps
        running, so repeated resets never reach systemd's start limit."""
        if self._tg is None or self._stop.is_set():
            log.warning("reset of process (QRP %d) requested while not running; ignored", qrp)
            return
        log.warning("reset of process (QRP %d) requested by a master: re-initialising", qrp)
        task = self._tg.create_task(self._reset_in_place(), name="reset process")
        self._service_tasks.append(task)
        task.add_done_callback(self._forget_task)

    async def _reset_in_place(self) -> None:
        async with self._reload_lock:
            await self._answers_sent(RESET_ANSWER_WAIT)
            started = time.monotonic()
            try:
                await self._rebuild(self.config, remote_reset=True)
            except ReloadError as exc:
                # the configuration that ran cannot be built again (a device gone...): end the
                # process with a failure, which systemd's Restart=on-failure answers
                log.error("reset of process: cannot re-initialise in place (%s); exiting with "
                          "a failure so that the service manager restarts the outstation", exc)
                raise RuntimeError(f"reset of process failed: {exc}") from exc
            self.resets += 1
            log.warning("reset of process: re-initialised in %.2f s (end of initialisation, "
                        "COI 2, queued for every link)", time.monotonic() - started)
            if self.watchdog is not None:
                self.watchdog.send_status(force=True)

    async def _answers_sent(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until no session has an answer waiting and no 104
        connection has octets waiting in its transport: the reset's ACT_CON is out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = any(s.responses for g in self.outstation.groups.values()
                          for s in g.sessions)
            waiting = waiting or any(server.waiting() for server in self.servers.values())
            if not waiting:
                await asyncio.sleep(RESET_LINGER)  # the kernel sends what it holds
                return
            await asyncio.sleep(0.01)
        log.warning("reset of process: answers still waiting after %g s; re-initialising anyway",
                    timeout)
