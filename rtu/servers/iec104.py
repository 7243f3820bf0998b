"""IEC 60870-5-104 server: asyncio TCP around the sans-I/O APCI core and the shared outstation.

Nothing here polls: a point change wakes the session, which schedules one flush on the loop, and
the flush writes every I-frame the k-window allows. Timers are a single loop handle per
connection, armed at the core's next deadline on the loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from rtu.frozen import frozen
from rtu.iec.asdu.codec import PROFILE_104
from rtu.iec.cs104.connection import (
    Acknowledged,
    ApciParameters,
    AsduReceived,
    Connection,
    ConnectionFailed,
    DataTransferStarted,
    DataTransferStopped,
    Event,
)
from rtu.iec.outstation import Outstation, Session
from rtu.servers.loop import call_at_end_of_turn
from rtu.tap import TAP, socket_addresses

if TYPE_CHECKING:  # rtu.servers.tls (and ssl) is loaded only by a server that uses TLS
    import ssl

    from rtu.servers.tls import TlsSettings

log = logging.getLogger(__name__)

DEFAULT_PORT = 2404
ERRORS_KEPT = 8  # the last connection errors status() reports (refusals, failures, losses)
#: the longest a GI in progress keeps the event loop before it yields (issue 21: another
#: master's events must keep a p99 latency under 2 ms during a 50,000-point GI)
GI_SLICE_S = 0.0005
# Answers (confirmations, read replies) a connection may have waiting for its k-window: past
# this, the server stops reading that socket until the master acknowledges (or t1 closes it)
MAX_PENDING_ANSWERS = 256
# received octets are handed to the APCI core at most this many at a time, so that one large
# read cannot queue thousands of answers before the bound above is looked at
_FEED_CHUNK = 512
#: the largest send_delay_ms accepted: a hold beyond this would make events wait longer than a
#: master's poll of old, and the point of spontaneous transmission is lost
MAX_SEND_DELAY_MS = 50.0
# a hold that would end within this many seconds is not kept: the loop's timers wake in whole
# milliseconds (epoll), so so short a wait would cost a wake-up and last a millisecond
_HOLD_SLACK = 0.0002
REFUSAL_LOG_INTERVAL = 60.0  # seconds: at most one refusal line per peer address per interval
_REFUSAL_LOG_ADDRESSES = 1024  # peer addresses remembered for that; beyond, one shared entry


@frozen
class RedundancyGroup:
    """IEC 60870-5-104 ed. 2 redundancy group: the masters (addresses or networks) that share
    one stream of events, of which one connection at a time has data transfer started. No
    masters: every address not in another group (at most one such catch-all group)."""

    name: str
    masters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a redundancy group needs a name")
        for entry in self.masters:
            ipaddress.ip_network(entry, strict=False)  # raises ValueError naming the entry


@frozen
class Iec104Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    apci: ApciParameters = field(default_factory=ApciParameters)
    max_connections: int = 4
    allowed_masters: tuple[str, ...] = ()  # IP addresses or networks; empty = any
    group: str = "iec104"  # event group shared by this server's masters
    tls: TlsSettings | None = None  # IEC 62351-3 TLS; None = plain TCP
    # none: every master is in ``group`` and each started connection gets every event;
    # else each master belongs to the first group listing its address (event group
    # "<group>/<name>"), and a STARTDT moves the group's data transfer to that connection
    redundancy_groups: tuple[RedundancyGroup, ...] = ()
    # connections from one IP address at a time (so that no address can hold every slot)
    max_connections_per_address: int = 2
    # seconds a connection may stay without data transfer started before it is closed; the
    # configured masters (allowed_masters, redundancy group members) are exempt: a standby
    # master may stay stopped (IEC 60870-5-104 ed. 2)
    startdt_timeout: float = 30.0
    # adaptive send coalescing: a connection that wrote less than this many ms ago holds its
    # next flush of events until this long after that write; an idle connection sends at once.
    # 0 = off (every loop turn's output is written in that turn). docs/performance.md
    send_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.send_delay_ms <= MAX_SEND_DELAY_MS:
            raise ValueError(f"send_delay_ms must be 0..{MAX_SEND_DELAY_MS:g}, "
                             f"got {self.send_delay_ms}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        if self.max_connections_per_address < 1:
            raise ValueError("max_connections_per_address must be >= 1")
        if not self.startdt_timeout > 0:
            raise ValueError(f"startdt_timeout must be > 0, got {self.startdt_timeout}")
        for entry in self.allowed_masters:
            ipaddress.ip_network(entry, strict=False)  # raises ValueError naming the entry
        names = [g.name for g in self.redundancy_groups]
        if len(set(names)) != len(names):
            raise ValueError("redundancy group names must be unique")
        if sum(1 for g in self.redundancy_groups if not g.masters) > 1:
            raise ValueError("at most one redundancy group may leave masters empty (catch-all)")

    def event_groups(self) -> tuple[str, ...]:
        """The outstation event groups this server's masters use."""
        if not self.redundancy_groups:
            return (self.group,)
        return tuple(f"{self.group}/{g.name}" for g in self.redundancy_groups)


