"""Proves the external-peer harness (peers.py) before our own server exists.

c104's OWN outstation (c104.Server) plays the server; our C104Master (c104
client), Raw104Client, TsharkCapture and tshark_decode_104 are checked
against it. The same helpers are meant to be pointed at rtu's server.

No ``from __future__ import annotations`` here: c104 checks callback
annotations as evaluated objects.
"""

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

c104 = pytest.importorskip("c104")

try:  # tests/integration as a package or as a plain directory on sys.path
    from .peers import (
        COT_ACTIVATION,
        COT_ACTIVATION_CON,
        COT_ACTIVATION_TERMINATION,
        COT_INTERROGATED_BY_STATION,
        COT_UNKNOWN_IOA,
        STARTDT_ACT,
        C104Master,
        Raw104Client,
        TsharkCapture,
        build_asdu,
        free_tcp_port,
        i_frame,
        parse_apdu,
        s_frame,
        sco,
        tshark_decode_104,
    )
except ImportError:
    from peers import (  # type: ignore[no-redef]
        COT_ACTIVATION,
        COT_ACTIVATION_CON,
        COT_ACTIVATION_TERMINATION,
        COT_INTERROGATED_BY_STATION,
        COT_UNKNOWN_IOA,
        STARTDT_ACT,
        C104Master,
        Raw104Client,
        TsharkCapture,
        build_asdu,
        free_tcp_port,
        i_frame,
        parse_apdu,
        s_frame,
        sco,
        tshark_decode_104,
    )

pytestmark = pytest.mark.integration

CA = 1
IOA_SP = 100          # M_SP_NA_1, on
IOA_SP_TIME = 101     # M_SP_TB_1 (time-tagged)
IOA_ME = 102          # M_ME_NC_1, 1.5
IOA_CMD = 200         # C_SC_NA_1, direct
IOA_CMD_SBO = 201     # C_SC_NA_1, select before operate
IOA_CMD_REFUSE = 202  # C_SC_NA_1, the server's handler answers FAILURE


@dataclass
class C104Outstation:
    server: Any
    port: int
    station: Any
    executed: list[tuple[int, bool, bool]] = field(default_factory=list)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def outstation() -> Iterator[C104Outstation]:
    """c104's own server on 127.0.0.1:<free port>, CA 1, a few points."""
    port = free_tcp_port()
    # select timeout above C104Master's command timeout (3 s): when c104 loses a select's
    # ACT_CON, the harness sends the execute one command timeout later (peers.py)
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=50, select_timeout_ms=10000)
    station = server.add_station(common_address=CA)
    out = C104Outstation(server=server, port=port, station=station)

    station.add_point(io_address=IOA_SP, type=c104.Type.M_SP_NA_1).value = True
    station.add_point(io_address=IOA_SP_TIME, type=c104.Type.M_SP_TB_1).value = False
    station.add_point(io_address=IOA_ME, type=c104.Type.M_ME_NC_1).value = 1.5

    def on_command(point: c104.Point, previous_info: c104.Information,
                   message: c104.IncomingMessage) -> c104.ResponseState:
        out.executed.append((point.io_address, bool(point.value), message.is_select_command))
        if point.io_address == IOA_CMD_REFUSE:
            return c104.ResponseState.FAILURE
        return c104.ResponseState.SUCCESS

    for ioa, mode in ((IOA_CMD, c104.CommandMode.DIRECT),
                      (IOA_CMD_SBO, c104.CommandMode.SELECT_AND_EXECUTE),
                      (IOA_CMD_REFUSE, c104.CommandMode.DIRECT)):
        station.add_point(io_address=ioa, type=c104.Type.C_SC_NA_1,
                          command_mode=mode).on_receive(callable=on_command)
    server.start()
    try:
        yield out
    finally:
        server.stop()


