"""xDLMS and ACSE APDUs a client uses (Green Book 9.3/9.4, logical-name referencing).

ACSE APDUs (AARQ, AARE, RLRQ, RLRE) are BER; the xDLMS InitiateRequest/Response inside their
user-information and the GET/ACTION services are A-XDR. Each APDU is a frozen record with an
``encode_x`` / ``decode_x`` pair; decoders raise RemoteProtocolError on anything malformed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from rtu.dlms.axdr import Data, decode_data, decode_length, encode_data, take
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

# application-context-name and mechanism-name OIDs: 2.16.756.5.8.1.x and 2.16.756.5.8.2.x
LN_NO_CIPHERING: Final = 1
LN_CIPHERING: Final = 3
MECHANISM_NONE: Final = 0
MECHANISM_LLS: Final = 1
MECHANISM_HLS_GMAC: Final = 5
DLMS_VERSION: Final = 6
# a client's usual LN proposal: priority-mgmt, attribute0-get, block transfer with get/set/
# action, multiple-references, get, set, selective-access, event-notification, action
DEFAULT_CONFORMANCE: Final = 0x007E1F
CONFORMANCE_MULTIPLE_REFERENCES: Final = 1 << (23 - 14)
CONFORMANCE_BLOCK_TRANSFER_GET: Final = 1 << (23 - 11)
CONFORMANCE_SELECTIVE_ACCESS: Final = 1 << (23 - 21)
INVOKE_ID_AND_PRIORITY: Final = 0xC1  # high priority, confirmed, invoke id 1

TAG_INITIATE_REQUEST: Final = 0x01
TAG_INITIATE_RESPONSE: Final = 0x08
TAG_CONFIRMED_SERVICE_ERROR: Final = 0x0E
TAG_DATA_NOTIFICATION: Final = 0x0F
TAG_AARQ: Final = 0x60
TAG_AARE: Final = 0x61
TAG_RLRQ: Final = 0x62
TAG_RLRE: Final = 0x63
TAG_GET_REQUEST: Final = 0xC0
TAG_ACTION_REQUEST: Final = 0xC3
TAG_GET_RESPONSE: Final = 0xC4
TAG_ACTION_RESPONSE: Final = 0xC7
TAG_EXCEPTION_RESPONSE: Final = 0xD8

GET_NORMAL: Final = 1
GET_NEXT: Final = 2
GET_WITH_LIST: Final = 3
MAX_LIST: Final = 64  # references in one GET-with-list


def _oid(kind: int, value: int) -> bytes:
    """2.16.756.5.8.<kind>.<value>: application context (kind 1) or mechanism (kind 2)."""
    return bytes([0x60, 0x85, 0x74, 0x05, 0x08, kind, value])


# -- BER ------------------------------------------------------------------------------------------
def _ber(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    elif n <= 0xFF:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82]) + n.to_bytes(2, "big")
    return bytes([tag]) + length + content


def _ber_items(buf: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(buf):
        tag = buf[pos]
        size, pos = decode_length(buf, pos + 1)  # BER short/long forms as A-XDR's
        content, pos = take(buf, pos, size, f"BER element 0x{tag:02X}")
        items.append((tag, content))
    return items


def _ber_one(buf: bytes, tag: int) -> bytes:
    items = _ber_items(buf)
    if len(items) != 1 or items[0][0] != tag:
        raise RemoteProtocolError(f"expected one BER element 0x{tag:02X} in {buf.hex()}")
    return items[0][1]


# -- xDLMS Initiate -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InitiateRequest:
    conformance: int = DEFAULT_CONFORMANCE
    max_receive_pdu: int = 0xFFFF


def encode_initiate_request(req: InitiateRequest) -> bytes:
    # no dedicated key, response-allowed default (TRUE), no quality of service
    return (bytes([TAG_INITIATE_REQUEST, 0x00, 0x00, 0x00, DLMS_VERSION])
            + _conformance(req.conformance) + req.max_receive_pdu.to_bytes(2, "big"))


def _conformance(bits: int) -> bytes:
    return bytes([0x5F, 0x1F, 0x04, 0x00]) + bits.to_bytes(3, "big")


@dataclass(frozen=True, slots=True)
class InitiateResponse:
    conformance: int
    max_receive_pdu: int  # the server's: our APDUs are at most this long
    vaa_name: int = 0x0007  # LN referencing


def decode_initiate_response(buf: bytes) -> InitiateResponse:
    if len(buf) < 2 or buf[0] != TAG_INITIATE_RESPONSE:
        raise RemoteProtocolError(f"not an InitiateResponse: {buf.hex()}")
    pos = 2 if buf[1] == 0 else 3  # negotiated-quality-of-service absent / present
    body, pos = take(buf, pos, 1 + 7 + 2 + 2, "InitiateResponse")
    if body[1:5] != b"\x5f\x1f\x04\x00":
        raise RemoteProtocolError(f"InitiateResponse conformance block {body[1:5].hex()}")
    return InitiateResponse(int.from_bytes(body[5:8], "big"), int.from_bytes(body[8:10], "big"),
                            int.from_bytes(body[10:12], "big"))


def describe_confirmed_service_error(buf: bytes) -> str:
    """ConfirmedServiceError: service (1 initiate, 5 read, ...), error class and code."""
    if len(buf) < 4 or buf[0] != TAG_CONFIRMED_SERVICE_ERROR:
        raise RemoteProtocolError(f"not a ConfirmedServiceError: {buf.hex()}")
    classes = {0: "application-reference", 1: "hardware-resource", 2: "vde-state-error",
               3: "service", 4: "definition", 5: "access", 6: "initiate", 7: "load-data-set",
               8: "task", 9: "other"}
    return f"confirmed-service-error {classes.get(buf[2], buf[2])} {buf[3]}"


# -- AARQ / AARE ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Aarq:
    ciphered_context: bool = False
    mechanism: int = MECHANISM_NONE
    calling_ap_title: bytes | None = None  # the client's system title (ciphered contexts)
    authentication_value: bytes = b""  # LLS password or the HLS CtoS challenge
    user_information: bytes = b""  # the InitiateRequest, plain or glo-ciphered


def encode_aarq(aarq: Aarq) -> bytes:
    context = LN_CIPHERING if aarq.ciphered_context else LN_NO_CIPHERING
    body = _ber(0xA1, _ber(0x06, _oid(1, context)))
    if aarq.calling_ap_title is not None:
        body += _ber(0xA6, _ber(0x04, aarq.calling_ap_title))
    if aarq.mechanism != MECHANISM_NONE:
        body += _ber(0x8A, b"\x07\x80")  # sender-acse-requirements: authentication
        body += _ber(0x8B, _oid(2, aarq.mechanism))
        body += _ber(0xAC, _ber(0x80, aarq.authentication_value))
    body += _ber(0xBE, _ber(0x04, aarq.user_information))
    return _ber(TAG_AARQ, body)


class AssociationResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


ACSE_USER_DIAGNOSTICS: Final = {
    0: "null", 1: "no-reason-given", 2: "application-context-name-not-supported",
    3: "calling-AP-title-not-recognized", 11: "authentication-mechanism-name-not-recognised",
    12: "authentication-mechanism-name-required", 13: "authentication-failure",
    14: "authentication-required"}


@dataclass(frozen=True, slots=True)
class Aare:
    result: AssociationResult
    diagnostic: str  # e.g. "acse-service-user: authentication-failure"
    responding_ap_title: bytes | None = None
    mechanism: int | None = None
    authentication_value: bytes = b""  # the HLS StoC challenge
    user_information: bytes = b""


def decode_aare(apdu: bytes) -> Aare:
    body = _ber_one(apdu, TAG_AARE)
    result: AssociationResult | None = None
    diagnostic = ""
    title = None
    mechanism = None
    challenge = b""
    user = b""
    for tag, content in _ber_items(body):
        if tag == 0xA2:
            value = _ber_one(content, 0x02)
            try:
                result = AssociationResult(int.from_bytes(value, "big"))
            except ValueError:
                raise RemoteProtocolError(f"AARE result {value.hex()}") from None
        elif tag == 0xA3:
            diagnostics = _ber_items(content)
            if len(diagnostics) != 1:
                raise RemoteProtocolError(f"AARE result-source-diagnostic {content.hex()}")
            source, inner = diagnostics[0]
            code = int.from_bytes(_ber_one(inner, 0x02), "big")
            if source == 0xA1:
                diagnostic = f"acse-service-user: {ACSE_USER_DIAGNOSTICS.get(code, code)}"
            else:
                diagnostic = f"acse-service-provider: {code}"
        elif tag == 0xA4:
            title = _ber_one(content, 0x04)
        elif tag == 0x89:
            if len(content) != 7 or content[:6] != _oid(2, 0)[:6]:
                raise RemoteProtocolError(f"AARE mechanism name {content.hex()}")
            mechanism = content[6]
        elif tag == 0xAA:
            challenge = _ber_one(content, 0x80)
        elif tag == 0xBE:
            user = _ber_one(content, 0x04)
    if result is None:
        raise RemoteProtocolError("an AARE without its result")
    return Aare(result, diagnostic, title, mechanism, challenge, user)


def encode_rlrq() -> bytes:
    return _ber(TAG_RLRQ, _ber(0x80, b"\x00"))  # reason: normal


def is_rlre(apdu: bytes) -> bool:
    return bool(apdu) and apdu[0] == TAG_RLRE


# -- GET -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AttributeDescriptor:
    class_id: int
    obis: tuple[int, int, int, int, int, int]
    attribute: int
    selector: int = 0  # 0: no selective access
    parameters: Data | None = None  # the access selector's parameters

    def encode(self) -> bytes:
        if not 0 <= self.class_id <= 0xFFFF or not -128 <= self.attribute <= 127 or \
                not all(0 <= b <= 255 for b in self.obis):
            raise LocalProtocolError(f"attribute descriptor {self}")
        head = self.class_id.to_bytes(2, "big") + bytes(self.obis) + \
            self.attribute.to_bytes(1, "big", signed=True)
        if self.selector == 0 or self.parameters is None:
            return head + b"\x00"
        return head + bytes([0x01, self.selector]) + encode_data(self.parameters)


def encode_get_normal(ref: AttributeDescriptor, invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    return bytes([TAG_GET_REQUEST, GET_NORMAL, invoke]) + ref.encode()


def encode_get_next(block: int, invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    return bytes([TAG_GET_REQUEST, GET_NEXT, invoke]) + block.to_bytes(4, "big")


def encode_get_with_list(refs: list[AttributeDescriptor],
                         invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    if not 1 <= len(refs) <= MAX_LIST:
        raise LocalProtocolError(f"GET-with-list of {len(refs)} references")
    return bytes([TAG_GET_REQUEST, GET_WITH_LIST, invoke, len(refs)]) + \
        b"".join(r.encode() for r in refs)


DATA_ACCESS_RESULTS: Final = {
    1: "hardware-fault", 2: "temporary-failure", 3: "read-write-denied",
    4: "object-undefined", 9: "object-class-inconsistent", 11: "object-unavailable",
    12: "type-unmatched", 13: "scope-of-access-violated", 14: "data-block-unavailable",
    15: "long-get-aborted", 16: "no-long-get-in-progress", 17: "long-set-aborted",
    18: "no-long-set-in-progress", 19: "data-block-number-invalid", 250: "other-reason"}


def data_access_result(code: int) -> str:
    return f"data-access-result {DATA_ACCESS_RESULTS.get(code, str(code))}"


@dataclass(frozen=True, slots=True)
class GetResult:
    """A Get-Data-Result: the data (A-XDR octets, not decoded yet) or the error's text."""

    data: bytes | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GetResponseNormal:
    invoke: int
    result: GetResult


