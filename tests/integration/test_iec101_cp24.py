"""Issue 19 item 3 on a pseudo-terminal: a 101 line with time_tag = "cp24" (the real
Supervisor, a hand-written FT1.2 master, Wireshark's iec60870_101 dissector over every frame):
the spontaneous C_CS_NA_1 (COT 3) before the first CP24 event and after a change of the hour,
events as the CP24 types on 101 while a 104 master gets the CP56 types of the same events, and
delay acquisition (C_CD_NA_1) whose loaded delay corrects the next clock synchronisation."""

from __future__ import annotations

import time
from pathlib import Path

from rtu.config import AppConfig
from rtu.iec.asdu.codec import AsduProfile, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, ClockSyncCommand, Cp56Time2a
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.cs101.link import LinkMode
from rtu.sources.simulated.source import SimulatedField
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import Raw104Client, free_tcp_port
from tests.integration.serial_peers import (
    RTAC_RX,
    SEC_ACK,
    Frame,
    Ft12Master,
    malformed,
    tshark_decode_101,
    variable_frame,
    write_rtac_pcap,
)
from tests.integration.test_iec101_pty import _asdu_layers, config_101, poll_class1_until, pty_pair
from tests.unit.iec.test_asdu_codec import GOLDEN_101, PROFILE_101

__all__ = ["pty_pair"]  # the fixture, imported

M_EI_NA_1, C_CS_NA_1, C_CD_NA_1, M_SP_TA_1, M_SP_TB_1 = 70, 103, 106, 2, 30
PROFILE = AsduProfile(max_asdu_length=253, cp24=True)  # the line's: COT 2, CA 2, IOA 3


def config_cp24(device: str, mode: LinkMode = LinkMode.UNBALANCED, **link: object) -> AppConfig:
    return config_101(device, mode, time_tag="cp24", **link)


def is_type(type_id: int, cot: int | None = None) -> object:
    def check(f: Frame) -> bool:
        h = f.asdu_header()
        return bool(h["type_id"] == type_id and (cot is None or h["cot"] == cot))
    return check


def clock_of(frame: Frame) -> Cp56Time2a:
    (obj,) = decode_asdu(frame.asdu, PROFILE).objects
    assert isinstance(obj, ClockSyncCommand)
    return obj.time


def cd(cot: int, ms: int) -> bytes:
    """C_CD_NA_1, CA 1, IOA 0, CP16Time2a."""
    return bytes([C_CD_NA_1, 1, cot, 0, 1, 0, 0, 0, 0]) + ms.to_bytes(2, "little")


def cs(at: float) -> bytes:
    """C_CS_NA_1 activation, CA 1, with the master's time ``at``."""
    asdu = Asdu(TypeId.C_CS_NA_1, Cot.ACTIVATION, 1,
                (ClockSyncCommand(0, Cp56Time2a.from_timestamp(at)),))
    return encode_asdu(asdu, PROFILE)


def test_tshark_decodes_every_new_type_of_the_codec(tmp_path: Path) -> None:
    """The golden ASDUs of the CP24 types and C_CD_NA_1, as the codec encodes them, in FT1.2
    frames: Wireshark reads the type, cause and address of each, and the CP24Time2a elements
    of types 2-16 field by field (its 4.0 dissector shows 17-19 and 106 as raw data)."""
    new = [asdu for _, asdu, _ in GOLDEN_101 if int(asdu.type_id) < 20
           and int(asdu.type_id) % 2 == 0 or int(asdu.type_id) in (17, 18, 19, 106)]
    assert {int(a.type_id) for a in new} == {2, 4, 6, 8, 10, 12, 14, 16, 17, 18, 19, 106}
    records = [(time.time(), RTAC_RX, variable_frame(0x08, 1, encode_asdu(a, PROFILE_101)))
               for a in new]
    packets = tshark_decode_101(write_rtac_pcap(records, tmp_path / "cp24.pcap"),
                                cot_size=1, ca_size=1, ioa_size=2)
    assert not malformed(packets)
    for asdu, packet in zip(new, packets, strict=True):
        (layer,) = _asdu_layers(packet)
        assert layer["iec60870_asdu.typeid"] == str(int(asdu.type_id))
        assert layer["iec60870_asdu.causetx"] == str(int(asdu.cot))
        assert layer["iec60870_asdu.addr"] == str(asdu.common_address)
        if int(asdu.type_id) <= 16:
            obj = asdu.objects[0]
            fields = layer[f"IOA: {obj.ioa}"]
            tree = fields["iec60870_asdu.cp24time_tree"]  # type: ignore[index]
            assert tree["iec60870_asdu.cp24time.ms"] == str(obj.time.milliseconds)  # type: ignore[union-attr]
            assert tree["iec60870_asdu.cp24time.min"] == str(obj.time.minute)  # type: ignore[union-attr]
            assert tree["iec60870_asdu.cp24time.iv"] == str(int(obj.time.invalid))  # type: ignore[union-attr]


