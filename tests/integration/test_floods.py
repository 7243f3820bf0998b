"""Adversarial masters that keep to the protocol well enough to be admitted: request floods
from a master that never reads its socket, connections that never start data transfer, one
address opening connection after connection. The outstation runs as `python -m rtu run` in a
subprocess (its memory is its own), the peers are plain sockets on 127.0.0.1.

Each flood lasts RTU_FLOOD_SECONDS (default 8; the figures in docs/reliability.md are from 60).
"""

from __future__ import annotations

import os
import select
import socket
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.peers import (
    COT_ACTIVATION_TERMINATION,
    STARTDT_ACT,
    TESTFR_ACT,
    Raw104Client,
    free_tcp_port,
    i_frame,
)
from tests.integration.test_event_journal import outstation

pytestmark = pytest.mark.integration

FLOOD_SECONDS = float(os.environ.get("RTU_FLOOD_SECONDS", "8"))
RSS_GROWTH_LIMIT_MB = 10.0
GI_MEDIAN_LIMIT = 0.050  # seconds, the target for another master's GI under a flood
GI_MAX_LIMIT = 1.0  # seconds: no single GI stalls behind the flood (the machine is shared)
GI_ASDU = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")
READ_ASDU = bytes.fromhex("66 01 05 00 01 00 e9 03 00")  # C_RD_NA_1 IOA 1001