@dataclass(frozen=True, slots=True)
class GetResponseBlock:
    invoke: int
    last: bool
    block: int
    raw: bytes | None  # this block's raw data
    error: str | None = None


@dataclass(frozen=True, slots=True)
class GetResponseList:
    invoke: int
    results: tuple[GetResult, ...]


GetResponse = GetResponseNormal | GetResponseBlock | GetResponseList


def _get_data_result(buf: bytes, pos: int) -> tuple[GetResult, int]:
    choice, pos = take(buf, pos, 1, "Get-Data-Result")
    if choice[0] == 0:
        start = pos
        _, pos = decode_data(buf, pos)
        return GetResult(buf[start:pos]), pos
    if choice[0] == 1:
        code, pos = take(buf, pos, 1, "data-access-result")
        return GetResult(None, data_access_result(code[0])), pos
    raise RemoteProtocolError(f"Get-Data-Result choice {choice[0]}")


def decode_get_response(apdu: bytes) -> GetResponse:
    if len(apdu) < 3 or apdu[0] != TAG_GET_RESPONSE:
        raise RemoteProtocolError(f"not a GET response: {apdu[:8].hex()}")
    kind, invoke = apdu[1], apdu[2]
    pos = 3
    if kind == GET_NORMAL:
        result, pos = _get_data_result(apdu, pos)
        response: GetResponse = GetResponseNormal(invoke, result)
    elif kind == GET_NEXT:
        head, pos = take(apdu, pos, 6, "DataBlock-G")
        last, block, choice = head[0] != 0, int.from_bytes(head[1:5], "big"), head[5]
        if choice == 0:
            size, pos = decode_length(apdu, pos)
            raw, pos = take(apdu, pos, size, "raw-data")
            response = GetResponseBlock(invoke, last, block, raw)
        elif choice == 1:
            code, pos = take(apdu, pos, 1, "data-access-result")
            response = GetResponseBlock(invoke, last, block, None, data_access_result(code[0]))
        else:
            raise RemoteProtocolError(f"DataBlock-G result choice {choice}")
    elif kind == GET_WITH_LIST:
        count, pos = decode_length(apdu, pos)
        if count > len(apdu) - pos:
            raise RemoteProtocolError(f"GET-response-with-list of {count} results")
        results = []
        for _ in range(count):
            result, pos = _get_data_result(apdu, pos)
            results.append(result)
        response = GetResponseList(invoke, tuple(results))
    else:
        raise RemoteProtocolError(f"GET response type {kind}")
    if pos != len(apdu):
        raise RemoteProtocolError(f"{len(apdu) - pos} octets after the GET response")
    return response


