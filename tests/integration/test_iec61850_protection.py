"""Protection events fed by an IEC 61850 protection function (issue 19 item 6): PTOC1's Str
(start: general, phsA) and Op (operate: general) of libiec61850's server (pyiec61850-ng,
test-only) are mapped onto single points, and [[protection.events]] turns them into
M_EP_TE_1 (start events, relay duration), M_EP_TF_1 (trip, relay operating time) and
M_EP_TD_1 (single event, elapsed time). The device's `t` stamps are an hour in the past: every
time tag is the device's and every elapsed time a difference of its stamps, never of our
clock. A raw 104 master sees the events; tshark decodes them.

127.0.0.1 only, every wait bounded.
"""

from __future__ import annotations

import datetime as dt
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from rtu.config import parse_config
from rtu.points.model import Quality
from tests.integration.iec61850_rig import device_and_outstation, device_points, wait
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import Raw104Client, TsharkCapture, free_tcp_port, tshark_decode_104

pyiec = pytest.importorskip("tests.integration.iec61850_device")

pytestmark = pytest.mark.integration

IOA_START, IOA_TRIP, IOA_EVENT = 2302, 2303, 2304
COT_SPONT = 3
INPUTS = ("str_general", "str_a", "op_general")


def config_text(device_port: int) -> str:
    points = "".join(f"""
[[points]]
name = "{name}"
ioa = {ioa}
kind = "single"
source = "iec61850"
""" for name, ioa in zip(INPUTS, (1501, 1502, 1503)))
    return f"""
[station]
common_address = 1

[iec104]
listen = "127.0.0.1:2404"
{points}
[[points]]
name = "ptoc1_start"
ioa = {IOA_START}
kind = "protection_start"
source = "protection"

[[points]]
name = "ptoc1_trip"
ioa = {IOA_TRIP}
kind = "protection_trip"
source = "protection"

[[points]]
name = "ptoc1_event"
ioa = {IOA_EVENT}
kind = "protection"
source = "protection"

[protection]
[[protection.events]]
point = "ptoc1_start"
general = "str_general"
l1 = "str_a"

[[protection.events]]
point = "ptoc1_trip"
general = "op_general"
start = "str_general"

[[protection.events]]
point = "ptoc1_event"
signal = "op_general"
start = "str_general"

[[iec61850.devices]]
name = "relay"
host = "127.0.0.1"
port = {device_port}
timeout = 2.0
reconnect_delay = 0.2
reconnect_delay_max = 0.5

[[iec61850.devices.reports]]
rcb = "SIMLD0/LLN0.brcbProt01"
buffered = true
""" + device_points(("str_general", "SIMLD0/PTOC1.Str.general", "ST"),
                    ("str_a", "SIMLD0/PTOC1.Str.phsA", "ST"),
                    ("op_general", "SIMLD0/PTOC1.Op.general", "ST"))


@pytest.fixture
def rig() -> Iterator[tuple[Any, OutstationThread]]:
    device_port = free_tcp_port()
    device = pyiec.DeviceProcess(device_port)
    config = parse_config(tomllib.loads(config_text(device_port)), "protection-test.toml")
    with device_and_outstation(device, config) as ot:
        yield device, ot


def element(record: dict[str, Any]) -> tuple[int, int, int]:
    """(SEP/SPE/OCI bits, QDP, milliseconds) of a protection event's first object."""
    data = bytes.fromhex(record["objects"][0]["data"])
    if record["type_id"] == 38:
        return data[0] & 0x03, data[0] & 0xF8, int.from_bytes(data[1:3], "little")
    return data[0], data[1], int.from_bytes(data[2:4], "little")


def test_ptoc_start_and_operate_with_the_devices_time_stamps(rig: Any, tmp_path: Any) -> None:
    device, ot = rig

    def valid() -> bool:
        return all(not ot.call(ot.sup.db.value, n).quality & (Quality.IV | Quality.NT)
                   for n in INPUTS)

    wait("the relay's points read", valid)
    # an hour ago, to the millisecond: a time our clock could not produce
    t0 = dt.datetime.fromtimestamp(int(time.time() - 3600) * 1.0, dt.UTC)
    ms = dt.timedelta(milliseconds=1)
    with TsharkCapture(ot.port, tmp_path / "protection.pcapng") as capture, \
            Raw104Client(ot.port) as master:
        master.startdt()
        device.set_bool("PTOC1.Str.phsA", True, when=t0)  # start L1
        device.set_bool("PTOC1.Str.general", True, when=t0 + 10 * ms)  # general start
        device.set_bool("PTOC1.Op.general", True, when=t0 + 120 * ms)  # trip
        device.set_bool("PTOC1.Str.general", False, when=t0 + 300 * ms)
        device.set_bool("PTOC1.Str.phsA", False, when=t0 + 310 * ms)  # start over
        device.set_bool("PTOC1.Op.general", False, when=t0 + 400 * ms)
        events: list[dict[str, Any]] = []

        def protection(a: dict[str, Any]) -> bool:
            if a.get("type_id") in (38, 39, 40):
                events.append(a)
            return len(events) == 8

        master.recv_until(protection, timeout=10)
        master.ack()
    seen = [(e["type"], e["ioa"], e["cot"], element(e), e["objects"][0]["time"]) for e in events]
    naive = t0.replace(tzinfo=None)
    assert seen == [
        ("M_EP_TE_1", IOA_START, COT_SPONT, (0x02, 0, 0), naive),  # SL1, duration 0
        ("M_EP_TE_1", IOA_START, COT_SPONT, (0x03, 0, 10), naive + 10 * ms),  # GS + SL1
        # the trip: operating time from the general start (120 - 10 ms), and the single event
        ("M_EP_TF_1", IOA_TRIP, COT_SPONT, (0x01, 0, 110), naive + 120 * ms),
        ("M_EP_TD_1", IOA_EVENT, COT_SPONT, (2, 0, 110), naive + 120 * ms),
        ("M_EP_TE_1", IOA_START, COT_SPONT, (0x02, 0, 300), naive + 300 * ms),
        ("M_EP_TE_1", IOA_START, COT_SPONT, (0x00, 0, 310), naive + 310 * ms),  # whole start
        # the trip drops after the start went off: no operating time (EI); the single event
        # reports how long the trip lasted (400 - 120 ms)
        ("M_EP_TF_1", IOA_TRIP, COT_SPONT, (0x00, 0x08, 0), naive + 400 * ms),
        ("M_EP_TD_1", IOA_EVENT, COT_SPONT, (1, 0, 280), naive + 400 * ms),
    ]
    frames = tshark_decode_104(capture.path, ot.port)
    assert not frames.malformed, frames.problems
    assert [f["type_id"] for f in frames if f.get("type_id") in (38, 39, 40)] == [
        39, 39, 40, 38, 39, 39, 40, 38]
