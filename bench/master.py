"""A minimal IEC 60870-5-104 master on a plain socket, written for measuring, not for testing.

One receiver thread reads the socket, splits APDUs, stamps every chunk with
``time.monotonic_ns()`` right after ``recv`` returns, acknowledges I-frames with an S-frame once
``w`` of them are unacknowledged (and after ``idle_ack`` seconds of silence, like t2), and
answers TESTFR act. Monitoring events (M_SP_TB_1, COT 3) are kept as raw frames with their
receive time and decoded only after a measurement, so that the receive path stays short; every
other ASDU is kept as an :class:`Asdu` record that the caller can wait for.

The same code talks to both stacks; nothing here knows which one it talks to.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

STARTDT_ACT = bytes.fromhex("680407000000")
STARTDT_CON = 0x0B
TESTFR_ACT = 0x43
TESTFR_CON = bytes.fromhex("680483000000")

M_SP_TB_1 = 30
C_SC_NA_1 = 45
C_IC_NA_1 = 100
COT_SPONTANEOUS = 3
COT_ACTIVATION = 6
COT_ACTIVATION_CON = 7
COT_ACTIVATION_TERMINATION = 10
COT_RETURN_REMOTE = 11
COT_INTERROGATED = 20

_SEQ = 0x8000
_SP_TB_SIZE = 3 + 1 + 7  # IOA, SIQ, CP56Time2a


class MasterError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Asdu:
    """One received ASDU that is not a spontaneous single-point event."""

    t_ns: int  # monotonic receive time of the TCP chunk that completed it
    type_id: int
    cot: int
    negative: bool
    count: int
    ioa: int | None  # first IOA


def s_frame(rx_seq: int) -> bytes:
    return bytes([0x68, 4, 0x01, 0x00, (rx_seq << 1) & 0xFF, (rx_seq >> 7) & 0xFF])


def i_frame(asdu: bytes, tx_seq: int, rx_seq: int) -> bytes:
    return bytes([0x68, len(asdu) + 4, (tx_seq << 1) & 0xFF, (tx_seq >> 7) & 0xFF,
                  (rx_seq << 1) & 0xFF, (rx_seq >> 7) & 0xFF]) + asdu


def interrogation_asdu(ca: int, qoi: int = 20) -> bytes:
    return bytes([C_IC_NA_1, 1, COT_ACTIVATION, 0, ca & 0xFF, ca >> 8, 0, 0, 0, qoi])


def single_command_asdu(ca: int, ioa: int, on: bool, qu: int = 3) -> bytes:
    sco = (qu << 2) | int(on)
    return bytes([C_SC_NA_1, 1, COT_ACTIVATION, 0, ca & 0xFF, ca >> 8,
                  ioa & 0xFF, (ioa >> 8) & 0xFF, ioa >> 16, sco])


def decode_events(frames: list[tuple[int, bytes]]) -> list[tuple[int, bool, int]]:
    """(IOA, SPI, receive time ns) of every object in M_SP_TB_1 frames, in order."""
    out: list[tuple[int, bool, int]] = []
    for t_ns, f in frames:
        vsq = f[7]
        n = vsq & 0x7F
        pos = 12  # 6 APCI + type, VSQ, COT(2), CA(2)
        if vsq & 0x80:  # SQ=1: one IOA, then n elements
            base = f[pos] | f[pos + 1] << 8 | f[pos + 2] << 16
            pos += 3
            for k in range(n):
                out.append((base + k, bool(f[pos] & 1), t_ns))
                pos += 8
        else:
            for _ in range(n):
                out.append((f[pos] | f[pos + 1] << 8 | f[pos + 2] << 16,
                            bool(f[pos + 3] & 1), t_ns))
                pos += _SP_TB_SIZE
    return out


class Master:
    def __init__(self, host: str, port: int, *, w: int = 8, idle_ack: float = 0.2) -> None:
        self.host, self.port, self.w, self.idle_ack = host, port, w, idle_ack
        self.sock: socket.socket | None = None
        self.events: list[tuple[int, bytes]] = []  # (t_ns, M_SP_TB_1 COT 3 frame)
        self.asdus: list[Asdu] = []
        self.sequence_errors = 0
        self.closed = False
        self.error: str | None = None
        self._tx = 0
        self._rx = 0
        self._unacked = 0
        self._lock = threading.Lock()  # socket writes and sequence numbers
        self._cond = threading.Condition()
        self._startdt_con_ns: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = False

    # -- connection ------------------------------------------------------------------------
    def connect(self, timeout: float = 30.0, *, retry_every: float = 0.002) -> int:
        """Connect (retrying while refused), STARTDT; returns the monotonic ns of STARTDT con."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise MasterError(f"cannot connect to {self.host}:{self.port}") from None
                time.sleep(retry_every)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.settimeout(self.idle_ack)
        self.sock = sock
        self._thread = threading.Thread(target=self._receive, name="master-rx", daemon=True)
        self._thread.start()
        self._send(STARTDT_ACT)
        with self._cond:
            ok = self._cond.wait_for(lambda: self._startdt_con_ns is not None or self.closed,
                                     max(0.1, deadline - time.monotonic()))
        if not ok or self._startdt_con_ns is None:
            raise MasterError(f"no STARTDT con from {self.host}:{self.port} ({self.error})")
        return self._startdt_con_ns

    @property
    def receiver_tid(self) -> int | None:
        """The receiving thread's kernel thread id (for CPU affinity), None before connect."""
        return self._thread.native_id if self._thread is not None else None

    def close(self) -> None:
        self._stop = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        if self._thread is not None:
            self._thread.join(2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        assert self.sock is not None
        with self._lock:
            self.sock.sendall(data)

    def send_asdu(self, asdu: bytes) -> int:
        """Send one I-frame (acknowledging everything received); returns its monotonic ns."""
        assert self.sock is not None
        with self._lock:
            frame = i_frame(asdu, self._tx, self._rx)
            self._tx = (self._tx + 1) % _SEQ
            self._unacked = 0
            t = time.monotonic_ns()
            self.sock.sendall(frame)
        return t

    # -- waiting ---------------------------------------------------------------------------
    def wait_asdu(self, predicate: Callable[[Asdu], bool], since: int,
                  timeout: float = 10.0) -> Asdu:
        """The first ASDU from index ``since`` of :attr:`asdus` that matches."""
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.asdus):
                    if predicate(self.asdus[i]):
                        return self.asdus[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise MasterError(f"no matching ASDU within {timeout:.1f} s "
                                      f"(closed={self.closed}, error={self.error})")
                self._cond.wait(left)

    def wait_events(self, count: int, since: int, timeout: float,
                    quiet: float = 1.0) -> int:
        """Wait until ``count`` event objects arrived after frame ``since`` (or nothing came
        for ``quiet`` seconds, or ``timeout``); returns the number of objects received."""
        deadline = time.monotonic() + timeout
        seen_frames, objects, last_progress = since, 0, time.monotonic()
        while True:
            frames = self.events[seen_frames:]
            if frames:
                seen_frames += len(frames)
                objects += sum(f[7] & 0x7F for _, f in frames)
                last_progress = time.monotonic()
            now = time.monotonic()
            if objects >= count or now >= deadline or now - last_progress >= quiet or self.closed:
                return objects
            time.sleep(0.005)

    # -- receiving -------------------------------------------------------------------------
    def _receive(self) -> None:
        try:
            self._receive_until_closed()
        except OSError as exc:  # a write (S-frame, TESTFR con) on a socket close() shut
            if not self._stop:
                self.error = str(exc)
            self.closed = True
            with self._cond:
                self._cond.notify_all()

    def _receive_until_closed(self) -> None:
        sock = self.sock
        assert sock is not None
        buf = bytearray()
        events, asdus = self.events, self.asdus
        while not self._stop:
            try:
                data = sock.recv(1 << 18)
            except TimeoutError:
                with self._lock:
                    if self._unacked:
                        sock.sendall(s_frame(self._rx))
                        self._unacked = 0
                continue
            except OSError as exc:
                self.error = str(exc)
                break
            t = time.monotonic_ns()
            if not data:
                self.error = "closed by the peer"
                break
            buf += data
            i, n, got_other = 0, len(buf), False
            with self._lock:
                while n - i >= 2:
                    if buf[i] != 0x68:
                        self.error = f"bad start octet {buf[i]:#04x}"
                        self._stop = True
                        break
                    end = i + 2 + buf[i + 1]
                    if end > n:
                        break
                    c0 = buf[i + 2]
                    if c0 & 1 == 0:  # I-frame
                        ns = (c0 | buf[i + 3] << 8) >> 1
                        if ns != self._rx:
                            self.sequence_errors += 1
                        self._rx = (ns + 1) % _SEQ
                        self._unacked += 1
                        tid, cot = buf[i + 6], buf[i + 8]
                        if tid == M_SP_TB_1 and cot & 0x3F == COT_SPONTANEOUS:
                            events.append((t, bytes(buf[i:end])))
                        else:
                            ioa = (buf[i + 12] | buf[i + 13] << 8 | buf[i + 14] << 16
                                   if end - i >= 15 else None)
                            asdus.append(Asdu(t, tid, cot & 0x3F, bool(cot & 0x40),
                                              buf[i + 7] & 0x7F, ioa))
                            got_other = True
                    elif c0 & 3 == 3:  # U-frame
                        if c0 == TESTFR_ACT:
                            sock.sendall(TESTFR_CON)
                        elif c0 == STARTDT_CON:
                            self._startdt_con_ns = t
                            got_other = True
                    i = end
                del buf[:i]
                if self._unacked >= self.w:
                    sock.sendall(s_frame(self._rx))
                    self._unacked = 0
            if got_other:
                with self._cond:
                    self._cond.notify_all()
        self.closed = True
        with self._cond:
            self._cond.notify_all()
