"""The wrapper and HDLC: golden bytes, round trips, hostile input, and our HDLC client link
against an HDLC server we did not write (pydlms-client's, in-process: no line, no clock)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.dlms import apdu as ap
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError
from rtu.dlms.hdlc import (
    DISC,
    PF,
    SNRM,
    UA,
    ApduReceived,
    Frame,
    FrameReader,
    HdlcClientLink,
    LinkConnected,
    LinkDisconnected,
    LinkParameters,
    LinkState,
    decode_frame,
    decode_parameters,
    encode_address,
    encode_frame,
    encode_parameters,
    fcs16,
)
from rtu.dlms.wrapper import (
    WrapperPdu,
    WrapperStream,
    decode_datagram,
    encode_wrapper,
)

# -- wrapper -------------------------------------------------------------------------------------
SEED_CAPTURE_HEAD = "0001000100010044" "6042a1090607608574050801 01".replace(" ", "")


def test_wrapper_golden_from_the_seed_capture() -> None:
    """The DLMS seed's capture: client wPort 1 to server wPort 1, 0x44 = 68 octets of AARQ,
    LN referencing without ciphering. Ours, for an LLS AARQ of that size, begins the same."""
    aarq = ap.encode_aarq(ap.Aarq(mechanism=ap.MECHANISM_LLS, authentication_value=b"x" * 20,
                                  user_information=ap.encode_initiate_request(
                                      ap.InitiateRequest())))
    frame = encode_wrapper(WrapperPdu(1, 1, aarq))
    assert len(aarq) == 0x44
    assert frame.hex().startswith(SEED_CAPTURE_HEAD)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                          st.binary(max_size=300)), max_size=5), st.data())
def test_wrapper_stream_reassembles_any_split(pdus: list[tuple[int, int, bytes]],
                                              data: st.DataObject) -> None:
    wire = b"".join(encode_wrapper(WrapperPdu(*p)) for p in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    stream = WrapperStream()
    got: list[WrapperPdu] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += stream.receive_data(wire[a:b])
    assert got == [WrapperPdu(*p) for p in pdus]
    assert stream.pending == 0


def test_wrapper_bounds_and_errors() -> None:
    with pytest.raises(RemoteProtocolError, match="version"):
        WrapperStream().receive_data(bytes.fromhex("0002000100010000"))
    with pytest.raises(RemoteProtocolError, match="at most 100"):
        WrapperStream(max_apdu=100).receive_data(bytes.fromhex("00010001000100ff"))
    with pytest.raises(RemoteProtocolError, match="announces 5"):
        decode_datagram(bytes.fromhex("0001000100010005c0"))
    assert decode_datagram(bytes.fromhex("00010001001000026100")) == \
        WrapperPdu(1, 16, b"\x61\x00")
    with pytest.raises(LocalProtocolError):
        encode_wrapper(WrapperPdu(0x10000, 1, b""))


# -- HDLC frames ---------------------------------------------------------------------------------
def test_snrm_golden() -> None:
    """The classic SNRM from the public client (16) to server 1, one-octet addresses."""
    link = HdlcClientLink(16, 1)
    link.connect()
    assert link.data_to_send().hex() == "7ea0070321930f017e"


def test_fcs_is_crc16_x25() -> None:
    assert fcs16(b"123456789") == 0x906E  # the CRC-16/X.25 check value


@pytest.mark.parametrize(("upper", "lower", "golden"), [
    (1, None, "03"), (16, None, "21"), (1, 17, "0223"), (1, 0x3FFF, "0002feff"),
])
def test_addresses(upper: int, lower: int | None, golden: str) -> None:
    assert encode_address(upper, lower).hex() == golden


FRAMES = st.builds(
    Frame,
    st.sampled_from([encode_address(1), encode_address(1, 17), encode_address(300, 1000)]),
    st.sampled_from([encode_address(16), encode_address(1)]),
    st.integers(0, 255),
    st.binary(max_size=200),
    st.booleans())


@settings(max_examples=200, deadline=None)
@given(FRAMES)
def test_frame_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert wire[0] == wire[-1] == 0x7E
    assert decode_frame(wire[1:-1]) == frame


@settings(max_examples=200, deadline=None)
@given(st.lists(FRAMES, min_size=1, max_size=4), st.binary(max_size=20), st.data())
def test_reader_skips_noise_and_splits_anywhere(frames: list[Frame], noise: bytes,
                                                data: st.DataObject) -> None:
    noise = noise.replace(b"\x7e", b"")
    wire = noise + b"".join(encode_frame(f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    reader = FrameReader()
    got: list[Frame] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += reader.receive_data(wire[a:b])
    assert got == frames


def test_reader_drops_a_damaged_frame_and_keeps_the_next() -> None:
    good = encode_frame(Frame(encode_address(16), encode_address(1), UA | PF))
    bad = bytearray(good)
    bad[4] ^= 0x01
    reader = FrameReader()
    assert reader.receive_data(bytes(bad) + good) == [decode_frame(good[1:-1])]
    assert reader.dropped >= 1


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_reader_never_raises_on_random_octets(raw: bytes) -> None:
    FrameReader().receive_data(b"\x7e\xa0" + raw)


def test_parameters_round_trip_and_bounds() -> None:
    p = LinkParameters(512, 256, 1, 1)
    assert decode_parameters(encode_parameters(p)) == p
    assert decode_parameters(b"") == LinkParameters()
    # a UA as meters send it: 128/128 octets, windows 1
    ua = bytes.fromhex("818012050180060180070400000001080400000001")
    assert decode_parameters(ua) == LinkParameters(128, 128, 1, 1)
    with pytest.raises(RemoteProtocolError):
        decode_parameters(bytes.fromhex("818012050100060180070400000001080400000001"))


# -- the client link against pydlms-client's HDLC server -----------------------------------------
sim_module = pytest.importorskip("pydlms.simulator", reason="pip install -e '.[test]'")


class _Line:
    def __init__(self) -> None:
        self.out = bytearray()

    def sendall(self, data: bytes) -> None:
        self.out += data


def _pump(link: HdlcClientLink, server: object, line: _Line) -> list[object]:
    """Exchange until neither side has anything to send; the link's events."""
    events: list[object] = []
    for _ in range(1000):
        out = link.data_to_send()
        if out:
            server.feed(out)  # type: ignore[attr-defined]
        if not line.out:
            return events
        data, line.out[:] = bytes(line.out), b""
        events += link.receive_data(data)
    raise AssertionError("the exchange does not end")


