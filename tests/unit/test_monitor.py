"""rtu.monitor without sockets: the tap's bounds, frame splitting, one-line decoding, pcapng."""

from __future__ import annotations

import io
import struct

import pytest

from rtu.monitor import (
    FrameSplitter,
    PcapngWriter,
    Sizes101,
    line,
    matches,
    parse_type,
    split_address,
)
from rtu.tap import QUEUE_FRAMES, TAP, FrameTap, Watcher

STARTDT_ACT = bytes.fromhex("680407000000")
# I(0,0) M_SP_NA_1 COT 20 CA 1, IOA 9001 ON
SP_GI = bytes.fromhex("680e00000000" "01011400" "0100" "292300" "01")


def chunk(data: bytes, direction: str = "tx", protocol: str = "104",
          link: str = "104:127.0.0.1:5000") -> dict[str, object]:
    return {"t": 1_700_000_000.25, "protocol": protocol, "link": link, "dir": direction,
            "local": "127.0.0.1:2404", "peer": "127.0.0.1:5000", "hex": data.hex(),
            "dropped": 0}


def test_nothing_is_queued_without_watchers_and_a_slow_watcher_drops_and_counts() -> None:
    assert TAP.watchers == []  # nobody attached: the drivers skip the tap entirely
    tap = FrameTap()
    tap.frame("104", "l", "rx", b"\x68\x04\x07\x00\x00\x00")  # no watcher: nothing happens
    slow, picky = Watcher(), Watcher(link="101:*", direction="rx")
    tap.watchers += [slow, picky]
    for _ in range(QUEUE_FRAMES + 5):
        tap.frame("104", "104:1.2.3.4:5", "tx", b"\x68\x04\x0b\x00\x00\x00")
    assert len(slow.queue) == QUEUE_FRAMES and slow.dropped == 5
    assert slow.wake.is_set()
    assert not picky.queue and picky.dropped == 0  # its filters do not match
    tap.frame("101", "101:/dev/ttyS0", "rx", b"\xe5")
    assert len(picky.queue) == 1 and picky.queue[0]["hex"] == "e5"


def test_104_frames_split_across_chunks_and_decoded_on_one_line() -> None:
    splitter = FrameSplitter()
    both = STARTDT_ACT + SP_GI
    assert splitter.feed(chunk(both[:3], "rx")) == []
    first = splitter.feed(chunk(both[3:10], "rx"))
    assert [s.text for s in first] == ["U STARTDT act"]
    rest = splitter.feed(chunk(both[10:], "rx"))
    assert len(rest) == 1
    seen = rest[0]
    assert seen.type_id == 1 and seen.ioas == (9001,)
    assert seen.text.startswith("I(0,0) M_SP_NA_1 (1), COT 20")
    assert "IOA 9001: value=True quality=ok" in seen.text
    assert line(seen).startswith("22:13:20.250 104:127.0.0.1:5000 <- I(0,0)")
    assert matches(seen, 1, 9001) and not matches(seen, 30, None) and not matches(seen, None, 1)
    assert splitter.feed(chunk(b"\x01\x02", "tx"))[0].text.startswith("not an APDU")


def test_101_frames() -> None:
    splitter = FrameSplitter(Sizes101(link_address_size=1, cot_size=1, ca_size=1, ioa_size=2))
    fixed = bytes([0x10, 0x49, 0x01, 0x4A, 0x16])  # request link status, A=1
    seen = splitter.feed(chunk(fixed + b"\xe5", "rx", "101", "101:/dev/ttyS0"))
    assert [s.text.split(" C=")[0] for s in seen] == ["fixed", "E5 (ACK / no data)"]
    assert "REQUEST_LINK_STATUS" in seen[0].text and seen[0].raw == fixed


@pytest.mark.parametrize(("text", "value"), [("M_SP_TB_1", 30), ("m_sp_tb_1", 30), ("100", 100)])
def test_types(text: str, value: int) -> None:
    assert parse_type(text) == value


def test_bad_type() -> None:
    with pytest.raises(ValueError, match="not a type identification"):
        parse_type("SP")


def test_addresses() -> None:
    assert split_address("127.0.0.1:2404") == ("127.0.0.1", 2404)
    assert split_address("[::1]:2404") == ("::1", 2404)
    assert split_address("host:2404") is None and split_address("") is None


def test_pcapng_blocks() -> None:
    out = io.BytesIO()
    writer = PcapngWriter(out)
    writer.write(chunk(STARTDT_ACT, "rx"))
    writer.write(chunk(b"\xe5", "tx", "101", "101:/dev/ttyS0"))
    data = out.getvalue()
    blocks = []
    pos = 0
    while pos < len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        assert struct.unpack_from("<I", data, pos + length - 4)[0] == length
        blocks.append((kind, data[pos + 8:pos + length - 4]))
        pos += length
    assert [k for k, _ in blocks] == [0x0A0D0D0A, 1, 6, 1, 6]
    assert struct.unpack_from("<H", blocks[1][1])[0] == 101  # raw IP
    assert struct.unpack_from("<H", blocks[3][1])[0] == 250  # RTAC serial
    captured = struct.unpack_from("<I", blocks[2][1], 12)[0]
    packet = blocks[2][1][20:20 + captured]  # the block pads it to 32 bits
    assert packet[0] == 0x45 and packet[9] == 6  # IPv4, TCP
    assert struct.unpack_from(">HH", packet, 20) == (5000, 2404)  # rx: master -> outstation
    assert packet.endswith(STARTDT_ACT)
