"""The real 104 server driven by hand-written bytes over loopback: what no well-behaved master
library will do (protocol violations, withheld acknowledgements, dropped connections).

APDUs are split and their headers read by hand here, independently of rtu.iec.cs104."""

from __future__ import annotations

import dataclasses
import socket
import struct
import time

import pytest

from rtu.config import AppConfig, bench_config
from rtu.iec.cs104.connection import ApciParameters
from rtu.servers.iec104 import Iec104Server
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import (
    OutstationThread,
    own_station_only,
    station_gi_objects,
)
from tests.integration.peers import free_tcp_port

STARTDT_ACT = bytes.fromhex("68 04 07 00 00 00")
STARTDT_CON = bytes.fromhex("68 04 0b 00 00 00")
STOPDT_ACT = bytes.fromhex("68 04 13 00 00 00")
STOPDT_CON = bytes.fromhex("68 04 23 00 00 00")
TESTFR_ACT = bytes.fromhex("68 04 43 00 00 00")
TESTFR_CON = bytes.fromhex("68 04 83 00 00 00")
GI_ASDU = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")


def config(**apci: float) -> AppConfig:
    base = own_station_only(bench_config())
    assert base.iec104 is not None
    params = dataclasses.replace(ApciParameters(), **apci)  # type: ignore[arg-type]
    return dataclasses.replace(base, iec104=dataclasses.replace(base.iec104, apci=params))


