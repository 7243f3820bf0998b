"""End to end: the real Supervisor with the gpiod backend over a fake ``gpiod`` module
(tests/unit/hal/fake_gpiod.py), and c104 (lib60870-C) as the 104 master.

An edge injected as the kernel would report it (an edge event with a CLOCK_MONOTONIC time stamp
on the request's file descriptor) reaches the master as M_SP_TB_1 carrying the EDGE's time; a
single command from the master pulses a relay (a fake gpiod output line) and is confirmed; with
a feedback input the ACT_TERM follows the input; a local/remote input blocks commands.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import asyncio
import datetime as dt
import sys
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from rtu.config import parse_config
from rtu.points.model import Quality
from rtu.sources.gpio.source import Board
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port
from tests.unit.hal.fake_gpiod import FakeGpiod, Value, pi5_gpiod

COT_SPONTANEOUS, COT_RETURN_REMOTE = 3, 11
GPIO = {"door": 17, "k1": 22, "k2": 26, "k2_aux": 23, "k3": 27, "k3_aux": 24, "local": 25}

CONFIG = """
[station]
common_address = 1

[commands]
short_pulse = 0.1
long_pulse = 0.3

[gpio]
backend = "gpiod"
chip = "gpiochip0"
debounce = 0.005
reread_interval = 0.5

[[gpio.inputs]]
name = "door"
line = "GPIO17"
bias = "pull_up"

[[gpio.inputs]]
name = "k2_aux"
line = "GPIO23"

[[gpio.inputs]]
name = "k3_aux"
line = "GPIO24"

[[gpio.inputs]]
name = "local"
line = "GPIO25"

[[relays]]
name = "k1"
driver = "gpio"
line = "GPIO22"
active_low = true

[[relays]]
name = "k2"
driver = "gpio"
line = "GPIO26"
feedback_input = "k2_aux"      # never answers
feedback_timeout = 0.2

[[relays]]
name = "k3"
driver = "gpio"
line = "GPIO27"
feedback_input = "k3_aux"
feedback_timeout = 1.0
local_input = "local"

[[points]]
name = "door"
ioa = 1001
kind = "single"
source = "gpio:door"

[[points]]
name = "k1_pos"
ioa = 1101
kind = "single"

[[points]]
name = "k2_pos"
ioa = 1102
kind = "single"

[[points]]
name = "k3_pos"
ioa = 1103
kind = "single"

[[points]]
name = "k1_cmd"
ioa = 5001
kind = "single_command"
target = "k1"
feedback = "k1_pos"

[[points]]
name = "k2_cmd"
ioa = 5002
kind = "single_command"
target = "k2"
feedback = "k2_pos"

