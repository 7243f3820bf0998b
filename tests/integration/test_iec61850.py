"""IEC 61850 source and command forwarding against libiec61850's server (pyiec61850-ng), with
the whole outstation (Supervisor, 104 server) and a c104 master (lib60870-C) upstream.

One simulated device and one outstation serve the module (tests run in file order):

* start-up: every mapped point is read with the device's value, quality and time stamp; the
  report control blocks (one URCB, one BRCB) are enabled and answer with a GI report; integrity
  reports follow at the configured period;
* a value changed in the device reaches the c104 master as a spontaneous M_ME_TF_1 carrying
  the device's own time stamp; a quality change maps onto the 101 quality bits;
* commands from the master: select-before-operate on an sbo-with-enhanced-security object
  (ACT_CON, ACT_TERM, then the position reported back), direct on a direct-with-normal-security
  object, a device refusal (negative ACT_CON), a failed execution (negative ACT_TERM);
* set-points (C_SE_NC_1, C_SE_TC_1, C_SE_NB_1 with a scale) to analogue controls (APC), direct
  and select-before-operate (sbo-with-normal-security): the device's value is checked, and a
  value the device refuses gives a negative ACT_CON and a log line naming the device and the
  object reference;
* the device disappears: all its points IV|NT at the master; it returns: valid again;
* tshark decodes the captured MMS exchange (TPKT, COTP, MMS) without malformed frames.

127.0.0.1 only, every wait bounded.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rtu.config import parse_config
from rtu.points.model import PointValue, Quality
from rtu.sources.iec61850.source import Iec61850DeviceSource
from tests.integration.iec61850_rig import device_and_outstation, device_points, wait
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import (
    COT_ACTIVATION,
    COT_ACTIVATION_CON,
    COT_ACTIVATION_TERMINATION,
    COT_DEACTIVATION,
    COT_DEACTIVATION_CON,
    COT_SPONTANEOUS,
    C104Master,
    Raw104Client,
    TsharkCapture,
    build_asdu,
    dco,
    free_tcp_port,
)

pyiec = pytest.importorskip("tests.integration.iec61850_device")

pytestmark = pytest.mark.integration

CA = 1
INVALID = Quality.IV | Quality.NT
IOA_TOTW, IOA_HZ, IOA_CB, IOA_SW = 100, 101, 102, 103
IOA_CB_CMD, IOA_SW_CMD = 200, 201
IOA_AO1, IOA_AO2 = 104, 105  # the APCs' mxVal
IOA_SP_DIRECT, IOA_SP_SBO, IOA_SP_SCALED = 202, 203, 204
DPI_OFF, DPI_ON = 1, 2


def config_text(device_port: int) -> str:
    return f"""
[station]
common_address = {CA}

[iec104]
listen = "127.0.0.1:2404"

[[points]]
name = "totw"
ioa = {IOA_TOTW}
kind = "float"
source = "iec61850"

[[points]]
name = "hz"
ioa = {IOA_HZ}
kind = "float"
source = "iec61850"

[[points]]
name = "cb_pos"
ioa = {IOA_CB}
kind = "double"
source = "iec61850"

[[points]]
name = "sw_pos"
ioa = {IOA_SW}
kind = "double"
source = "iec61850"

[[points]]
name = "cb_cmd"
ioa = {IOA_CB_CMD}
kind = "double_command"
target = "iec61850"
feedback = "cb_pos"

[[points]]
name = "sw_cmd"
ioa = {IOA_SW_CMD}
kind = "single_command"
target = "iec61850"

[[points]]
name = "ao1"
ioa = {IOA_AO1}
kind = "float"
source = "iec61850"

[[points]]
name = "ao2"
ioa = {IOA_AO2}
kind = "float"
source = "iec61850"

[[points]]
name = "sp_direct"
ioa = {IOA_SP_DIRECT}
kind = "setpoint_float"
target = "iec61850"

[[points]]
name = "sp_sbo"
ioa = {IOA_SP_SBO}
kind = "setpoint_float"
target = "iec61850"
select_required = true

