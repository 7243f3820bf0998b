"""What the web page shows, read from the running supervisor; no aiohttp here.

Everything goes through what ``rtu status`` and ``rtu points`` already use
(:func:`rtu.control.status_snapshot`, :func:`rtu.control.points_snapshot`), plus the few
facts of the overview that they lack: the version, the configuration file's SHA-256, and the
station clock.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from importlib import metadata, resources
from typing import TYPE_CHECKING, Any

from rtu.control import points_snapshot, status_snapshot
from rtu.health import HEALTH_PREFIX
from rtu.points.database import PointDatabase
from rtu.web.feeds import time_text

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

BENCH_SOURCE = "<bench>"


def version() -> str:
    try:
        return metadata.version("rtu-outstation")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def config_digest(source: str) -> str:
    """SHA-256 of the configuration file as it is on disk now (the bench profile: of the
    packaged bench.toml); a reason in words when it cannot be read."""
    try:
        if source == BENCH_SOURCE:
            data = resources.files("rtu.examples").joinpath("bench.toml").read_bytes()
        else:
            with open(source, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return hashlib.sha256(data).hexdigest()


class StationView:
    """Read-only access to one supervisor (which may rebuild its field side on a reload:
    every read goes through the supervisor's current components)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.sup = supervisor
        self.version = version()
        self.host = platform.node()
        self._digest: tuple[str, float, str] | None = None  # (source, mtime, digest)

    @property
    def db(self) -> PointDatabase:
        return self.sup.db

    def status(self) -> dict[str, Any]:
        return status_snapshot(self.sup)

    def points(self, pattern: str = "*") -> list[dict[str, Any]]:
        return points_snapshot(self.sup, pattern)

    def digest(self) -> str:
        source = self.sup.config.source
        try:
            mtime = os.stat(source).st_mtime if source != BENCH_SOURCE else 0.0
        except OSError:
            mtime = -1.0
        if self._digest is None or self._digest[:2] != (source, mtime):
            self._digest = (source, mtime, config_digest(source))
        return self._digest[2]

    def health_signals(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The health signals (rtu/health.py) with the points that report them."""
        bindings = self.sup.health.bindings
        return [{"signal": row["signal"], "state": row["state"],
                 "points": ", ".join(bindings.get(str(row["signal"])[len(HEALTH_PREFIX):], ()))
                 or "-"} for row in rows]

    def overview(self) -> dict[str, Any]:
        status = self.status()
        outstation = self.sup.outstation
        station = self.sup.config.station
        now = time.time()
        return {
            "host": self.host,
            "version": self.version,
            "config": status["config"],
            "config_sha256": self.digest(),
            "common_address": status["common_address"],
            "points": status["points"],
            "uptime": status["uptime"],
            "clock": {
                "system": time_text(now),
                "station": time_text(outstation.now()),
                "synchronised": outstation.clock_synchronised,
                "system_synchronised": outstation.system_clock_synchronised,
                "valid": outstation.time_valid,
                "offset": round(outstation.clock_offset, 3),
                "time_invalid_until_sync": station.invalid_time_until_synced,
            },
            "health": status["health"],
            "health_signals": self.health_signals(status["health_signals"]),
            "sources": status["sources"],
            "journal": status["journal"],
            "soe": status.get("soe"),
            "queued_events": status["queued_events"],
            "reloads": status["reloads"],
            "reload_error": status["reload_error"],
            "last_error": status["last_error"],
        }
