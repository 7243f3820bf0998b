"""Interoperability items of issue 19 on IEC 60870-5-101 (unbalanced, over a pty pair, a
hand-written FT1.2 master), every frame decoded by Wireshark's iec60870_101 dissector:
periodic data as class 2 while events stay class 1, and counter interrogation with reset."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rtu.config import AppConfig, bench_config
from rtu.points.model import Point
from rtu.servers.iec101 import Iec101Server
from rtu.sources.simulated.source import SimulatedField
from rtu.supervisor import Supervisor
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import free_tcp_port
from tests.integration.serial_peers import (
    REQUEST_CLASS_1,
    REQUEST_CLASS_2,
    Frame,
    Ft12Master,
    malformed,
    tshark_decode_101,
    write_rtac_pcap,
)
from tests.integration.test_iec101_pty import _asdu_layers, config_101, pty_pair

__all__ = ["pty_pair"]  # the fixture, used by name

M_SP_TB_1, M_ME_NC_1, M_IT_TB_1, C_CI_NA_1 = 30, 13, 37, 101
GI_CA2 = bytes.fromhex("64 01 06 00 02 00 00 00 00 14")
COT_PERIODIC, COT_SPONTANEOUS, COT_RETURN_REMOTE = 1, 3, 11


def _server101(sup: Supervisor) -> Iec101Server:
    server = sup.server(Iec101Server)
    assert server is not None
    return server


def fast_cyclic(config: AppConfig, period: float) -> AppConfig:
    """The bench with its periodic measurements every ``period`` seconds."""
    points = tuple(dataclasses.replace(p, cyclic=period) if p.cyclic else p
                   for p in config.points)
    return dataclasses.replace(config, points=points)


def poll(m: Ft12Master, function: int, want: object, limit: int = 60) -> list[Frame]:
    frames = []
    for _ in range(limit):
        f = m.request(function)
        frames.append(f)
        if f.kind == "variable" and want(f):  # type: ignore[operator]
            return frames
        if f.kind != "variable":
            time.sleep(0.05)
    raise AssertionError(f"not seen in {limit} polls: {[x.raw.hex(' ') for x in frames]}")


def ioas(frame: Frame, size: int) -> list[int]:
    """The IOAs of an ASDU of ``size``-octet elements (not SQ), COT 2 and CA 2 octets."""
    body, count = frame.asdu[6:], frame.asdu[1] & 0x7F
    step = 3 + size
    return [int.from_bytes(body[i * step:i * step + 3], "little") for i in range(count)]


def test_periodic_data_is_class_2_and_events_stay_class_1(pty_pair: tuple[int, str],
                                                           tmp_path: Path) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd)
    config = fast_cyclic(config_101(device), 0.3)
    with OutstationThread(config, free_tcp_port()) as rtu:
        m.reset()
        poll(m, REQUEST_CLASS_1, lambda f: f.asdu[0] == 70)  # end of initialisation
        # class 2: the periodic measurements, untagged M_ME_NC_1 with cause 1
        c2 = poll(m, REQUEST_CLASS_2, lambda f: True)[-1]
        assert c2.asdu_header()["type_id"] == M_ME_NC_1
        assert c2.asdu_header()["cot"] == COT_PERIODIC
        assert ioas(c2, 5) == [3601, 3602, 3603, 3604]
        # an event meanwhile: ACD set on the class 2 answers, the event comes on class 1
        rtu.call(rtu.sup.provided(SimulatedField).set, "di05", True)
        seen_acd = False
        for _ in range(40):
            f = m.request(REQUEST_CLASS_2)
            seen_acd = seen_acd or f.acd
            if f.kind == "variable":
                assert f.asdu_header()["cot"] == COT_PERIODIC  # never class 1 data
            if seen_acd:
                break
            time.sleep(0.05)
        assert seen_acd
        event = poll(m, REQUEST_CLASS_1, lambda f: f.asdu[0] == M_SP_TB_1)[-1]
        assert event.asdu_header()["cot"] == COT_SPONTANEOUS and ioas(event, 8) == [1005]
        # confirmations of class 2 answers do not acknowledge class 1 events: after more class 2
        # polls and a lost class 1 answer (same FCB), the event is still there, identical
        for _ in range(3):
            m.request(REQUEST_CLASS_2)
        rtu.call(rtu.sup.provided(SimulatedField).set, "di06", True)
        first = poll(m, REQUEST_CLASS_1, lambda f: f.asdu[0] == M_SP_TB_1)[-1]
        again = m.request(REQUEST_CLASS_1, toggle=False)
        assert again.raw == first.raw and ioas(first, 8) == [1006]
        assert rtu.call(lambda: _server101(rtu.sup).session.unacknowledged_events) == 1
        m.request(REQUEST_CLASS_2)  # a new FCB confirms the class 1 answer
        assert rtu.call(lambda: _server101(rtu.sup).session.unacknowledged_events) == 0

        # counter interrogation with freeze and reset: confirmed and terminated on class 1
        rtu.call(rtu.sup.provided(SimulatedField).set, "counter1", 500)
        qcc = 5 | 2 << 6
        assert m.user_data(bytes([C_CI_NA_1, 1, 6, 0, 1, 0, 0, 0, 0, qcc])) is not None
        frames = poll(m, REQUEST_CLASS_1,
                      lambda f: f.asdu[0] == C_CI_NA_1 and f.asdu_header()["cot"] == 10)
        assert [f.asdu_header()["cot"] for f in frames
                if f.kind == "variable" and f.asdu[0] == C_CI_NA_1] == [7, 10]
        reset = poll(m, REQUEST_CLASS_1, lambda f: f.asdu[0] == M_IT_TB_1)[-1]
        assert reset.asdu_header()["cot"] == COT_RETURN_REMOTE

    packets = tshark_decode_101(write_rtac_pcap(m.records, tmp_path / "iec101.pcap"))
    assert not malformed(packets)
    decoded = {(f["iec60870_asdu.typeid"], f["iec60870_asdu.causetx"])
               for p in packets for f in _asdu_layers(p)}
    for pair in [("13", "1"), ("30", "3"), ("101", "6"), ("101", "7"), ("101", "10"),
                 ("37", "11")]:
        assert pair in decoded, f"{pair} not decoded by Wireshark: {decoded}"


def test_periodic_points_of_the_bench_profile() -> None:
    cyclic = [p for p in bench_config().points if p.cyclic]
    assert [(p.ioa, p.cyclic) for p in cyclic] == [(ioa, 5.0) for ioa in range(3601, 3605)]
    assert all(isinstance(p, Point) for p in cyclic)


def test_multi_drop_one_link_address_per_station(pty_pair: tuple[int, str],
                                                 tmp_path: Path) -> None:
    fd, device = pty_pair
    config = config_101(device)
    assert config.iec101 is not None
    # the bench's station 2 (common address 2, IOAs 3501-3504) on link address 3
    station2 = tuple(p for p in bench_config().points if p.common_address == 2)
    config = dataclasses.replace(
        config, points=config.points + station2,
        iec101=dataclasses.replace(config.iec101, stations=((3, 2),)))
    one, three = Ft12Master(fd, address=1), Ft12Master(fd, address=3)
    with OutstationThread(config, free_tcp_port()) as rtu:
        one.reset()
        three.reset()
        ei1 = poll(one, REQUEST_CLASS_1, lambda f: f.asdu[0] == 70)[-1]
        ei3 = poll(three, REQUEST_CLASS_1, lambda f: f.asdu[0] == 70)[-1]
        assert (ei1.address, ei1.asdu_header()["ca"]) == (1, 1)
        assert (ei3.address, ei3.asdu_header()["ca"]) == (3, 2)
        # station 2 is served on link 3 only
        assert three.user_data(GI_CA2) is not None
        gi = [f for f in poll(three, REQUEST_CLASS_1,
                              lambda f: f.asdu[0] == 100 and f.asdu_header()["cot"] == 10)
              if f.kind == "variable"]
        assert [f.asdu_header()["cot"] for f in gi] == [7, 20, 10]
        assert ioas(gi[1], 5) == [3501, 3502, 3503, 3504]
        assert one.user_data(GI_CA2) is not None
        neg = poll(one, REQUEST_CLASS_1, lambda f: f.asdu[0] == 100)[-1]
        assert neg.asdu_header()["cot"] == 46 and neg.asdu_header()["negative"]
        # events go to their station's link
        rtu.call(rtu.sup.provided(SimulatedField).set, "meter2_current", 77.0)
        rtu.call(rtu.sup.provided(SimulatedField).set, "di07", True)
        event3 = poll(three, REQUEST_CLASS_1, lambda f: f.asdu[0] == 36)[-1]
        assert event3.asdu_header()["ca"] == 2 and ioas(event3, 12) == [3502]
        event1 = poll(one, REQUEST_CLASS_1, lambda f: f.asdu[0] == M_SP_TB_1)[-1]
        assert event1.asdu_header()["ca"] == 1 and ioas(event1, 8) == [1007]
        assert three.request(REQUEST_CLASS_1).kind != "variable"  # nothing else for station 2
    records = sorted(one.records + three.records)
    packets = tshark_decode_101(write_rtac_pcap(records, tmp_path / "multidrop.pcap"))
    assert not malformed(packets)
