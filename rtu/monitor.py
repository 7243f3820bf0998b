"""``rtu monitor``: every frame on every link of the running outstation, live and decoded.

Server side (in the outstation): the 104 and 101 drivers hand each chunk of octets they
receive or send to :data:`TAP` (rtu/tap.py, which they import instead of this module) only
while a monitor is attached; each attached monitor has a bounded queue, the newest chunks
dropped and counted when its client reads too slowly. :func:`serve` streams them to a client.

Protocol (over the operator socket, rtu/control.py): the client sends ``{"command":
"monitor", "link": GLOB, "direction": "rx"|"tx"|null}``; the server answers ``{"ok": true,
"result": {...the 101 field sizes...}}`` and then one JSON line per chunk: ``{"t": POSIX time,
"protocol": "104"|"101", "link": NAME, "dir": "rx"|"tx", "local": "HOST:PORT", "peer":
"HOST:PORT", "hex": OCTETS, "dropped": N}`` until the client goes away.

Client side: :class:`FrameSplitter` cuts each link's stream into frames (APDUs, FT1.2 frames),
:func:`describe` makes one line of each (direction, link, APCI or FT1.2 control, type, COT, CA,
IOAs with values and time tags), the filters on type and IOA apply to the decoded frame, and
:class:`PcapngWriter` writes what was seen to a capture that Wireshark/tshark decodes: 104 as
TCP payload between the real addresses and ports (IPv4 or IPv6, no handshake), 101 behind the
RTAC serial encapsulation (link type 250, ``-d rtacser.data=iec60870_101``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from rtu.frozen import frozen
from rtu.iec.asdu.codec import AsduError, AsduProfile, decode_asdu, decode_header
from rtu.iec.asdu.objects import Asdu
from rtu.iec.asdu.types import TypeId
from rtu.iec.cs101.ft12 import FixedFrame, Ft12Parser, SingleChar, VariableFrame, encode_frame
from rtu.points.timestamps import utc_datetime
from rtu.tap import DIRECTIONS, MAX_WATCHERS, TAP, Watcher

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

_PROFILE_104: Final = AsduProfile(2, 2, 3)
_MAX_101_ASDU: Final = 253


class MonitorError(Exception):
    """Attaching failed: no socket, no permission, or the outstation said no."""


def profile_info(sup: Supervisor) -> dict[str, Any]:
    """What the client needs to decode the 101 line's frames (each server says it)."""
    info: dict[str, Any] = {"iec101": None}
    for name, server in sup.servers.items():
        profile = server.frame_profile()
        if profile is not None:
            info[name] = profile
    return info


