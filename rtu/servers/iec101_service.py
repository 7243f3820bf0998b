"""The 101 server's registration: how the supervisor builds, starts, reloads and reports it.

The serial line runs as a source under the supervisor's restart loop; READY=1 waits a short
grace for its first open attempt (a missing USB adapter must not keep 104 from serving).
:data:`SERVER` is its registration line (rtu/components.py lists this module).
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from rtu.components import ServerComponent

if TYPE_CHECKING:
    from rtu.components import Server
    from rtu.config import AppConfig
    from rtu.iec.asdu.codec import AsduProfile
    from rtu.iec.outstation import Outstation
    from rtu.servers.iec101 import Iec101Server  # imported by build: only with [iec101]
    from rtu.sources.base import Source

log = logging.getLogger(__name__)


class Iec101Service:
    """One serial line (its port reopened with backoff by the server itself)."""

    def __init__(self, outstation: Outstation, server: Iec101Server) -> None:
        self.outstation = outstation
        self.server = server

    @property
    def driver(self) -> Iec101Server:
        return self.server

    @property
    def sources(self) -> list[Source]:
        return [self.server]  # run() opens the port and serves it until cancelled

    def event_groups(self) -> tuple[str, ...]:
        return (self.server.group,)

    def asdu_profiles(self) -> tuple[AsduProfile, ...]:
        return (self.server.profile,)

    async def start(self) -> None:
        return None  # the port opens in its task (sources)

    def start_failed(self, exc: OSError) -> str:
        return f"101: cannot start {self.server.name}: {exc.strerror or exc}"

    async def ready(self, grace: float) -> None:
        """The first open attempt is synchronous: by ``grace`` it has succeeded, or failed
        and is retrying in the background."""
        with suppress(TimeoutError):
            async with asyncio.timeout(grace):  # not wait_for: gh-86296 (3.11)
                await self.server.opened.wait()
        if not self.server.opened.is_set():
            log.warning("%s is not open (retrying in the background); ready without it",
                        self.server.name)

    def take_groups(self, old: Server) -> None:
        for group in old.event_groups():
            self.outstation.move_group(group, self.server.group)

    def refresh(self) -> None:
        return None

    def check(self) -> str | None:
        return None  # its task is checked with every source's

    def status(self) -> dict[str, Any]:
        return self.server.status()

    def masters(self) -> list[dict[str, Any]]:
        return []

    def summary(self) -> list[str]:
        link = self.server.link
        return ["101 link up" if link is not None and link.link_up else "101 link down"]

    def links(self) -> dict[str, bool]:
        """``link:101:NAME`` by the line's group, its device and the device's file name."""
        link = self.server.link
        up = bool(link is not None and link.link_up)
        device = self.server.settings.serial.device
        return {f"link:101:{name}": up
                for name in (self.server.group, device, os.path.basename(device))}

    def waiting(self) -> bool:
        return False  # the link layer sends what the session holds, checked by the supervisor

    def frame_profile(self) -> dict[str, Any] | None:
        s = self.server.settings
        return {"link": self.server.name, "link_address_size": s.link.address_size,
                "cot_size": s.cot_size, "ca_size": s.ca_size, "ioa_size": s.ioa_size}

    async def close(self) -> None:
        return None  # stopping its task closes the port and the session


def build(outstation: Outstation, config: AppConfig) -> Iec101Service | None:
    if config.iec101 is None:
        return None
    from rtu.servers.iec101 import Iec101Server

    return Iec101Service(outstation, Iec101Server(outstation, config.iec101))


# field_sizes: the line's address and cause sizes come from [station]
SERVER = ServerComponent("iec101", "101", ("iec101", "field_sizes"), build)
