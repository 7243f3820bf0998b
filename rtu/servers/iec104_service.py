"""The 104 server's registration: how the supervisor builds, starts, reloads and reports it.

:class:`Iec104Service` wraps the asyncio driver (:mod:`rtu.servers.iec104`) in the
:class:`~rtu.components.Server` shape; :data:`SERVER` is its registration line
(rtu/components.py lists this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rtu.components import ServerComponent
from rtu.iec.asdu.codec import PROFILE_104, AsduProfile
from rtu.servers.iec104 import Iec104Server, Iec104Settings

if TYPE_CHECKING:
    from rtu.components import Server
    from rtu.config import AppConfig
    from rtu.iec.outstation import Outstation
    from rtu.sources.base import Source


class Iec104Service:
    """The TCP server: listening before READY=1, healthy while it listens."""

    def __init__(self, outstation: Outstation, settings: Iec104Settings) -> None:
        self.outstation = outstation
        self.server = Iec104Server(outstation, settings)

    @property
    def driver(self) -> Iec104Server:
        return self.server

    @property
    def sources(self) -> list[Source]:
        return []  # connections are served by the event loop, not by a task of ours

    def event_groups(self) -> tuple[str, ...]:
        return self.server.settings.event_groups()

    def asdu_profiles(self) -> tuple[AsduProfile, ...]:
        return (PROFILE_104,)

    async def start(self) -> None:
        await self.server.start()

    def start_failed(self, exc: OSError) -> str:
        settings = self.server.settings
        return f"104: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"

    async def ready(self, grace: float) -> None:
        return None  # start() returned once the socket listened

    def take_groups(self, old: Server) -> None:
        self.outstation.regroup(old.event_groups(), self.event_groups())

    def refresh(self) -> None:
        try:  # certificate, key and CRL files may have changed in place
            self.server.reload_tls()
        except ValueError as exc:  # TlsConfigError: rtu.servers.tls is optional
            raise ValueError(f"[iec104.tls]: {exc}") from exc

    def check(self) -> str | None:
        return None if self.server.listening() else "the 104 listening socket is closed"

    def status(self) -> dict[str, Any]:
        return self.server.status()

    def masters(self) -> list[dict[str, Any]]:
        return self.server.masters()

    def summary(self) -> list[str]:
        return []  # its masters are counted with every server's

    def links(self) -> dict[str, bool]:
        """``link:104:GROUP`` (and ``link:104:NAME`` of a redundancy group without the
        server's group prefix): whether a master of that group has data transfer started."""
        links: dict[str, bool] = {}
        groups = self.outstation.groups
        settings = self.server.settings
        for event_group in settings.event_groups():
            group = groups.get(event_group)
            active = bool(group is not None and group.active)
            links[f"link:104:{event_group}"] = active
            prefix = f"{settings.group}/"
            if event_group.startswith(prefix):
                links[f"link:104:{event_group[len(prefix):]}"] = active
        return links

    def waiting(self) -> bool:
        return any(link.transport is not None and link.transport.get_write_buffer_size()
                   for link in self.server.links)

    def frame_profile(self) -> dict[str, Any] | None:
        return None  # 104's field sizes are fixed

    async def close(self) -> None:
        await self.server.close()


def build(outstation: Outstation, config: AppConfig) -> Iec104Service | None:
    return Iec104Service(outstation, config.iec104) if config.iec104 is not None else None


SERVER = ServerComponent("iec104", "104", ("iec104",), build)
