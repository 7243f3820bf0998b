"""File transfer (types 120-127) with the real outstation over 127.0.0.1: a whole directory +
file transfer on 104, decoded from a capture by tshark's iec60870_104 dissector, and one on
101 over a pty pair.

c104 offers no file transfer (its Python API has no F_* type and no file client), so the
master here is hand-written: the file elements are packed and unpacked with struct in this
file, independently of rtu/iec/asdu/codec_file.py, and the checksums are computed here."""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtu.config import AppConfig, bench_config
from rtu.files.config import FilesConfig
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.servers.iec101 import Iec101Settings, SerialSettings
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import (
    Raw104Client,
    TsharkCapture,
    free_tcp_port,
    tshark_decode_104,
)
from tests.integration.serial_peers import (
    REQUEST_CLASS_1,
    REQUEST_LINK_STATUS,
    Ft12Master,
    malformed,
    pty_pair,
    tshark_decode_101,
    write_rtac_pcap,
)

__all__ = ["pty_pair"]  # the fixture, imported
pytestmark = pytest.mark.integration

F_FR, F_SR, F_SC, F_LS, F_AF, F_SG, F_DR, F_SC_NB = range(120, 128)
COT_REQUEST, COT_FILE = 5, 13
DISTURBANCE = bytes((i * 31 + 7) % 256 for i in range(9000))  # three sections of 4096


def files_config(directory: Path) -> AppConfig:
    base = bench_config()
    return dataclasses.replace(base, sections={**base.sections, "files": FilesConfig(
        directory=str(directory), max_file_size=100_000, timeout=10.0)})


def file_asdu(type_id: int, cot: int, element: bytes, ioa: int = 0, ca: int = 1) -> bytes:
    # type, VSQ 1, COT, originator 0, CA (2), IOA (3), element
    return struct.pack("<BBBBH", type_id, 1, cot, 0, ca) + ioa.to_bytes(3, "little") + element


def call(nof: int, nos: int, scq: int) -> bytes:
    return struct.pack("<HBB", nof, nos, scq)


def body(rec: dict[str, Any]) -> bytes:
    """The objects of a received I-frame (after the 6-octet ASDU header)."""
    return bytes.fromhex(rec["raw"])[6 + 6:]


class FileMaster:
    """The file client side of the standard's sequence, over a Raw104Client."""

    def __init__(self, client: Raw104Client) -> None:
        self.c = client
        self.negative_acks = 0

    def next_file_asdu(self) -> dict[str, Any]:
        return self.c.recv_until(lambda r: r.get("format") == "I"
                                 and 120 <= (r.get("type_id") or 0) <= 127, 5.0)

    def directory(self) -> list[tuple[int, int, int]]:
        """(NOF, LOF, SOF) of each entry, until the one with LFD."""
        self.c.send_asdu(file_asdu(F_SC, COT_REQUEST, call(0, 0, 0)))
        entries: list[tuple[int, int, int]] = []
        while not entries or not entries[-1][2] & 0x20:
            rec = self.next_file_asdu()
            assert (rec["type_id"], rec["cot"], rec["negative"]) == (F_DR, COT_REQUEST, False)
            data = body(rec)
            for i in range(rec["count"]):
                obj = data[i * 16:(i + 1) * 16]  # IOA 3 + NOF 2 + LOF 3 + SOF 1 + CP56 7
                nof, lof_low, lof_high, sof = struct.unpack_from("<HHBB", obj, 3)
                entries.append((nof, lof_low | lof_high << 16, sof))
        return entries

    def fetch(self, nof: int, corrupt_section: int = 0) -> bytes:
        self.c.send_asdu(file_asdu(F_SC, COT_FILE, call(nof, 0, 1)))  # select
        rec = self.next_file_asdu()
        assert (rec["type_id"], rec["cot"]) == (F_FR, COT_FILE)
        got_nof, lof_low, lof_high, frq = struct.unpack("<HHBB", body(rec)[3:])
        assert got_nof == nof and not frq & 0x80
        length = lof_low | lof_high << 16
        self.c.send_asdu(file_asdu(F_SC, COT_FILE, call(nof, 0, 2)))  # call file
        content = b""
        while True:
            rec = self.next_file_asdu()
            if rec["type_id"] == F_LS:  # last section: the file's checksum
                _, nos, lsq, chs = struct.unpack("<HBBB", body(rec)[3:])
                assert lsq == 1 and chs == sum(content) % 256 and len(content) == length
                self.c.send_asdu(file_asdu(F_AF, COT_FILE, call(nof, nos, 1)))  # AFQ 1
                return content
            assert rec["type_id"] == F_SR, rec
            _, nos, sec_low, sec_high, _srq = struct.unpack("<HBHBB", body(rec)[3:])
            self.c.send_asdu(file_asdu(F_SC, COT_FILE, call(nof, nos, 6)))  # call section
            section = b""
            while (rec := self.next_file_asdu())["type_id"] == F_SG:
                _, seg_nos, los = struct.unpack_from("<HBB", body(rec), 3)
                assert seg_nos == nos
                section += body(rec)[7:7 + los]
            assert rec["type_id"] == F_LS
            _, _, lsq, chs = struct.unpack("<HBBB", body(rec)[3:])
            assert lsq == 3 and len(section) == sec_low | sec_high << 16
            if nos == corrupt_section:  # a bit flipped on the way: the checksum tells
                corrupt_section = 0
                section = bytes([section[0] ^ 0x10]) + section[1:]
            if sum(section) % 256 != chs:
                self.negative_acks += 1
                self.c.send_asdu(file_asdu(F_AF, COT_FILE, call(nof, nos, 0x24)))  # AFQ 4, err 2
                continue
            content += section
            self.c.send_asdu(file_asdu(F_AF, COT_FILE, call(nof, nos, 3)))  # AFQ 3