def test_unbalanced_cp24_line(pty_pair: tuple[int, str], tmp_path: Path) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd)
    port = free_tcp_port()
    with OutstationThread(config_cp24(device), port) as rtu, Raw104Client(port) as master104:
        master104.startdt()
        m.reset()
        # end of initialisation, then the full time before any CP24 event
        frames = poll_class1_until(m, is_type(C_CS_NA_1, 3))
        data = [f.asdu_header()["type_id"] for f in frames if f.kind == "variable"]
        assert data[0] == M_EI_NA_1 and data[-1] == C_CS_NA_1
        assert M_SP_TA_1 not in data[:-1]
        assert abs(clock_of(frames[-1]).to_timestamp() - time.time()) < 5.0

        # the same event: CP24 on 101 (3-octet tag), CP56 on 104
        rtu.call(rtu.sup.provided(SimulatedField).set, "di03", True)
        ev = poll_class1_until(m, lambda f: is_type(M_SP_TA_1, 3)(f)  # type: ignore[operator]
                               and int.from_bytes(f.asdu[6:9], "little") == 1003)[-1]
        assert len(ev.asdu) == 6 + 3 + 1 + 3 and ev.asdu[9] & 1  # header, IOA, SIQ, CP24
        ms, minute = ev.asdu[10] | ev.asdu[11] << 8, ev.asdu[12] & 0x3F
        now = time.gmtime()
        assert minute in (now.tm_min, (now.tm_min - 1) % 60) and ms < 60_000
        got = master104.recv_until(lambda a: a.get("type_id") == M_SP_TB_1
                                   and a.get("ioa") == 1003)
        assert got["cot"] == 3

        # delay acquisition: SDT comes back increased by the time spent in the outstation
        assert m.user_data(cd(6, 30_000)) is not None
        con = poll_class1_until(m, is_type(C_CD_NA_1))[-1]
        assert con.asdu_header()["cot"] == 7 and not con.asdu_header()["negative"]
        back = con.asdu[9] | con.asdu[10] << 8
        assert 30_000 <= back < 32_000
        # the delay the master computed: loaded (no answer), then added to the next sync
        assert m.user_data(cd(3, 400)) is not None
        master_time = time.time() + 3600.0  # an hour ahead: the hour changes, announced
        assert m.user_data(cs(master_time)) is not None
        frames = poll_class1_until(m, is_type(C_CS_NA_1, 3))
        seen = [(f.asdu_header()["type_id"], f.asdu_header()["cot"]) for f in frames
                if f.kind == "variable" and f.asdu_header()["type_id"] in (C_CS_NA_1, C_CD_NA_1)]
        assert seen == [(C_CS_NA_1, 7), (C_CS_NA_1, 3)]
        offset = rtu.call(lambda: rtu.sup.outstation.clock_offset)
        assert abs(offset - 3600.4) < 0.5
        assert abs(clock_of(frames[-1]).to_timestamp() - master_time) < 5.0
    packets = tshark_decode_101(write_rtac_pcap(m.records, tmp_path / "cp24.pcap"))
    assert len(packets) == len(m.records) and not malformed(packets)
    decoded = {(f["iec60870_asdu.typeid"], f["iec60870_asdu.causetx"])
               for p in packets for f in _asdu_layers(p)}
    for pair in [("70", "4"), ("103", "3"), ("2", "3"), ("106", "6"), ("106", "7"),
                 ("106", "3"), ("103", "6"), ("103", "7")]:
        assert pair in decoded, f"{pair} not decoded by Wireshark: {decoded}"


def test_balanced_cp24_line(pty_pair: tuple[int, str]) -> None:
    fd, device = pty_pair
    m = Ft12Master(fd, address=1, balanced=True)
    config = config_cp24(device, LinkMode.BALANCED, remote_address=2, repeat_timeout=0.5,
                         test_interval=0)
    with OutstationThread(config, free_tcp_port()) as rtu:
        m.accept_link()  # the outstation's primary establishes the link
        sent = []
        for _ in range(2):
            f = m.read()
            assert f.kind == "variable"
            sent.append((f.asdu_header()["type_id"], f.asdu_header()["cot"]))
            m.answer(f, SEC_ACK)
        assert sent == [(M_EI_NA_1, 4), (C_CS_NA_1, 3)]
        assert abs(clock_of(f).to_timestamp() - time.time()) < 5.0
        rtu.call(rtu.sup.provided(SimulatedField).set, "di04", True)
        for _ in range(10):
            f = m.read()
            m.answer(f, SEC_ACK)
            if f.asdu_header()["type_id"] == M_SP_TA_1 \
                    and int.from_bytes(f.asdu[6:9], "little") == 1004:
                break
        else:
            raise AssertionError("the CP24 event did not come")
        assert len(f.asdu) == 13 and f.asdu_header()["cot"] == 3
        # our primary: reset the outstation's link, then a delay acquisition
        m.reset()
        m.user_data(cd(6, 59_990))
        for _ in range(10):
            f = m.read()
            if f.kind == "variable":
                m.answer(f, SEC_ACK)
                if f.asdu_header()["type_id"] == C_CD_NA_1:
                    break
        else:
            raise AssertionError("no C_CD_NA_1 confirmation")
        assert f.asdu_header()["cot"] == 7
        back = f.asdu[9] | f.asdu[10] << 8
        assert back >= 59_990 or back < 2_000  # ms within the minute: wraps