def test_master_gi_and_commands_seen_by_c104_and_wireshark(
        outstation: C104Outstation, tmp_path: Path) -> None:
    port = outstation.port
    with TsharkCapture(port, tmp_path / "harness.pcapng") as cap, C104Master(port, ca=CA) as m:
        m.wait_connected(5)

        # General interrogation: c104 blocks until ACT_CON and ACT_TERM.
        since = m.mark()
        assert m.interrogation(qoi=20)
        m.wait_for(lambda r: r.get("type") == "C_IC_NA_1"
                   and r["cot"] == COT_ACTIVATION_TERMINATION, since=since)
        con = m.wait_for(lambda r: r.get("type") == "C_IC_NA_1"
                         and r["cot"] == COT_ACTIVATION_CON, since=since)
        assert con["negative"] is False
        sp = m.wait_update(lambda u: u["ioa"] == IOA_SP)
        assert (sp["type"], sp["cot"], sp["value"], sp["quality"]) == \
            ("M_SP_NA_1", COT_INTERROGATED_BY_STATION, True, 0)
        me = m.wait_update(lambda u: u["ioa"] == IOA_ME)
        assert me["value"] == pytest.approx(1.5)
        tagged = m.wait_update(lambda u: u["ioa"] == IOA_SP_TIME)
        assert tagged["type"] == "M_SP_TB_1" and tagged["recorded_at"] is not None
        # c104 quirk: time-tagged types with COT=20 are flagged INVALID_COT.
        assert [u["cause"] for u in m.unexpected.snapshot()] == ["INVALID_COT"]
        raw_tagged = m.asdus(type="M_SP_TB_1")[0]
        assert raw_tagged["objects"][0]["time"] is not None

        # Direct command: c104 returns at ACT_CON.
        res = m.single_command(IOA_CMD, True)
        assert res.ok and res.act_con is not None and res.negative is False
        assert res.act_con["select"] is False

        # Select before operate: select ACT_CON, execute ACT_CON, ACT_TERM.
        res = m.single_command(IOA_CMD_SBO, True, select=True)
        assert res.ok
        assert res.select_con is not None and res.select_con["negative"] is False
        assert res.act_con is not None and res.act_term is not None
        assert res.cots == [COT_ACTIVATION_CON, COT_ACTIVATION_CON,
                            COT_ACTIVATION_TERMINATION]

        # Negative confirmation is visible as the P/N bit.
        res = m.single_command(IOA_CMD_REFUSE, True)
        assert not res.ok and res.negative is True
        assert res.act_con is not None and res.act_con["negative"] is True

        assert m.read(IOA_ME)
        m.wait_for(lambda r: r.get("type") == "M_ME_NC_1" and r["cot"] == 5)
        assert m.clock_sync()
        assert m.counter_interrogation()
        received_i = [r for r in m.received.snapshot() if r["format"] == "I"]

    assert [(ioa, value) for ioa, value, _ in outstation.executed] == \
        [(IOA_CMD, True), (IOA_CMD_SBO, True), (IOA_CMD_REFUSE, True)]

    frames = tshark_decode_104(cap.path, port)
    assert not frames.malformed, frames.problems
    gi = [(f["dir"], f["cot"], f["negative"]) for f in frames.i_frames(type="C_IC_NA_1")]
    assert gi == [("to_server", COT_ACTIVATION, False),
                  ("from_server", COT_ACTIVATION_CON, False),
                  ("from_server", COT_ACTIVATION_TERMINATION, False)]
    sp_frames = frames.i_frames(type="M_SP_NA_1", cot=COT_INTERROGATED_BY_STATION)
    assert [f["ioas"] for f in sp_frames] == [[IOA_SP]]
    sbo = [(f["dir"], f["cot"], f["select"]) for f in frames.i_frames(type="C_SC_NA_1")
           if f["ioa"] == IOA_CMD_SBO]
    assert sbo[:4] == [("to_server", COT_ACTIVATION, True),
                       ("from_server", COT_ACTIVATION_CON, True),
                       ("to_server", COT_ACTIVATION, False),
                       ("from_server", COT_ACTIVATION_CON, False)]
    assert frames[0]["format"] == "U" and frames[0]["u"] == "STARTDT act"
    # Wireshark saw exactly the I-frames c104 handed to our raw callback.
    from_server = [(f["type_id"], f["cot"], f["ioa"]) for f in frames.i_frames(dir="from_server")]
    assert from_server == [(r["type_id"], r["cot"], r["ioa"]) for r in received_i]


