"""APDUs and security suite 0: golden bytes from the Green Book's examples, an independent
implementation (pydlms-client, test-only) as a cross-check, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.dlms import apdu as ap
from rtu.dlms.axdr import Data, DataType, decode_data_all, encode_data
from rtu.dlms.cosem import entry_descriptor, range_descriptor
from rtu.dlms.errors import RemoteProtocolError
from rtu.dlms.security import (
    SecurityKeys,
    check_gmac_reply,
    cipher_apdu,
    decipher_apdu,
    gmac_reply,
    parse_ciphered,
)

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
KEYS = SecurityKeys(EK, AK)
TITLE = bytes.fromhex("4d4d4d0000bc614e")
INITIATE = ap.encode_initiate_request(ap.InitiateRequest(0x007E1F, 0x04B0))


def test_aarq_golden_no_security() -> None:
    """The Green Book's AARQ: LN referencing, no authentication, conformance 007E1F, client
    max receive PDU 1200."""
    assert ap.encode_aarq(ap.Aarq(user_information=INITIATE)).hex() == (
        "601da109060760857405080101be10040e01000000065f1f0400007e1f04b0")


def test_aarq_golden_lls() -> None:
    """The Green Book's LLS AARQ with the password "12345678"."""
    aarq = ap.Aarq(mechanism=ap.MECHANISM_LLS, authentication_value=b"12345678",
                   user_information=INITIATE)
    assert ap.encode_aarq(aarq).hex() == (
        "6036a1090607608574050801018a0207808b0760857405080201ac0a80083132333435363738"
        "be10040e01000000065f1f0400007e1f04b0")


def test_aare_golden() -> None:
    aare = ap.decode_aare(bytes.fromhex(
        "6129a109060760857405080101a203020100a305a103020100be10040e0800065f1f040000501f01f40007"))
    assert aare.result is ap.AssociationResult.ACCEPTED
    assert aare.diagnostic == "acse-service-user: null"
    response = ap.decode_initiate_response(aare.user_information)
    assert response == ap.InitiateResponse(0x00501F, 500, 0x0007)


def test_aare_rejected_authentication() -> None:
    """Built by hand: rejected-permanent, acse-service-user authentication-failure (13), and
    an initiate ConfirmedServiceError in the user-information."""
    aare = ap.decode_aare(bytes.fromhex(
        "611fa109060760857405080101a203020101a305a10302010dbe0604040e010600"))
    assert aare.result is ap.AssociationResult.REJECTED_PERMANENT
    assert aare.diagnostic == "acse-service-user: authentication-failure"


def test_aare_malformed_diagnostics() -> None:
    for body in ("a305a103020100a1030201", "a300", "a303a10100"):
        with pytest.raises(RemoteProtocolError):
            ap.decode_aare(bytes.fromhex("61" + f"{len(body) // 2 + 5:02x}" + "a203020100" + body))


def test_get_request_golden() -> None:
    """GET-request-normal of the clock's time (class 8, 0.0.1.0.0.255, attribute 2)."""
    ref = ap.AttributeDescriptor(8, (0, 0, 1, 0, 0, 255), 2)
    assert ap.encode_get_normal(ref).hex() == "c001c100080000010000ff0200"
    assert ap.encode_get_next(1).hex() == "c002c100000001"


def test_glo_ciphering_golden() -> None:
    """The Green Book's suite 0 example: glo-get-request with SC 0x30, IC 0x01234567,
    system title 4D4D4D0000BC614E, EK 000102..0F, AK D0D1..DF."""
    plain = bytes.fromhex("c0010000080000010000ff0200")
    ciphered = cipher_apdu(KEYS, TITLE, 0x01234567, plain)
    assert ciphered.hex() == ("c81e3001234567411312ff935a47566827c467bc"
                              "7d825c3be4a77c3fcc056b6b")
    assert decipher_apdu(KEYS, TITLE, parse_ciphered(ciphered)) == plain


def test_ciphering_refuses_tampering_and_other_keys() -> None:
    ciphered = bytearray(cipher_apdu(KEYS, TITLE, 7, bytes.fromhex("c0010000080000010000ff0200")))
    ciphered[10] ^= 1
    with pytest.raises(RemoteProtocolError, match="authenticate"):
        decipher_apdu(KEYS, TITLE, parse_ciphered(bytes(ciphered)))
    other = SecurityKeys(bytes(16), AK)
    with pytest.raises(RemoteProtocolError):
        decipher_apdu(other, TITLE, parse_ciphered(cipher_apdu(KEYS, TITLE, 7, b"\xc0\x01")))


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300), st.integers(0, 2**32 - 1))
def test_ciphering_round_trip(body: bytes, counter: int) -> None:
    apdu = b"\xc4" + body
    parsed = parse_ciphered(cipher_apdu(KEYS, TITLE, counter, apdu))
    assert parsed.counter == counter
    assert decipher_apdu(KEYS, TITLE, parsed) == apdu


