"""Protection events on a 101 line (issue 19 items 3 and 6 together), on a pseudo-terminal:
the bench's `prot1` on and off is M_EP_TD_1 (38) with CP56Time2a on a cp56 line and M_EP_TA_1
(17) with CP24Time2a on a cp24 line, as class 1 data (unbalanced) and as the outstation's own
confirmed user data (balanced); never in a general interrogation. A start (M_EP_TE_1, SPE) and
a trip (M_EP_TF_1, OCI) are added to the bench configuration and go on the wire too. Every
frame of the unbalanced exchanges is decoded by Wireshark's iec60870_101 dissector.

The element octets are read here by position (SEP/SPE/OCI, QDP, CP16Time2a, then the time
tag), independently of rtu/iec/asdu/codec.py."""

from __future__ import annotations

import dataclasses
import time
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from rtu.config import AppConfig, parse_config
from rtu.control import sim_set
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.servers.iec101 import Iec101Settings, SerialSettings
from tests.integration.outstation_thread import OutstationThread, own_station_only
from tests.integration.peers import free_tcp_port
from tests.integration.serial_peers import (
    DIR,
    FCB,
    FCV,
    PRM,
    REQUEST_CLASS_1,
    REQUEST_LINK_STATUS,
    RESET_REMOTE_LINK,
    SEC_ACK,
    SEC_LINK_STATUS,
    USER_DATA_CONFIRMED,
    Frame,
    Ft12Master,
    fixed_frame,
    malformed,
    tshark_decode_101,
    variable_frame,
    write_rtac_pcap,
)
from tests.integration.test_iec101_cp24 import cs
from tests.integration.test_iec101_pty import GI, _asdu_layers, pty_pair

__all__ = ["pty_pair"]  # the fixture, imported

pytestmark = pytest.mark.integration

M_EP_TA_1, M_EP_TB_1, M_EP_TC_1 = 17, 18, 19  # CP24
M_EP_TD_1, M_EP_TE_1, M_EP_TF_1 = 38, 39, 40  # CP56
C_IC_NA_1, C_CS_NA_1, M_EI_NA_1 = 100, 103, 70
PROTECTION_TYPES = {M_EP_TA_1, M_EP_TB_1, M_EP_TC_1, M_EP_TD_1, M_EP_TE_1, M_EP_TF_1}
PROT1, PROT1_EVENT, START_EVENT, TRIP_EVENT = 1401, 2301, 2302, 2303
ES_OFF, ES_ON, EI = 1, 2, 0x08
GS, SL1, CL2 = 0x01, 0x02, 0x04
# a start (general, L1) and a trip (L2, timed from the general start) beside prot1
EXTRA = """
[[points]]
name = "start_general"
ioa = 1402
kind = "single"
source = "sim"
[[points]]
name = "start_l1"
ioa = 1403
kind = "single"
source = "sim"
[[points]]
name = "trip_l2"
ioa = 1404
kind = "single"
source = "sim"
[[points]]
name = "prot_start"
ioa = 2302
kind = "protection_start"
source = "protection"
[[points]]
name = "prot_trip"
ioa = 2303
kind = "protection_trip"
source = "protection"
[[protection.events]]
point = "prot_start"
general = "start_general"
l1 = "start_l1"
[[protection.events]]
point = "prot_trip"
l2 = "trip_l2"
start = "start_general"
"""


def prot_config(device: str, time_tag: str, mode: LinkMode, **link: object) -> AppConfig:
    """The bench profile (its own station) with the start and trip points, on a 101 line."""
    data = tomllib.loads(resources.files("rtu.examples").joinpath("bench.toml")
                         .read_text(encoding="utf-8"))
    extra = tomllib.loads(EXTRA)
    data["points"] = [*data["points"], *extra["points"]]
    data["protection"]["events"] = [*data["protection"]["events"],
                                    *extra["protection"]["events"]]
    data["simulation"]["manual"] = [*data["simulation"]["manual"], "start_general",
                                    "start_l1", "trip_l2"]
    config = own_station_only(parse_config(data, "<bench+protection>"))
    params = LinkParameters(mode=mode, **link)  # type: ignore[arg-type]
    return dataclasses.replace(config, iec101=Iec101Settings(SerialSettings(device), params,
                                                             time_tag=time_tag))