def test_raw_client_can_select_without_execute(outstation: C104Outstation) -> None:
    with Raw104Client(outstation.port) as raw:
        raw.startdt()
        raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACTIVATION, CA,
                                 [(IOA_CMD_SBO, sco(True, select=True))]))
        con = raw.recv_until(lambda a: a.get("cot") == COT_ACTIVATION_CON)
        assert (con["type"], con["ioa"], con["select"], con["negative"]) == \
            ("C_SC_NA_1", IOA_CMD_SBO, True, False)
        assert outstation.executed == []  # selected, not operated

        raw.send_asdu(build_asdu("C_SC_NA_1", COT_ACTIVATION, CA,
                                 [(IOA_CMD_SBO, sco(True))]))
        con = raw.recv_until(lambda a: a.get("cot") == COT_ACTIVATION_CON)
        assert con["select"] is False and con["negative"] is False
        raw.recv_until(lambda a: a.get("cot") == COT_ACTIVATION_TERMINATION)
        assert [ioa for ioa, _, _ in outstation.executed] == [IOA_CMD_SBO]


def test_tshark_flags_malformed_frames(tmp_path: Path) -> None:
    port = free_tcp_port()
    sink = socket.create_server(("127.0.0.1", port))

    def drain() -> None:
        conn, _ = sink.accept()
        with conn:
            while conn.recv(4096):
                pass

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        with TsharkCapture(port, tmp_path / "malformed.pcapng") as cap, \
                Raw104Client(port) as raw:
            raw.send_raw(STARTDT_ACT)
            good = build_asdu("M_ME_NC_1", 3, CA, [(5, bytes.fromhex("0000c03f00"))])
            raw.send_asdu(good)
            raw.send_asdu(good[:1] + b"\x02" + good[2:])  # says 2 objects, has 1
            time.sleep(0.05)
    finally:
        sink.close()
        t.join(2)

    frames = tshark_decode_104(cap.path, port)
    assert [f["count"] for f in frames.i_frames()] == [1, 2]
    assert frames.malformed
    bad_frame = frames.i_frames()[1]["frame"]
    assert {frame for frame, _ in frames.problems} == {bad_frame}


def test_master_reconnects_after_outstation_restart(outstation: C104Outstation) -> None:
    with C104Master(outstation.port, ca=CA) as m:
        m.wait_connected(5)
        outstation.stop()
        m.wait_disconnected(5)
        outstation.start()
        m.wait_connected(5)  # c104 retries about once a second by itself
        assert m.interrogation()
        states = [s["state"] for s in m.states.snapshot()]
        assert "CLOSED_AWAIT_RECONNECT" in states and states.count("OPEN") == 2


# -- c104's lost select ACT_CON (peers.py module doc) ----------------------------------------

def _record(direction: str, asdu: bytes, at: float) -> dict[str, Any]:
    rec = parse_apdu(i_frame(asdu, 0, 0))
    rec.update(dir=direction, at=at)
    return rec


def _select_con(*, negative: bool = False, at: float = 1.0) -> dict[str, Any]:
    return _record("rx", build_asdu("C_SC_NA_1", COT_ACTIVATION_CON, CA,
                                    [(IOA_CMD_SBO, sco(True, select=True))],
                                    negative=negative), at)


@pytest.mark.parametrize("case, lost", [
    ("positive select ACT_CON in time, no execute", True),
    ("negative select ACT_CON", False),
    ("positive select ACT_CON only after c104 gave up", False),
    ("c104 did send the execute", False),
    ("a second answer after the ACT_CON", False),
    ("no answer at all", False),
    ("the ACT_CON is for another IOA", False),
])
def test_harness_finishes_a_select_only_when_c104_lost_its_act_con(case: str,
                                                                   lost: bool) -> None:
    m = C104Master(free_tcp_port(), ca=CA)  # not entered: only its record logs are used
    m.sent.append(_record("tx", build_asdu("C_SC_NA_1", COT_ACTIVATION, CA,
                                           [(IOA_CMD_SBO, sco(True, select=True))]), 0.5))
    if case == "positive select ACT_CON only after c104 gave up":
        m.received.append(_select_con(at=2.5))
    elif case == "the ACT_CON is for another IOA":
        m.received.append(_record("rx", build_asdu("C_SC_NA_1", COT_ACTIVATION_CON, CA,
                                                   [(IOA_CMD, sco(True, select=True))]), 1.0))
    elif case != "no answer at all":
        m.received.append(_select_con(negative=case == "negative select ACT_CON"))
    if case == "c104 did send the execute":
        m.sent.append(_record("tx", build_asdu("C_SC_NA_1", COT_ACTIVATION, CA,
                                               [(IOA_CMD_SBO, sco(True))]), 1.1))
    if case == "a second answer after the ACT_CON":
        m.received.append(_record("rx", build_asdu("C_SC_NA_1", COT_UNKNOWN_IOA, CA,
                                                   [(IOA_CMD_SBO, sco(True, select=True))],
                                                   negative=True), 1.2))
    assert m._select_con_lost(45, IOA_CMD_SBO, 0, 0, returned_at=2.0) is lost