[[points]]
name = "sp_scaled"
ioa = {IOA_SP_SCALED}
kind = "setpoint_scaled"
target = "iec61850"

[[iec61850.devices]]
name = "sim"
host = "127.0.0.1"
port = {device_port}
timeout = 2.0
reconnect_delay = 0.2
reconnect_delay_max = 0.5
poll_interval = 0.5
integrity_period = 0.5
command_timeout = 2.0

[[iec61850.devices.reports]]
rcb = "SIMLD0/LLN0.urcbMeas01"
buffered = false

[[iec61850.devices.reports]]
rcb = "SIMLD0/LLN0.brcbStatus01"
buffered = true

[[iec61850.devices.controls]]
point = "cb_cmd"
object = "SIMLD0/XCBR1.Pos"

[[iec61850.devices.controls]]
point = "sw_cmd"
object = "SIMLD0/CSWI1.Pos"

[[iec61850.devices.controls]]
point = "sp_direct"
object = "SIMLD0/GGIO1.AnOut1"

[[iec61850.devices.controls]]
point = "sp_sbo"
object = "SIMLD0/GGIO1.AnOut2"

[[iec61850.devices.controls]]
point = "sp_scaled"
object = "SIMLD0/GGIO1.AnOut1"
scale = 10.0
""" + device_points(("totw", "SIMLD0/MMXU1.TotW.mag.f", "MX"),
                    ("hz", "SIMLD0/MMXU1.Hz.mag.f", "MX"),
                    ("cb_pos", "SIMLD0/XCBR1.Pos.stVal", "ST"),
                    ("sw_pos", "SIMLD0/CSWI1.Pos.stVal", "ST"),
                    ("ao1", "SIMLD0/GGIO1.AnOut1.mxVal.f", "MX"),
                    ("ao2", "SIMLD0/GGIO1.AnOut2.mxVal.f", "MX"))


class Rig:
    def __init__(self, device: Any, outstation: OutstationThread, master: C104Master,
                 capture: TsharkCapture) -> None:
        self.device = device
        self.ot = outstation
        self.master = master
        self.capture = capture

    @property
    def source(self) -> Iec61850DeviceSource:
        sources = self.ot.sup.field.parts["iec61850"].sources
        assert len(sources) == 1
        return sources[0]

    def value(self, name: str) -> PointValue:
        return self.ot.call(self.ot.sup.db.value, name)

    def wait(self, what: str, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        wait(what, predicate, timeout)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    device_port = free_tcp_port()
    device = pyiec.DeviceProcess(device_port)
    pcap = tmp_path_factory.mktemp("mms") / "mms.pcapng"
    config = parse_config(tomllib.loads(config_text(device_port)), "iec61850-test.toml")
    with TsharkCapture(device_port, pcap) as capture, \
            device_and_outstation(device, config) as ot, C104Master(ot.port, ca=CA) as master:
        master.wait_connected(5)
        yield Rig(device, ot, master, capture)


def test_startup_reads_gi_and_integrity(rig: Rig) -> None:
    rig.wait("every point valid", lambda: all(
        not rig.value(n).quality & INVALID for n in ("totw", "hz", "cb_pos", "sw_pos")))
    assert rig.value("totw").value == 12.5
    assert rig.value("hz").value == 50.0  # in no data set: read by the source
    assert rig.value("cb_pos").value == DPI_OFF and rig.value("sw_pos").value == DPI_OFF
    rig.wait("a GI report of each block", lambda: rig.source.report_reasons.get(
        "general_interrogation", 0) >= 2)
    before = rig.source.report_reasons.get("integrity", 0)
    rig.wait("integrity reports", lambda: rig.source.report_reasons.get("integrity", 0)
             >= before + 2, timeout=3.0)
    assert rig.source.status() == "connected"


def test_report_carries_device_time_and_quality_to_the_master(rig: Rig) -> None:
    m = rig.master
    when = dt.datetime(2021, 6, 1, 12, 30, 15, 250000, tzinfo=dt.UTC)
    since = len(m.received)
    rig.device.set_float("MMXU1.TotW.mag.f", 42.5, when=when)

    def spontaneous(r: dict[str, Any]) -> bool:
        return (r.get("type") == "M_ME_TF_1" and r.get("cot") == COT_SPONTANEOUS
                and r.get("ioa") == IOA_TOTW)

    event = m.wait_for(spontaneous, 5.0, since=since)
    assert event["objects"][0]["time"] == when.replace(tzinfo=None)  # the device's own `t`
    assert rig.value("totw") == PointValue(42.5, Quality.GOOD, when.timestamp())
    # questionable + oldData -> NT; substituted -> SB; overflow -> OV
    rig.device.set_float("MMXU1.TotW.mag.f", 43.0, when=when + dt.timedelta(seconds=1),
                         quality=pyiec.VALIDITY_QUESTIONABLE | pyiec.OLD_DATA
                         | pyiec.SUBSTITUTED | pyiec.OVERFLOW)
    rig.wait("the quality change", lambda: rig.value("totw").value == 43.0)
    assert rig.value("totw").quality == Quality.NT | Quality.SB | Quality.OV
    rig.device.set_float("MMXU1.TotW.mag.f", 44.0, quality=pyiec.VALIDITY_INVALID)
    rig.wait("invalid", lambda: rig.value("totw").value == 44.0)
    assert rig.value("totw").quality == Quality.IV
    update = m.updates.wait_for(lambda u: u["ioa"] == IOA_TOTW and u["value"] == 44.0, 3.0)
    assert update["quality"] & 0x80  # IV at the master


def sbo(rig: Rig, state: int, *, deactivate: bool = False) -> list[dict[str, Any]]:
    """Select then execute (or deactivate) a double command with explicit frames (c104 only
    sends select and execute as one); the answers to it, up to the last one expected."""
    with Raw104Client(rig.ot.port) as r:
        r.startdt()
        r.send_asdu(build_asdu("C_DC_NA_1", COT_ACTIVATION, CA,
                               [(IOA_CB_CMD, dco(state, select=True))]))
        answers = [r.recv_until(lambda a: a.get("ioa") == IOA_CB_CMD, 4.0)]
        if answers[0]["negative"]:
            return answers
        cot = COT_DEACTIVATION if deactivate else COT_ACTIVATION
        r.send_asdu(build_asdu("C_DC_NA_1", cot, CA, [(IOA_CB_CMD, dco(state))]))
        answers.append(r.recv_until(lambda a: a.get("ioa") == IOA_CB_CMD, 4.0))
        if not deactivate and not answers[-1]["negative"]:
            answers.append(r.recv_until(lambda a: a.get("ioa") == IOA_CB_CMD
                                        and a.get("cot") == COT_ACTIVATION_TERMINATION, 4.0))
        return answers


def test_select_before_operate_with_enhanced_security(rig: Rig) -> None:
    select_con, act_con, act_term = sbo(rig, DPI_ON)
    assert (select_con["cot"], select_con["select"], select_con["negative"]) == (
        COT_ACTIVATION_CON, True, False)
    assert (act_con["cot"], act_con["select"], act_con["negative"]) == (
        COT_ACTIVATION_CON, False, False)
    assert not act_term["negative"]
    assert ("XCBR1.Pos", True) in rig.device.operated
    # the device's new position comes back in its report
    rig.wait("cb_pos on", lambda: rig.value("cb_pos").value == DPI_ON)


def test_direct_operate_with_normal_security(rig: Rig) -> None:
    m = rig.master
    result = m.single_command(IOA_SW_CMD, True)
    assert result.act_con is not None and not result.act_con["negative"]
    term = m.wait_for(lambda r: r.get("ioa") == IOA_SW_CMD
                      and r.get("cot") == COT_ACTIVATION_TERMINATION, 3.0, since=result.since)
    assert not term["negative"]
    assert ("CSWI1.Pos", True) in rig.device.operated
    rig.wait("sw_pos on", lambda: rig.value("sw_pos").value == DPI_ON)


def test_device_refusal_and_failure_are_negative(rig: Rig) -> None:
    m = rig.master
    rig.device.deny = True  # check handler: object-access-denied (LastApplError)
    try:
        direct = m.single_command(IOA_SW_CMD, False)
        assert direct.act_con is not None and direct.act_con["negative"]
        assert COT_ACTIVATION_TERMINATION not in direct.cots
        (refused,) = sbo(rig, DPI_OFF)  # the device refuses SBOw: the select's ACT_CON
        assert (refused["cot"], refused["select"], refused["negative"]) == (
            COT_ACTIVATION_CON, True, True)
    finally:
        rig.device.deny = False
    rig.device.fail = True  # control handler: execution fails (negative CommandTermination)
    try:
        select_con, act_con, act_term = sbo(rig, DPI_OFF)
        assert not select_con["negative"] and not act_con["negative"]
        assert act_term["cot"] == COT_ACTIVATION_TERMINATION and act_term["negative"]
    finally:
        rig.device.fail = False
    assert rig.value("cb_pos").value == DPI_ON  # nothing moved
    # a deactivated selection is cancelled on the device: selecting again works at once
    select_con, deact_con = sbo(rig, DPI_OFF, deactivate=True)
    assert not select_con["negative"]
    assert (deact_con["cot"], deact_con["negative"]) == (COT_DEACTIVATION_CON, False)
    select_con, act_con, act_term = sbo(rig, DPI_ON)
    assert not select_con["negative"] and not act_term["negative"]


def set_point(rig: Rig, type_name: str, ioa: int, info: Any, *, select: bool = False,
              ) -> tuple[Any, dict[str, Any] | None]:
    """A set-point from c104 (select: its select-before-operate); its result and, when its
    ACT_CON was positive, the ACT_TERM."""
    m = rig.master
    result = m._command(type_name, ioa, info, select)
    assert result.act_con is not None, result.responses
    if result.act_con["negative"]:
        return result, None
    return result, m.wait_act_term(ioa, type_name, since=result.since)


def test_set_point_direct_reaches_the_analogue_control(rig: Rig) -> None:
    import c104

    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_DIRECT, c104.ShortCmd(target=12.5))
    assert not result.act_con["negative"]
    assert term is not None and not term["negative"]
    assert ("GGIO1.AnOut1", 12.5) in rig.device.operated
    rig.wait("ao1 = 12.5 (read back from the device)", lambda: rig.value("ao1").value == 12.5)
    # with a time tag (C_SE_TC_1) the same
    now = dt.datetime.now(dt.UTC)
    result, term = set_point(rig, "C_SE_TC_1", IOA_SP_DIRECT,
                             c104.ShortCmd(target=-3.25, recorded_at=now))
    assert not result.act_con["negative"] and term is not None and not term["negative"]
    rig.wait("ao1 = -3.25", lambda: rig.value("ao1").value == -3.25)
    # scaled (C_SE_NB_1) through the control's scale: ctlVal = 300 / 10
    result, term = set_point(rig, "C_SE_NB_1", IOA_SP_SCALED, c104.ScaledCmd(target=c104.Int16(300)))
    assert not result.act_con["negative"] and term is not None and not term["negative"]
    assert ("GGIO1.AnOut1", 30.0) in rig.device.operated
    rig.wait("ao1 = 30", lambda: rig.value("ao1").value == 30.0)


def test_set_point_select_before_operate_with_normal_security(rig: Rig) -> None:
    import c104

    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_SBO, c104.ShortCmd(target=250.0),
                             select=True)
    assert result.select_con is not None and not result.select_con["negative"]
    assert not result.act_con["negative"]
    assert term is not None and not term["negative"]
    assert ("GGIO1.AnOut2", 250.0) in rig.device.operated
    rig.wait("ao2 = 250", lambda: rig.value("ao2").value == 250.0)
    # without the select the outstation refuses it (select_required), the device is not asked
    before = len(rig.device.operated)
    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_SBO, c104.ShortCmd(target=1.0))
    assert result.act_con["negative"] and term is None
    assert len(rig.device.operated) == before


def test_a_set_point_the_device_refuses_is_negative_and_logged(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    import c104

    before = len(rig.device.operated)
    caplog.set_level("WARNING", logger="rtu.sources.iec61850.source")
    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_DIRECT,
                             c104.ShortCmd(target=pyiec.APC_LIMIT * 2))
    assert result.act_con["negative"] and term is None
    assert COT_ACTIVATION_TERMINATION not in result.cots
    rig.wait("the log line", lambda: "command sp_direct on SIMLD0/GGIO1.AnOut1 (device sim): "
             "Oper refused" in caplog.text)
    # select-before-operate: the SBO read is granted, the Oper with the value is refused
    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_SBO,
                             c104.ShortCmd(target=pyiec.APC_LIMIT + 1), select=True)
    assert result.select_con is not None and not result.select_con["negative"]
    assert result.act_con["negative"] and term is None
    assert len(rig.device.operated) == before
    assert rig.value("ao1").value == 30.0 and rig.value("ao2").value == 250.0  # unchanged
    # the device's selection was released: the next select-before-operate goes through
    result, term = set_point(rig, "C_SE_NC_1", IOA_SP_SBO, c104.ShortCmd(target=7.5),
                             select=True)
    assert not result.act_con["negative"] and term is not None and not term["negative"]
    rig.wait("ao2 = 7.5", lambda: rig.value("ao2").value == 7.5)


def test_device_disappears_and_returns(rig: Rig) -> None:
    m = rig.master
    since = len(m.received)
    rig.device.stop()
    try:
        rig.wait("IV|NT on every point", lambda: all(
            rig.value(n).quality & INVALID == INVALID
            for n in ("totw", "hz", "cb_pos", "sw_pos")), timeout=5.0)
        # M_DP_TB_1 with IV and NT in its DIQ octet
        m.wait_for(lambda r: r.get("ioa") == IOA_CB and r.get("cot") == COT_SPONTANEOUS
                   and int(r["objects"][0]["data"][:2], 16) & 0xC0 == 0xC0, 3.0, since=since)
        assert rig.source.status().startswith("unreachable")
    finally:
        rig.device.start()
    rig.wait("valid again", lambda: all(
        not rig.value(n).quality & Quality.NT for n in ("hz", "cb_pos", "sw_pos")), timeout=5.0)
    assert rig.value("cb_pos").value == DPI_ON
    rig.wait("connected", lambda: rig.source.status() == "connected")


def test_tshark_decodes_the_mms_exchange(rig: Rig) -> None:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    path = rig.capture.stop()
    proc = subprocess.run(
        [tshark, "-r", str(path), "-d", f"tcp.port=={rig.device.port},tpkt", "-T", "pdml"],
        capture_output=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[:500]
    root = ET.fromstring(proc.stdout)
    services: set[str] = set()
    mms_frames = 0
    problems: list[str] = []
    for packet in root.iter("packet"):
        protos = {p.get("name") for p in packet.findall("proto")}
        if "_ws.malformed" in protos:
            problems.append(ET.tostring(packet, encoding="unicode")[:300])
        for f in packet.iter("field"):
            if f.get("name") == "_ws.expert.severity" and f.get("show", "").lower() == "error":
                problems.append(f.get("showname") or "expert error")
        if "mms" in protos:
            mms_frames += 1
            for f in packet.iter("field"):
                name = f.get("name") or ""
                if name in ("mms.confirmedServiceRequest", "mms.unconfirmedService",
                            "mms.initiate_RequestPDU_element", "mms.initiate_ResponsePDU_element"):
                    services.add(f.get("showname") or name)
                if name in ("mms.informationReport_element", "mms.read_element",
                            "mms.write_element", "mms.getVariableAccessAttributes_element",
                            "mms.getNamedVariableListAttributes_element"):
                    services.add(name)
    assert not problems, problems[:5]
    assert mms_frames > 20
    for expected in ("mms.informationReport_element", "mms.read_element", "mms.write_element",
                     "mms.getNamedVariableListAttributes_element"):
        assert expected in services, sorted(services)
