"""The 101 line's status() keeps the port's last error (the web page's links show it)."""

from __future__ import annotations

import asyncio

from rtu.config import bench_config
from rtu.iec.cs101.link import LinkParameters
from rtu.servers.iec101 import Iec101Server, Iec101Settings, SerialSettings
from rtu.supervisor import Supervisor


def test_a_port_that_cannot_open_is_the_last_error() -> None:
    line = Iec101Server(Supervisor(bench_config()).outstation,
                        Iec101Settings(SerialSettings("/nonexistent/ttyX"), LinkParameters()))
    assert line.status()["last_error"] is None

    async def attempt() -> None:
        task = asyncio.get_running_loop().create_task(line.run())
        async with asyncio.timeout(5):
            while line.last_error is None:
                await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(attempt())
    error = line.status()["last_error"]
    assert error["error"].startswith("cannot open the serial port:")
    assert "/nonexistent/ttyX" in error["error"] and isinstance(error["time"], float)