def test_directory_and_file_transfer_over_104_decoded_by_tshark(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "fault-0001.dat").write_bytes(DISTURBANCE)
    port = free_tcp_port()
    with (OutstationThread(files_config(records), port),
          TsharkCapture(port, tmp_path / "files.pcapng") as capture,
          Raw104Client(port) as client):
        client.startdt()
        master = FileMaster(client)
        entries = master.directory()
        assert entries[0][0] == 3  # the sequence-of-events export first
        by_nof = {nof: lof for nof, lof, _ in entries}
        nof = next(n for n in by_nof if n >= 0x8000)
        assert by_nof[nof] == len(DISTURBANCE)
        assert master.fetch(nof, corrupt_section=2) == DISTURBANCE
        assert master.negative_acks == 1
        export = master.fetch(3)
        assert export.startswith(b"time,kind,point,ioa,type,value")
        # a file the directory does not list: a negative file ready
        client.send_asdu(file_asdu(F_SC, COT_FILE, call(0x1234, 0, 1)))
        rec = master.next_file_asdu()
        assert rec["type_id"] == F_FR and body(rec)[-1] & 0x80
        client.ack()
    frames = tshark_decode_104(capture.path, port)
    assert not frames.malformed, frames.problems
    sent = [(f["type_id"], f["cot"]) for f in frames if f["dir"] == "from_server"
            and f["format"] == "I" and 120 <= (f["type_id"] or 0) <= 127]
    asked = {(f["type_id"], f["cot"]) for f in frames if f["dir"] == "to_server"
             and f["format"] == "I"}
    assert {(F_DR, COT_REQUEST), (F_FR, COT_FILE), (F_SR, COT_FILE), (F_SG, COT_FILE),
            (F_LS, COT_FILE)} <= set(sent)
    assert {(F_SC, COT_REQUEST), (F_SC, COT_FILE), (F_AF, COT_FILE)} <= asked
    # section 2 of the disturbance record went twice (after the negative acknowledgement)
    assert sent.count((F_SR, COT_FILE)) == 3 + 1 + 1  # 3 sections, once again, the export's
    assert any("F_DR_TA_1" in (f.get("info") or "") for f in frames)


