"""The real Supervisor serving IEC 60870-5-101 on one end of a pseudo-terminal pair, driven by a
hand-written FT1.2 controlling station on the other end; every frame is then decoded by
Wireshark's iec60870_101 dissector."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from rtu.config import AppConfig, bench_config
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.points.model import PointKind
from rtu.servers.iec101 import Iec101Server, Iec101Settings, SerialSettings
from rtu.sources.relays.component import Relays
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread, own_station_only
from tests.integration.peers import Raw104Client, free_tcp_port
from tests.integration.serial_peers import (
    ACK_CHAR,
    REQUEST_CLASS_1,
    REQUEST_CLASS_2,
    REQUEST_LINK_STATUS,
    RESET_REMOTE_LINK,
    SEC_ACK,
    SEC_LINK_STATUS,
    SEC_NACK_NO_DATA,
    SEC_USER_DATA,
    TEST_LINK,
    USER_DATA_CONFIRMED,
    Frame,
    Ft12Master,
    fixed_frame,
    malformed,
    pty_pair,
    tshark_decode_101,
    variable_frame,
    write_rtac_pcap,
)

__all__ = ["pty_pair"]  # the fixture, imported (and imported from here by other 101 tests)

C_IC_NA_1, C_SC_NA_1, C_CS_NA_1, M_EI_NA_1 = 100, 45, 103, 70
GI = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")


def sc(ioa: int, on: bool, select: bool = False, cot: int = 6) -> bytes:
    return bytes([C_SC_NA_1, 1, cot, 0, 1, 0]) + ioa.to_bytes(3, "little") + bytes(
        [int(on) | (0x80 if select else 0)])


def config_101(device: str, mode: LinkMode = LinkMode.UNBALANCED, *, time_tag: str = "cp56",
               **link: object) -> AppConfig:
    params = LinkParameters(mode=mode, **link)  # type: ignore[arg-type]
    settings = Iec101Settings(SerialSettings(device), params, time_tag=time_tag)
    # the bench's own station (station 2 has its own test: test_interop_101.py multi-drop)
    return dataclasses.replace(own_station_only(bench_config()), iec101=settings)


def poll_class1_until(m: Ft12Master, predicate: object, limit: int = 40) -> list[Frame]:
    frames = []
    for _ in range(limit):
        f = m.request(REQUEST_CLASS_1)
        frames.append(f)
        if f.kind == "variable" and predicate(f):  # type: ignore[operator]
            return frames
        if f.kind != "variable":
            time.sleep(0.02)
    raise AssertionError(f"not seen in {limit} polls: {[x.raw.hex(' ') for x in frames]}")


def data_asdus(frames: list[Frame]) -> list[dict[str, object]]:
    return [f.asdu_header() for f in frames if f.kind == "variable"]


def test_unbalanced_session_decoded_by_wireshark(pty_pair: tuple[int, str], tmp_path: Path) -> None:
    fd, device = pty_pair
    os.write(fd, b"\x10\x49\x01\x4a\x16stale")  # written before the port opened: must be dropped
    m = Ft12Master(fd)
    with OutstationThread(config_101(device), free_tcp_port()) as rtu:
        # status of link, then reset: afterwards end of initialisation waits as class 1 data
        status = m.request(REQUEST_LINK_STATUS)
        assert status.kind == "fixed" and status.function == SEC_LINK_STATUS
        assert m.read_optional(0.2) is None  # the stale request was discarded, not answered
        ack = m.reset()
        assert ack.kind == "fixed" and ack.function == SEC_ACK and ack.acd  # EI is waiting
        ei = m.request(REQUEST_CLASS_1)
        assert ei.kind == "variable" and ei.function == SEC_USER_DATA
        assert ei.asdu_header()["type_id"] == M_EI_NA_1 and ei.asdu_header()["cot"] == 4

        # a lost answer: the same FCB again gets the identical frame, nothing is taken twice
        rtu.call(rtu.sup.provided(SimulatedField).set, "di01", True)
        first = m.request(REQUEST_CLASS_1)
        again = m.request(REQUEST_CLASS_1, toggle=False)
        assert first.raw == again.raw and first.asdu_header()["type_id"] == 30

        # class 2 has no class 1 data: NACK no data (fixed frame or E5), or (after 5 s) the
        # bench's periodic measurements
        c2 = m.request(REQUEST_CLASS_2)
        assert c2.kind == "ack" or c2.function == SEC_NACK_NO_DATA or (
            c2.kind == "variable" and c2.asdu_header()["cot"] == 1)

        # general interrogation: ACT_CON, COT 20 data, ACT_TERM, all as class 1
        assert m.user_data(GI) is not None
        gi = data_asdus(poll_class1_until(
            m, lambda f: f.asdu_header()["type_id"] == C_IC_NA_1 and f.asdu_header()["cot"] == 10))
        assert gi[0]["type_id"] == C_IC_NA_1 and gi[0]["cot"] == 7
        assert {a["cot"] for a in gi[1:-1]} == {20}
        singles = sum(1 for p in bench_config().points if p.kind is PointKind.SINGLE)
        assert sum(int(a["count"]) for a in gi[1:-1] if a["type_id"] == 1) == singles  # type: ignore[call-overload]

        # line noise between frames is skipped
        m.write(b"\x00\xff\x68\x03\x10\x55", record=False)
        # select-before-operate on relay 2, then execute; return information before ACT_TERM
        assert m.user_data(sc(5002, True, select=True)) is not None
        con = poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == C_SC_NA_1)[-1]
        assert con.asdu_header()["cot"] == 7 and not con.asdu_header()["negative"]
        assert m.user_data(sc(5002, True)) is not None
        seen = data_asdus(poll_class1_until(
            m, lambda f: f.asdu_header()["type_id"] == C_SC_NA_1 and f.asdu_header()["cot"] == 10))
        assert [(a["type_id"], a["cot"]) for a in seen if a["type_id"] in (30, 45)][-2:] == [
            (30, 11), (45, 10)]
        assert rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay2"].state) is True

        # negative confirmation: unknown IOA
        assert m.user_data(sc(5999, True)) is not None
        neg = poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == C_SC_NA_1)[-1]
        assert neg.asdu_header()["cot"] == 47 and neg.asdu_header()["negative"]

        # clock synchronisation (COT 6 -> ACT_CON)
        cs = bytes([C_CS_NA_1, 1, 6, 0, 1, 0, 0, 0, 0]) + bytes.fromhex("10 27 1e 0a 17 0b 1a")
        assert m.user_data(cs) is not None
        con = poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == C_CS_NA_1)[-1]
        assert con.asdu_header()["cot"] == 7
        assert rtu.call(lambda: rtu.sup.outstation.clock_synchronised)

        # frames for another station are not answered
        m.write(bytes.fromhex("10 49 07 50 16"))
        assert m.read_optional(0.3) is None

    packets = tshark_decode_101(write_rtac_pcap(m.records, tmp_path / "iec101.pcap"))
    assert len(packets) == len(m.records)
    assert not malformed(packets)
    decoded = {(f["iec60870_asdu.typeid"], f["iec60870_asdu.causetx"])
               for p in packets for f in _asdu_layers(p)}
    for type_and_cause in [("100", "6"), ("100", "7"), ("1", "20"), ("100", "10"), ("70", "4"),
                           ("45", "7"), ("45", "10"), ("30", "11"), ("45", "47"), ("103", "7")]:
        assert type_and_cause in decoded, f"{type_and_cause} not decoded by Wireshark: {decoded}"


def _asdu_layers(packet: dict[str, object]) -> list[dict[str, str]]:
    layer = packet.get("iec60870_asdu")
    if layer is None:
        return []
    return layer if isinstance(layer, list) else [layer]  # type: ignore[return-value]


def test_balanced_link_establishment_and_confirmed_user_data(pty_pair: tuple[int, str]) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd, address=1, balanced=True)
    config = config_101(device, LinkMode.BALANCED, remote_address=2, repeat_timeout=0.3,
                        test_interval=0)
    with OutstationThread(config, free_tcp_port()) as rtu:
        # the outstation's primary asks for our link status and resets our link
        req = m.read()
        assert req.kind == "fixed" and req.function == REQUEST_LINK_STATUS and not req.control & 0x80
        assert req.address == 2  # addressed to the master
        m.answer(req, SEC_LINK_STATUS)
        reset = m.read()
        assert reset.function == RESET_REMOTE_LINK
        m.answer(reset, SEC_ACK)
        # then it sends end of initialisation as confirmed user data
        ei = m.read()
        assert ei.kind == "variable" and ei.asdu_header()["type_id"] == M_EI_NA_1
        # no answer: it is repeated with the same FCB after repeat_timeout
        again = m.read(2.0)
        assert again.raw == ei.raw
        m.answer(again, SEC_ACK)
        # our primary: reset the outstation's link, then send a GI as confirmed user data
        ack = m.reset()
        assert ack.kind == "ack" or ack.function == SEC_ACK
        ack = m.user_data(GI)
        assert ack is not None and (ack.kind == "ack" or ack.function == SEC_ACK)
        frames = []
        while True:
            f = m.read()
            assert f.kind == "variable"
            frames.append(f.asdu_header())
            m.answer(f, SEC_ACK)
            if f.asdu_header()["type_id"] == C_IC_NA_1 and f.asdu_header()["cot"] == 10:
                break
        assert frames[0]["cot"] == 7 and {a["cot"] for a in frames[1:-1]} == {20}
        # an event reaches us spontaneously, without any polling
        rtu.call(rtu.sup.provided(SimulatedField).set, "di02", True)
        ev = m.read()
        assert ev.asdu_header()["type_id"] == 30 and ev.asdu_header()["cot"] == 3
        m.answer(ev, SEC_ACK)
        # test function of link
        ack = m.request(TEST_LINK)
        assert ack.kind == "ack" or ack.function == SEC_ACK
        assert ACK_CHAR == 0xE5


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the outstation never listened")


def test_cli_serves_101_and_104_together_and_every_master_gets_every_event(
        pty_pair: tuple[int, str]) -> None:
    fd, device = pty_pair
    port = free_tcp_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtu", "run", "--serial", device, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        m = Ft12Master(fd)
        m.wait_link()  # the serial port may open after the 104 port
        m.reset()
        poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == M_EI_NA_1)
        with Raw104Client(port) as master104:
            master104.startdt()
            master104.recv_until(lambda a: a.get("type_id") == M_EI_NA_1)
            # a command from the 104 master; its return information reaches both masters
            master104.send_asdu(sc(5007, True))
            start = len(master104.received)
            master104.recv_until(lambda a: a.get("type_id") == C_SC_NA_1 and a["cot"] == 10)
            seen = [(a.get("type_id"), a.get("cot"), a.get("ioa"))
                    for a in master104.received[start:] if a["format"] == "I"]
            assert (30, 11, 1107) in seen
            assert seen.index((30, 11, 1107)) < seen.index((C_SC_NA_1, 10, 5007))
        ev101 = poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == 30)[-1]
        assert ev101.asdu_header()["cot"] == 11
        assert int.from_bytes(ev101.asdu[6:9], "little") == 1107
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed (scripts/setup-test)")
def test_a_yanked_adapter_is_reopened_and_no_event_is_lost(tmp_path: Path) -> None:
    """socat stands for the USB adapter: killing it removes the device; a new one brings it back."""
    dev, peer = tmp_path / "ttyRTU", tmp_path / "ttyMaster"

    def adapter() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={dev}",
                                 f"pty,raw,echo=0,link={peer}"], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (dev.exists() and peer.exists()):
            assert time.monotonic() < deadline, "socat did not create the pty pair"
            time.sleep(0.02)
        return proc

    def open_master() -> Ft12Master:
        fd = os.open(peer, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        return Ft12Master(fd)

    socat = adapter()
    try:
        with OutstationThread(config_101(str(dev)), free_tcp_port()) as rtu:
            m = open_master()
            m.reset()
            poll_class1_until(m, lambda f: f.asdu_header()["type_id"] == M_EI_NA_1)
            server = rtu.sup.server(Iec101Server)
            assert server is not None
            socat.kill()  # the adapter is pulled out
            socat.wait(5)
            os.close(m.fd)
            deadline = time.monotonic() + 5
            while rtu.call(lambda: server.reopens) == 0:
                assert time.monotonic() < deadline, "the loss of the port was not noticed"
                time.sleep(0.05)
            for value in (True, False, True):  # events while the line is gone
                rtu.call(rtu.sup.provided(SimulatedField).set, "di06", value)
            socat = adapter()  # plugged in again
            m = open_master()
            deadline = time.monotonic() + 10
            while True:  # the server reopens with backoff (1 s, 2 s, ...)
                m.write(bytes.fromhex("10 49 01 4a 16"))
                if m.read_optional(0.5) is not None:
                    break
                assert time.monotonic() < deadline, "the port was not reopened"
            m.reset()
            frames = poll_class1_until(
                m, lambda f: f.asdu_header()["type_id"] == 30 and f.asdu_header()["count"] == 3)
            event = frames[-1]
            siqs = [event.asdu[6 + i * 11 + 3] & 1 for i in range(3)]
            assert siqs == [1, 0, 1]  # all three, in order, with nothing lost
            os.close(m.fd)
    finally:
        socat.kill()
        socat.wait(5)


# -- line recovery: the FT1.2 inter-character timeout (on by default) ----------------------------

HALF_HEADER = bytes.fromhex("68 09 09")  # a long frame's header, cut off by a quiet line


def _fragments_dropped(rtu: OutstationThread) -> int:
    def read() -> int:
        line = rtu.sup.server(Iec101Server)
        link = line.link if line is not None else None
        return link.statistics["fragments_dropped"] if link is not None else -1
    return int(rtu.call(read))


def test_unbalanced_half_a_frame_then_a_quiet_line_does_not_make_it_deaf(
    pty_pair: tuple[int, str],
) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd)
    with OutstationThread(config_101(device), free_tcp_port()) as rtu:
        assert m.reset().function == SEC_ACK
        m.write(HALF_HEADER)
        time.sleep(0.3)  # longer than the default 50 ms floor
        for _ in range(5):  # before the fix: no answer for 25 s, then a burst of stale ones
            start = time.monotonic()
            status = m.request(REQUEST_LINK_STATUS)
            assert status.kind == "fixed" and status.function == SEC_LINK_STATUS
            assert time.monotonic() - start < 1.0
        assert m.read_optional(0.2) is None  # nothing stale follows
        assert _fragments_dropped(rtu) == 1


def test_balanced_half_a_frame_then_a_quiet_line_does_not_make_it_deaf(
    pty_pair: tuple[int, str],
) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd, address=1, balanced=True)
    config = config_101(device, LinkMode.BALANCED, remote_address=2, repeat_timeout=0.3,
                        test_interval=0)
    with OutstationThread(config, free_tcp_port()) as rtu:
        m.accept_link()  # the outstation's primary establishes the link
        ei = m.read()
        assert ei.kind == "variable" and ei.asdu_header()["type_id"] == M_EI_NA_1
        m.answer(ei, SEC_ACK)
        m.write(HALF_HEADER)
        time.sleep(0.3)
        start = time.monotonic()
        status = m.request(REQUEST_LINK_STATUS)  # our primary asks the outstation's secondary
        assert status.kind == "fixed" and status.function == SEC_LINK_STATUS
        assert time.monotonic() - start < 1.0
        assert _fragments_dropped(rtu) == 1


def _secondary_answer(m: Ft12Master) -> Frame:
    """The outstation's answer to our primary frame, skipping its own primary's retries (it
    keeps asking for our link status while we do not answer it)."""
    for _ in range(20):
        f = m.read()
        if f.kind == "ack" or not f.control & 0x40:  # PRM = 0: an answer
            return f
    raise AssertionError("no answer from the outstation's secondary")


def test_balanced_command_before_our_link_is_up_is_answered_in_order(
        pty_pair: tuple[int, str]) -> None:
    """Issue 15 item 5, raw FT1.2 (c104 has no 101): a command that arrives before the
    outstation's own link to the master is up is answered, once it is, with end of
    initialisation first, then ACT_CON, the return information (COT 11), ACT_TERM."""
    fd, device = pty_pair
    m = Ft12Master(fd, address=1, balanced=True)
    config = config_101(device, LinkMode.BALANCED, remote_address=2, repeat_timeout=0.3,
                        test_interval=0)
    with OutstationThread(config, free_tcp_port()) as rtu:
        # our primary resets the outstation's link and sends a command (persistent, QU 3);
        # the outstation's requests for our link status stay unanswered meanwhile
        m.fcb = False
        m.write(fixed_frame(m._control(RESET_REMOTE_LINK, False), m.address))
        _secondary_answer(m)
        m.fcb = not m.fcb
        command = bytes([C_SC_NA_1, 1, 6, 0, 1, 0]) + (5001).to_bytes(3, "little") + b"\x0d"
        m.write(variable_frame(m._control(USER_DATA_CONFIRMED, True), m.address, command))
        _secondary_answer(m)
        deadline = time.monotonic() + 5
        while rtu.call(lambda: rtu.sup.provided(Relays).outputs["relay1"].get()) is not True:
            assert time.monotonic() < deadline, "the command was not executed"
            time.sleep(0.05)
        time.sleep(0.3)  # its ACT_TERM is queued by now
        # now the outstation's link comes up: answer its status request and its reset
        req = m.read()
        while req.function != REQUEST_LINK_STATUS:
            req = m.read()
        m.answer(req, SEC_LINK_STATUS)
        reset = m.read()
        assert reset.function == RESET_REMOTE_LINK
        m.answer(reset, SEC_ACK)
        seen = []
        for _ in range(6):
            f = m.read()
            assert f.kind == "variable", f.raw.hex(" ")
            m.answer(f, SEC_ACK)
            header = f.asdu_header()
            seen.append((header["type_id"], header["cot"], header["negative"]))
            if header["type_id"] == C_SC_NA_1 and header["cot"] == 10:
                break
        assert seen == [(M_EI_NA_1, 4, False), (C_SC_NA_1, 7, False), (30, 11, False),
                        (C_SC_NA_1, 10, False)], seen
