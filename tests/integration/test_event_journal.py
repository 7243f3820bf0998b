"""The persistent event journal against the real process: `python -m rtu run` in a subprocess,
a burst of events driven through the operator socket, ``kill -9`` in the middle of it, a
restart on the same state directory, and a master that was not written here (c104, i.e.
lib60870-C) collecting what the new process delivers."""

from __future__ import annotations

import calendar
import dataclasses
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rtu.config import JournalConfig
from rtu.eventstore import EventStore
from rtu.reload import ReloadError
from rtu.sources.simulated.source import SimulatedField
from tests.integration.peers import (
    COT_SPONTANEOUS,
    C104Master,
    Raw104Client,
    free_tcp_port,
)
from tests.integration.test_reload import Running, quiet_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
IOA = 100
M_ME_TE_1 = 35
M_EI_NA_1 = 70
COT_INITIALISED = 4


def write_config(tmp_path: Path, commit_interval: float) -> tuple[Path, int]:
    port = free_tcp_port()
    config = tmp_path / "site.toml"
    config.write_text(f"""
[station]
common_address = 1
event_queue_size = 100000

[iec104]
enabled = true
listen = "127.0.0.1:{port}"

[simulation]
seed = 1
digital_interval = 100000
analog_interval = 100000
counter_interval = 100000

[service]
control_socket = "{tmp_path}/ctl/control.sock"
state_directory = "{tmp_path}/state"

[journal]
enabled = true
commit_interval = {commit_interval}

[[points]]
name = "level"
ioa = {IOA}
kind = "scaled"
source = "sim"
""")
    return config, port