@pytest.mark.parametrize("max_info", [128, 32])
def test_link_segments_both_ways_against_an_independent_server(max_info: int) -> None:
    sim = sim_module.example_meter()
    from pydlms.cosem.data import DlmsData
    from pydlms.obis import ObisCode
    sim.objects[(7, ObisCode.parse("1.0.99.1.0.255"))][2] = DlmsData.array(
        [DlmsData.structure([DlmsData.octet_string(bytes(12)), DlmsData.uint32(i)])
         for i in range(20)])
    line = _Line()
    server = sim_module.HdlcServer(sim, line, max_info=max_info)
    link = HdlcClientLink(16, 1)
    link.connect()
    events = _pump(link, server, line)
    assert events == [LinkConnected(LinkParameters(max_info, max_info, 1, 1))]
    assert link.state is LinkState.CONNECTED
    # an AARQ longer than a 32-octet information field goes out in segments
    aarq = ap.encode_aarq(ap.Aarq(user_information=ap.encode_initiate_request(
        ap.InitiateRequest(max_receive_pdu=0xFFFF))))
    link.send_apdu(aarq)
    (aare,) = _pump(link, server, line)
    assert isinstance(aare, ApduReceived)
    assert ap.decode_aare(aare.apdu).result is ap.AssociationResult.ACCEPTED
    # the load profile's buffer: longer than one frame's information field
    link.send_apdu(ap.encode_get_normal(ap.AttributeDescriptor(7, (1, 0, 99, 1, 0, 255), 2)))
    (answer,) = _pump(link, server, line)
    assert isinstance(answer, ApduReceived)
    assert len(answer.apdu) > max_info
    response = ap.decode_get_response(answer.apdu)
    assert isinstance(response, ap.GetResponseNormal) and response.result.data
    link.disconnect()
    assert _pump(link, server, line) == [LinkDisconnected()]


def test_link_ignores_other_stations_and_refuses_misuse() -> None:
    link = HdlcClientLink(16, 1)
    with pytest.raises(LocalProtocolError):
        link.send_apdu(b"\xc0")
    link.connect()
    link.data_to_send()
    other = encode_frame(Frame(encode_address(17), encode_address(1), UA | PF))
    assert link.receive_data(other) == []
    assert link.state is LinkState.CONNECTING
    ua = encode_frame(Frame(encode_address(16), encode_address(1), UA | PF))
    assert link.receive_data(ua) == [LinkConnected(LinkParameters())]
    assert SNRM != DISC


def test_snrm_proposal_is_negotiated_with_an_independent_server() -> None:
    """Our SNRM offers 256-octet fields (the parameter field's layout as the Green Book
    shows it); the server's UA answers with what it takes, and our segments follow it."""
    proposal = LinkParameters(256, 256, 1, 1)
    assert encode_parameters(proposal).hex() == "81801405020100060201000704000000010804" \
        "00000001"
    sim = sim_module.example_meter()
    line = _Line()
    server = sim_module.HdlcServer(sim, line, max_info=64)
    link = HdlcClientLink(16, 1, proposal=proposal)
    link.connect()
    (connected,) = _pump(link, server, line)
    assert isinstance(connected, LinkConnected)
    assert connected.parameters == LinkParameters(64, 64, 1, 1)  # the server's own limit
    link.send_apdu(ap.encode_aarq(ap.Aarq(user_information=ap.encode_initiate_request(
        ap.InitiateRequest()))))
    (aare,) = _pump(link, server, line)
    assert isinstance(aare, ApduReceived)
    with pytest.raises(LocalProtocolError):
        HdlcClientLink(16, 1, proposal=LinkParameters(128, 128, 7, 7))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40), st.booleans()),
                max_size=6))
def test_a_connected_link_takes_any_frame_from_its_server(
        frames: list[tuple[int, bytes, bool]]) -> None:
    link = HdlcClientLink(16, 1)
    link.connect()
    link.receive_data(encode_frame(Frame(encode_address(16), encode_address(1), UA | PF)))
    for control, info, segmented in frames:
        try:
            link.receive_data(encode_frame(Frame(encode_address(16), encode_address(1), control,
                                                 info, segmented)))
        except RemoteProtocolError:
            return