def write_config(tmp_path: Path, extra: str = "") -> tuple[Path, int]:
    port = free_tcp_port()
    config = tmp_path / "site.toml"
    if "max_connections_per_address" not in extra:
        # the flooder, the measuring master and one of them still closing: all 127.0.0.1
        extra += "\nmax_connections_per_address = 3"
    points = "\n".join(f"""
[[points]]
name = "di{i:02d}"
ioa = {1000 + i}
kind = "single"
source = "sim"
""" for i in range(1, 41))
    config.write_text(f"""
[station]
common_address = 1

[iec104]
enabled = true
listen = "127.0.0.1:{port}"
{extra}

[simulation]
seed = 1
digital_interval = 100000
analog_interval = 100000
counter_interval = 100000

[service]
control_socket = "{tmp_path}/ctl/control.sock"
state_directory = "{tmp_path}/state"
{points}
""")
    return config, port


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class Flooder(threading.Thread):
    """Sends ``burst()`` as fast as the socket takes it and never reads; reconnects whenever
    the outstation closes the connection (counted)."""

    def __init__(self, port: int, start: bytes, burst: Callable[[int], bytes]) -> None:
        super().__init__(daemon=True)
        self.port, self.start_frames, self.burst = port, start, burst
        self.stop = threading.Event()
        self.sent = 0  # octets
        self.closed_by_peer = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self._one_connection()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def _one_connection(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            if self.start_frames:
                sock.sendall(self.start_frames)
                time.sleep(0.05)
            sock.setblocking(False)
            seq = 0
            pending = b""
            while not self.stop.is_set():
                if not pending:
                    pending = self.burst(seq)
                    seq += 1
                try:
                    n = sock.send(pending)
                except BlockingIOError:
                    # a connection the outstation closed while our window was full may not
                    # fail the next send: ask the socket
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or _hung_up(sock):
                        self.closed_by_peer += 1
                        return
                    time.sleep(0.001)
                    continue
                except OSError:
                    self.closed_by_peer += 1
                    return
                self.sent += n
                pending = pending[n:]


def _hung_up(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLHUP | select.POLLERR | select.POLLRDHUP)
    return bool(poller.poll(0))


def burst_of_testfr(_: int) -> bytes:
    return TESTFR_ACT * 1000


def read_burst(seq: int) -> bytes:
    # 100 C_RD_NA_1 per burst, N(S) counting up, N(R) 0: nothing the outstation sends is
    # ever acknowledged (and never read)
    return b"".join(i_frame(READ_ASDU, (seq * 100 + i) % 32768, 0) for i in range(100))


def gi_times(port: int, until: float, sample: Callable[[], None] = lambda: None) -> list[float]:
    """Another master: STARTDT, then GIs one after the other until ``until`` (calling
    ``sample`` between them); the time from each GI to its ACT_TERM."""
    times: list[float] = []
    with Raw104Client(port) as master:
        master.startdt(5)
        while time.monotonic() < until:
            sample()
            t0 = time.monotonic()
            master.send_asdu(GI_ASDU)
            master.recv_until(lambda a: a.get("type_id") == 100
                              and a.get("cot") == COT_ACTIVATION_TERMINATION, 10)
            times.append(time.monotonic() - t0)
            master.ack()
            time.sleep(0.05)
    return times


@pytest.mark.parametrize("flood", ["testfr-without-startdt", "read-requests-never-reading"])
def test_a_flooding_master_is_bounded_and_another_master_is_served(
        tmp_path: Path, flood: str) -> None:
    config, port = write_config(tmp_path)
    with outstation(config) as proc:
        baseline = gi_times(port, time.monotonic() + 1.0)  # warm-up and the quiet figure
        rss_before = rss_mb(proc.pid)
        if flood == "testfr-without-startdt":
            flooder = Flooder(port, b"", burst_of_testfr)
        else:
            flooder = Flooder(port, STARTDT_ACT, read_burst)
        flooder.start()
        peaks = [rss_before]
        try:
            time.sleep(0.5)
            times = gi_times(port, time.monotonic() + FLOOD_SECONDS,
                             lambda: peaks.append(rss_mb(proc.pid)))
        finally:
            flooder.stop.set()
            flooder.join(10)
        assert flooder.error is None, flooder.error
        assert proc.poll() is None, "the outstation died"
        peak = max(peaks)
        growth = peak - rss_before
        median, worst = statistics.median(times), max(times)
        print(f"\n{flood}: {FLOOD_SECONDS:g} s, {flooder.sent / 1e6:.1f} MB sent by the flooder "
              f"({flooder.closed_by_peer} connections closed by the outstation); RSS "
              f"{rss_before:.1f} MB -> peak {peak:.1f} MB ({growth:+.1f} MB); another master's "
              f"GI: {len(times)} GIs, median {median * 1e3:.1f} ms, max {worst * 1e3:.1f} ms "
              f"(quiet: median {statistics.median(baseline) * 1e3:.1f} ms)")
        assert growth < RSS_GROWTH_LIMIT_MB
        assert median < GI_MEDIAN_LIMIT
        assert worst < GI_MAX_LIMIT


def test_a_connection_without_startdt_is_closed_but_a_configured_master_may_stay(
        tmp_path: Path) -> None:
    config, port = write_config(tmp_path, "startdt_timeout = 1.0")
    with outstation(config):
        with Raw104Client(port) as idle:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5:  # answers TESTFR, never starts data transfer
                if idle.recv(0.2) is None and idle.closed:
                    break
                idle.send_raw(TESTFR_ACT)
            assert idle.closed, "a connection without STARTDT was kept for 5 s"
            assert 0.9 < time.monotonic() - t0 < 3.0
        # a master that started and stopped gets the same deadline again
        with Raw104Client(port) as master:
            master.startdt()
            time.sleep(1.5)
            master.send_raw(TESTFR_ACT)
            master.recv_until(lambda a: a.get("u") == "TESTFR_CON")  # started: kept
    log = (tmp_path / "rtu.log").read_text()
    assert "no data transfer started within 1 s (startdt_timeout" in log

    config, port = write_config(tmp_path, 'startdt_timeout = 0.5\nallowed_masters = ["127.0.0.1"]')
    with outstation(config), Raw104Client(port) as standby:
        time.sleep(1.5)  # three deadlines: a configured master may stay in STOPDT
        standby.send_raw(TESTFR_ACT)
        standby.recv_until(lambda a: a.get("u") == "TESTFR_CON")
        assert not standby.closed


def test_one_address_cannot_hold_every_slot_and_refusals_are_logged_once_a_minute(
        tmp_path: Path) -> None:
    config, port = write_config(tmp_path, "max_connections = 4\nmax_connections_per_address = 2")
    with outstation(config):
        held = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(2)]
        try:
            time.sleep(0.2)
            refused = 0
            for _ in range(200):
                with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
                    sock.settimeout(3)
                    try:
                        if sock.recv(1) == b"":
                            refused += 1
                    except ConnectionResetError:
                        refused += 1
            assert refused == 200
            held.pop().close()
            time.sleep(0.2)
            with Raw104Client(port) as master:  # a slot of this address is free again
                master.startdt()
        finally:
            for sock in held:
                sock.close()
    lines = [line for line in (tmp_path / "rtu.log").read_text().splitlines()
             if "refused connection" in line]
    assert len(lines) == 1, lines
    assert "max_connections_per_address" in lines[0]