def ioa_of(f: Frame) -> int:
    return int.from_bytes(f.asdu[6:9], "little")


def is_event(type_id: int, ioa: int) -> Callable[[Frame], bool]:
    return lambda f: f.asdu[0] == type_id and ioa_of(f) == ioa


@dataclasses.dataclass(frozen=True)
class Event:
    type_id: int
    cot: int
    element: int  # SEP (ES, EI, quality), SPE or OCI
    qdp: int | None  # TE/TF only
    ms: int  # elapsed / relay duration / relay operating time (CP16Time2a)
    tag: bytes  # CP56Time2a (7) or CP24Time2a (3)


def event(f: Frame, cp24: bool) -> Event:
    """One protection event object (COT 2, CA 2, IOA 3), read by position."""
    a = f.asdu
    assert a[1] == 1, "one object"
    header, tag_size = 9, 3 if cp24 else 7
    td = a[0] in (M_EP_TA_1, M_EP_TD_1)
    size = header + (3 if td else 4) + tag_size
    assert len(a) == size, f"type {a[0]}: {len(a)} octets, expected {size}"
    if td:
        return Event(a[0], a[2] & 0x3F, a[9], None, a[10] | a[11] << 8, a[12:])
    return Event(a[0], a[2] & 0x3F, a[9], a[10], a[11] | a[12] << 8, a[13:])


def check_tag(tag: bytes, at: float) -> None:
    """The time tag is the time of the change (UTC minute and milliseconds; CP56: the date)."""
    ms, minute = tag[0] | tag[1] << 8, tag[2] & 0x3F
    assert not tag[2] & 0x80, "valid"  # IV
    t = time.gmtime(at)
    assert minute in (t.tm_min, (t.tm_min + 1) % 60, (t.tm_min - 1) % 60)
    assert ms < 60_000
    if len(tag) == 7:
        assert (tag[3] & 0x1F, tag[4] & 0x1F, tag[5] & 0x0F, tag[6] & 0x7F) == (
            t.tm_hour, t.tm_mday, t.tm_mon, t.tm_year % 100) or minute != t.tm_min


class Line:
    """Data from the outstation: polled as class 1 (unbalanced), or its primary's frames
    confirmed (balanced); every ASDU seen kept for the test's checks."""

    def __init__(self, m: Ft12Master, balanced: bool) -> None:
        self.m = m
        self.balanced = balanced
        self.seen: list[Frame] = []

    def until(self, predicate: Callable[[Frame], bool], limit: int = 80) -> Frame:
        for _ in range(limit):
            if self.balanced:
                f = self.m.read(5.0)
                self._primary(f)
            else:
                f = self.m.request(REQUEST_CLASS_1)
                if f.kind != "variable":
                    time.sleep(0.02)
                    continue
                self.seen.append(f)
            if f.kind == "variable" and predicate(f):
                return f
        raise AssertionError(f"not seen in {limit} frames: " + repr(
            [(f.asdu[0], f.asdu[2] & 0x3F, ioa_of(f)) for f in self.seen[-20:]]))

    def _primary(self, f: Frame) -> None:
        """Balanced: the outstation's primary frame, confirmed by our secondary."""
        assert f.control & PRM, f"a primary frame from the outstation, got {f.raw.hex(' ')}"
        if f.kind == "variable":
            self.seen.append(f)
        self.m.answer(f, SEC_LINK_STATUS if f.function == REQUEST_LINK_STATUS else SEC_ACK)

    def _secondary(self) -> Frame:
        """Balanced: the outstation secondary's answer to our frame (its primary's frames
        that cross it are confirmed and kept)."""
        while (f := self.m.read(5.0)).kind != "ack" and f.control & PRM:
            self._primary(f)
        return f

    def send(self, asdu: bytes) -> None:
        """Confirmed user data from the master."""
        if not self.balanced:
            assert self.m.user_data(asdu) is not None
            return
        self.m.fcb = not self.m.fcb
        self.m.write(variable_frame(PRM | DIR | FCV | (FCB if self.m.fcb else 0)
                                    | USER_DATA_CONFIRMED, self.m.address, asdu))
        assert self._secondary().function == SEC_ACK

    def reset(self) -> None:
        """Reset the outstation's link (balanced: from our primary)."""
        if not self.balanced:
            assert self.m.reset().function == SEC_ACK
            return
        self.m.fcb = False
        self.m.write(fixed_frame(PRM | DIR | RESET_REMOTE_LINK, self.m.address))
        assert self._secondary().function == SEC_ACK


