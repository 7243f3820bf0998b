"""A hand-written FT1.2 controlling station over a pseudo-terminal, and Wireshark's
iec60870_101 dissector over the captured frames (RTAC serial encapsulation, link type 250).

Nothing here imports the project: frames are built and checked byte by byte."""

from __future__ import annotations

import json
import os
import select
import shutil
import struct
import subprocess
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACK_CHAR = 0xE5
PRM, FCB, FCV, DIR = 0x40, 0x20, 0x10, 0x80
ACD, DFC = 0x20, 0x10
RESET_REMOTE_LINK, TEST_LINK, USER_DATA_CONFIRMED, USER_DATA_UNCONFIRMED = 0, 2, 3, 4
REQUEST_LINK_STATUS, REQUEST_CLASS_1, REQUEST_CLASS_2 = 9, 10, 11
SEC_ACK, SEC_NACK, SEC_USER_DATA, SEC_NACK_NO_DATA, SEC_LINK_STATUS = 0, 1, 8, 9, 11
LINKTYPE_RTAC_SERIAL = 250
RTAC_RX, RTAC_TX = 0x01, 0x02  # event type in the RTAC header: we only use it as a direction mark


def fixed_frame(control: int, address: int, address_size: int = 1) -> bytes:
    a = address.to_bytes(address_size, "little")
    return bytes([0x10, control]) + a + bytes([(control + sum(a)) & 0xFF, 0x16])


def variable_frame(control: int, address: int, asdu: bytes, address_size: int = 1) -> bytes:
    body = bytes([control]) + address.to_bytes(address_size, "little") + asdu
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


