"""What the IEC 61850 integration tests share (test_iec61850.py, test_iec61850_protection.py):
the ``[[iec61850.devices.points]]`` of a configuration, the simulated device and the whole
outstation running its IEC 61850 sources, and a bounded wait.

Nothing here imports pyiec61850: the tests skip themselves where it is missing and hand the
device in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rtu.config import AppConfig
from rtu.sources.base import Source
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import free_tcp_port


def device_points(*mapped: tuple[str, str, str]) -> str:
    """TOML ``[[iec61850.devices.points]]`` tables, one per (point, reference, fc), in order."""
    return "".join(f"""
[[iec61850.devices.points]]
point = "{point}"
reference = "{reference}"
fc = "{fc}"
""" for point, reference, fc in mapped)


async def _start(source: Source) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(source.run())


@contextmanager
def device_and_outstation(device: Any, config: AppConfig) -> Iterator[OutstationThread]:
    """Start ``device`` (a DeviceProcess), then the outstation with its IEC 61850 sources
    running; on the way out cancel those, stop the outstation and destroy the device."""
    device.start()
    try:
        with OutstationThread(config, free_tcp_port()) as ot:
            tasks = [ot.run(_start(source)) for source in ot.sup.field.parts["iec61850"].sources]
            yield ot
            for task in tasks:
                ot.loop.call_soon_threadsafe(task.cancel)
    finally:
        device.destroy()


def wait(what: str, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` every 20 ms; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
