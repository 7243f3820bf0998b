"""DLMS pushes over 127.0.0.1: the whole outstation receives data-notifications built and
ciphered by an independent implementation (pydlms-client's simulator, GPL, test-only) over
UDP and TCP, maps them onto points with the notification's time, and holds its bounds:
unknown senders and replays refused, oversize datagrams dropped, the rate and the number of
connections limited."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pydlms_simulator = pytest.importorskip("pydlms.simulator", reason="pip install -e '.[test]'")

from pydlms.apdu.xdlms import DataNotification
from pydlms.cosem.data import DlmsData
from pydlms.cosem.time import CosemDateTime

from rtu.config import load_config
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind, Quality
from rtu.sources.dlms.push import PushListener
from rtu.sources.dlms.push_config import DlmsPushConfig, PushDeviceConfig, PushObject
from rtu.supervisor import Supervisor
from tests.integration.peers import free_tcp_port

pytestmark = pytest.mark.integration

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
SIM_TITLE = b"PYD\x00\x00\x00\x00\x01"
GOOD = Quality.GOOD
INVALID = Quality.IV | Quality.NT


def notification(when: float, alarm: int, power: int) -> bytes:
    local = dt.datetime.fromtimestamp(when, dt.timezone(dt.timedelta(hours=1)))
    body = DlmsData.structure([DlmsData.octet_string(bytes([0, 0, 25, 9, 0, 255])),
                               DlmsData.uint32(alarm), DlmsData.uint16(power)])
    return DataNotification(1, body, CosemDateTime.from_datetime(local).to_bytes()).to_bytes()


def wrapped(apdu: bytes, source: int = 1) -> bytes:
    return struct.pack(">HHHH", 1, source, 16, len(apdu)) + apdu


async def eventually(condition: Callable[[], bool], timeout: float, what: str) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def send_udp(port: int, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", port))


def test_pushes_reach_the_points_through_the_supervisor(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    port = free_tcp_port()
    creds = tmp_path / "creds.toml"
    creds.write_text(f'[meters.secure]\nencryption_key = "{EK.hex()}"\n'
                     f'authentication_key = "{AK.hex()}"\n', encoding="utf-8")
    creds.chmod(0o600)
    site = tmp_path / "site.toml"
    site.write_text(f'''[iec104]
enabled = false
[service]
state_directory = "{tmp_path / 'state'}"
control_socket = "{tmp_path / 'control.sock'}"
[[points]]
name = "door_open"
ioa = 1
kind = "single"
source = "dlms"
[[points]]
name = "power"
ioa = 2
kind = "float"
source = "dlms"
[[points]]
name = "plain_power"
ioa = 3
kind = "float"
source = "dlms"
[dlms]
credentials = "creds.toml"
[dlms.push]
listen = "127.0.0.1"
port = {port}
transport = "both"
[[dlms.push.devices]]
name = "secure"
system_title = "{SIM_TITLE.hex()}"
ciphered = true
[[dlms.push.devices.objects]]
point = "door_open"
index = 2
bit = 2
[[dlms.push.devices.objects]]
point = "power"
index = 3
scaler = -1
[[dlms.push.devices]]
name = "plain"
wport = 5
[[dlms.push.devices.objects]]
point = "plain_power"
index = 3
''', encoding="utf-8")
    config = load_config(site)
    sim = pydlms_simulator.example_meter(encryption_key=EK, authentication_key=AK)
    when = float(int(time.time()) - 300)
    counters: dict[str, int] = {}

    async def main() -> None:
        sup = Supervisor(config)
        running = asyncio.create_task(sup.run())
        try:
            listener = next(s for s in sup.sources if isinstance(s, PushListener))
            await eventually(lambda: listener.udp_port is not None
                             and listener.tcp_port is not None, 5.0, "listening")
            first = sim.push_before_response(notification(when, 0b100, 15205),
                                             protection="general-glo")
            send_udp(port, wrapped(first))
            await eventually(lambda: sup.db.value("power").quality == GOOD, 3.0, "power")
            assert sup.db.value("power").value == pytest.approx(1520.5)
            assert sup.db.value("power").timestamp == when  # the notification's own time
            assert sup.db.value("door_open").value is True
            # a replay of the same datagram is refused
            send_udp(port, wrapped(first))
            await eventually(lambda: listener.stats["refused"] >= 1, 3.0, "replay refused")
            # over TCP: the next one, then a plain one from the wPort-5 device
            second = sim.push_before_response(notification(when + 60, 0, 16000),
                                              protection="general-glo")
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(wrapped(second) + wrapped(notification(when, 0, 42), source=5))
            await writer.drain()
            await eventually(lambda: sup.db.value("plain_power").value == 42.0, 3.0, "plain")
            assert sup.db.value("door_open").value is False
            assert sup.db.value("power").timestamp == when + 60
            writer.close()
            # an unknown sender
            send_udp(port, wrapped(notification(when, 0, 1), source=9))
            await eventually(lambda: listener.stats["refused"] >= 2, 3.0, "stranger refused")
            assert listener.stats["accepted"] == 3
            counters.update(listener.receiver.last_counters)
        finally:
            sup.stop()
            await asyncio.wait_for(running, 5.0)

    with caplog.at_level(logging.INFO):
        asyncio.run(asyncio.wait_for(main(), 20.0))
    assert "unknown sender" in caplog.text and "replay" in caplog.text
    saved = json.loads((tmp_path / "state" / "dlms" / "push.json").read_text())
    assert saved == counters and "secure" in saved  # the replay window survives a restart


def listener_for(transport: str, **bounds: Any) -> tuple[PushListener, PointDatabase]:
    db = PointDatabase([Point("v", 1, PointKind.FLOAT, source="dlms")])
    config = DlmsPushConfig((PushDeviceConfig("m", (PushObject("v", 3),), wport=1),),
                            listen="127.0.0.1", port=0, transport=transport, **bounds)
    return PushListener(config, db), db


def test_udp_bounds_size_and_rate() -> None:
    async def main() -> None:
        listener, db = listener_for("udp", max_rate=5.0, max_apdu=64)
        running = asyncio.create_task(listener.run())
        try:
            await eventually(lambda: listener.udp_port is not None, 3.0, "listening")
            port = listener.udp_port
            assert port is not None
            send_udp(port, wrapped(notification(time.time(), 0, 7) + bytes(100)))
            await eventually(lambda: listener.stats["size_dropped"] == 1, 3.0, "oversize")
            for i in range(30):  # a flood: at most about max_rate (5) taken in a second
                send_udp(port, wrapped(notification(time.time(), 0, i)))
            await eventually(lambda: listener.stats["accepted"]
                             + listener.stats["rate_dropped"] == 30, 3.0, "flood counted")
            assert 1 <= listener.stats["accepted"] <= 7
            assert db.value("v").quality == GOOD
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 10.0))


def test_tcp_bounds_connections_idle_and_length() -> None:
    async def main() -> None:
        listener, db = listener_for("tcp", max_connections=2, idle_timeout=0.3, max_apdu=64)
        running = asyncio.create_task(listener.run())
        try:
            await eventually(lambda: listener.tcp_port is not None, 3.0, "listening")
            port = listener.tcp_port
            assert port is not None
            held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await eventually(lambda: listener.connections == 2, 2.0, "two connections")
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 2.0) == b""  # closed at once
            assert listener.stats["connections_refused"] == 1
            # the idle ones are closed after idle_timeout
            for r, _ in held:
                assert await asyncio.wait_for(r.read(), 2.0) == b""
            await eventually(lambda: listener.connections == 0, 2.0, "idle closed")
            # a wrapper announcing more than max_apdu ends the connection
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(struct.pack(">HHHH", 1, 1, 16, 5000))
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 2.0) == b""
            assert listener.stats["malformed"] == 1
            assert db.value("v").quality != GOOD  # nothing was accepted
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 10.0))


def test_an_unreadable_counter_file_fails_the_listener_only(tmp_path: Path) -> None:
    (tmp_path / "dlms").mkdir()
    (tmp_path / "dlms" / "push.json").write_text("{not json", encoding="utf-8")
    db = PointDatabase([Point("v", 1, PointKind.FLOAT, source="dlms")])
    config = DlmsPushConfig((PushDeviceConfig("m", (PushObject("v", 3),), wport=1),),
                            listen="127.0.0.1", port=0, transport="udp")
    listener = PushListener(config, db, lambda: tmp_path)
    with pytest.raises(RuntimeError, match="push.json"):
        asyncio.run(asyncio.wait_for(listener.run(), 5.0))
    assert listener.udp_port is None  # it never listened