@dataclass
class Frame:
    kind: str  # "ack" (E5), "fixed", "variable"
    raw: bytes
    control: int = 0
    address: int = 0
    asdu: bytes = b""

    @property
    def function(self) -> int:
        return self.control & 0x0F

    @property
    def acd(self) -> bool:
        return self.kind != "ack" and bool(self.control & ACD) and not self.control & PRM

    def asdu_header(self, cot_size: int = 2, ca_size: int = 2) -> dict[str, Any]:
        a = self.asdu
        return {"type_id": a[0], "count": a[1] & 0x7F, "cot": a[2] & 0x3F,
                "negative": bool(a[2] & 0x40),
                "ca": int.from_bytes(a[2 + cot_size:2 + cot_size + ca_size], "little")}


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A pseudo-terminal pair: the master side's fd (raw, for :class:`Ft12Master`) and the
    device name of the other side (the outstation's serial port)."""
    master_fd, slave_fd = os.openpty()
    tty.setraw(master_fd)
    yield master_fd, os.ttyname(slave_fd)
    os.close(master_fd)
    os.close(slave_fd)


@dataclass
class Ft12Master:
    """The controlling station: writes to and reads from the master side of a pty."""

    fd: int
    address: int = 1
    address_size: int = 1
    balanced: bool = False
    own_address: int = 2  # balanced: the master's link address, carried by its answers
    records: list[tuple[float, int, bytes]] = field(default_factory=list)  # (time, RTAC_*, frame)
    fcb: bool = False
    _buf: bytes = b""

    def write(self, data: bytes, record: bool = True) -> None:
        os.write(self.fd, data)
        if record:
            self.records.append((time.time(), RTAC_TX, data))

    def _control(self, function: int, fcv: bool) -> int:
        c = PRM | function | (DIR if self.balanced else 0)
        if fcv:
            c |= FCV | (FCB if self.fcb else 0)
        return c

    def request(self, function: int, *, toggle: bool = True) -> Frame:
        """A fixed-frame request; FCV=1 functions toggle the FCB unless toggle=False (a repeat)."""
        fcv = function in (TEST_LINK, REQUEST_CLASS_1, REQUEST_CLASS_2)
        if fcv and toggle:
            self.fcb = not self.fcb
        self.write(fixed_frame(self._control(function, fcv), self.address, self.address_size))
        return self.read()

    def wait_link(self, timeout: float = 5.0) -> Frame:
        """Request the link status until it is answered: an outstation started a moment ago
        may open its port after our first request, and it discards what was written before
        (a pty keeps it), so an unanswered request is repeated, not waited for."""
        deadline = time.monotonic() + timeout
        while True:
            self.write(fixed_frame(self._control(REQUEST_LINK_STATUS, False), self.address,
                                   self.address_size))
            frame = self.read_optional(min(0.5, max(0.0, deadline - time.monotonic())))
            if frame is not None and frame.function == SEC_LINK_STATUS:
                return frame
            assert time.monotonic() < deadline, f"no link status within {timeout} s " \
                f"(last answer {frame}, buffer {self._buf.hex(' ')})"

    def user_data(self, asdu: bytes, *, confirmed: bool = True, toggle: bool = True) -> Frame | None:
        if confirmed and toggle:
            self.fcb = not self.fcb
        function = USER_DATA_CONFIRMED if confirmed else USER_DATA_UNCONFIRMED
        self.write(variable_frame(self._control(function, confirmed), self.address, asdu,
                                  self.address_size))
        return self.read() if confirmed else None

    def reset(self) -> Frame:
        self.fcb = False  # the next FCV frame carries FCB = 1
        return self.request(RESET_REMOTE_LINK)

    def answer(self, frame: Frame, function: int) -> None:
        """Balanced: our secondary answers the outstation's primary frame."""
        control = function | (DIR if self.balanced else 0)
        self.write(fixed_frame(control, self.own_address, self.address_size))

    def accept_link(self) -> None:
        """Balanced: answer the outstation's primary establishing the link (its request of
        the link status, then its reset of remote link)."""
        self.answer(self.read(), SEC_LINK_STATUS)
        self.answer(self.read(), SEC_ACK)

    def read(self, timeout: float = 3.0) -> Frame:
        frame = self.read_optional(timeout)
        assert frame is not None, f"no frame within {timeout} s (buffer {self._buf.hex(' ')})"
        return frame

    def read_optional(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while True:
            frame = self._take()
            if frame is not None:
                self.records.append((time.time(), RTAC_RX, frame.raw))
                return frame
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                self._buf += os.read(self.fd, 4096)

    def _take(self) -> Frame | None:
        b, n = self._buf, self.address_size
        if not b:
            return None
        if b[0] == ACK_CHAR:
            self._buf = b[1:]
            return Frame("ack", b[:1])
        if b[0] == 0x10:
            size = 4 + n
            if len(b) < size:
                return None
            raw, self._buf = b[:size], b[size:]
            assert raw[-1] == 0x16 and raw[-2] == sum(raw[1:-2]) & 0xFF, raw.hex(" ")
            return Frame("fixed", raw, raw[1], int.from_bytes(raw[2:2 + n], "little"))
        if b[0] == 0x68:
            if len(b) < 4:
                return None
            length = b[1]
            assert b[2] == length and b[3] == 0x68, b.hex(" ")
            size = 6 + length
            if len(b) < size:
                return None
            raw, self._buf = b[:size], b[size:]
            body = raw[4:-2]
            assert raw[-1] == 0x16 and raw[-2] == sum(body) & 0xFF, raw.hex(" ")
            return Frame("variable", raw, body[0], int.from_bytes(body[1:1 + n], "little"),
                         body[1 + n:])
        raise AssertionError(f"garbage from the outstation: {b.hex(' ')}")


def write_rtac_pcap(records: list[tuple[float, int, bytes]], path: Path) -> Path:
    """One pcap record per FT1.2 frame, each behind the 12-octet RTAC serial header."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RTAC_SERIAL))
        for t, event, frame in records:
            sec, usec = int(t), int((t % 1) * 1_000_000)
            data = struct.pack(">IIBBH", sec, usec, event, 0, 0) + frame
            f.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
    return path


def tshark_decode_101(path: Path, *, address_size: int = 1, cot_size: int = 2, ca_size: int = 2,
                      ioa_size: int = 3) -> list[dict[str, Any]]:
    """Wireshark's iec60870_101 dissector over the capture: one dict of fields per packet."""
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (scripts/setup-test installs it)")
    cmd = [tshark, "-r", str(path), "-d", "rtacser.data=iec60870_101",
           "-o", f"iec60870_101.linkaddr_len:{address_size}",
           "-o", f"iec60870_101.cot_len:{cot_size}",
           "-o", f"iec60870_101.asdu_addr_len:{ca_size}",
           "-o", f"iec60870_101.asdu_ioa_len:{ioa_size}", "-T", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [p["_source"]["layers"] for p in json.loads(out)]


def malformed(packets: list[dict[str, Any]]) -> list[str]:
    """Packets that Wireshark marked malformed or with an expert error."""
    bad = []
    for i, layers in enumerate(packets):
        text = json.dumps(layers)
        if "_ws.malformed" in layers or '"_ws.expert.severity": "8388608"' in text:
            bad.append(f"packet {i + 1}: {text[:400]}")
    return bad
