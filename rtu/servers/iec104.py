"""IEC 60870-5-104 server: asyncio TCP around the sans-I/O APCI core and the shared outstation.

Nothing here polls: a point change wakes the session, which schedules one flush on the loop, and
the flush writes every I-frame the k-window allows. Timers are a single loop handle per
connection, armed at the core's next deadline on the loop's monotonic clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
from rtu.monitor import TAP, socket_addresses

if TYPE_CHECKING:  # rtu.servers.tls is loaded only by a server that uses TLS
    from rtu.servers.tls import TlsSettings

log = logging.getLogger(__name__)

DEFAULT_PORT = 2404


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, got {self.port}")
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")
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


class Iec104Server:
    def __init__(self, outstation: Outstation, settings: Iec104Settings) -> None:
        self.outstation = outstation
        self.settings = settings
        self.links: set[_Link] = set()
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._allowed = [ipaddress.ip_network(e, strict=False) for e in settings.allowed_masters]
        # TlsConfigError (a ValueError naming the file) if a certificate file does not load
        self.tls_context: ssl.SSLContext | None = None
        if settings.tls is not None:
            from rtu.servers import tls  # optional: imported only when TLS is configured

            self.tls_context = tls.server_context(settings.tls)
        self.tls_allowed = frozenset(settings.tls.allowed_fingerprints) if settings.tls else frozenset()
        self.handshakes: dict[_Link, asyncio.Task[None]] = {}  # TLS handshakes in progress
        self.switchovers = 0  # STARTDTs that took a redundancy group over from another connection
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

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Link(self), self.settings.host, self.settings.port, reuse_address=True
        )
        log.info("IEC 60870-5-104 server listening on %s:%d%s", *self.address,
                 " (TLS)" if self.tls_context else "")

    async def close(self) -> None:
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

    def _admit(self, peer: tuple[str, int]) -> str | None:
        """None if the peer may connect, else the reason it may not."""
        connections = len(self.links) + len(self.handshakes)
        if connections >= self.settings.max_connections:
            return f"already {connections} connections (max_connections)"
        if self._allowed:
            address = ipaddress.ip_address(peer[0])
            if not any(address in net for net in self._allowed):
                return "address not in allowed_masters"
        if self._redundancy and self.event_group_of(peer[0]) is None:
            return "address in no redundancy group"
        return None

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
        }

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
        self._paused = False
        self.tls = False  # the transport is TLS (after the handshake)

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.name = f"104:{peer[0]}:{peer[1]}"
        reason = self.server._admit(peer)
        if reason is not None:
            self.server.refused += 1
            log.warning("refused connection from %s: %s", self.name, reason)
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

            tls = await _tls.accept(transport, self, context, self.server.tls_allowed, self.name)
        finally:
            self.server.handshakes.pop(self, None)
        if tls is None:
            self.server.refused += 1
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
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        log.debug("%s rx %s", self.name, data.hex(" "))
        if TAP.watchers:  # `rtu monitor` attached (rtu/monitor.py)
            TAP.frame("104", self.name, "rx", data, *socket_addresses(self.transport))
        self._handle(conn.receive_data(data, self.loop.time()))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is None:
            return
        log.info("master disconnected: %s%s", self.name, f" ({exc})" if exc else "")
        self._close_session()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush()

    # -- internals ---------------------------------------------------------------------------
    def abort(self, reason: str) -> None:
        log.info("closing %s: %s", self.name, reason)
        if self.transport is not None:
            self.transport.abort()
        self._close_session()

    def _close_session(self) -> None:
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
                log.debug("%s asdu %s", self.name, event.asdu.hex(" "))
                session.receive(event.asdu)
            elif isinstance(event, Acknowledged):
                session.acknowledged(event.count)
            elif isinstance(event, DataTransferStarted):
                log.info("%s: STARTDT, data transfer started", self.name)
                self.server.take_over(self)
                session.activate()
            elif isinstance(event, DataTransferStopped):
                log.info("%s: STOPDT, data transfer stopped", self.name)
                session.deactivate()
            elif isinstance(event, ConnectionFailed):
                log.warning("%s: %s; closing the connection", self.name, event.reason)
                self._write()
                self.abort(event.reason)
                return

    def _wake(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        conn, session = self.conn, self.session
        if conn is None or session is None or conn.failed:
            return
        if not self._paused:
            now = self.loop.time()
            while conn.can_send:
                out = session.next_output()
                if out is None:
                    break
                conn.send_asdu(out.asdu, now)
        self._write()
        self._arm_timer()

    def _write(self) -> None:
        if self.conn is None or self.transport is None:
            return
        data = self.conn.data_to_send()
        if not data:
            return
        log.debug("%s tx %s", self.name, data.hex(" "))
        if TAP.watchers:
            TAP.frame("104", self.name, "tx", data, *socket_addresses(self.transport))
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
            self._flush()
