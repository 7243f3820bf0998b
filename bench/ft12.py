"""A controlling station for IEC 60870-5-101 (FT1.2, unbalanced) on a pseudo-terminal that
behaves as if the line ran at a given character time.

A pty moves bytes instantly, so the wire is emulated at the master: a request of n characters is
written only n character times after it "started" (its last character arrives then, which is
the first moment a secondary can act on it), and an answer of m characters that became readable
at t is complete on the line at t + m character times; the next request starts then. What the
line cannot account for is the outstation's turnaround: from the last character of a request to
the first character of its answer. Line use is the characters' time over the elapsed time.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass

ACK_CHAR = 0xE5
PRM, FCB, FCV = 0x40, 0x20, 0x10
ACD = 0x20
RESET_REMOTE_LINK, REQUEST_LINK_STATUS, REQUEST_CLASS_1, REQUEST_CLASS_2 = 0, 9, 10, 11
SEC_LINK_STATUS = 11


class Ft12Error(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Answer:
    raw: bytes
    kind: str  # "ack" | "fixed" | "variable"
    control: int
    asdu: bytes
    first_ns: int  # monotonic time the answer's first octet became readable

    @property
    def function(self) -> int:
        return self.control & 0x0F

    @property
    def acd(self) -> bool:
        return self.kind != "ack" and bool(self.control & ACD)


def fixed_frame(control: int, address: int) -> bytes:
    return bytes([0x10, control, address, (control + address) & 0xFF, 0x16])


class Ft12Master:
    def __init__(self, fd: int, address: int = 1, *, char_time: float = 11 / 9600) -> None:
        self.fd, self.address, self.char_time = fd, address, char_time
        self._fcb = False
        self._buf = b""
        self.busy_s = 0.0  # line time of every character sent and received
        self.turnaround_s: list[float] = []

    # -- one exchange ------------------------------------------------------------------------
    def request(self, function: int, *, fcv: bool = False, timeout: float = 1.0) -> Answer:
        control = PRM | function
        if fcv:
            self._fcb = not self._fcb
            control |= FCV | (FCB if self._fcb else 0)
        frame = fixed_frame(control, self.address)
        start = time.monotonic()
        wire = len(frame) * self.char_time
        _sleep_until(start + wire)  # the request is on the line; its last octet arrives now
        os.write(self.fd, frame)
        t_end = time.monotonic_ns()
        answer = self._read_answer(timeout)
        self.turnaround_s.append((answer.first_ns - t_end) / 1e9)
        done = answer.first_ns / 1e9 + len(answer.raw) * self.char_time
        _sleep_until(done)  # the answer is on the line until its last octet
        self.busy_s += wire + len(answer.raw) * self.char_time
        return answer

    def _read_answer(self, timeout: float) -> Answer:
        deadline = time.monotonic() + timeout
        first_ns: int | None = None if not self._buf else time.monotonic_ns()
        while True:
            parsed = _parse(self._buf)
            if parsed is not None:
                raw, kind, control, asdu = parsed
                self._buf = self._buf[len(raw):]
                assert first_ns is not None
                return Answer(raw, kind, control, asdu, first_ns)
            left = deadline - time.monotonic()
            if left <= 0:
                self._buf = b""
                raise Ft12Error("no answer")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                data = os.read(self.fd, 4096)
                if first_ns is None:
                    first_ns = time.monotonic_ns()
                self._buf += data

    # -- link set-up ---------------------------------------------------------------------------
    def start_link(self, timeout: float = 20.0) -> None:
        """Request link status until the outstation answers (its port may open late), reset."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.request(REQUEST_LINK_STATUS, timeout=0.2).function == SEC_LINK_STATUS:
                    break
            except Ft12Error:
                pass
            if time.monotonic() >= deadline:
                raise Ft12Error("no link status from the outstation")
        self.request(RESET_REMOTE_LINK)
        self._fcb = False


def _sleep_until(t: float) -> None:
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(left if left > 0.0005 else 0)  # the last 0.5 ms: spin, sleep() overshoots


def _parse(buf: bytes) -> tuple[bytes, str, int, bytes] | None:
    """One complete frame at the start of ``buf`` (1-octet link address), or None."""
    if not buf:
        return None
    start = buf[0]
    if start == ACK_CHAR:
        return buf[:1], "ack", 0, b""
    if start == 0x10:
        if len(buf) < 5:
            return None
        return buf[:5], "fixed", buf[1], b""
    if start == 0x68:
        if len(buf) < 4:
            return None
        length = buf[1]
        total = length + 6
        if len(buf) < total:
            return None
        return buf[:total], "variable", buf[4], buf[6:total - 2]
    raise Ft12Error(f"bad start octet {start:#04x}")
