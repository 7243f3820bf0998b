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
        STARTDT_ACT,
        C104Master,
        Raw104Client,
        TsharkCapture,
        build_asdu,
        free_tcp_port,
        sco,
        tshark_decode_104,
    )
except ImportError:
    from peers import (  # type: ignore[no-redef]
        COT_ACTIVATION,
        COT_ACTIVATION_CON,
        COT_ACTIVATION_TERMINATION,
        COT_INTERROGATED_BY_STATION,
        STARTDT_ACT,
        C104Master,
        Raw104Client,
        TsharkCapture,
        build_asdu,
        free_tcp_port,
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
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=50, select_timeout_ms=3000)
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
