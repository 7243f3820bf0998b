"""`rtu monitor` against the running outstation: a c104 master talks to it over loopback while
the CLI (a subprocess) prints the frames and writes a capture that tshark decodes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtu.config import bench_config
from rtu.control import ControlServer
from rtu.tap import TAP
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port, tshark_decode_104

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _monitor(sock: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "monitor", "--socket", str(sock),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # "monitoring (Ctrl-C to stop)" once attached
    assert first.startswith("monitoring"), first + proc.stderr.read()
    return proc


def test_monitor_prints_decoded_frames_and_writes_a_capture_tshark_decodes(
        tmp_path: Path) -> None:
    port = free_tcp_port()
    sock = tmp_path / "control.sock"
    pcap = tmp_path / "gi.pcapng"
    with OutstationThread(bench_config(), port) as rtu:
        control = ControlServer(rtu.sup, sock)
        rtu.run(control.start())
        try:
            everything = _monitor(sock, "--pcap", str(pcap), "--count", "10")
            health = _monitor(sock, "--type", "M_SP_NA_1", "--ioa", "9001", "--count", "1",
                              "--direction", "tx")
            assert rtu.call(lambda: len(TAP.watchers)) == 2
            with C104Master(port) as master:
                master.wait_connected(5)
                assert master.interrogation()
                out, _ = everything.communicate(timeout=20)
                picked, _ = health.communicate(timeout=20)
            deadline = time.monotonic() + 5
            while rtu.call(lambda: len(TAP.watchers)) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert rtu.call(lambda: len(TAP.watchers)) == 0  # both detached when they left
        finally:
            rtu.run(control.close())
    lines = out.splitlines()
    assert len(lines) == 10, out
    assert " <- U STARTDT act" in lines[0] and " -> U STARTDT con" in lines[1]
    assert any(" <- I(" in ln and "C_IC_NA_1 (100), COT 6 ACTIVATION" in ln for ln in lines)
    assert any(" -> I(" in ln and "C_IC_NA_1 (100), COT 7 ACTIVATION_CON" in ln for ln in lines)
    assert any("M_SP_NA_1 (1), COT 20" in ln for ln in lines)
    assert len(picked.splitlines()) == 1
    assert "M_SP_NA_1 (1), COT 20" in picked and "IOA 9001: value=" in picked
    decoded = tshark_decode_104(pcap, port)
    assert not decoded.problems, decoded.problems
    assert [d.get("u") for d in decoded[:2]] == ["STARTDT act", "STARTDT con"]
    assert decoded[0]["dir"] == "to_server" and decoded[1]["dir"] == "from_server"
    gi = [d for d in decoded if d.get("type_id") == 100]
    assert [d["cot"] for d in gi][:2] == [6, 7]
    assert any(d.get("type_id") == 1 and d.get("cot") == 20 for d in decoded)