# -- ACTION (the HLS pass) ------------------------------------------------------------------------
def encode_action_normal(class_id: int, obis: tuple[int, int, int, int, int, int], method: int,
                         parameters: Data | None,
                         invoke: int = INVOKE_ID_AND_PRIORITY) -> bytes:
    head = bytes([TAG_ACTION_REQUEST, 0x01, invoke]) + class_id.to_bytes(2, "big") + \
        bytes(obis) + bytes([method])
    if parameters is None:
        return head + b"\x00"
    return head + b"\x01" + encode_data(parameters)


ACTION_RESULTS: Final = {0: "success", 1: "hardware-fault", 2: "temporary-failure",
                         3: "read-write-denied", 4: "object-undefined",
                         9: "object-class-inconsistent", 11: "object-unavailable",
                         12: "type-unmatched", 13: "scope-of-access-violated",
                         250: "other-reason"}


@dataclass(frozen=True, slots=True)
class ActionResponse:
    invoke: int
    result: int  # 0: success
    data: bytes | None  # the return parameters' Data octets, when any


def decode_action_response(apdu: bytes) -> ActionResponse:
    if len(apdu) < 4 or apdu[0] != TAG_ACTION_RESPONSE or apdu[1] != 0x01:
        raise RemoteProtocolError(f"not an ACTION-response-normal: {apdu[:8].hex()}")
    invoke, result = apdu[2], apdu[3]
    pos = 4
    data = None
    if pos < len(apdu):
        present, pos = take(apdu, pos, 1, "return parameters")
        if present[0]:
            outcome, pos = _get_data_result(apdu, pos)
            data = outcome.data
    if pos != len(apdu):
        raise RemoteProtocolError("octets after the ACTION response")
    return ActionResponse(invoke, result, data)


