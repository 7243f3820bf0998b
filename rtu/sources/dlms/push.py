"""The DLMS/COSEM push listener ([dlms.push]): meters' data-notifications into the database.

A meter pushes (alarms, load profile entries, readings) to port 4059 over UDP (one push per
datagram) or TCP (the wrapper on a stream). :class:`PushListener` listens on either or both
and hands each wrapper PDU to the sans-I/O :class:`rtu.dlms.push.PushReceiver`, which knows
the configured devices, deciphers and refuses replays. An accepted push updates the mapped
points: element ``index`` of the notification's structure; a single point takes a bit of an
integer (an alarm register) or its truth, a measurement ``raw * 10**scaler * scale``; the time
tag is the notification's own date-time (our clock when it has none).

Bounds (a sender controls all of these), each with its counter in :attr:`PushListener.stats`:

* ``max_apdu``: a longer datagram is dropped; a TCP connection announcing one is closed;
* ``max_connections``: a TCP connection beyond it is closed at once;
* ``max_rate``: pushes (datagrams, and wrapper PDUs on TCP) beyond this many per second, over
  the whole listener, are dropped (a token bucket one second deep);
* ``idle_timeout``: a TCP connection silent that long is closed.

Unknown senders, plain pushes from a device that must cipher, pushes that do not
authenticate and replays are refused: logged (WARNING once per sender and reason, DEBUG
after) and counted. The last invocation counter accepted per device is kept in
``DIR/dlms/push.json``, so a replay is refused across restarts too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from rtu.dlms.axdr import DataType, to_python
from rtu.dlms.errors import RemoteProtocolError
from rtu.dlms.push import Push, PushDevice, PushReceiver, PushRefused
from rtu.dlms.security import SecurityKeys
from rtu.dlms.wrapper import HEADER_SIZE, WrapperStream, decode_datagram
from rtu.points.database import PointDatabase
from rtu.points.model import PointKind, Quality
from rtu.sources.dlms.push_config import DlmsPushConfig, PushObject
from rtu.sources.dlms.source import DlmsValueError, decode_cosem_datetime, register_value

log = logging.getLogger(__name__)

INVALID: Final = Quality.IV | Quality.NT
MAX_LOGGED_REASONS: Final = 256  # distinct (sender, reason) pairs remembered for log levels


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: PushListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.listener.datagram(data, f"{addr[0]}:{addr[1]}")


class PushListener:
    def __init__(self, config: DlmsPushConfig, db: PointDatabase,
                 state_dir: Callable[[], Path] | None = None, *,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = "dlms:push"
        self.config = config
        self.db = db
        self.wall = wall
        self.monotonic = monotonic
        self.path = state_dir() / "dlms" / "push.json" if state_dir is not None else None
        self.receiver = PushReceiver(
            PushDevice(d.name, d.system_title, d.wport,
                        SecurityKeys(d.encryption_key, d.authentication_key)
                        if d.ciphered else None) for d in config.devices)
        self.objects = {d.name: d.objects for d in config.devices}
        self.stats = {"accepted": 0, "refused": 0, "malformed": 0, "rate_dropped": 0,
                      "size_dropped": 0, "connections_refused": 0}
        self.connections = 0
        self.tcp_port: int | None = None  # the ports actually bound (port 0 in tests)
        self.udp_port: int | None = None
        self._tokens = config.max_rate
        self._refilled = monotonic()
        self._logged: set[tuple[str, str]] = set()
        self._problems: dict[str, str] = {}

    @property
    def health(self) -> str:
        s = self.stats
        return (f"listening ({s['accepted']} pushes accepted, {s['refused']} refused, "
                f"{s['malformed']} malformed, {s['rate_dropped'] + s['size_dropped']} dropped)")

    # -- persistence of the replay counters ---------------------------------------------------
    def _load_counters(self) -> dict[str, int]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # without it a replay of an old push would be taken: refuse to start
            raise RuntimeError(f"{self.path}: cannot read the last push counters: {exc}") \
                from exc
        if not isinstance(data, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in data.values()):
            raise RuntimeError(f"{self.path}: corrupt (expected {{device: counter}})")
        return {str(k): v for k, v in data.items()}

    def _save_counters(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.receiver.last_counters), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("dlms push: %s: cannot write it: %s", self.path, exc.strerror or exc)

    # -- the listener ---------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        c = self.config
        # before the first push: without them a replay of an old push would be taken, so an
        # unreadable file fails this source (restarted with backoff), not the whole RTU
        self.receiver.last_counters.update(await asyncio.to_thread(self._load_counters))
        transport: asyncio.BaseTransport | None = None
        server: asyncio.Server | None = None
        try:
            if c.transport in ("udp", "both"):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self), local_addr=(c.listen, c.port))
                self.udp_port = transport.get_extra_info("sockname")[1]
            if c.transport in ("tcp", "both"):
                server = await asyncio.start_server(self._connection, c.listen, c.port,
                                                    limit=c.max_apdu + HEADER_SIZE)
                self.tcp_port = server.sockets[0].getsockname()[1]
            log.info("dlms push: listening on %s port %d (%s), %d devices", c.listen, c.port,
                     c.transport, len(c.devices))
            await asyncio.Event().wait()  # until cancelled
        finally:
            if transport is not None:
                transport.close()
            if server is not None:
                server.close()

    def _allowed(self) -> bool:
        now = self.monotonic()
        rate = self.config.max_rate
        self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1.0:
            self.stats["rate_dropped"] += 1
            return False
        self._tokens -= 1.0
        return True

    def datagram(self, data: bytes, peer: str) -> None:
        if not self._allowed():
            return
        if len(data) > self.config.max_apdu + HEADER_SIZE:
            self.stats["size_dropped"] += 1
            log.debug("dlms push: %s: a datagram of %d octets dropped", peer, len(data))
            return
        try:
            pdu = decode_datagram(data)
        except RemoteProtocolError as exc:
            self._malformed(peer, exc, data)
            return
        self._pdu(pdu, peer, data)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        name = writer.get_extra_info("peername")
        peer = f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name)
        if self.connections >= self.config.max_connections:
            self.stats["connections_refused"] += 1
            log.warning("dlms push: %s: more than %d connections; closed", peer,
                        self.config.max_connections)
            writer.close()
            return
        self.connections += 1
        stream = WrapperStream(self.config.max_apdu)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.config.idle_timeout):
                        data = await reader.read(4096)
                except TimeoutError:
                    log.debug("dlms push: %s: idle for %g s; closed", peer,
                              self.config.idle_timeout)
                    return
                if not data:
                    return
                try:
                    pdus = stream.receive_data(data)
                except RemoteProtocolError as exc:
                    self._malformed(peer, exc, data)
                    return
                for pdu in pdus:
                    if self._allowed():
                        self._pdu(pdu, peer, pdu.apdu)
        except (ConnectionError, OSError):
            return
        finally:
            self.connections -= 1
            writer.close()

    def _malformed(self, peer: str, exc: Exception, data: bytes) -> None:
        self.stats["malformed"] += 1
        log.debug("dlms push: %s: %s: %s", peer, exc, data[:256].hex())

    def _refused(self, peer: str, reason: str) -> None:
        self.stats["refused"] += 1
        key = (peer.rsplit(":", 1)[0], reason.split(":")[0])
        if key not in self._logged and len(self._logged) < MAX_LOGGED_REASONS:
            self._logged.add(key)
            log.warning("dlms push: %s: refused: %s", peer, reason)
        else:
            log.debug("dlms push: %s: refused: %s", peer, reason)

    def _pdu(self, pdu: Any, peer: str, raw: bytes) -> None:
        try:
            push = self.receiver.receive(pdu)
        except PushRefused as exc:
            self._refused(peer, str(exc))
            return
        except RemoteProtocolError as exc:
            if "authenticate" in str(exc):
                self._refused(peer, str(exc))
            else:
                self._malformed(peer, exc, raw)
            return
        self.stats["accepted"] += 1
        if push.counter is not None:
            self._save_counters()
        self._store(push)

    # -- points ---------------------------------------------------------------------------------
    def _store(self, push: Push) -> None:
        stamp = decode_cosem_datetime(push.date_time).timestamp \
            if push.date_time is not None else None
        when = self.wall() if stamp is None else stamp
        body = push.body
        elements = body.value if body.type in (DataType.STRUCTURE, DataType.ARRAY) else ()
        for obj in self.objects[push.device]:
            try:
                if obj.index == 0:
                    element = body
                elif obj.index <= len(elements):
                    element = elements[obj.index - 1]
                else:
                    raise DlmsValueError(f"the push has {len(elements)} elements, the "
                                         f"configuration maps element {obj.index}")
                value = self._value(obj, to_python(element))
            except (DlmsValueError, ValueError) as exc:
                self._problem(push.device, obj.point, str(exc), when)
                continue
            if self._problems.pop(obj.point, None) is not None:
                log.info("dlms push %s: %s has a value again", push.device, obj.point)
            self.db.update(obj.point, value, Quality.GOOD, timestamp=when)

    def _value(self, obj: PushObject, raw: Any) -> bool | float | int:
        kind = self.db.point(obj.point).kind
        if kind is PointKind.SINGLE:
            if isinstance(raw, bool):
                return raw
            if not isinstance(raw, int):
                raise DlmsValueError(f"expected an integer or a boolean, got {raw!r}")
            return bool((raw >> obj.bit) & 1) if obj.bit is not None else raw != 0
        return register_value(raw, obj.scaler, obj.scale, kind)

    def _problem(self, device: str, point: str, why: str, when: float) -> None:
        level = logging.DEBUG if self._problems.get(point) == why else logging.WARNING
        self._problems[point] = why
        log.log(level, "dlms push %s: %s: %s; the point is invalid", device, point, why)
        if self.db.value(point).quality != INVALID:
            self.db.set_quality(point, INVALID, timestamp=when)
