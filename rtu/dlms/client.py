"""One DLMS/COSEM client association, sans-I/O: bytes in, events out (Green Book 9.1/9.4).

:class:`DlmsClient` drives the application layer over one of three framings - the wrapper on a
TCP stream (:class:`WrapperFraming`), the wrapper in UDP datagrams (:class:`DatagramFraming`:
each :meth:`DlmsClient.receive_data` call is one datagram) or HDLC (:class:`HdlcFraming`).
The caller asks for one thing at a time - :meth:`~DlmsClient.associate`, :meth:`~DlmsClient.get`,
:meth:`~DlmsClient.get_list`, :meth:`~DlmsClient.release`, :meth:`~DlmsClient.close` - sends
:meth:`~DlmsClient.data_to_send`, feeds what comes back to :meth:`~DlmsClient.receive_data`,
and gets exactly one completion event per call (:class:`Associated`, :class:`GetDone`,
:class:`Released`, :class:`Closed`; :class:`Refused` when the meter says no). Everything else
(the HDLC link set-up, segment acknowledgements, GET-next for block transfer, the HLS-GMAC
pass, ciphering) happens inside.

Timeouts and retries are the driver's: the core has no clock. ``last_request`` is what a UDP
driver sends again when a datagram was lost (only before any answer came).

Invocation counters: ``invocation_counter`` is the next one ours will use; each ciphered APDU
takes one, and the meter's counter must rise within the session (a replayed answer is a
RemoteProtocolError).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Protocol

from rtu.dlms import apdu as ap
from rtu.dlms.axdr import decode_data_all, octet_string
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError
from rtu.dlms.hdlc import (
    ApduReceived,
    HdlcClientLink,
    LinkConnected,
    LinkDisconnected,
    LinkRefused,
)
from rtu.dlms.security import (
    SYSTEM_TITLE_SIZE,
    SecurityKeys,
    check_gmac_reply,
    cipher_apdu,
    decipher_apdu,
    gmac_reply,
    is_ciphered,
    parse_ciphered,
)
from rtu.dlms.wrapper import (
    HEADER_SIZE,
    UDP_MAX_DATAGRAM,
    WrapperPdu,
    WrapperStream,
    decode_datagram,
    encode_wrapper,
)

ASSOCIATION_LN_CLASS: Final = 15
CURRENT_ASSOCIATION: Final = (0, 0, 40, 0, 0, 255)
REPLY_TO_HLS: Final = 1
COUNTER_MAX: Final = 0xFFFFFFFF
MAX_UDP_APDU: Final = UDP_MAX_DATAGRAM - HEADER_SIZE
# data-notification and event-notification: pushed by the meter, never an answer
_UNSOLICITED: Final = (bytes([ap.TAG_DATA_NOTIFICATION]), b"\xc2")


class Mechanism(Enum):
    NONE = ap.MECHANISM_NONE
    LLS = ap.MECHANISM_LLS
    HLS_GMAC = ap.MECHANISM_HLS_GMAC


@dataclass(frozen=True, slots=True)
class ClientSettings:
    mechanism: Mechanism = Mechanism.NONE
    password: bytes = field(default=b"", repr=False)  # LLS
    keys: SecurityKeys | None = field(default=None, repr=False)  # HLS-GMAC
    system_title: bytes = b"RTU\x00\x00\x00\x00\x01"
    challenge: bytes = field(default=b"", repr=False)  # HLS CtoS: 8..64 random octets
    invocation_counter: int = 0
    conformance: int = ap.DEFAULT_CONFORMANCE
    max_receive_pdu: int = 0xFFFF  # what we accept per APDU
    max_blocks: int = 32  # GET-next requests one session may make (bounds counters and time)
    max_data: int = 1 << 20  # octets a block transfer may reassemble


# -- framings ----------------------------------------------------------------------------------
class Framing(Protocol):
    def open(self) -> None: ...
    def send_apdu(self, apdu: bytes) -> None: ...
    def close(self) -> bool:
        """Start closing; True when it is closed already (nothing to wait for)."""
        ...
    def receive_data(self, data: bytes) -> list[LinkConnected | LinkRefused | LinkDisconnected
                                                | ApduReceived]: ...
    def data_to_send(self) -> bytes: ...
    @property
    def opened(self) -> bool: ...


class WrapperFraming:
    """The wrapper on a TCP stream; APDUs from other wPorts than the meter's are ignored
    (``foreign`` counts them)."""

    def __init__(self, client: int, server: int, max_apdu: int = 0xFFFF) -> None:
        self.client, self.server = client, server
        self.stream = WrapperStream(max_apdu)
        self._out = bytearray()
        self.foreign = 0

    @property
    def opened(self) -> bool:
        return True

    def open(self) -> None:
        pass

    def close(self) -> bool:
        return True

    def send_apdu(self, apdu: bytes) -> None:
        self._out += encode_wrapper(WrapperPdu(self.client, self.server, apdu))

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def _accept(self, pdus: list[WrapperPdu]) -> list[LinkConnected | LinkRefused
                                                      | LinkDisconnected | ApduReceived]:
        events: list[LinkConnected | LinkRefused | LinkDisconnected | ApduReceived] = []
        for pdu in pdus:
            if (pdu.source, pdu.destination) != (self.server, self.client):
                self.foreign += 1
                continue
            events.append(ApduReceived(pdu.apdu))
        return events

    def receive_data(self, data: bytes) -> list[LinkConnected | LinkRefused | LinkDisconnected
                                                | ApduReceived]:
        return self._accept(self.stream.receive_data(data))


class DatagramFraming(WrapperFraming):
    """The wrapper over UDP: every receive_data call is one datagram, one APDU; an APDU is at
    most a datagram's payload minus the wrapper header (``MAX_UDP_APDU``)."""

    def __init__(self, client: int, server: int, max_apdu: int = MAX_UDP_APDU) -> None:
        super().__init__(client, server, min(max_apdu, MAX_UDP_APDU))

    def send_apdu(self, apdu: bytes) -> None:
        if len(apdu) > MAX_UDP_APDU:
            raise LocalProtocolError(f"an APDU of {len(apdu)} octets does not fit a datagram")
        super().send_apdu(apdu)

    def receive_data(self, data: bytes) -> list[LinkConnected | LinkRefused | LinkDisconnected
                                                | ApduReceived]:
        pdu = decode_datagram(data)
        if len(pdu.apdu) > self.stream.max_apdu:
            raise RemoteProtocolError(f"a datagram APDU of {len(pdu.apdu)} octets")
        return self._accept([pdu])