[[points]]
name = "k3_cmd"
ioa = 5003
kind = "single_command"
target = "k3"
feedback = "k3_pos"
"""


def wait_until(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


@pytest.fixture
def gpiod(monkeypatch: pytest.MonkeyPatch) -> FakeGpiod:
    fake = pi5_gpiod("/dev/gpiochip0")
    monkeypatch.setitem(sys.modules, "gpiod", fake)  # what `import gpiod` finds
    return fake


@pytest.fixture
def rtu(gpiod: FakeGpiod) -> Iterator[OutstationThread]:
    config = parse_config(tomllib.loads(CONFIG), "e2e.toml")
    with OutstationThread(config, free_tcp_port()) as outstation:
        digital = outstation.sup.provided(Board).inputs
        assert digital is not None and digital in outstation.sup.sources
        task = outstation.call(lambda: asyncio.ensure_future(digital.run()))
        wait_until(lambda: outstation.call(lambda: digital._wake is not None))
        yield outstation
        outstation.call(task.cancel)


@pytest.fixture
def master(rtu: OutstationThread) -> Iterator[C104Master]:
    with C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        yield m


def test_the_lines_were_requested_from_the_fake_gpiod(gpiod: FakeGpiod,
                                                      rtu: OutstationThread) -> None:
    [request] = gpiod.requests
    assert request.path == "/dev/gpiochip0" and request.consumer == "rtu"
    assert sorted(request.config) == sorted(GPIO.values())
    assert request.config[GPIO["k1"]].active_low is True


def test_an_edge_reaches_the_master_with_the_edge_time(gpiod: FakeGpiod, rtu: OutstationThread,
                                                       master: C104Master) -> None:
    rtu.call(lambda: rtu.sup.outstation.set_system_clock_state(True))  # NTP has synchronised
    edge_ns = time.monotonic_ns() - 250_000_000  # the kernel saw the edge 250 ms ago
    edge_wall = time.time() - (time.monotonic() - edge_ns / 1e9)
    since = master.mark()
    gpiod.request_for(GPIO["door"]).inject_edge(GPIO["door"], True, timestamp_ns=edge_ns)
    event = master.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1001,
                            since=since)
    assert event["cot"] == COT_SPONTANEOUS
    obj = event["objects"][0]
    assert bytes.fromhex(obj["data"])[0] == 0x01  # SIQ: on, good quality
    assert not obj["iv"]
    tag = obj["time"].replace(tzinfo=dt.UTC).timestamp()
    assert abs(tag - edge_wall) < 0.005  # the edge's time, not the time it was reported
    update = master.wait_update(lambda u: u["ioa"] == 1001 and u["cot"] == COT_SPONTANEOUS)
    assert update["value"] is True


def test_a_single_command_pulses_the_relay_and_is_confirmed(gpiod: FakeGpiod,
                                                            rtu: OutstationThread,
                                                            master: C104Master) -> None:
    result = master.single_command(5001, True, qu=1)  # short pulse
    assert result.act_con is not None and not result.negative
    term = master.wait_act_term(5001, since=result.since)
    assert not term["negative"]
    line = gpiod.request_for(GPIO["k1"])
    assert [w for w in line.writes if w[0] == GPIO["k1"]] == [
        (GPIO["k1"], Value.ACTIVE), (GPIO["k1"], Value.INACTIVE)]
    positions = [r for r in master.received.snapshot(result.since)
                 if r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1101]
    assert [(r["cot"], bytes.fromhex(r["objects"][0]["data"])[0]) for r in positions] == [
        (COT_RETURN_REMOTE, 1), (COT_RETURN_REMOTE, 0)]
    assert positions[-1]["seq"] < term["seq"]  # ACT_TERM after the relay is released


def test_no_feedback_gives_a_negative_act_term(gpiod: FakeGpiod, rtu: OutstationThread,
                                               master: C104Master) -> None:
    result = master.single_command(5002, True, qu=3)
    assert result.act_con is not None and not result.act_con["negative"]
    term = master.wait_act_term(5002, since=result.since)
    assert term["negative"]
    assert gpiod.request_for(GPIO["k2"]).writes == [(GPIO["k2"], Value.ACTIVE)]


def test_feedback_confirms_and_local_control_refuses(gpiod: FakeGpiod, rtu: OutstationThread,
                                                     master: C104Master) -> None:
    request = gpiod.request_for(GPIO["k3"])
    request.wiring[GPIO["k3"]] = GPIO["k3_aux"]  # the relay's auxiliary contact
    result = master.single_command(5003, True, qu=3)
    assert result.act_con is not None and not result.negative
    term = master.wait_act_term(5003, since=result.since)
    assert not term["negative"]
    position = master.wait_for(lambda r: r.get("type") == "M_SP_TB_1" and r.get("ioa") == 1103,
                               since=result.since)
    assert position["cot"] == COT_RETURN_REMOTE and position["seq"] < term["seq"]

    request.inject_edge(GPIO["local"], True)  # switched to local
    wait_until(lambda: rtu.call(lambda: bool(rtu.sup.db.value("k3_cmd").quality & Quality.BL)))
    writes = len(request.writes)
    refused = master.single_command(5003, False, qu=3)
    assert refused.act_con is not None and refused.act_con["negative"]
    assert len(request.writes) == writes
    request.inject_edge(GPIO["local"], False)  # back to remote
    wait_until(lambda: rtu.call(lambda: not rtu.sup.db.value("k3_cmd").quality & Quality.BL))
    again = master.single_command(5003, False, qu=3)
    assert again.act_con is not None and not again.negative
    assert not master.wait_act_term(5003, since=again.since)["negative"]
