"""Push reception, sans-I/O: notifications built and ciphered by an independent
implementation (pydlms-client, test-only), identified, deciphered, refused when they must be."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.dlms.axdr import DataType, to_python
from rtu.dlms.errors import RemoteProtocolError
from rtu.dlms.push import PushDevice, PushReceiver, PushRefused
from rtu.dlms.security import SecurityKeys
from rtu.dlms.wrapper import WrapperPdu

sim_module = pytest.importorskip("pydlms.simulator", reason="pip install -e '.[test]'")
from pydlms.apdu.xdlms import DataNotification
from pydlms.cosem.data import DlmsData

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
SIM_TITLE = b"PYD\x00\x00\x00\x00\x01"  # the simulator's system title
STAMP = bytes.fromhex("07e8010101000000000000ff")


def notification(alarm: int = 0x05, power: int = 1520) -> bytes:
    body = DlmsData.structure([DlmsData.octet_string(bytes([0, 0, 25, 9, 0, 255])),
                               DlmsData.uint32(alarm), DlmsData.uint32(power)])
    return DataNotification(1, body, STAMP).to_bytes()


def ciphering_meter() -> object:
    return sim_module.example_meter(encryption_key=EK, authentication_key=AK)


def devices() -> list[PushDevice]:
    return [PushDevice("plain", wport=1), PushDevice("secure", SIM_TITLE, None,
                                                     SecurityKeys(EK, AK))]


def test_a_plain_push_by_wport() -> None:
    push = PushReceiver(devices()).receive(WrapperPdu(1, 16, notification()))
    assert (push.device, push.counter, push.date_time) == ("plain", None, STAMP)
    assert push.body.type is DataType.STRUCTURE
    assert to_python(push.body)[1:] == [5, 1520]


def test_unknown_senders_are_refused() -> None:
    receiver = PushReceiver(devices())
    with pytest.raises(PushRefused, match="unknown sender"):
        receiver.receive(WrapperPdu(7, 16, notification()))
    sim = ciphering_meter()
    other = sim_module.example_meter(encryption_key=EK, authentication_key=AK,
                                     system_title=b"XYZ\x00\x00\x00\x00\x09")
    apdu = other.push_before_response(notification(), protection="general-glo")
    with pytest.raises(PushRefused, match="unknown sender.*58595A"):
        receiver.receive(WrapperPdu(7, 16, apdu))
    assert sim is not None


def test_a_ciphered_push_is_deciphered_and_a_replay_refused() -> None:
    sim = ciphering_meter()
    receiver = PushReceiver(devices())
    first = sim.push_before_response(notification(), protection="general-glo")
    push = receiver.receive(WrapperPdu(1, 16, first))
    assert push.device == "secure" and push.counter is not None
    assert to_python(push.body)[1:] == [5, 1520]
    with pytest.raises(PushRefused, match="replay"):
        receiver.receive(WrapperPdu(1, 16, first))
    second = sim.push_before_response(notification(power=1600), protection="general-glo")
    assert to_python(receiver.receive(WrapperPdu(1, 16, second)).body)[2] == 1600
    # a restart that remembers the last counter refuses the old push too
    again = PushReceiver(devices(), receiver.last_counters)
    with pytest.raises(PushRefused, match="replay"):
        again.receive(WrapperPdu(1, 16, second))


def test_a_device_that_must_cipher_and_wrong_keys() -> None:
    receiver = PushReceiver([PushDevice("secure", SIM_TITLE, 1, SecurityKeys(EK, AK))])
    with pytest.raises(PushRefused, match="must cipher"):
        receiver.receive(WrapperPdu(1, 16, notification()))
    wrong = PushReceiver([PushDevice("secure", SIM_TITLE, None, SecurityKeys(bytes(16), AK))])
    apdu = ciphering_meter().push_before_response(notification(), protection="general-glo")
    with pytest.raises(RemoteProtocolError, match="authenticate"):
        wrong.receive(WrapperPdu(1, 16, apdu))
    assert wrong.last_counters == {}  # a refused push moves no counter
    keyless = PushReceiver([PushDevice("secure", SIM_TITLE)])
    with pytest.raises(PushRefused, match="without keys"):
        keyless.receive(WrapperPdu(1, 16, apdu))


def test_malformed_notifications() -> None:
    receiver = PushReceiver(devices())
    for apdu in (b"", b"\x0f\x00", bytes.fromhex("0f00000001050102"), b"\xc4\x01"):
        with pytest.raises(RemoteProtocolError):
            receiver.receive(WrapperPdu(1, 16, apdu))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([b"", b"\x0f", b"\x0f\x00\x00\x00\x01\x00", b"\xdb\x08" + SIM_TITLE,
                        b"\xdb\x08" + SIM_TITLE + b"\x20\x30\x00\x00\x00\x05", b"\xcc\x10\x30"]),
       st.binary(max_size=60), st.sampled_from([1, 2]))
def test_random_pushes_are_refused_cleanly(head: bytes, tail: bytes, wport: int) -> None:
    try:
        PushReceiver(devices()).receive(WrapperPdu(wport, 16, head + tail))
    except RemoteProtocolError:
        pass