class HdlcFraming:
    def __init__(self, client: int, server_logical: int, server_physical: int | None,
                 max_apdu: int = 0xFFFF) -> None:
        self.link = HdlcClientLink(client, server_logical, server_physical, max_apdu)

    @property
    def opened(self) -> bool:
        return self.link.state.value == "connected"

    def open(self) -> None:
        self.link.connect()

    def close(self) -> bool:
        if self.link.state.value == "disconnected":
            return True
        self.link.disconnect()
        return False

    def send_apdu(self, apdu: bytes) -> None:
        self.link.send_apdu(apdu)

    def data_to_send(self) -> bytes:
        return self.link.data_to_send()

    def receive_data(self, data: bytes) -> list[LinkConnected | LinkRefused | LinkDisconnected
                                                | ApduReceived]:
        return self.link.receive_data(data)


# -- events --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Associated:
    conformance: int
    max_pdu: int  # the meter's max receive PDU size


@dataclass(frozen=True, slots=True)
class Refused:
    """The meter said no: the association (result, diagnostics), the HLS pass, or an
    exception-response; ``meter_counter``: the last client counter the meter has seen, when it
    refused ours (invocation-counter-error)."""

    reason: str
    meter_counter: int | None = None


@dataclass(frozen=True, slots=True)
class GetDone:
    results: tuple[ap.GetResult, ...]  # one per reference asked for


@dataclass(frozen=True, slots=True)
class Released:
    pass


@dataclass(frozen=True, slots=True)
class Closed:
    pass


Event = Associated | Refused | GetDone | Released | Closed


class _Waiting(Enum):
    NOTHING = "nothing"
    LINK = "link"  # HDLC UA to our SNRM, then the AARQ goes out
    AARE = "aare"
    HLS = "hls"  # the ACTION answering the meter's challenge
    GET = "get"
    RLRE = "rlre"
    CLOSE = "close"