class _InstantOutstation:
    """A minimal 104 server on 127.0.0.1 that confirms single commands the moment it
    reads them (select: ACT_CON; execute: ACT_CON and ACT_TERM in one write): the
    fastest possible answer, which is when c104 loses its wake-up most often."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.commands: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.settimeout(30)  # bounded: the test is over long before
        tx = rx = 0
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while len(buf) >= 2 and len(buf) >= buf[1] + 2:
                    frame, buf = buf[:buf[1] + 2], buf[buf[1] + 2:]
                    if frame[2] & 3 == 3:  # U format: confirm STARTDT, STOPDT, TESTFR
                        if frame[2] in (0x07, 0x13, 0x43):
                            conn.sendall(bytes([0x68, 4, (frame[2] & 0xFC) << 1 | 3, 0, 0, 0]))
                        continue
                    if frame[2] & 1:  # S format
                        continue
                    rx += 1
                    rec = parse_apdu(frame)
                    self.commands.append(rec)
                    asdu = bytearray(frame[6:])
                    out = b""
                    for cot in ((COT_ACTIVATION_CON,) if rec["select"] else
                                (COT_ACTIVATION_CON, COT_ACTIVATION_TERMINATION)):
                        asdu[2] = cot
                        out += i_frame(bytes(asdu), tx, rx)
                        tx += 1
                    conn.sendall(out + s_frame(rx))

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


def test_select_before_operate_completes_against_an_instant_outstation() -> None:
    """Whether or not c104 loses the select's ACT_CON on a given run, every command ends
    as select, ACT_CON, execute, ACT_CON, ACT_TERM on the wire, with one select each."""
    server = _InstantOutstation()
    try:
        with C104Master(server.port, ca=CA, command_timeout_ms=500) as m:
            m.wait_connected(5)
            by_harness = 0
            for i in range(20):
                sent = len(server.commands)
                res = m.single_command(IOA_CMD_SBO, bool(i % 2), select=True)
                by_harness += res.execute_sent_by_harness
                assert [(r["cot"], r["select"]) for r in res.responses] == [
                    (COT_ACTIVATION_CON, True), (COT_ACTIVATION_CON, False),
                    (COT_ACTIVATION_TERMINATION, False)], (i, res)
                deadline = time.monotonic() + 2
                while len(server.commands) < sent + 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                got = server.commands[sent:]
                assert [(r["cot"], r["select"], r["objects"][0]["data"]) for r in got] == [
                    (COT_ACTIVATION, True, sco(bool(i % 2), select=True).hex()),
                    (COT_ACTIVATION, False, sco(bool(i % 2)).hex())], (i, got)
            print(f"c104 lost {by_harness} of 20 select ACT_CONs; the harness sent those executes")
    finally:
        server.close()


@pytest.mark.parametrize("answers, c104_ok, verdict", [
    ([(COT_ACTIVATION_CON, False, -1.0), (COT_ACTIVATION_TERMINATION, False, -0.5)], False, True),
    ([(COT_ACTIVATION_CON, True, -1.0), (COT_ACTIVATION_TERMINATION, False, -0.5)], False, False),
    ([(COT_ACTIVATION_TERMINATION, False, -0.5)], False, False),  # no ACT_CON
    ([(COT_ACTIVATION_CON, False, -1.0), (COT_ACTIVATION_TERMINATION, False, 5.0)], False,
     False),  # the end came only after c104 had returned
    ([(COT_ACTIVATION_CON, False, -1.0)], False, False),  # no end at all
    ([(COT_ACTIVATION_CON, True, -1.0)], True, True),  # c104's True is never changed
])
def test_a_lost_wakeup_false_is_corrected_from_the_records_only(
        answers: list[tuple[int, bool, float]], c104_ok: bool, verdict: bool) -> None:
    m = C104Master(free_tcp_port(), ca=CA)  # not entered: only its record logs are used
    now = time.monotonic()
    for cot, negative, dt in answers:
        m.received.append(_record("rx", build_asdu("C_IC_NA_1", cot, CA, [(0, b"\x14")],
                                                   negative=negative), now + dt))
    assert m._settle(0, c104_ok, "C_IC_NA_1", COT_ACTIVATION_TERMINATION) is verdict