pydlms_hls = pytest.importorskip("pydlms.security.hls", reason="pip install -e '.[test]'")


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=8, max_size=64), st.integers(0, 2**32 - 1))
def test_hls_gmac_matches_an_independent_implementation(challenge: bytes, counter: int) -> None:
    ours = gmac_reply(KEYS, TITLE, counter, challenge)
    assert ours == pydlms_hls.hls_gmac(EK, AK, TITLE, counter, challenge)
    assert check_gmac_reply(KEYS, TITLE, challenge, ours) == counter
    with pytest.raises(RemoteProtocolError):
        check_gmac_reply(KEYS, TITLE, challenge + b"x", ours)


def test_get_responses() -> None:
    normal = ap.decode_get_response(bytes.fromhex("c401c1000600bc614e"))
    assert normal == ap.GetResponseNormal(0xC1, ap.GetResult(bytes.fromhex("0600bc614e")))
    denied = ap.decode_get_response(bytes.fromhex("c401c10103"))
    assert denied == ap.GetResponseNormal(0xC1, ap.GetResult(None,
                                                             "data-access-result "
                                                             "read-write-denied"))
    block = ap.decode_get_response(bytes.fromhex("c402c10000000001000401020304"))
    assert block == ap.GetResponseBlock(0xC1, False, 1, bytes.fromhex("01020304"))
    listed = ap.decode_get_response(bytes.fromhex("c403c102001100010b"))
    assert listed == ap.GetResponseList(0xC1, (ap.GetResult(b"\x11\x00"),
                                               ap.GetResult(None, "data-access-result "
                                                                  "object-unavailable")))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_decoders_fail_cleanly_on_random_octets(raw: bytes) -> None:
    for decode in (ap.decode_aare, ap.decode_get_response, ap.decode_action_response,
                   ap.decode_exception_response, ap.decode_data_notification,
                   parse_ciphered):
        for head in (b"", b"\x61", b"\xc4\x01", b"\xc4\x02", b"\xc4\x03", b"\xc7\x01", b"\xd8",
                     b"\x0f", b"\xcc", b"\xdb"):
            try:
                decode(head + raw)  # type: ignore[operator]
            except RemoteProtocolError:
                pass


def test_exception_response_with_the_meters_counter() -> None:
    error = ap.decode_exception_response(bytes.fromhex("d801060000002a"))
    assert error.invocation_counter == 42
    assert str(error) == "service-not-allowed, invocation-counter-error"


def test_range_and_entry_descriptors() -> None:
    """Selector 1 on the clock column from 2024-01-01 00:00 to 01:00 UTC; selector 2 entries
    1..10, every column."""
    rng = range_descriptor(8, (0, 0, 1, 0, 0, 255), 2, 1704067200, 1704070800)
    assert encode_data(rng).hex() == (
        "0204"
        "020412000809060000010000ff0f02120000"  # {class 8, 0.0.1.0.0.255, attribute 2, 0}
        "090c07e801010100000000000000"  # from 2024-01-01 (Monday) 00:00:00 UTC
        "090c07e801010101000000000000"  # to 01:00:00
        "0100")  # every column
    entries = entry_descriptor(1, 10)
    assert encode_data(entries).hex() == "0204" "0600000001" "060000000a" "120001" "120000"
    assert decode_data_all(encode_data(entries)) == entries


def test_data_notification_round_trip() -> None:
    note = ap.DataNotification(1, bytes.fromhex("07e8010101000000000000ff"),
                               Data(DataType.STRUCTURE, (Data(DataType.LONG_UNSIGNED, 5),)))
    assert ap.decode_data_notification(ap.encode_data_notification(note)) == note
    bare = ap.DataNotification(2, None, Data(DataType.NULL_DATA))
    assert ap.encode_data_notification(bare).hex() == "0f000000020000"
    assert ap.decode_data_notification(bytes.fromhex("0f000000020000")) == bare


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0xA1, 0xA2, 0xA3, 0xA4, 0x88, 0x89, 0xAA, 0xBE,
                                           0x02, 0x04, 0x80]),
                          st.binary(max_size=12)), max_size=6),
       st.lists(st.sampled_from([b"\x02\x01\x00", b"\x04\x02\x07\x80", b"\xa1\x03\x02\x01\x0d",
                                 b"\x80\x02ab"]), max_size=3))
def test_aare_made_of_random_elements_fails_cleanly(items: list[tuple[int, bytes]],
                                                    inner: list[bytes]) -> None:
    body = b"".join(bytes([tag, len(content) + len(b"".join(inner))]) + b"".join(inner)
                    + content for tag, content in items)
    try:
        ap.decode_aare(bytes([0x61, len(body)]) + body if len(body) < 0x80
                       else bytes([0x61, 0x81, len(body)]) + body)
    except RemoteProtocolError:
        pass