# -- the client ---------------------------------------------------------------------------------
class DlmsClient:
    def __init__(self, settings: ClientSettings, framing: Framing) -> None:
        if settings.mechanism is Mechanism.HLS_GMAC:
            if settings.keys is None:
                raise LocalProtocolError("HLS-GMAC needs the keys")
            if not 8 <= len(settings.challenge) <= 64:
                raise LocalProtocolError("HLS-GMAC needs a challenge of 8..64 octets")
            if len(settings.system_title) != SYSTEM_TITLE_SIZE:
                raise LocalProtocolError("a system title is 8 octets")
        self.settings = settings
        self.framing = framing
        self.invocation_counter = settings.invocation_counter
        self.ciphered = settings.mechanism is Mechanism.HLS_GMAC
        self.server_title: bytes | None = None
        self.server_counter: int | None = None  # the meter's last counter in this session
        self.associated = False
        self.max_pdu = 0xFFFF
        self.conformance = 0
        self.last_request = b""  # the last request's bytes (for a UDP resend)
        self.blocks = 0  # GET-next requests made in this session
        self.unsolicited = 0  # notifications the meter pushed in between, dropped
        self._waiting = _Waiting.NOTHING
        self._count = 0  # references in the GET waiting
        self._block = bytearray()  # a block transfer being reassembled
        self._next_block = 0
        self._stoc = b""

    @property
    def waiting(self) -> bool:
        return self._waiting is not _Waiting.NOTHING

    def data_to_send(self) -> bytes:
        data = self.framing.data_to_send()
        if data:
            self.last_request = data
        return data

    def _idle(self, what: str) -> None:
        if self._waiting is not _Waiting.NOTHING:
            raise LocalProtocolError(f"{what} while waiting for {self._waiting.value}")

    def _take_counter(self) -> int:
        counter = self.invocation_counter
        if counter > COUNTER_MAX:
            raise LocalProtocolError("the client invocation counter is exhausted")
        self.invocation_counter = counter + 1
        return counter

    def _send(self, apdu: bytes) -> None:
        if self.ciphered:
            keys = self.settings.keys
            assert keys is not None
            apdu = cipher_apdu(keys, self.settings.system_title, self._take_counter(), apdu)
        if len(apdu) > self.max_pdu:  # the meter's own limit, from its AARE
            raise RemoteProtocolError(f"an APDU of {len(apdu)} octets; the meter takes at most "
                                      f"{self.max_pdu}")
        self.framing.send_apdu(apdu)

    # -- requests -------------------------------------------------------------------------------
    def associate(self) -> None:
        self._idle("associate")
        if self.associated:
            raise LocalProtocolError("already associated")
        if not self.framing.opened:
            self.framing.open()
            self._waiting = _Waiting.LINK
            return
        self._send_aarq()

    def _send_aarq(self) -> None:
        s = self.settings
        initiate = ap.encode_initiate_request(ap.InitiateRequest(s.conformance,
                                                                 s.max_receive_pdu))
        value = b""
        if s.mechanism is Mechanism.LLS:
            value = s.password
        elif s.mechanism is Mechanism.HLS_GMAC:
            assert s.keys is not None
            value = s.challenge
            initiate = cipher_apdu(s.keys, s.system_title, self._take_counter(), initiate)
        aarq = ap.Aarq(ciphered_context=self.ciphered, mechanism=s.mechanism.value,
                       calling_ap_title=s.system_title if self.ciphered else None,
                       authentication_value=value, user_information=initiate)
        self.framing.send_apdu(ap.encode_aarq(aarq))
        self._waiting = _Waiting.AARE

    def get(self, ref: ap.AttributeDescriptor) -> None:
        self._request_get([ref])

    def get_list(self, refs: Sequence[ap.AttributeDescriptor]) -> None:
        """GET-with-list; only when the meter agreed to multiple-references (``conformance``)."""
        if not self.conformance & ap.CONFORMANCE_MULTIPLE_REFERENCES:
            raise LocalProtocolError("the meter did not agree to GET-with-list")
        self._request_get(list(refs))

    def _request_get(self, refs: list[ap.AttributeDescriptor]) -> None:
        self._idle("GET")
        if not self.associated:
            raise LocalProtocolError("GET before the association")
        self._count = len(refs)
        self._block.clear()
        self._next_block = 1
        self._send(ap.encode_get_normal(refs[0]) if len(refs) == 1
                   else ap.encode_get_with_list(refs))
        self._waiting = _Waiting.GET

    def release(self) -> None:
        """RLRQ (a plain ACSE APDU, also in a ciphered context)."""
        self._idle("release")
        self.framing.send_apdu(ap.encode_rlrq())
        self.associated = False
        self._waiting = _Waiting.RLRE

    def close(self) -> Closed | None:
        """Close the link: HDLC DISC (answered later: Closed), or Closed at once."""
        self._waiting = _Waiting.NOTHING
        self.associated = False
        if self.framing.close():
            return Closed()
        self._waiting = _Waiting.CLOSE
        return None

    # -- answers --------------------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for link_event in self.framing.receive_data(data):
            event = self._link_event(link_event)
            if event is not None:
                events.append(event)
        return events

    def _link_event(self, event: LinkConnected | LinkRefused | LinkDisconnected | ApduReceived
                    ) -> Event | None:
        if isinstance(event, LinkConnected):
            if self._waiting is _Waiting.LINK:
                self._send_aarq()
            return None
        if isinstance(event, LinkRefused):
            self._waiting = _Waiting.NOTHING
            return Refused("the meter refused the HDLC link (DM)")
        if isinstance(event, LinkDisconnected):
            was = self._waiting
            self._waiting = _Waiting.NOTHING
            self.associated = False
            if was is _Waiting.CLOSE:
                return Closed()
            raise RemoteProtocolError("the meter disconnected the HDLC link")
        return self._apdu(event.apdu)

    def _unprotect(self, apdu: bytes) -> bytes:
        if not is_ciphered(apdu):
            return apdu
        if not self.ciphered or self.server_title is None:
            raise RemoteProtocolError("a ciphered APDU outside a ciphered association")
        keys = self.settings.keys
        assert keys is not None
        ciphered = parse_ciphered(apdu)
        plain = decipher_apdu(keys, self.server_title, ciphered)
        if self.server_counter is not None and ciphered.counter <= self.server_counter:
            raise RemoteProtocolError(f"the meter's invocation counter {ciphered.counter} does "
                                      f"not rise (last {self.server_counter}): a replay")
        self.server_counter = ciphered.counter
        return plain

    def _apdu(self, apdu: bytes) -> Event | None:
        waiting = self._waiting
        if waiting in (_Waiting.NOTHING, _Waiting.LINK, _Waiting.CLOSE):
            raise RemoteProtocolError(f"an APDU (0x{apdu[:1].hex()}) nobody asked for")
        if apdu[:1] == bytes([ap.TAG_EXCEPTION_RESPONSE]):
            self._waiting = _Waiting.NOTHING
            error = ap.decode_exception_response(apdu)
            return Refused(f"exception-response: {error}", error.invocation_counter)
        if waiting is _Waiting.AARE:
            return self._aare(apdu)
        if waiting is _Waiting.RLRE:
            if not ap.is_rlre(apdu):
                raise RemoteProtocolError(f"expected an RLRE, got 0x{apdu[:1].hex()}")
            self._waiting = _Waiting.NOTHING
            return Released()
        plain = self._unprotect(apdu)
        if plain[:1] == bytes([ap.TAG_EXCEPTION_RESPONSE]):
            self._waiting = _Waiting.NOTHING
            error = ap.decode_exception_response(plain)
            return Refused(f"exception-response: {error}", error.invocation_counter)
        if plain[:1] in _UNSOLICITED:
            self.unsolicited += 1  # a meter pushing while it answers us: not our answer
            return None
        if waiting is _Waiting.HLS:
            return self._hls_answer(plain)
        return self._get_answer(plain)

    def _aare(self, apdu: bytes) -> Event | None:
        aare = ap.decode_aare(apdu)
        self._waiting = _Waiting.NOTHING
        user = aare.user_information
        if self.ciphered and aare.responding_ap_title is not None:
            if len(aare.responding_ap_title) != SYSTEM_TITLE_SIZE:
                raise RemoteProtocolError("the meter's system title is not 8 octets")
            self.server_title = aare.responding_ap_title
        if user and is_ciphered(user):
            user = self._unprotect(user)
        if aare.result is not ap.AssociationResult.ACCEPTED:
            why = aare.result.name.lower().replace("_", "-")
            if user[:1] == bytes([ap.TAG_CONFIRMED_SERVICE_ERROR]):
                why += ", " + ap.describe_confirmed_service_error(user)
            return Refused(f"association rejected: {why}, {aare.diagnostic}")
        response = ap.decode_initiate_response(user)
        if response.vaa_name != 0x0007:
            raise RemoteProtocolError(f"the meter answers with VAA 0x{response.vaa_name:04X}, "
                                      f"not logical-name referencing")
        self.conformance = response.conformance
        self.max_pdu = response.max_receive_pdu or 0xFFFF
        if self.settings.mechanism is Mechanism.HLS_GMAC:
            if self.server_title is None or not aare.authentication_value:
                raise RemoteProtocolError("HLS: the AARE has no system title or challenge")
            keys = self.settings.keys
            assert keys is not None
            self._stoc = aare.authentication_value
            reply = gmac_reply(keys, self.settings.system_title, self._take_counter(),
                               self._stoc)
            self.associated = True
            self._send(ap.encode_action_normal(ASSOCIATION_LN_CLASS, CURRENT_ASSOCIATION,
                                               REPLY_TO_HLS, octet_string(reply)))
            self._waiting = _Waiting.HLS
            return None
        self.associated = True
        return Associated(self.conformance, self.max_pdu)

    def _hls_answer(self, apdu: bytes) -> Event:
        self._waiting = _Waiting.NOTHING
        response = ap.decode_action_response(apdu)
        if response.result != 0 or response.data is None:
            self.associated = False
            return Refused(f"HLS: the meter refused our reply "
                           f"({ap.ACTION_RESULTS.get(response.result, response.result)})")
        data = decode_data_all(response.data)
        keys = self.settings.keys
        assert keys is not None and self.server_title is not None
        if not isinstance(data.value, bytes):
            raise RemoteProtocolError("HLS: the meter's reply is not an octet-string")
        check_gmac_reply(keys, self.server_title, self.settings.challenge, data.value)
        return Associated(self.conformance, self.max_pdu)

    def _get_answer(self, apdu: bytes) -> Event | None:
        response = ap.decode_get_response(apdu)
        if isinstance(response, ap.GetResponseBlock):
            return self._block_answer(response)
        self._waiting = _Waiting.NOTHING
        if isinstance(response, ap.GetResponseNormal):
            results: tuple[ap.GetResult, ...] = (response.result,)
        else:
            results = response.results
        if len(results) != self._count:
            raise RemoteProtocolError(f"{len(results)} results for {self._count} references")
        return GetDone(results)

    def _block_answer(self, response: ap.GetResponseBlock) -> Event | None:
        if response.block != self._next_block:
            raise RemoteProtocolError(f"block {response.block} where {self._next_block} was "
                                      f"due")
        if response.raw is None:
            self._waiting = _Waiting.NOTHING
            error = response.error or "no data"
            return GetDone(tuple(ap.GetResult(None, error) for _ in range(self._count)))
        if len(self._block) + len(response.raw) > self.settings.max_data:
            raise RemoteProtocolError(f"a block transfer beyond {self.settings.max_data} octets")
        self._block += response.raw
        if not response.last:
            if self.blocks >= self.settings.max_blocks:
                raise RemoteProtocolError(f"more than {self.settings.max_blocks} blocks in a "
                                          f"session")
            self.blocks += 1
            self._next_block += 1
            self._send(ap.encode_get_next(response.block))
            return None
        self._waiting = _Waiting.NOTHING
        raw = bytes(self._block)
        self._block.clear()
        if self._count == 1:
            decode_data_all(raw)  # whole and well-formed
            return GetDone((ap.GetResult(raw),))
        # a GET-with-list answer in blocks: the raw data is the list of results
        fake = bytes([ap.TAG_GET_RESPONSE, ap.GET_WITH_LIST, 0]) + raw
        listed = ap.decode_get_response(fake)
        assert isinstance(listed, ap.GetResponseList)
        if len(listed.results) != self._count:
            raise RemoteProtocolError(f"{len(listed.results)} results for {self._count} "
                                      f"references")
        return GetDone(listed.results)