def single_ioas(frames: list[Frame]) -> set[int]:
    """The IOAs of the M_SP_NA_1 objects (IOA 3 + SIQ; SQ = 1: one IOA, then SIQs)."""
    out: set[int] = set()
    for f in frames:
        a = f.asdu
        if a[0] != 1:
            continue
        first, n = int.from_bytes(a[6:9], "little"), a[1] & 0x7F
        out |= set(range(first, first + n)) if a[1] & 0x80 else {
            int.from_bytes(a[6 + 4 * i:9 + 4 * i], "little") for i in range(n)}
    return out


def exercise(rtu: OutstationThread, line: Line, cp24: bool) -> None:
    """A clock synchronisation (time tags valid), prot1 on/off, a GI without protection
    events, a start and a trip: on the wire."""
    line.send(cs(time.time()))
    line.until(lambda f: f.asdu[0] == C_CS_NA_1 and f.asdu[2] & 0x3F == 7)
    td, te, tf = (M_EP_TA_1, M_EP_TB_1, M_EP_TC_1) if cp24 else (M_EP_TD_1, M_EP_TE_1,
                                                                  M_EP_TF_1)
    on_at = time.time()
    rtu.call(sim_set, rtu.sup, "prot1", "on")
    on = event(line.until(is_event(td, PROT1_EVENT)), cp24)
    assert (on.cot, on.element & 0x03, on.element & 0xF8, on.ms) == (3, ES_ON, EI, 0)
    check_tag(on.tag, on_at)
    time.sleep(0.3)
    rtu.call(sim_set, rtu.sup, "prot1", "off")
    off = event(line.until(is_event(td, PROT1_EVENT)), cp24)
    assert (off.cot, off.element) == (3, ES_OFF)  # ES off, time valid, good quality
    assert 300 <= off.ms < 3000  # the time prot1 was on
    # the same event on 101 (the type of the line's time tag) never in a GI: prot1 is
    line.send(GI)
    line.until(lambda f: f.asdu[0] == C_IC_NA_1 and f.asdu[2] & 0x3F == 10)
    con = [i for i, f in enumerate(line.seen) if f.asdu[0] == C_IC_NA_1][-2]
    gi = [f for f in line.seen[con:] if f.asdu[2] & 0x3F == 20]
    assert gi and not {f.asdu[0] for f in gi} & PROTECTION_TYPES
    assert PROT1 in single_ioas(gi)
    assert not {PROT1_EVENT, START_EVENT, TRIP_EVENT} & {ioa_of(f) for f in gi}
    # a start: general, then general and L1 (SPE), the relay duration from the first start
    rtu.call(sim_set, rtu.sup, "start_general", "on")
    start = event(line.until(is_event(te, START_EVENT)), cp24)
    assert (start.cot, start.element, start.qdp, start.ms) == (3, GS, 0, 0)
    time.sleep(0.1)
    rtu.call(sim_set, rtu.sup, "start_l1", "on")
    both = event(line.until(is_event(te, START_EVENT)), cp24)
    assert (both.element, both.qdp) == (GS | SL1, 0) and 100 <= both.ms < 2000
    # a trip on L2, its operating time from the general start
    time.sleep(0.1)
    rtu.call(sim_set, rtu.sup, "trip_l2", "on")
    trip = event(line.until(is_event(tf, TRIP_EVENT)), cp24)
    assert (trip.cot, trip.element, trip.qdp) == (3, CL2, 0)
    assert 200 <= trip.ms < 3000 and trip.ms >= both.ms
    check_tag(trip.tag, time.time())
    for name in ("trip_l2", "start_l1", "start_general"):
        rtu.call(sim_set, rtu.sup, name, "off")
    ended = event(line.until(lambda f: is_event(te, START_EVENT)(f) and f.asdu[9] == 0), cp24)
    assert ended.ms >= both.ms  # the whole duration of the start
    # no CP56 protection type on a cp24 line, no CP24 one on a cp56 line
    sent = {f.asdu[0] for f in line.seen} & PROTECTION_TYPES
    assert sent == {td, te, tf}