class RefusalLog:
    """Refusal warnings, at most one line per peer address per ``interval`` seconds; the line
    carries how many refusals of that address were not logged since the previous one. The
    addresses remembered are bounded (``max_addresses``; beyond, they share one entry)."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL,
                 max_addresses: int = _REFUSAL_LOG_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.max_addresses = max_addresses
        self.clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # address -> (last line, not logged since)
        self.suppressed = 0  # refusals not logged (counted in the next line of their address)

    def refused(self, address: str, name: str, reason: str) -> None:
        now = self.clock()
        key = address
        if key not in self._seen and len(self._seen) >= self.max_addresses:
            self._seen = {a: v for a, v in self._seen.items()
                          if v[1] or now - v[0] < self.interval}
            if len(self._seen) >= self.max_addresses:
                key = "other addresses"
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            self.suppressed += 1
            return
        since = f" ({last[1]} more refused since the last line)" if last and last[1] else ""
        what = name if key == address else f"{name} (one of many addresses)"
        log.warning("refused connection from %s: %s%s", what, reason, since)
        self._seen[key] = (now, 0)


class Iec104Server:
    def __init__(self, outstation: Outstation, settings: Iec104Settings) -> None:
        self.outstation = outstation
        self.settings = settings
        self.links: set[_Link] = set()
        self.refused = 0
        self.refusals = RefusalLog()
        self.startdt_timeouts = 0  # connections closed for not starting data transfer in time
        self.paused_reads = 0  # times a connection's reading was paused (writes or answers backed up)
        self._server: asyncio.Server | None = None
        self._allowed = [ipaddress.ip_network(e, strict=False) for e in settings.allowed_masters]
        # TlsConfigError (a ValueError naming the file) if a certificate file does not load
        self.tls_context: ssl.SSLContext | None = None
        if settings.tls is not None:
            from rtu.servers import tls  # optional: imported only when TLS is configured

            self.tls_context = tls.server_context(settings.tls)
        self.tls_allowed = frozenset(settings.tls.allowed_fingerprints) if settings.tls else frozenset()
        self.certificate_note = ""  # what is wrong with the station certificate ("" = nothing)
        self._certificate_timer: asyncio.TimerHandle | None = None
        self.handshakes: dict[_Link, asyncio.Task[None]] = {}  # TLS handshakes in progress
        # links woken since the last flush: one loop callback flushes them all (an event that
        # every master gets wakes each link; one callback per link cost a loop handle each)
        self._woken: list[_Link] = []
        self._woken_last: list[_Link] = []  # links sending a GI: flushed after the others
        # send coalescing (send_delay_ms): the links holding their flush, and one timer for
        # all of them at the earliest end of a hold (masters fed the same events write at the
        # same times, so their holds end together)
        self.send_delay = settings.send_delay_ms / 1000.0
        self._held: list[_Link] = []
        self._hold_timer: asyncio.TimerHandle | None = None
        self._hold_until = 0.0
        self.held_flushes = 0  # flushes held back by send coalescing (rtu status)
        self.switchovers = 0  # STARTDTs that took a redundancy group over from another connection
        # the last ERRORS_KEPT connection errors: (POSIX time, connection, what went wrong)
        self.errors: deque[tuple[float, str, str]] = deque(maxlen=ERRORS_KEPT)
        # (event group, its networks) in configuration order; a catch-all group matches last
        self._redundancy = [
            (event_group, [ipaddress.ip_network(e, strict=False) for e in g.masters])
            for event_group, g in zip(settings.event_groups(), settings.redundancy_groups)
        ]
        for name in settings.event_groups():
            outstation.group(name)  # the backlog collects events before any master connects

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None and self._server.sockets
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def check_certificate(self) -> None:
        """Log what is wrong with the station certificate (expired, not yet valid: error;
        expiring within expiry_warning_days: warning), now and then daily while it lasts;
        failed handshakes then carry it too."""
        self._certificate_timer = None
        tls = self.settings.tls
        if tls is None:
            return
        from rtu.servers import tls as _tls  # loaded by __init__ already

        finding = _tls.certificate_finding(tls)
        self.certificate_note = finding[1] if finding else ""
        if finding is not None:
            (log.error if finding[0] == "error" else log.warning)("%s", finding[1])
        with contextlib.suppress(RuntimeError):  # no running loop: checked once only
            self._certificate_timer = asyncio.get_running_loop().call_later(
                _tls.CERTIFICATE_CHECK_INTERVAL, self.check_certificate)

    def reload_tls(self) -> None:
        """Read the certificate, key, CA and CRL files again (a rotation without a restart):
        new handshakes use them. TlsConfigError (the old context stays) if they do not load."""
        if self.settings.tls is None:
            return
        from rtu.servers import tls as _tls  # loaded by __init__ already

        self.tls_context = _tls.server_context(self.settings.tls)
        if self._certificate_timer is not None:
            self._certificate_timer.cancel()
        self.check_certificate()
        log.info("TLS: certificate, key, CA and CRL files read again")

    async def start(self) -> None:
        self.check_certificate()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Link(self), self.settings.host, self.settings.port, reuse_address=True
        )
        log.info("IEC 60870-5-104 server listening on %s:%d%s", *self.address,
                 " (TLS)" if self.tls_context else "")

    async def close(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        self._held.clear()
        if self._certificate_timer is not None:
            self._certificate_timer.cancel()
            self._certificate_timer = None
        if self._server is not None:
            self._server.close()
            for pending, task in list(self.handshakes.items()):
                task.cancel()
                if pending.transport is not None:
                    pending.transport.abort()
            for link in list(self.links):
                link.abort("server shutting down")
            await self._server.wait_closed()
            self._server = None

    def _admit(self, peer: tuple[str, int], newcomer: _Link) -> str | None:
        """None if the peer may connect, else the reason it may not. A configured master that
        finds every slot taken closes the oldest connection that neither is a configured
        master nor has data transfer started, so that a listed master always gets in."""
        if self._allowed:
            address = ipaddress.ip_address(peer[0])
            if not any(address in net for net in self._allowed):
                return "address not in allowed_masters"
        if self._redundancy and self.event_group_of(peer[0]) is None:
            return "address in no redundancy group"
        everyone = [*self.links, *self.handshakes]
        same = sum(1 for link in everyone if link.host == peer[0])
        if same >= self.settings.max_connections_per_address:
            return f"already {same} connections from {peer[0]} (max_connections_per_address)"
        if len(everyone) >= self.settings.max_connections:
            victims = sorted((link for link in everyone if not link.configured
                              and (link.conn is None or not link.conn.started)),
                             key=lambda link: link.since)
            if not newcomer.configured or not victims:
                return f"already {len(everyone)} connections (max_connections)"
            victims[0].abort(f"making room for configured master {newcomer.name}", warn=True)
        return None

    def configured_master(self, host: str) -> bool:
        """``host`` is listed by allowed_masters or by a redundancy group's masters."""
        address = ipaddress.ip_address(host)
        return any(address in net for net in self._allowed) or any(
            address in net for _, networks in self._redundancy for net in networks)

    def event_group_of(self, host: str) -> str | None:
        """The event group of a master at ``host`` (None: in no redundancy group)."""
        if not self._redundancy:
            return self.settings.group
        address = ipaddress.ip_address(host)
        catch_all = None
        for event_group, networks in self._redundancy:
            if not networks:
                catch_all = event_group
            elif any(address in net for net in networks):
                return event_group
        return catch_all

    def wake(self, link: _Link, *, last: bool = False) -> None:
        """``link`` has output waiting: flush it, with every other link woken, in one loop
        callback. ``last``: the link is sending a GI, and is flushed after the links that
        are not (another master's event waits for at most the slice of GI data that was
        running when it was made, not for another)."""
        if not self._woken and not self._woken_last:
            call_at_end_of_turn(link.loop, self._flush_woken)
        (self._woken_last if last else self._woken).append(link)

    @property
    def events_waiting(self) -> bool:
        """Links that are not sending a GI are woken and wait for the next flush."""
        return bool(self._woken)

    def _flush_woken(self) -> None:
        links, self._woken = self._woken, []
        if self._woken_last:
            links += self._woken_last
            self._woken_last = []
        delay = self.send_delay
        now = links[0].loop.time() if delay and links else 0.0
        for index, link in enumerate(links):
            try:
                if delay:
                    until = link.hold_until(now, delay)
                    if until > now + _HOLD_SLACK:
                        self._hold(link, until)
                        continue
                link.flush_if_woken()
            except BaseException:
                # a bug in one link's flush (it propagates, as a callback's would) must not
                # leave the links after it woken and never flushed: they go in the next turn
                for rest in links[index + 1:]:
                    self.wake(rest)
                raise

    def _hold(self, link: _Link, until: float) -> None:
        """Keep ``link``'s flush (it stays woken) until ``until`` on the loop's clock."""
        if not link.held:
            link.held = True
            self._held.append(link)
            self.held_flushes += 1
        if self._hold_timer is None or until < self._hold_until:
            if self._hold_timer is not None:
                self._hold_timer.cancel()
            self._hold_until = until
            self._hold_timer = link.loop.call_at(until, self._release_held)

    def _release_held(self) -> None:
        """The hold timer: flush every held link whose hold has ended; hold the rest again
        (a link may have written since, in its receive path)."""
        self._hold_timer = None
        held, self._held = self._held, []
        if not held:
            return
        now = held[0].loop.time()
        delay = self.send_delay
        for index, link in enumerate(held):
            link.held = False
            try:
                until = link.hold_until(now, delay) if delay else 0.0
                if until > now + _HOLD_SLACK:
                    self._hold(link, until)
                else:
                    link.flush_if_woken()
            except BaseException:
                for rest in held[index + 1:]:  # as in _flush_woken: none left unflushed
                    rest.held = False
                    self.wake(rest)
                raise

    def take_over(self, link: _Link) -> None:
        """``link`` started data transfer in a redundancy group: the group's other started
        connection stops receiving data (its unacknowledged events go back to the group and
        are sent again on ``link``)."""
        if not self._redundancy or link.session is None:
            return
        links = {other.session: other for other in self.links if other.session is not None}
        for session, unacknowledged in self.outstation.hand_over(link.session):
            other = links.get(session)
            if other is not None and other.conn is not None:
                other.conn.suspend_data_transfer()
            if other is not None:
                other.arm_startdt_deadline()
            self.switchovers += 1
            log.warning("redundancy group %s: %s took over data transfer from %s (%d events "
                        "it had not acknowledged will be sent again)", session.group.name,
                        link.name, session.name, unacknowledged)


    # -- what the server reports (rtu status) -----------------------------------------------
    def listening(self) -> bool:
        """Whether the listening socket is open (not before start() nor after close())."""
        return self._server is not None and self._server.is_serving()

    def status(self) -> dict[str, Any]:
        return {
            "listen": f"{self.settings.host}:{self.settings.port}",
            "listening": self.listening(),
            "connections": len(self.links),
            "max_connections": self.settings.max_connections,
            "refused": self.refused,
            "switchovers": self.switchovers,
            "startdt_timeouts": self.startdt_timeouts,
            "paused_reads": self.paused_reads,
            "send_delay_ms": self.settings.send_delay_ms,
            "held_flushes": self.held_flushes,
            "errors": [{"time": when, "link": name, "error": text}
                       for when, name, text in reversed(self.errors)],  # newest first
        }

    def note_error(self, link: str, text: str) -> None:
        self.errors.append((time.time(), link, text))

    def masters(self) -> list[dict[str, Any]]:
        """One entry per connected master: data transfer, queued and unacknowledged events."""
        masters: list[dict[str, Any]] = []
        for link in sorted(self.links, key=lambda lnk: lnk.name):
            session = link.session
            masters.append({
                "name": link.name,
                "data_transfer": bool(session and session.active),
                "queued": len(session.events) if session else 0,
                "unacknowledged": session.unacknowledged_events if session else 0,
                "overflowed": session.events.overflowed if session else 0,
                "last_error": link.last_error,
            })
        return masters