class RawMaster:
    """A deliberately dumb 104 master: bytes in, bytes out, N(S)/N(R) counted by hand."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.ns = 0  # our next N(S)
        self.nr = 0  # next N(S) we expect from the outstation

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_i(self, asdu: bytes) -> None:
        self.send(b"\x68" + bytes([len(asdu) + 4]) + struct.pack("<HH", self.ns << 1, self.nr << 1) + asdu)
        self.ns += 1

    def ack(self) -> None:
        self.send(b"\x68\x04\x01\x00" + struct.pack("<H", self.nr << 1))

    def recv_apdu(self, timeout: float = 3.0) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 2 and len(self.buf) >= 2 + self.buf[1]:
                assert self.buf[0] == 0x68, self.buf.hex(" ")
                n = 2 + self.buf[1]
                apdu, self.buf = self.buf[:n], self.buf[n:]
                if apdu[2] & 1 == 0:  # I-frame: count it
                    ns = struct.unpack_from("<H", apdu, 2)[0] >> 1
                    assert ns == self.nr, f"N(S) {ns}, expected {self.nr}"
                    self.nr = (self.nr + 1) % 32768
                return apdu
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                raise ConnectionError("closed by the outstation")
            self.buf += chunk

    def recv_asdus(self, count: int, timeout: float = 3.0) -> list[bytes]:
        out = []
        while len(out) < count:
            apdu = self.recv_apdu(timeout)
            assert apdu is not None, f"only {len(out)} of {count} ASDUs arrived"
            if apdu[2] & 1 == 0:
                out.append(apdu[6:])
        return out

    def start(self) -> None:
        self.send(STARTDT_ACT)
        assert self.recv_apdu() == STARTDT_CON

    def closed_by_peer(self, timeout: float = 3.0) -> bool:
        try:
            while self.recv_apdu(timeout) is not None:
                pass
        except (ConnectionError, OSError):
            return True
        return False


def asdu_header(asdu: bytes) -> tuple[int, int, int, bool]:
    """(type id, number of objects, cause, negative)."""
    return asdu[0], asdu[1] & 0x7F, asdu[2] & 0x3F, bool(asdu[2] & 0x40)


def ioa_of_first(asdu: bytes) -> int:
    return int.from_bytes(asdu[6:9], "little")


@pytest.fixture
def port() -> int:
    return free_tcp_port()


def test_end_of_initialisation_then_interrogation(port: int) -> None:
    with OutstationThread(own_station_only(bench_config()), port):
        m = RawMaster(port)
        m.start()
        (ei,) = m.recv_asdus(1)
        assert asdu_header(ei) == (70, 1, 4, False)
        m.send_i(GI_ASDU)
        asdus = []
        while not asdus or asdu_header(asdus[-1])[:3] != (100, 1, 10):
            asdus += m.recv_asdus(1)
        assert asdu_header(asdus[0]) == (100, 1, 7, False)
        data = asdus[1:-1]
        assert {asdu_header(a)[2] for a in data} == {20}
        assert {a[0] for a in data} == {1, 3, 5, 13}  # single, double, step, float: no time tags
        assert sum(asdu_header(a)[1] for a in data) == station_gi_objects(own_station_only(bench_config()))
        m.close()


def test_events_before_startdt_are_kept_and_delivered_in_order(port: int) -> None:
    with OutstationThread(own_station_only(bench_config()), port) as rtu:
        for i in range(10):  # di03: no calculated point follows it
            rtu.call(rtu.sup.provided(SimulatedField).set, "di03", i % 2 == 0)
        m = RawMaster(port)
        m.start()
        asdus = m.recv_asdus(2)
        assert asdu_header(asdus[0])[0] == 70
        assert asdu_header(asdus[1])[:3] == (30, 10, 3)
        siqs = [asdus[1][6 + i * 11 + 3] for i in range(10)]
        assert siqs == [1, 0] * 5
        m.close()


def test_unacknowledged_events_are_sent_again_after_reconnect(port: int) -> None:
    with OutstationThread(config(w=100, t2=10), port) as rtu:
        m = RawMaster(port)
        m.start()
        m.recv_asdus(1)  # EI, not acknowledged either
        rtu.call(rtu.sup.provided(SimulatedField).set, "di04", True)  # di04: no calculated point follows it
        (first,) = m.recv_asdus(1)
        m.close()  # dropped without acknowledging anything
        time.sleep(0.2)
        rtu.call(rtu.sup.provided(SimulatedField).set, "di03", True)
        m2 = RawMaster(port)
        m2.start()
        again = m2.recv_asdus(2)
        # EI and di04 again, with di03 packed into the same ASDU as di04, in order
        assert [asdu_header(a)[:2] for a in again] == [(70, 1), (30, 2)]
        assert again[1][6:17] == first[6:17]  # the same object, the same time tag
        assert ioa_of_first(again[1][11:]) == 1003
        m2.ack()
        m2.close()
        time.sleep(0.2)
        m3 = RawMaster(port)
        m3.start()
        assert m3.recv_apdu(0.5) is None  # acknowledged events are gone for good
        m3.close()


def test_i_frame_before_startdt_closes_the_connection(port: int) -> None:
    with OutstationThread(own_station_only(bench_config()), port):
        m = RawMaster(port)
        m.send_i(GI_ASDU)
        assert m.closed_by_peer()


@pytest.mark.parametrize("garbage", [
    bytes.fromhex("69 04 07 00 00 00"),  # wrong start octet
    bytes.fromhex("68 02 07 00"),  # length below 4
    bytes.fromhex("68 04 01 00 02 00"),  # S-frame acknowledging an I-frame never sent... (N(R)=1)
])
def test_protocol_violations_close_the_connection(port: int, garbage: bytes) -> None:
    with OutstationThread(own_station_only(bench_config()), port):
        m = RawMaster(port)
        if garbage[2] == 0x01:
            m.start()
            m.recv_asdus(1)
            m.ack()  # acknowledge the EI: now nothing is outstanding
            garbage = bytes.fromhex("68 04 01 00 04 00")  # N(R)=2 > N(S)
        m.send(garbage)
        assert m.closed_by_peer()
        # the server lives on
        m2 = RawMaster(port)
        m2.start()
        m2.close()


def test_t3_sends_testfr_and_t1_closes_when_unanswered(port: int) -> None:
    with OutstationThread(config(t1=1.0, t2=0.5, t3=0.5), port):
        m = RawMaster(port)
        m.start()
        m.recv_asdus(1)
        m.ack()
        assert m.recv_apdu(2.0) == TESTFR_ACT
        m.send(TESTFR_CON)
        assert m.recv_apdu(2.0) == TESTFR_ACT  # idle again: another test frame
        started = time.monotonic()
        assert m.closed_by_peer(3.0)  # not answered this time: t1 expires
        assert time.monotonic() - started < 2.5


def test_stopdt_waits_for_acknowledgement_and_holds_events(port: int) -> None:
    with OutstationThread(config(w=100), port) as rtu:
        m = RawMaster(port)
        m.start()
        m.recv_asdus(1)
        m.send(STOPDT_ACT)
        assert m.recv_apdu(0.5) is None  # EI still unacknowledged: no STOPDT con yet
        m.ack()
        assert m.recv_apdu() == STOPDT_CON
        rtu.call(rtu.sup.provided(SimulatedField).set, "di04", True)
        assert m.recv_apdu(0.5) is None  # stopped: nothing is sent
        m.start()
        (event,) = m.recv_asdus(1)
        assert asdu_header(event)[0] == 30 and ioa_of_first(event) == 1004
        m.close()


def test_connection_limit_and_allowed_masters(port: int) -> None:
    base = own_station_only(bench_config())
    assert base.iec104 is not None
    one = dataclasses.replace(base, iec104=dataclasses.replace(base.iec104, max_connections=1))
    with OutstationThread(one, port) as rtu:
        m = RawMaster(port)
        m.start()
        refused = RawMaster(port)
        assert refused.closed_by_peer()
        assert rtu.call(lambda: rtu.sup.server(Iec104Server).refused) == 1  # type: ignore[union-attr]
        m.close()
    other_port = free_tcp_port()
    remote_only = dataclasses.replace(
        base, iec104=dataclasses.replace(base.iec104, allowed_masters=("192.0.2.0/24",)))
    with OutstationThread(remote_only, other_port):
        assert RawMaster(other_port).closed_by_peer()