@pytest.mark.parametrize("time_tag", ["cp56", "cp24"])
def test_unbalanced_protection_events_decoded_by_wireshark(
        pty_pair: tuple[int, str], tmp_path: Path, time_tag: str) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd)
    cp24 = time_tag == "cp24"
    with OutstationThread(prot_config(device, time_tag, LinkMode.UNBALANCED),
                          free_tcp_port()) as rtu:
        line = Line(m, balanced=False)
        line.reset()
        line.until(lambda f: f.asdu[0] == M_EI_NA_1)
        if cp24:  # the full time before the first CP24 event
            line.until(lambda f: f.asdu[0] == C_CS_NA_1 and f.asdu[2] & 0x3F == 3)
        exercise(rtu, line, cp24)
    packets = tshark_decode_101(write_rtac_pcap(m.records, tmp_path / f"prot-{time_tag}.pcap"))
    assert len(packets) == len(m.records) and not malformed(packets)
    decoded: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for packet in packets:
        for layer in _asdu_layers(packet):
            key = (int(layer["iec60870_asdu.typeid"]), int(layer["iec60870_asdu.causetx"]))
            decoded.setdefault(key, []).append(layer)
    types = (M_EP_TA_1, M_EP_TB_1, M_EP_TC_1) if cp24 else (M_EP_TD_1, M_EP_TE_1, M_EP_TF_1)
    for type_id in types:
        assert (type_id, 3) in decoded, f"{type_id} not decoded: {sorted(decoded)}"
    # Wireshark reads each object's IOA and shows its element as raw octets: as long as the
    # type's element (SEP/SPE/OCI, QDP, CP16, the line's time tag)
    tag = 3 if cp24 else 7
    for type_id, ioa, size in zip(types, (PROT1_EVENT, START_EVENT, TRIP_EVENT),
                                  (3 + tag, 4 + tag, 4 + tag), strict=True):
        for layer in decoded[(type_id, 3)]:
            assert (layer["iec60870_asdu.addr"], layer["iec60870_asdu.ioa"]) == ("1", str(ioa))
            assert len(bytes.fromhex(layer["iec60870_asdu.rawdata"].replace(":", ""))) == size
    assert not {t for t, cot in decoded if cot == 20} & PROTECTION_TYPES


@pytest.mark.parametrize("time_tag", ["cp56", "cp24"])
def test_balanced_protection_events(pty_pair: tuple[int, str], time_tag: str) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd, address=1, balanced=True)
    config = prot_config(device, time_tag, LinkMode.BALANCED, remote_address=2,
                         repeat_timeout=0.5, test_interval=0)
    with OutstationThread(config, free_tcp_port()) as rtu:
        line = Line(m, balanced=True)
        line.until(lambda f: f.asdu[0] == M_EI_NA_1)  # after its link status and reset
        if time_tag == "cp24":
            line.until(lambda f: f.asdu[0] == C_CS_NA_1)
        line.reset()  # our primary: reset the outstation's link
        exercise(rtu, line, time_tag == "cp24")
