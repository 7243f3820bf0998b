"""The audit's RFC 5424 records reach a syslog collector on loopback, over UDP and TCP."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rtu.audit import SyslogSender, SyslogTarget
from rtu.soe import ActionRecord

pytestmark = pytest.mark.integration
RECORD = ActionRecord(1_764_000_000.0, "operator", "ai1", 3001, "substitute", "77.5", "done",
                      "-", "by uid 0 (root), pid 1")


def test_udp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as collector:
        collector.bind(("127.0.0.1", 0))
        collector.settimeout(5)
        sender = SyslogSender(SyslogTarget("udp", "127.0.0.1", collector.getsockname()[1]))

        async def run() -> None:
            task = asyncio.create_task(sender.run())
            sender.send(RECORD, 5)
            sender.send(RECORD, 5)
            async with asyncio.timeout(5):
                while sender.sent < 2:
                    await asyncio.sleep(0.01)
            task.cancel()

        asyncio.run(run())
        first = collector.recv(4096).decode()
        assert first.startswith("<85>1 2025-11-24T16:00:00.000Z ")
        assert " rtu " in first and " OPERATOR [audit@32473 kind=\"operator\" point=\"ai1\"" in first
        assert collector.recv(4096).decode() == first


def test_tcp_octet_counting() -> None:
    received: list[bytes] = []

    async def run() -> None:
        got = asyncio.Event()

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            length = int((await reader.readuntil(b" ")).decode())
            received.append(await reader.readexactly(length))
            got.set()
            writer.close()

        server = await asyncio.start_server(client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = SyslogSender(SyslogTarget("tcp", "127.0.0.1", port))
        task = asyncio.create_task(sender.run())
        sender.send(RECORD, 5)
        async with asyncio.timeout(5):
            await got.wait()
        task.cancel()
        server.close()

    asyncio.run(run())
    assert received[0].startswith(b"<85>1 ") and received[0].endswith(
        b"operator ai1 substitute 77.5: done (by uid 0 (root), pid 1)")