async def serve(sup: Supervisor, message: Mapping[str, Any], reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    """Stream chunks to one monitor client until it goes away (rtu/control.py calls this)."""
    link, direction = message.get("link") or "*", message.get("direction")
    problem = None
    if not isinstance(link, str):
        problem = "link must be a glob string"
    elif direction is not None and direction not in DIRECTIONS:
        problem = "direction must be rx or tx"
    elif len(TAP.watchers) >= MAX_WATCHERS:
        problem = f"already {MAX_WATCHERS} monitors attached"
    if problem:
        writer.write((json.dumps({"ok": False, "error": problem}) + "\n").encode())
        await writer.drain()
        return
    watcher = Watcher(link=link, direction=direction)
    TAP.watchers.append(watcher)
    closed = asyncio.ensure_future(reader.read())  # EOF (or anything): the client is gone
    try:
        writer.write((json.dumps({"ok": True, "result": profile_info(sup)}) + "\n").encode())
        await writer.drain()
        while not closed.done():
            waiting = asyncio.ensure_future(watcher.wake.wait())
            await asyncio.wait({waiting, closed}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            watcher.wake.clear()
            lines = []
            while watcher.queue:
                entry = watcher.queue.popleft()
                lines.append(json.dumps({**entry, "dropped": watcher.dropped}))
            if lines:
                writer.write(("\n".join(lines) + "\n").encode())
                await writer.drain()  # only this client waits; the tap keeps dropping
    except (ConnectionError, OSError):
        pass
    finally:
        TAP.watchers.remove(watcher)
        closed.cancel()


# -- client side: frames, text, filters ----------------------------------------------------------
@frozen
class Seen:
    """One frame as the monitor shows it."""

    time: float
    protocol: str
    link: str
    direction: str
    raw: bytes
    text: str  # one line, decoded
    type_id: int | None  # of its ASDU, if it has one
    ioas: tuple[int, ...]
    head: str = ""  # the link part alone: I(1,0), S(3), U STARTDT act, variable ... A=1
    asdu: Asdu | None = None  # its ASDU, decoded (the web page shows it in columns)


@dataclass(frozen=True, slots=True)  # a default argument (ruff B008: immutable)
class Sizes101:
    link_address_size: int = 1
    cot_size: int = 2
    ca_size: int = 2
    ioa_size: int = 3


class FrameSplitter:
    """Cuts the chunks of each (link, direction) stream into frames."""

    def __init__(self, sizes101: Sizes101 = Sizes101()) -> None:
        self.sizes = sizes101
        self.profile101 = AsduProfile(sizes101.cot_size, sizes101.ca_size, sizes101.ioa_size,
                                      max_asdu_length=_MAX_101_ASDU - sizes101.link_address_size)
        self._buffers: dict[tuple[str, str], bytes] = {}
        self._parsers: dict[tuple[str, str], Ft12Parser] = {}

    def feed(self, chunk: Mapping[str, Any]) -> list[Seen]:
        data = bytes.fromhex(str(chunk["hex"]))
        key = (str(chunk["link"]), str(chunk["dir"]))
        when = float(chunk["t"])
        if chunk["protocol"] == "101":
            return self._feed_101(key, data, when)
        return self._feed_104(key, data, when)

    def _feed_104(self, key: tuple[str, str], data: bytes, when: float) -> list[Seen]:
        buffer = self._buffers.get(key, b"") + data
        out: list[Seen] = []
        while len(buffer) >= 2:
            if buffer[0] != 0x68:
                out.append(Seen(when, "104", *key, buffer, f"not an APDU: {buffer[:16].hex(' ')}",
                                None, ()))
                buffer = b""
                break
            end = 2 + buffer[1]
            if len(buffer) < end:
                break
            apdu, buffer = buffer[:end], buffer[end:]
            out.append(describe_104(when, key, apdu))
        self._buffers[key] = buffer[-255:]
        return out

    def _feed_101(self, key: tuple[str, str], data: bytes, when: float) -> list[Seen]:
        parser = self._parsers.get(key)
        if parser is None:
            parser = self._parsers[key] = Ft12Parser(self.sizes.link_address_size)
        size = self.sizes.link_address_size
        return [describe_101(when, key, frame, encode_frame(frame, size), self.profile101)
                for frame in parser.feed(data, 0.0)]


def _asdu_facts(asdu_raw: bytes, profile: AsduProfile) -> tuple[str, int | None,
                                                                 tuple[int, ...], Asdu | None]:
    from rtu.decode import describe_asdu  # the decoder: only once a frame is watched

    lines = describe_asdu(asdu_raw, profile)
    text = " | ".join(line.strip() for line in lines)
    try:
        asdu = decode_asdu(asdu_raw, profile)
    except AsduError:
        try:
            return text, decode_header(asdu_raw, profile).type_id, (), None
        except AsduError:
            return text, None, (), None
    return text, int(asdu.type_id), tuple(o.ioa for o in asdu.objects), asdu


def describe_104(when: float, key: tuple[str, str], apdu: bytes) -> Seen:
    if len(apdu) < 6:
        return Seen(when, "104", *key, apdu, f"short APDU {apdu.hex(' ')}", None, ())
    c1, c2, c3, c4 = apdu[2:6]
    if not c1 & 0x01:
        send, recv = (c1 | c2 << 8) >> 1, (c3 | c4 << 8) >> 1
        text, type_id, ioas, asdu = _asdu_facts(apdu[6:], _PROFILE_104)
        head = f"I({send},{recv})"
        return Seen(when, "104", *key, apdu, f"{head} {text}", type_id, ioas, head, asdu)
    if c1 & 0x03 == 0x01:
        head = f"S({(c3 | c4 << 8) >> 1})"
        return Seen(when, "104", *key, apdu, head, None, (), head)
    names = {0x07: "STARTDT act", 0x0B: "STARTDT con", 0x13: "STOPDT act", 0x23: "STOPDT con",
             0x43: "TESTFR act", 0x83: "TESTFR con"}
    head = f"U {names.get(c1, f'0x{c1:02X}')}"
    return Seen(when, "104", *key, apdu, head, None, (), head)


def describe_101(when: float, key: tuple[str, str], frame: object, raw: bytes,
                 profile: AsduProfile) -> Seen:
    from rtu.decode import control_text

    if isinstance(frame, SingleChar):
        head = "E5 (ACK / no data)"
        return Seen(when, "101", *key, b"\xe5", head, None, (), head)
    if isinstance(frame, FixedFrame):
        head = f"fixed {control_text(frame.control)} A={frame.address}"
        return Seen(when, "101", *key, raw, head, None, (), head)
    assert isinstance(frame, VariableFrame)
    text, type_id, ioas, asdu = _asdu_facts(frame.asdu, profile)
    head = f"variable {control_text(frame.control)} A={frame.address}"
    return Seen(when, "101", *key, raw, f"{head} | {text}", type_id, ioas, head, asdu)


def parse_type(text: str) -> int:
    """A type identification by name (M_SP_TB_1) or number; ValueError otherwise."""
    raw = text.strip()
    if raw.isdigit() and 1 <= int(raw) <= 255:
        return int(raw)
    try:
        return int(TypeId[raw.upper()])
    except KeyError:
        raise ValueError(f"{text!r} is not a type identification (a name such as M_SP_TB_1 "
                         "or a number 1..255)") from None


def matches(seen: Seen, type_id: int | None, ioa: int | None) -> bool:
    if type_id is not None and seen.type_id != type_id:
        return False
    return ioa is None or ioa in seen.ioas


def line(seen: Seen) -> str:
    moment = utc_datetime(seen.time)
    stamp = moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    arrow = "<-" if seen.direction == "rx" else "->"
    return f"{stamp} {seen.link} {arrow} {seen.text}"


def attach(path: Path, link: str = "*", direction: str | None = None,
           connect_timeout: float = 5.0) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """Attach to the outstation's monitor: (what it says first, the chunks as they come).
    MonitorError when it cannot or says no."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(connect_timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps({"command": "monitor", "link": link,
                                 "direction": direction}).encode() + b"\n")
        stream = sock.makefile("rb")
        first = json.loads(stream.readline() or b"null")
    except PermissionError as exc:
        sock.close()
        raise MonitorError(f"{path}: {exc.strerror}: run as root or as a member of the "
                           "service's group") from None
    except (OSError, ValueError) as exc:
        sock.close()
        raise MonitorError(f"{path}: {exc}") from None
    if not isinstance(first, dict) or not first.get("ok"):
        sock.close()
        raise MonitorError(str(first.get("error") if isinstance(first, dict) else first))
    sock.settimeout(None)

    def chunks() -> Iterator[dict[str, Any]]:
        with contextlib.closing(sock), stream:
            for raw in stream:
                with contextlib.suppress(ValueError):
                    chunk = json.loads(raw)
                    if isinstance(chunk, dict) and "hex" in chunk:
                        yield chunk

    return dict(first.get("result") or {}), chunks()


# -- pcapng ----------------------------------------------------------------------------------------
LINKTYPE_RAW: Final = 101  # an IPv4 or IPv6 packet, no link-layer header
LINKTYPE_RTAC_SERIAL: Final = 250
_RTAC_RX, _RTAC_TX = 0x01, 0x02  # as the tests' serial captures mark direction


class PcapngWriter:
    """Writes frames into a pcapng file: 104 in TCP/IP, 101 in RTAC serial records."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self._interfaces: dict[int, int] = {}
        self._seq: dict[tuple[str, str], int] = {}
        # section header: byte-order magic, version 1.0, section length unknown
        self._block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def _block(self, kind: int, body: bytes) -> None:
        body += b"\0" * (-len(body) % 4)
        length = 12 + len(body)
        self.out.write(struct.pack("<II", kind, length) + body + struct.pack("<I", length))

    def _interface(self, linktype: int) -> int:
        if linktype not in self._interfaces:
            self._interfaces[linktype] = len(self._interfaces)
            # interface description; default time resolution: microseconds
            self._block(0x00000001, struct.pack("<HHI", linktype, 0, 65535))
        return self._interfaces[linktype]

    def _packet(self, linktype: int, when: float, data: bytes) -> None:
        stamp = int(when * 1_000_000)
        self._block(0x00000006, struct.pack("<IIIII", self._interface(linktype), stamp >> 32,
                                            stamp & 0xFFFFFFFF, len(data), len(data)) + data)

    def write(self, chunk: Mapping[str, Any]) -> None:
        """One chunk as the tap reported it."""
        data = bytes.fromhex(str(chunk["hex"]))
        when = float(chunk["t"])
        rx = chunk["dir"] == "rx"
        if chunk["protocol"] == "101":
            header = struct.pack(">IIBBH", int(when), int(when % 1 * 1_000_000),
                                 _RTAC_RX if rx else _RTAC_TX, 0, 0)
            self._packet(LINKTYPE_RTAC_SERIAL, when, header + data)
            return
        local, peer = split_address(str(chunk["local"])), split_address(str(chunk["peer"]))
        if local is None or peer is None:
            return  # no addresses (cannot happen for a TCP link): not representable
        source, destination = (peer, local) if rx else (local, peer)
        self._packet(LINKTYPE_RAW, when, self._tcp(source, destination, data))

    def _tcp(self, source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> bytes:
        key, back = (f"{source}", f"{destination}"), (f"{destination}", f"{source}")
        seq = self._seq.get(key, 1)
        self._seq[key] = (seq + len(payload)) & 0xFFFFFFFF
        ack = self._seq.get(back, 1)
        tcp = struct.pack(">HHIIBBHHH", source[1], destination[1], seq, ack, 5 << 4, 0x18,
                          65535, 0, 0) + payload
        src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
        if src.version == 4 and dst.version == 4:
            header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                                 src.packed, dst.packed)
            checksum = _ip_checksum(header)
            return header[:10] + struct.pack(">H", checksum) + header[12:] + tcp
        return struct.pack(">IHBB16s16s", 6 << 28, len(tcp), 6, 64,
                           ipaddress.IPv6Address(int(src) if src.version == 6 else 0).packed,
                           ipaddress.IPv6Address(int(dst) if dst.version == 6 else 0).packed) \
            + tcp


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f">{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def split_address(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` or ``[V6]:PORT`` -> (host, port); None if it is not one."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)
