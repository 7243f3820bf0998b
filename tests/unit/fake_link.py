"""Fakes of the 104 server's tests (test_iec104_*.py): a clock that stands still and a
transport that keeps what the server writes."""

from __future__ import annotations

import asyncio
from typing import Any


class FixedClock:
    """The outstation's clock, standing still."""

    def monotonic(self) -> float:
        return 1000.0

    def wall(self) -> float:
        return 1_700_000_000.0


class FakeTransport(asyncio.Transport):
    """A connection from 127.0.0.1:``port``: ``writes`` holds every write's octets, ``times``
    the loop time of each, ``aborted`` whether the server closed it."""

    def __init__(self, port: int = 40000) -> None:
        super().__init__()
        self.port = port
        self.writes: list[bytes] = []
        self.times: list[float] = []
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.times.append(asyncio.get_running_loop().time())

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", self.port) if name == "peername" else default

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def clear(self) -> None:
        """Forget what was written so far."""
        self.writes.clear()
        self.times.clear()

    def i_frames(self) -> int:
        """How many I-frames (APDUs whose first control octet has bit 0 clear) were written."""
        count = 0
        for raw in self.writes:
            pos = 0
            while pos < len(raw):
                if raw[pos + 2] & 1 == 0:
                    count += 1
                pos += 2 + raw[pos + 1]
        return count
