"""CoreLink (the blocking driver of rtu/dlms) over an in-process byte pipe to pydlms-client's
meter simulator: GET-with-list where the meter agrees, one GET each after it refuses one, the
fallback of a refused selective access, counters handed back on failure."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from hal.dlms import (
    AttributeRef,
    Authentication,
    DlmsError,
    DlmsErrorKind,
    DlmsLinkSettings,
    DlmsTcpSettings,
    EntrySelection,
)
from rtu.dlms.wrapper import WrapperPdu, WrapperStream, encode_wrapper
from rtu.sources.dlms import link as dlms_link
from rtu.sources.dlms.link import CoreLink

sim_module = pytest.importorskip("pydlms.simulator", reason="pip install -e '.[test]'")
from pydlms.cosem.enums import DataAccessResult
from pydlms.security.hls import Mechanism as SimMechanism

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
ENERGY = AttributeRef(3, (1, 0, 1, 8, 0, 255), 2)
ENERGY_SCALER = AttributeRef(3, (1, 0, 1, 8, 0, 255), 3)
VOLTS = AttributeRef(3, (1, 0, 32, 7, 0, 255), 2)


class PipeIO:
    """ByteIO to the simulator: what is sent is answered at once; ``refuse_lists`` answers a
    GET-with-list with an exception-response (service-not-supported)."""

    def __init__(self, sim: Any, refuse_lists: bool = False) -> None:
        self.sim = sim
        self.refuse_lists = refuse_lists
        self.session = sim_module._Session()
        self.stream = WrapperStream()
        self.inbox: deque[bytes] = deque()
        self.requests: list[bytes] = []

    def connect(self) -> None:
        self.session = sim_module._Session()

    def disconnect(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        for pdu in self.stream.receive_data(data):
            self.requests.append(pdu.apdu)
            self.session.client_sap = pdu.source
            if self.refuse_lists and pdu.apdu[:2] == b"\xc0\x03":
                answers = [bytes.fromhex("d80102")]
            else:
                answers = self.sim.handle_all(pdu.apdu, self.session)
            for answer in answers:
                self.inbox.append(encode_wrapper(WrapperPdu(pdu.destination, pdu.source,
                                                            answer)))

    def recv_some(self) -> bytes:
        if not self.inbox:
            raise DlmsError(DlmsErrorKind.TIMEOUT, "no answer")
        return self.inbox.popleft()


def make_link(monkeypatch: pytest.MonkeyPatch, io: PipeIO, **settings: Any) -> CoreLink:
    monkeypatch.setattr(dlms_link, "TcpIO", lambda *args: io)
    return CoreLink(DlmsLinkSettings(name="m", transport=DlmsTcpSettings("127.0.0.1"),
                                     **settings), challenge=lambda: b"c" * 16)


def meter_sim() -> Any:
    sim = sim_module.example_meter(encryption_key=EK, authentication_key=AK)
    sim.clients[1] = sim_module.ClientProfile(SimMechanism.HLS_GMAC, ciphered=True)
    return sim


def test_attributes_go_in_one_get_with_list(monkeypatch: pytest.MonkeyPatch) -> None:
    io = PipeIO(meter_sim())
    link = make_link(monkeypatch, io)
    results, counter = link.read([ENERGY, ENERGY_SCALER, VOLTS], 0)
    assert [r.value for r in results] == [12345678, [0, 30], 2301]
    assert counter == 0
    gets = [r for r in io.requests if r[:1] == b"\xc0"]
    assert [g[:2] for g in gets] == [b"\xc0\x03"]  # one request for the three


def test_a_refused_list_falls_back_to_single_gets(monkeypatch: pytest.MonkeyPatch) -> None:
    io = PipeIO(meter_sim(), refuse_lists=True)
    link = make_link(monkeypatch, io)
    results, _ = link.read([ENERGY, VOLTS], 0)
    assert [r.value for r in results] == [12345678, 2301]
    io.requests.clear()
    link.read([ENERGY, VOLTS], 0)
    assert [r[:2] for r in io.requests if r[:1] == b"\xc0"] == [b"\xc0\x01", b"\xc0\x01"]


def test_a_refused_selection_reads_the_whole_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = meter_sim()
    sim._select = lambda *args: DataAccessResult.OTHER_REASON
    io = PipeIO(sim)
    link = make_link(monkeypatch, io)
    ref = AttributeRef(7, (1, 0, 99, 1, 0, 255), 2, EntrySelection(1, 2))
    (result,) = link.read([ref], 0)[0]
    assert result.selected is False and isinstance(result.value, list)


def test_hls_counters_move_on_even_when_the_session_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = meter_sim()
    io = PipeIO(sim)
    link = make_link(monkeypatch, io, client_address=1,
                     authentication=Authentication.HLS_GMAC, encryption_key=EK,
                     authentication_key=AK)
    _, after = link.read([ENERGY], 500)
    assert after > 500 and sim.last_client_ic == after - 1
    # a stale counter: refused, and the error says where to go on from
    with pytest.raises(DlmsError) as info:
        link.read([ENERGY], 10)
    assert info.value.kind is DlmsErrorKind.REFUSED
    assert info.value.next_counter == after


def test_lists_fit_the_meters_max_pdu() -> None:
    refs = [AttributeRef(3, (1, 0, i, 8, 0, 255), 2) for i in range(40)]
    chunks = dlms_link._chunks(refs, 0xFFFF)
    assert [len(c) for c in chunks] == [16, 16, 8]
    small = dlms_link._chunks(refs, 64)  # 29 octets of overhead, 11 per attribute
    assert all(len(c) == 3 for c in small[:-1]) and sum(map(len, small)) == 40
    assert dlms_link._chunks(refs[:1], 10) == [refs[:1]]
