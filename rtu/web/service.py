"""Opening and reopening the web page for the supervisor: one call, aiohttp imported only when
the page is enabled."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor
    from rtu.web.server import WebServer

log = logging.getLogger(__name__)


async def open_web(sup: Supervisor, current: WebServer | None) -> WebServer | None:
    """The page as ``sup.config.web`` says now: ``current`` when unchanged, else it is closed
    and a new one opened (None when disabled). A page that cannot listen is logged and left
    off: it must not keep the outstation from serving its masters."""
    settings = sup.config.web
    if current is not None:
        if current.settings == settings:
            return current
        await current.close()
    if settings is None:
        return None
    from rtu.web.server import WebServer
    from rtu.web.view import StationView

    server = WebServer(StationView(sup), settings)
    try:
        await server.start()
    except OSError as exc:
        log.error("web page: cannot listen on %s: %s; running without it", settings.listen,
                  exc.strerror or exc)
        await server.close()
        return None
    return server
