"""The client core against pydlms-client's meter simulator in-process: every exchange is
bytes handed across by the test (no socket, no clock). Authentication none / LLS /
HLS-GMAC (ciphered), block transfer, GET-with-list, selective access, refusals, replays."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtu.dlms import apdu as ap
from rtu.dlms.axdr import decode_data_all, to_python
from rtu.dlms.client import (
    Associated,
    ClientSettings,
    DlmsClient,
    Event,
    GetDone,
    Mechanism,
    Refused,
    Released,
    WrapperFraming,
)
from rtu.dlms.cosem import ENTRY_SELECTOR, RANGE_SELECTOR, entry_descriptor, range_descriptor
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError
from rtu.dlms.security import SecurityKeys
from rtu.dlms.wrapper import WrapperPdu, WrapperStream, encode_wrapper

sim_module = pytest.importorskip("pydlms.simulator", reason="pip install -e '.[test]'")
from pydlms.cosem.data import DlmsData
from pydlms.cosem.time import CosemDateTime
from pydlms.obis import ObisCode
from pydlms.security.hls import Mechanism as SimMechanism

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
ENERGY = ap.AttributeDescriptor(3, (1, 0, 1, 8, 0, 255), 2)
ENERGY_SCALER = ap.AttributeDescriptor(3, (1, 0, 1, 8, 0, 255), 3)
PROFILE = (1, 0, 99, 1, 0, 255)


class Meter:
    """The simulator behind the wrapper: what the client sends goes in, answers come out.
    ``tamper`` may change each answer on its way back."""

    def __init__(self, sim: Any, client_wport: int = 16) -> None:
        self.sim = sim
        self.session = sim_module._Session()
        self.stream = WrapperStream()
        self.client_wport = client_wport
        self.sent: list[bytes] = []

    def __call__(self, data: bytes) -> bytes:
        out = b""
        for pdu in self.stream.receive_data(data):
            self.session.client_sap = pdu.source
            for answer in self.sim.handle_all(pdu.apdu, self.session):
                self.sent.append(answer)
                out += encode_wrapper(WrapperPdu(pdu.destination, pdu.source, answer))
        return out


def meter_sim() -> Any:
    sim = sim_module.example_meter(encryption_key=EK, authentication_key=AK)
    sim.clients[32] = sim_module.ClientProfile(SimMechanism.LLS, secret=b"secret")
    sim.clients[1] = sim_module.ClientProfile(SimMechanism.HLS_GMAC, ciphered=True)
    return sim


def client(address: int = 16, **settings: Any) -> DlmsClient:
    return DlmsClient(ClientSettings(**settings), WrapperFraming(address, 1))


def run(c: DlmsClient, meter: Meter) -> Event:
    """Send, answer, feed back until the client completes its request."""
    for _ in range(200):
        out = c.data_to_send()
        answer = meter(out) if out else b""
        if not answer:
            raise AssertionError("the meter has nothing to say")
        events = c.receive_data(answer)
        if events:
            (event,) = events
            return event
    raise AssertionError("no end")


def value(event: Event) -> Any:
    assert isinstance(event, GetDone), event
    (result,) = event.results
    assert result.error is None and result.data is not None, result
    return to_python(decode_data_all(result.data))


def test_no_security_register_and_release() -> None:
    meter = Meter(meter_sim())
    c = client()
    c.associate()
    event = run(c, meter)
    assert isinstance(event, Associated) and c.associated
    c.get(ENERGY)
    assert value(run(c, meter)) == 12345678
    c.get(ENERGY_SCALER)
    assert value(run(c, meter)) == [0, 30]
    c.release()
    assert run(c, meter) == Released()
    assert c.invocation_counter == 0  # nothing ciphered


def test_lls_and_a_wrong_password() -> None:
    c = client(32, mechanism=Mechanism.LLS, password=b"secret")
    meter = Meter(meter_sim())
    c.associate()
    assert isinstance(run(c, meter), Associated)
    wrong = client(32, mechanism=Mechanism.LLS, password=b"guess")
    wrong.associate()
    event = run(wrong, Meter(meter_sim()))
    assert isinstance(event, Refused)
    assert "rejected" in event.reason and "authentication-failure" in event.reason
    with pytest.raises(LocalProtocolError):
        wrong.get(ENERGY)  # never associated


def hls_client(counter: int = 100) -> DlmsClient:
    return client(1, mechanism=Mechanism.HLS_GMAC, keys=SecurityKeys(EK, AK),
                  challenge=b"0123456789abcdef", invocation_counter=counter)


def test_hls_gmac_ciphered_session_and_counters() -> None:
    sim = meter_sim()
    meter = Meter(sim)
    c = hls_client()
    c.associate()
    assert isinstance(run(c, meter), Associated)
    c.get(ap.AttributeDescriptor(3, (1, 0, 1, 7, 0, 255), 2))
    assert value(run(c, meter)) == 1520
    # AARQ, f(StoC), the HLS ACTION, the GET: four counters, the meter saw the last one
    assert c.invocation_counter == 104
    assert sim.last_client_ic == 103
    assert all(answer[0] in (0x61, 0xCF, 0xCC) for answer in meter.sent)  # ciphered answers
    # a fresh session with a counter the meter has seen is refused, and says which it saw
    stale = hls_client(50)
    stale.associate()
    event = run(stale, Meter(sim))
    assert isinstance(event, Refused) and event.meter_counter == 103


def test_a_replayed_ciphered_answer_is_refused() -> None:
    meter = Meter(meter_sim())
    c = hls_client()
    c.associate()
    run(c, meter)
    c.get(ENERGY)
    out = c.data_to_send()
    answer = meter(out)
    c.receive_data(answer)
    c.get(ENERGY)
    meter(c.data_to_send())  # the meter's real answer is lost; an old one comes instead
    with pytest.raises(RemoteProtocolError, match="replay"):
        c.receive_data(answer)


def profile_rows(sim: Any, count: int) -> list[float]:
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    stamps = [base + dt.timedelta(minutes=15 * i) for i in range(count)]
    sim.objects[(7, ObisCode.parse("1.0.99.1.0.255"))][2] = DlmsData.array([
        DlmsData.structure([DlmsData.octet_string(CosemDateTime.from_datetime(s).to_bytes()),
                            DlmsData.uint32(1000 + i)]) for i, s in enumerate(stamps)])
    return [s.timestamp() for s in stamps]


def test_block_transfer_of_a_long_buffer() -> None:
    sim = meter_sim()
    profile_rows(sim, 60)
    meter = Meter(sim)
    c = client(max_receive_pdu=128)  # the buffer (~1.5 kB) comes in GET-next blocks
    c.associate()
    run(c, meter)
    c.get(ap.AttributeDescriptor(7, PROFILE, 2))
    rows = value(run(c, meter))
    assert [row[1] for row in rows] == [1000 + i for i in range(60)]
    assert c.blocks > 5
    # the session's bound on blocks holds
    bounded = client(max_receive_pdu=128, max_blocks=3)
    other = Meter(sim)
    bounded.associate()
    run(bounded, other)
    bounded.get(ap.AttributeDescriptor(7, PROFILE, 2))
    with pytest.raises(RemoteProtocolError, match="more than 3 blocks"):
        for _ in range(50):
            bounded.receive_data(other(bounded.data_to_send()))


def test_selective_access_by_range_and_by_entry() -> None:
    sim = meter_sim()
    stamps = profile_rows(sim, 8)
    meter = Meter(sim)
    c = client()
    c.associate()
    run(c, meter)
    c.get(ap.AttributeDescriptor(7, PROFILE, 2, RANGE_SELECTOR, range_descriptor(
        8, (0, 0, 1, 0, 0, 255), 2, stamps[2], stamps[4])))
    assert [row[1] for row in value(run(c, meter))] == [1002, 1003, 1004]
    c.get(ap.AttributeDescriptor(7, PROFILE, 2, ENTRY_SELECTOR, entry_descriptor(7, 8)))
    assert [row[1] for row in value(run(c, meter))] == [1006, 1007]


def test_get_with_list() -> None:
    meter = Meter(meter_sim())
    c = client()
    c.associate()
    run(c, meter)
    assert c.conformance & ap.CONFORMANCE_MULTIPLE_REFERENCES
    c.get_list([ENERGY, ENERGY_SCALER, ap.AttributeDescriptor(3, (9, 9, 9, 9, 9, 9), 2)])
    event = run(c, meter)
    assert isinstance(event, GetDone) and len(event.results) == 3
    assert to_python(decode_data_all(event.results[0].data or b"")) == 12345678
    assert event.results[2].error is not None and "object-undefined" in event.results[2].error


def test_an_unasked_apdu_is_a_remote_error() -> None:
    c = client()
    with pytest.raises(RemoteProtocolError, match="nobody asked"):
        c.receive_data(encode_wrapper(WrapperPdu(1, 16, bytes.fromhex("c401c1000600bc614e"))))
    # and one from another wPort is not ours at all
    c.associate()
    c.data_to_send()
    assert c.receive_data(encode_wrapper(WrapperPdu(2, 16, b"\x61\x00"))) == []


def _waiting_clients() -> list[DlmsClient]:
    """Clients in each state that takes an answer: AARE (plain and HLS), GET, HLS, RLRE."""
    plain = client()
    plain.associate()
    plain.data_to_send()
    hls = hls_client()
    hls.associate()
    hls.data_to_send()
    meter = Meter(meter_sim())
    getting = client()
    getting.associate()
    run(getting, meter)
    getting.get(ENERGY)
    getting.data_to_send()
    releasing = client()
    releasing.associate()
    run(releasing, Meter(meter_sim()))
    releasing.release()
    releasing.data_to_send()
    return [plain, hls, getting, releasing]


APDU_HEADS = [b"", b"\x61", b"\x61\x1f\xa1\x09", b"\xc4\x01\xc1", b"\xc4\x02\xc1\x00",
              b"\xc4\x03\xc1", b"\xcc", b"\xd8\x01", b"\x63", b"\xc7\x01\xc1\x00\x01\x00"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(APDU_HEADS), st.binary(max_size=60), st.integers(0, 3))
def test_any_answer_is_an_event_or_a_remote_error(head: bytes, tail: bytes, which: int) -> None:
    c = _waiting_clients()[which]
    try:
        c.receive_data(encode_wrapper(WrapperPdu(1, c.framing.client, head + tail)))  # type: ignore[attr-defined]
    except RemoteProtocolError:
        pass


def test_udp_framing_one_apdu_per_datagram() -> None:
    from rtu.dlms.client import MAX_UDP_APDU, DatagramFraming
    framing = DatagramFraming(16, 1)
    framing.send_apdu(b"\xc0\x01")
    assert framing.data_to_send() == bytes.fromhex("000100100001" "0002" "c001")
    with pytest.raises(LocalProtocolError, match="datagram"):
        framing.send_apdu(bytes(MAX_UDP_APDU + 1))
    assert MAX_UDP_APDU == 65507 - 8
    (event,) = framing.receive_data(bytes.fromhex("00010001001000026100"))
    assert event.apdu == b"\x61\x00"  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError):  # two APDUs in one datagram
        framing.receive_data(bytes.fromhex("00010001001000026100" "00010001001000026100"))


def test_a_push_between_request_and_answer_is_not_the_answer() -> None:
    sim = meter_sim()
    meter = Meter(sim)
    c = hls_client()
    c.associate()
    run(c, meter)
    note = bytes.fromhex("0f00000001000600000007")  # data-notification: double-long-unsigned 7
    sim.push_before_response(note)  # plain, ahead of the next answer
    sim.push_before_response(note, protection="general-glo")
    c.get(ENERGY)
    out = c.data_to_send()
    answer = meter(out)
    pushes = sim.take_pushes()  # what a server loop would send ahead of the answer
    assert len(pushes) == 2
    wire = b"".join(encode_wrapper(WrapperPdu(1, 1, p.apdu)) for p in pushes)
    events = c.receive_data(wire + answer)
    assert c.unsolicited == 2
    assert [type(e) for e in events] == [GetDone]


def test_answers_split_anywhere_on_a_stream() -> None:
    """TCP delivers the wrapper in pieces: octet by octet, the session still completes."""
    meter = Meter(meter_sim())
    c = hls_client()
    c.associate()
    events: list[Event] = []
    while not events:
        for octet in meter(c.data_to_send()):
            events += c.receive_data(bytes([octet]))
    assert isinstance(events[0], Associated)
    c.get(ENERGY)
    answer = meter(c.data_to_send())
    events = [e for i in range(len(answer)) for e in c.receive_data(answer[i:i + 1])]
    assert value(events[0]) == 12345678