class _Link(asyncio.Protocol):
    def __init__(self, server: Iec104Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.session: Session | None = None
        self.name = "?"
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._flush_pending = False
        self.held = False  # in the server's held list (send coalescing)
        self._written_at = -1e9  # loop time of the last write (kept with send coalescing on)
        self._coalescing = server.send_delay > 0
        self._paused = False  # the transport's write buffer is over its high-water mark
        self._reading_paused = False
        self._rx_held = bytearray()  # received, not yet handed to the core (reading paused)
        self._feeding = False
        self._startdt_timer: asyncio.TimerHandle | None = None
        self.host = ""
        self.configured = False  # the peer is a configured master (no STARTDT deadline)
        self.since = self.loop.time()
        self.tls = False  # the transport is TLS (after the handshake)
        self.last_error: str | None = None  # what last went wrong on this connection

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.name = f"104:{peer[0]}:{peer[1]}"
        self.host = peer[0]
        self.configured = self.server.configured_master(peer[0])
        reason = self.server._admit(peer, self)
        if reason is not None:
            self.server.refused += 1
            self.server.note_error(self.name, f"refused: {reason}")
            self.server.refusals.refused(peer[0], self.name, reason)
            transport.abort()
            return
        if self.server.tls_context is not None:
            transport.pause_reading()  # nothing reaches this protocol before the handshake
            task = self.loop.create_task(self._start_tls(transport, self.server.tls_context))
            self.server.handshakes[self] = task
            return
        self._established()

    async def _start_tls(self, transport: asyncio.Transport, context: ssl.SSLContext) -> None:
        try:
            from rtu.servers import tls as _tls  # loaded by __init__ already

            tls = await _tls.accept(transport, self, context, self.server.tls_allowed, self.name,
                                    station_note=self.server.certificate_note)
        finally:
            self.server.handshakes.pop(self, None)
        if tls is None:
            self.server.refused += 1
            self.server.note_error(self.name, "refused: TLS handshake or certificate check "
                                              "failed (the log says why)")
            return
        self.transport = tls
        self.tls = True
        self._established()

    def _established(self) -> None:
        self.server.links.add(self)
        self.conn = Connection(self.server.settings.apci, self.loop.time())
        assert self.transport is not None
        group = self.server.event_group_of(self.transport.get_extra_info("peername")[0])
        assert group is not None  # _admit refused the others
        self.session = self.server.outstation.open_session(self.name, PROFILE_104, group,
                                                           self._wake)
        log.info("master connected: %s", self.name)
        self.arm_startdt_deadline()
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn is None:
            return
        if log.isEnabledFor(logging.DEBUG):  # the hex is not made unless it is logged
            log.debug("%s rx %s", self.name, data.hex(" "))
        if TAP.watchers:  # `rtu monitor` attached (rtu/tap.py)
            TAP.frame("104", self.name, "rx", data, *socket_addresses(self.transport))
        if (not self._rx_held and len(data) <= _FEED_CHUNK and not self._feeding
                and not self._backed_up()):
            # the common case (an S-frame, a command): straight to the core, no copy held
            self._receive(data)
            self._update_reading()
            return
        self._rx_held += data
        self._feed()

    def _receive(self, chunk: bytes) -> None:
        """Hand ``chunk`` to the core, act on its events, send what is due, re-arm the timer
        (receipt may have armed t2, which can fall before the armed timer)."""
        conn = self.conn
        assert conn is not None
        self._handle(conn.receive_data(chunk, self.loop.time()))
        if self.conn is not None:
            self._flush_or_queue()
            self._arm_timer()

    def _feed(self) -> None:
        """Hand held octets to the core a chunk at a time while the connection is not backed
        up; what is left waits with reading paused (at most one read's worth)."""
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._rx_held and self.conn is not None and not self._backed_up():
                chunk = bytes(self._rx_held[:_FEED_CHUNK])
                del self._rx_held[:_FEED_CHUNK]
                self._receive(chunk)
        finally:
            self._feeding = False
        self._update_reading()

    def _backed_up(self) -> bool:
        session = self.session
        return self._paused or (session is not None
                                and len(session.responses) >= MAX_PENDING_ANSWERS)

    def _update_reading(self) -> None:
        """Pause reading while writes or answers are backed up; resume (and feed what is
        held) once they are not."""
        if self.transport is None or self.conn is None:
            return
        stop = self._backed_up() or bool(self._rx_held)
        if stop and not self._reading_paused:
            self._reading_paused = True
            self.server.paused_reads += 1
            self.transport.pause_reading()
        elif not stop and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        if self._rx_held and not self._feeding and not self._backed_up():
            self.loop.call_soon(self._feed)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is None:
            return
        log.info("master disconnected: %s%s", self.name, f" ({exc})" if exc else "")
        if exc is not None:
            self.last_error = str(exc) or type(exc).__name__
            self.server.note_error(self.name, f"connection lost: {self.last_error}")
        self._close_session()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush_or_queue()
        self._feed()

    # -- internals ---------------------------------------------------------------------------
    def abort(self, reason: str, *, warn: bool = False) -> None:
        (log.warning if warn else log.info)("closing %s: %s", self.name, reason)
        if warn:  # not an ordinary close: kept for status() (the web page's links)
            self.last_error = reason
            self.server.note_error(self.name, reason)
        if self.transport is not None:
            self.transport.abort()
        self._close_session()

    def arm_startdt_deadline(self) -> None:
        """Close this connection unless it starts data transfer within startdt_timeout
        (configured masters may stay stopped)."""
        self._cancel_startdt_deadline()
        if not self.configured and self.conn is not None:
            self._startdt_timer = self.loop.call_later(self.server.settings.startdt_timeout,
                                                       self._startdt_expired)

    def _cancel_startdt_deadline(self) -> None:
        if self._startdt_timer is not None:
            self._startdt_timer.cancel()
            self._startdt_timer = None

    def _startdt_expired(self) -> None:
        self._startdt_timer = None
        if self.conn is None or self.conn.started:
            return
        self.server.startdt_timeouts += 1
        self.abort(f"no data transfer started within {self.server.settings.startdt_timeout:g} s "
                   "(startdt_timeout; the address is not a configured master)", warn=True)

    def _close_session(self) -> None:
        self._cancel_startdt_deadline()
        self._rx_held.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.session is not None:
            events = self.session.unacknowledged_events
            self.session.close()
            if events:
                log.info("%s: %d sent events were not acknowledged; kept for the next master",
                         self.name, events)
            self.session = None
        self.server.links.discard(self)

    def _handle(self, events: Sequence[Event]) -> None:
        session = self.session
        assert session is not None
        for event in events:
            if isinstance(event, AsduReceived):
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s asdu %s", self.name, event.asdu.hex(" "))
                session.receive(event.asdu)
            elif isinstance(event, Acknowledged):
                session.acknowledged(event.count)
            elif isinstance(event, DataTransferStarted):
                log.info("%s: STARTDT, data transfer started", self.name)
                self._cancel_startdt_deadline()
                self.server.take_over(self)
                session.activate()
            elif isinstance(event, DataTransferStopped):
                log.info("%s: STOPDT, data transfer stopped", self.name)
                session.deactivate()
                self.arm_startdt_deadline()
            elif isinstance(event, ConnectionFailed):
                log.warning("%s: %s; closing the connection", self.name, event.reason)
                self.last_error = event.reason
                self.server.note_error(self.name, event.reason)
                self._write()
                self.abort(event.reason)
                return

    def _wake(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            session = self.session
            self.server.wake(self, last=session is not None and session.interrogation is not None)

    def hold_until(self, now: float, delay: float) -> float:
        """Send coalescing: until when this link's woken flush waits (``now`` or earlier: not
        at all). Only events wait: a connection that has not written for ``delay`` seconds
        sends at once, and answers (confirmations, read replies) or a GI in progress are never
        held."""
        until = self._written_at + delay
        if until <= now:
            return until
        session = self.session
        if (session is None or not self._flush_pending or session.responses
                or session.interrogation is not None):
            return now
        return until

    def _flush_or_queue(self) -> None:
        """Send what is due after a receipt, a timer or drained writes. While a GI is in
        progress and other links are woken for events, the GI's data goes out from the
        server's woken flushes, behind theirs (see ``Iec104Server.wake``): a GI slice run here
        would hold up those events. Answers (a GI's ACT_CON), and the S- and U-frames the
        connection owes, go now."""
        session = self.session
        if session is None or session.interrogation is None or not self.server.events_waiting:
            self._flush()
            return
        woken = self._flush_pending
        self._flush(answers_only=True)
        if woken:
            self._flush_pending = True  # still in the server's woken list: flushed from there
        elif not self._flush_pending and session.interrogation is not None:
            self._flush_pending = True
            self.server.wake(self, last=True)

    def flush_if_woken(self) -> None:
        """The server's flush of woken links: flush unless that happened since the wake."""
        if self._flush_pending:
            self._flush()

    def _flush(self, *, answers_only: bool = False) -> None:
        """Send what the session has, as far as the window lets; ``answers_only``: stop once
        no answer waits (with the events an answer waits for, which go before it)."""
        self._flush_pending = False
        conn, session = self.conn, self.session
        if conn is None or session is None or conn.failed:
            return
        sent = 0
        if not self._paused and (room := conn.send_room):
            now = self.loop.time()
            window_was_empty = not conn.unacknowledged
            while sent < room:
                if answers_only and not session.responses:
                    break
                if (sent and session.interrogation is not None
                        and self.loop.time() - now >= GI_SLICE_S):
                    # a GI yields to the loop once it has worked for a slice: other masters'
                    # events go out in between, before its next slice
                    self._flush_pending = True
                    self.server.wake(self, last=True)
                    break
                out = session.next_output()
                if out is None:
                    break
                conn.send_asdu(out.asdu, now)
                sent += 1
            # Sending I-frames only adds t1 deadlines and clears t2. A t1 deadline can come
            # before the armed timer only when the window was empty (otherwise the oldest
            # unacknowledged frame's, already covered, stays the earliest): only then is the
            # timer looked at; a timer that fires early finds nothing due and re-arms.
            if sent and window_was_empty and (
                    self._timer is None or now + conn.params.t1 < self._timer_at):
                self._arm_timer()
        self._write()
        if self._timer is None:
            self._arm_timer()
        if self._reading_paused and not self._feeding:
            self._update_reading()

    def _write(self) -> None:
        if self.conn is None or self.transport is None:
            return
        data = self.conn.data_to_send()
        if not data:
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s tx %s", self.name, data.hex(" "))
        if TAP.watchers:
            TAP.frame("104", self.name, "tx", data, *socket_addresses(self.transport))
        if self._coalescing:
            self._written_at = self.loop.time()
        if not self.tls:
            self.transport.write(data)
            return
        # Over TLS one APDU per record (a write is a record): lib60870's TLS reader takes one
        # record per socket wake-up, so a second APDU in the same record waited for the next
        # segment from us (seen with c104 2.1.1: an ACT_TERM stuck behind its return information)
        start, size = 0, len(data)
        while start < size:
            end = start + 2 + data[start + 1]  # each APDU: 0x68, length, then length octets
            self.transport.write(data[start:end])
            start = end

    def _arm_timer(self) -> None:
        if self.conn is None:
            return
        deadline = self.conn.next_deadline()
        if deadline is None:
            return
        if self._timer is not None and self._timer_at <= deadline:
            return  # the armed timer fires first and re-arms
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        conn = self.conn
        if conn is None:
            return
        self._handle(conn.on_timer(self.loop.time()))
        if self.conn is not None:
            self._flush_or_queue()
            self._arm_timer()