class Serial101:
    """What FileMaster needs from a 104 client, over an unbalanced FT1.2 line (class 1)."""

    def __init__(self, m: Ft12Master) -> None:
        self.m = m

    def send_asdu(self, asdu: bytes) -> None:
        ack = self.m.user_data(asdu)
        assert ack is not None and ack.kind in ("ack", "fixed"), ack

    def recv_until(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self.m.request(REQUEST_CLASS_1)
            if frame.kind != "variable":
                time.sleep(0.02)
                continue
            a = frame.asdu
            rec = {"format": "I", "type_id": a[0], "count": a[1] & 0x7F, "cot": a[2] & 0x3F,
                   "negative": bool(a[2] & 0x40), "raw": (bytes(6) + a).hex()}
            if predicate(rec):
                return rec
        raise AssertionError("no file ASDU as class 1 data in time")

    def ack(self) -> None:
        pass


def test_a_file_transfer_over_101_as_class_1_data(pty_pair: tuple[int, str],
                                                  tmp_path: Path) -> None:
    fd, device = pty_pair
    records = tmp_path / "records"
    records.mkdir()
    (records / "short.txt").write_bytes(DISTURBANCE[:1500])
    config = dataclasses.replace(files_config(records), iec101=Iec101Settings(
        SerialSettings(device), LinkParameters(mode=LinkMode.UNBALANCED)))
    m = Ft12Master(fd)
    with OutstationThread(config, free_tcp_port()):
        assert m.request(REQUEST_LINK_STATUS).kind == "fixed"
        m.reset()
        master = FileMaster(Serial101(m))  # type: ignore[arg-type]
        entries = master.directory()
        nof = next(n for n, lof, _ in entries if lof == 1500)
        assert master.fetch(nof, corrupt_section=1) == DISTURBANCE[:1500]
        assert master.negative_acks == 1
    packets = tshark_decode_101(write_rtac_pcap(m.records, tmp_path / "files101.pcap"))
    assert len(packets) == len(m.records) and not malformed(packets)
    decoded = set()
    for packet in packets:
        layers = packet.get("iec60870_asdu", [])
        for layer in layers if isinstance(layers, list) else [layers]:
            decoded.add((int(layer["iec60870_asdu.typeid"]), int(layer["iec60870_asdu.causetx"])))
    assert {(F_SC, COT_REQUEST), (F_DR, COT_REQUEST), (F_FR, COT_FILE), (F_SR, COT_FILE),
            (F_SG, COT_FILE), (F_LS, COT_FILE), (F_AF, COT_FILE)} <= decoded


def test_select_and_deactivate_section_and_delete_refused_over_104(tmp_path: Path) -> None:
    """A master takes the last section of a file first (select section), abandons the next
    (deactivate section: LSQ 4), deactivates the file; deleting it is refused (error 3)."""
    records = tmp_path / "records"
    records.mkdir()
    (records / "fault-0002.dat").write_bytes(DISTURBANCE)
    port = free_tcp_port()
    with (OutstationThread(files_config(records), port),
          TsharkCapture(port, tmp_path / "sections.pcapng") as capture,
          Raw104Client(port) as client):
        client.startdt()
        master = FileMaster(client)
        nof = next(n for n, lof, _ in master.directory() if lof == len(DISTURBANCE))

        def ask(nos: int, scq: int) -> dict[str, Any]:
            client.send_asdu(file_asdu(F_SC, COT_FILE, call(nof, nos, scq)))
            return master.next_file_asdu()

        assert ask(0, 1)["type_id"] == F_FR  # select file
        rec = ask(3, 5)  # select section 3 (9000 octets: 4096, 4096, 808)
        _, nos, sec_low, sec_high, _srq = struct.unpack("<HBHBB", body(rec)[3:])
        assert (rec["type_id"], rec["negative"], nos, sec_low | sec_high << 16) == (
            F_SR, False, 3, 808)
        rec = ask(3, 6)  # call section 3
        section = b""
        while rec["type_id"] == F_SG:
            _, _, los = struct.unpack_from("<HBB", body(rec), 3)
            section += body(rec)[7:7 + los]
            rec = master.next_file_asdu()
        _, nos, lsq, chs = struct.unpack("<HBBB", body(rec)[3:])
        assert (rec["type_id"], nos, lsq, chs) == (F_LS, 3, 3, sum(section) % 256)
        assert section == DISTURBANCE[8192:]
        rec = ask(1, 5)  # then section 1, which it abandons before calling it
        assert (rec["type_id"], body(rec)[5]) == (F_SR, 1)
        rec = ask(1, 7)  # deactivate section 1: F_LS_NA_1 LSQ 4 (with deactivation)
        assert (rec["type_id"], rec["negative"]) == (F_LS, False)
        assert struct.unpack("<HBBB", body(rec)[3:]) == (nof, 1, 4, 0)
        rec = ask(1, 6)  # the abandoned section is not called any more: error 3
        assert (rec["type_id"], rec["negative"], body(rec)[6]) == (F_SC, True, 0x36)
        client.send_asdu(file_asdu(F_SC, COT_FILE, call(nof, 0, 3)))  # deactivate file
        rec = ask(0, 4)  # delete file: refused, error 3 (unexpected service)
        assert (rec["type_id"], rec["negative"], body(rec)[6]) == (F_SC, True, 0x34)
        client.ack()
    assert (records / "fault-0002.dat").read_bytes() == DISTURBANCE
    frames = tshark_decode_104(capture.path, port)
    assert not frames.malformed, frames.problems
    asked = [f["type_id"] for f in frames if f["dir"] == "to_server" and f["format"] == "I"]
    assert asked.count(F_SC) == 9