# -- exception-response ---------------------------------------------------------------------------
INVOCATION_COUNTER_ERROR: Final = 6
_STATE_ERRORS: Final = {1: "service-not-allowed", 2: "service-unknown"}
_SERVICE_ERRORS: Final = {1: "operation-not-possible", 2: "service-not-supported",
                          3: "other-reason", 4: "pdu-too-long", 5: "deciphering-error",
                          6: "invocation-counter-error"}


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    state_error: int
    service_error: int
    invocation_counter: int | None = None  # with invocation-counter-error: the meter's last

    def __str__(self) -> str:
        return (f"{_STATE_ERRORS.get(self.state_error, self.state_error)}, "
                f"{_SERVICE_ERRORS.get(self.service_error, self.service_error)}")


def decode_exception_response(apdu: bytes) -> ExceptionResponse:
    if len(apdu) < 3 or apdu[0] != TAG_EXCEPTION_RESPONSE:
        raise RemoteProtocolError(f"not an exception-response: {apdu.hex()}")
    counter = None
    if apdu[2] == INVOCATION_COUNTER_ERROR and len(apdu) >= 7:
        counter = int.from_bytes(apdu[3:7], "big")
    return ExceptionResponse(apdu[1], apdu[2], counter)


# -- data-notification (push) -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DataNotification:
    invoke: int  # long-invoke-id-and-priority
    date_time: bytes | None  # 12 octets, or None when absent
    body: Data


def decode_data_notification(apdu: bytes) -> DataNotification:
    if len(apdu) < 6 or apdu[0] != TAG_DATA_NOTIFICATION:
        raise RemoteProtocolError(f"not a data-notification: {apdu[:8].hex()}")
    invoke = int.from_bytes(apdu[1:5], "big")
    size, pos = decode_length(apdu, 5)
    if size not in (0, 12):
        raise RemoteProtocolError(f"data-notification date-time of {size} octets")
    stamp, pos = take(apdu, pos, size, "date-time")
    body, pos = decode_data(apdu, pos)
    if pos != len(apdu):
        raise RemoteProtocolError("octets after the data-notification body")
    return DataNotification(invoke, stamp or None, body)


def encode_data_notification(note: DataNotification) -> bytes:
    stamp = note.date_time or b""
    return bytes([TAG_DATA_NOTIFICATION]) + note.invoke.to_bytes(4, "big") + \
        bytes([len(stamp)]) + stamp + encode_data(note.body)