@contextmanager
def outstation(config: Path) -> Iterator[subprocess.Popen[str]]:
    """`rtu run`, returned once READY=1 reached the notify socket."""
    notify = config.parent / f"notify-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    env = dict(os.environ, NOTIFY_SOCKET=str(notify), PYTHONPATH=str(REPO))
    for name in ("STATE_DIRECTORY", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    log = (config.parent / "rtu.log").open("a")
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(config)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        sock.settimeout(15)
        while True:
            try:
                note = sock.recv(4096).decode()
            except TimeoutError:
                raise AssertionError("no READY=1 within 15 s:\n"
                                     + (config.parent / "rtu.log").read_text()) from None
            if note == "READY=1":
                break
        yield proc
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        log.close()


class Burst:
    """Sets ``level`` to 1, 2, 3 ... (or from ``first`` on) through the operator socket (one connection, answers read
    as they come) and notes when each answer arrived."""

    def __init__(self, path: Path, per_tick: int = 20, tick: float = 0.01, first: int = 1) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.per_tick, self.tick, self.first = per_tick, tick, first
        self.confirmed: list[float] = []  # wall time of the answer for value i + 1
        self.refused: list[bytes] = []
        self.started = time.time()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._reader.start()
        self._writer.start()

    def _write(self) -> None:
        value = self.first - 1
        try:
            while not self._stop.is_set():
                lines = []
                for _ in range(self.per_tick):
                    value += 1
                    lines.append(json.dumps({"command": "sim_set", "name": "level",
                                             "value": value}))
                self.sock.sendall(("\n".join(lines) + "\n").encode())
                time.sleep(self.tick)
        except OSError:
            pass

    def _read(self) -> None:
        buf = b""
        try:
            while chunk := self.sock.recv(65536):
                buf += chunk
                *lines, buf = buf.split(b"\n")
                now = time.time()
                for line in lines:
                    if json.loads(line).get("ok"):
                        self.confirmed.append(now)
                    else:
                        self.refused.append(line)
        except OSError:
            pass

    def stop(self) -> None:
        self._stop.set()
        self._writer.join(2)
        self.sock.close()


def all_events_of(frames: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    """(value, element octets in hex, COT) of every `level` event, in arrival order, markers
    included."""
    out = []
    for frame in frames:
        if frame.get("format") == "I" and frame.get("type_id") == M_ME_TE_1:
            for obj in frame["objects"]:
                assert obj["ioa"] == IOA
                raw = bytes.fromhex(obj["data"])
                out.append((int.from_bytes(raw[:2], "little", signed=True), obj["data"],
                            frame["cot"]))
    return out


def events_of(frames: list[dict[str, Any]]) -> list[tuple[int, str, int]]:
    """(value, element octets in hex, COT) of every `level` event a burst set (values from 1
    on; the negative markers are left out), in arrival order."""
    return [e for e in all_events_of(frames) if e[0] > 0]


# Markers: after a restart the harness sets `level` to a value no burst sets; that event is
# generated by the new run, so it queues behind everything the journal restored: once it has
# arrived, every restored event has. Each marker is new (a marker of an earlier run may itself
# be restored, at least once, and must not end the wait).
_MARKERS = itertools.count(-1, -1)


def set_marker(control: Path) -> int:
    """Set `level` to a new marker value through the operator socket; returns the value."""
    marker = next(_MARKERS)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(control))
        sock.sendall(json.dumps({"command": "sim_set", "name": "level",
                                 "value": marker}).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(4096)
            assert chunk, f"operator socket closed: {answer!r}"
            answer += chunk
    assert json.loads(answer).get("ok"), answer
    return marker


def up_to_marker(frames: list[dict[str, Any]], marker: int) -> list[tuple[int, str, int]]:
    """The burst's events in ``frames`` before the ``marker`` event (which must be there)."""
    events = all_events_of(frames)
    values = [v for v, _, _ in events]
    assert marker in values, f"marker {marker} not received"
    return [e for e in events[:values.index(marker)] if e[0] > 0]


def assert_initialisation_first(frames: list[dict[str, Any]]) -> None:
    """The new run's end of initialisation is the first ASDU, and the only one."""
    asdus = [f for f in frames if f.get("format") == "I"]
    assert asdus and asdus[0]["type_id"] == M_EI_NA_1 and asdus[0]["cot"] == COT_INITIALISED, \
        asdus[:3]
    assert sum(1 for f in asdus if f["type_id"] == M_EI_NA_1) == 1


def cp56_seconds(element_hex: str) -> float:
    """POSIX seconds of the CP56Time2a ending the element (UTC, as the outstation sends)."""
    b = bytes.fromhex(element_hex)[-7:]
    ms = b[0] | b[1] << 8
    t = calendar.timegm((2000 + (b[6] & 0x7F), b[5] & 0x0F, b[4] & 0x1F, b[3] & 0x1F,
                         b[2] & 0x3F, 0, 0, 0, 0))
    return t + ms / 1000


def is_event(value: int) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r.get("type_id") == M_ME_TE_1 and any(
        v == value for v, _, _ in all_events_of([r]))


def deliver_after_restart(port: int, control: Path,
                          timeout: float = 10.0) -> list[tuple[int, str, int]]:
    """Connect c104 and start data transfer; set a marker; return the burst's events received
    before the marker (what the journal held: it comes after the new run's end of
    initialisation, which must be the first ASDU, and before anything the new run generates)."""
    with C104Master(port) as master:
        master.wait_connected(5)
        marker = set_marker(control)
        master.wait_for(is_event(marker), timeout)
        frames = [r for r in master.received.snapshot() if r.get("format") == "I"]
    assert_initialisation_first(frames)
    return up_to_marker(frames, marker)


def deliver_raw_after_restart(port: int, control: Path,
                              timeout: float = 10.0) -> list[tuple[int, str, int]]:
    """The same with a raw-socket master acknowledging every I-frame."""
    with Raw104Client(port, w=1) as master:
        master.startdt(timeout)
        marker = set_marker(control)
        master.recv_until(is_event(marker), timeout)
        master.ack()
        frames = list(master.received)
    assert_initialisation_first(frames)
    return up_to_marker(frames, marker)


@pytest.mark.parametrize("commit_interval", [0.0, 0.25], ids=["eager", "batched"])
def test_kill_9_during_a_burst_and_every_event_is_delivered(tmp_path: Path,
                                                             commit_interval: float) -> None:
    config, port = write_config(tmp_path, commit_interval)
    # a master that never acknowledges: it sees what the outstation sends (k frames)
    with outstation(config) as proc, Raw104Client(port, w=1 << 30) as silent:
        silent.startdt()
        burst = Burst(tmp_path / "ctl" / "control.sock")
        time.sleep(1.2)
        kill_time = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        burst.stop()
        while silent.recv(0.2) is not None:
            pass
        seen = events_of(silent.received)
    confirmed = burst.confirmed
    assert not burst.refused
    assert len(confirmed) > 1000, "the burst was too small to mean anything"
    assert seen, "the silent master saw no event before the kill"

    with outstation(config):  # restarted on the same state directory
        delivered = deliver_after_restart(port, tmp_path / "ctl" / "control.sock")
    values = [v for v, _, _ in delivered]
    # in order, no gap, no duplicate, from the first event on
    assert values == list(range(1, len(values) + 1)), values[:20]
    # every event the silent master saw is delivered again, octet for octet (time tag too)
    assert delivered[:len(seen)] == seen
    # with commit_interval = 0 an event is committed before it is sent; batched, the events
    # of the last window (plus the time a commit takes on a busy machine) may be lost
    if commit_interval:
        safe = sum(1 for t in confirmed if t < kill_time - commit_interval - 0.5)
        assert len(values) >= safe, (len(values), safe, len(confirmed))
    assert len(values) <= len(confirmed) + burst.per_tick  # nothing invented
    # original time tags (generated before the kill, in order) and original cause
    stamps = [cp56_seconds(element) for _, element, _ in delivered]
    assert stamps == sorted(stamps)
    assert burst.started - 0.002 <= stamps[0] and stamps[-1] <= kill_time + 0.002
    assert all(cot == COT_SPONTANEOUS for _, _, cot in delivered)
    assert values[-1] < len(confirmed) + burst.per_tick


def test_acknowledged_events_are_not_sent_again_after_kill_9(tmp_path: Path) -> None:
    config, port = write_config(tmp_path, 0.2)
    ctl = tmp_path / "ctl" / "control.sock"
    with outstation(config) as proc:
        with Raw104Client(port, w=1) as master:  # acknowledges every I-frame at once
            master.startdt()
            burst = Burst(ctl, per_tick=10)
            time.sleep(0.3)
            burst.stop()
            acknowledged = len(burst.confirmed)
            master.recv_until(lambda r: r.get("type_id") == M_ME_TE_1
                              and events_of([r])[-1][0] == acknowledged, 5)
            master.ack()
        time.sleep(0.6)  # the master is gone; a commit records that it had everything
        later = Burst(ctl, per_tick=10)  # nobody to acknowledge these
        time.sleep(0.2)
        later.stop()
        unacknowledged = len(later.confirmed)
        time.sleep(0.6)  # committed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    assert acknowledged > 50 and unacknowledged > 20

    with outstation(config):  # raw frames: end of initialisation, then exactly those
        values = [v for v, _, _ in deliver_raw_after_restart(port, ctl)]
    # the second burst set 1, 2, ... again: exactly those come back, the first burst's do not
    assert values == list(range(1, unacknowledged + 1))
    log = (tmp_path / "rtu.log").read_text()
    assert f"{unacknowledged} unacknowledged events of group iec104 restored" in log


def test_a_rebuild_reload_keeps_the_journal(tmp_path: Path) -> None:
    """In process (test_reload's running supervisor): events queued before a rebuild stay in
    the journal, the new outstation numbers on after them, and moving the file is refused."""
    port = free_tcp_port()
    base = quiet_config(tmp_path, port)
    config = dataclasses.replace(
        base, service=dataclasses.replace(base.service, state_directory=str(tmp_path / "st")),
        journal=JournalConfig(enabled=True, commit_interval=0.05))
    box = Running(config)
    try:
        sup = box.sup
        box.call(lambda: (sup.provided(SimulatedField).set("di04", True), sup.provided(SimulatedField).set("di05", True)))  # no 1301
        fewer = dataclasses.replace(sup.config, points=tuple(
            p for p in sup.config.points if p.name != "di16"))
        assert box.run(sup.reload(fewer)) == "points changed; rebuilding the field side"
        box.call(lambda: sup.provided(SimulatedField).set("di06", True))
        moved = dataclasses.replace(fewer, journal=dataclasses.replace(fewer.journal,
                                                                       path="other.sqlite3"))
        with pytest.raises(ReloadError, match="journal.path changed: restart"):
            box.run(sup.reload(moved))
        assert box.call(lambda: sup.journal is not None and sup.journal.outstation
                        is sup.outstation)
    finally:
        box.close()
    store = EventStore(tmp_path / "st" / "events.sqlite3")
    events = store.load().events
    assert [(r.seq, r.obj.ioa) for r in events] == [(1, 1004), (2, 1005), (3, 1006)]
