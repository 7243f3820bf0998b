"""The frame tap: where the 104 and 101 drivers report the octets they receive and send.

The drivers call :meth:`FrameTap.frame` on :data:`TAP` only while a monitor is attached
(``if TAP.watchers:``, one attribute test per chunk otherwise: nothing is copied, decoded or
queued for nobody). Each attached monitor (at most :data:`MAX_WATCHERS`) has a bounded queue of
:data:`QUEUE_FRAMES` chunks: when its client reads too slowly the newest chunks are dropped and
counted, and the count travels with the next chunk it gets, so the links never wait for a
monitor. `rtu monitor` (rtu/monitor.py) and the web page's frames view (rtu/web/frames.py)
attach to it; this module is all that a server imports, so that neither they nor the FT1.2
decoder are loaded by an outstation nobody monitors.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["DIRECTIONS", "MAX_CHUNK_HEX", "MAX_WATCHERS", "QUEUE_FRAMES", "TAP", "FrameTap",
           "Watcher", "socket_addresses"]

MAX_WATCHERS: Final = 4
QUEUE_FRAMES: Final = 10_000  # chunks waiting for one slow monitor before drops
MAX_CHUNK_HEX: Final = 65_536  # octets of one chunk shown (a 104 read is at most 64 KiB)
DIRECTIONS: Final = ("rx", "tx")


@dataclass(slots=True, eq=False)
class Watcher:
    """One attached monitor: its filters, its bounded queue and what it lost."""

    link: str = "*"
    direction: str | None = None
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    dropped: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, link: str, direction: str) -> bool:
        return (self.direction is None or self.direction == direction) and \
            (self.link == "*" or fnmatch.fnmatchcase(link, self.link))


class FrameTap:
    """Where the drivers report their octets (only ``if TAP.watchers``)."""

    def __init__(self) -> None:
        self.watchers: list[Watcher] = []

    def frame(self, protocol: str, link: str, direction: str, data: bytes,
              local: str = "", peer: str = "") -> None:
        entry: dict[str, Any] | None = None
        for watcher in self.watchers:
            if not watcher.wants(link, direction):
                continue
            if len(watcher.queue) >= QUEUE_FRAMES:
                watcher.dropped += 1
                continue
            if entry is None:
                entry = {"t": time.time(), "protocol": protocol, "link": link, "dir": direction,
                         "local": local, "peer": peer, "hex": bytes(data[:MAX_CHUNK_HEX]).hex()}
            watcher.queue.append(entry)
            watcher.wake.set()


TAP: Final = FrameTap()


def _address(info: object) -> str:
    """``HOST:PORT`` of a socket address tuple ("" if it is not one)."""
    if isinstance(info, tuple) and len(info) >= 2:
        host = str(info[0])
        return f"[{host}]:{info[1]}" if ":" in host else f"{host}:{info[1]}"
    return ""


def socket_addresses(transport: object) -> tuple[str, str]:
    """(local, peer) of a transport, for the 104 driver's report."""
    get = getattr(transport, "get_extra_info", None)
    if get is None:
        return "", ""
    return _address(get("sockname")), _address(get("peername"))
