"""The :class:`hal.dlms.DlmsLink` on our own core: ``rtu.dlms.client`` over ``hal.dlms_io``.

The blocking driver of the sans-I/O client: it moves bytes between a :class:`hal.dlms_io.ByteIO`
and a :class:`rtu.dlms.client.DlmsClient`, one request at a time, each receive bounded by the
meter's timeout (UDP: a request unanswered within it is sent again, ``retries`` times). See
hal/dlms.py for the session (one per read), the counters and the fallback of a refused
selective access.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

from hal.dlms import (
    AttributeRef,
    AttributeResult,
    Authentication,
    DlmsError,
    DlmsErrorKind,
    DlmsLinkSettings,
    DlmsTcpSettings,
    DlmsUdpSettings,
    EntrySelection,
    RangeSelection,
)
from hal.dlms_io import ByteIO, SerialIO, TcpIO, UdpIO
from rtu.dlms import apdu as ap
from rtu.dlms.axdr import decode_data_all, to_python
from rtu.dlms.client import (
    MAX_UDP_APDU,
    Associated,
    ClientSettings,
    Closed,
    DatagramFraming,
    DlmsClient,
    Event,
    Framing,
    GetDone,
    HdlcFraming,
    Mechanism,
    Refused,
    Released,
    WrapperFraming,
)
from rtu.dlms.cosem import ENTRY_SELECTOR, RANGE_SELECTOR, entry_descriptor, range_descriptor
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError
from rtu.dlms.security import SecurityKeys

log = logging.getLogger(__name__)

_MECHANISMS = {Authentication.NONE: Mechanism.NONE, Authentication.LLS: Mechanism.LLS,
               Authentication.HLS_GMAC: Mechanism.HLS_GMAC}
CHALLENGE_SIZE = 32
LIST_SIZE = 16  # attributes per GET-with-list
LIST_OVERHEAD = 4 + 8 + 5 + 12  # the request's head, and ciphering's tag, length, SC, IC, T
MAX_EXCHANGE_READS = 10_000  # receives per request: a peer trickling octets cannot hold us


def descriptor(ref: AttributeRef, selected: bool = True) -> ap.AttributeDescriptor:
    selection = ref.selection if selected else None
    if isinstance(selection, RangeSelection):
        return ap.AttributeDescriptor(
            ref.class_id, ref.obis, ref.attribute, RANGE_SELECTOR,
            range_descriptor(selection.restricting_class, selection.restricting_obis,
                             selection.restricting_attribute, selection.start, selection.end))
    if isinstance(selection, EntrySelection):
        return ap.AttributeDescriptor(
            ref.class_id, ref.obis, ref.attribute, ENTRY_SELECTOR,
            entry_descriptor(selection.from_entry, selection.to_entry, selection.from_column,
                             selection.to_column))
    return ap.AttributeDescriptor(ref.class_id, ref.obis, ref.attribute)


def _chunks(refs: list[AttributeRef], max_pdu: int) -> list[list[AttributeRef]]:
    """``refs`` in runs of at most LIST_SIZE whose GET-with-list (ciphering included) fits
    the meter's max PDU."""
    chunks: list[list[AttributeRef]] = [[]]
    size = LIST_OVERHEAD
    for ref in refs:
        length = len(descriptor(ref).encode())
        if chunks[-1] and (len(chunks[-1]) >= LIST_SIZE or size + length > max_pdu):
            chunks.append([])
            size = LIST_OVERHEAD
        chunks[-1].append(ref)
        size += length
    return chunks


class CoreLink:
    """:class:`hal.dlms.DlmsLink` with rtu/dlms (TCP or UDP wrapper, or HDLC on a serial
    line). ``challenge`` makes the HLS challenge (tests pin it; the default is random)."""

    def __init__(self, settings: DlmsLinkSettings,
                 challenge: Callable[[], bytes] = lambda: os.urandom(CHALLENGE_SIZE)) -> None:
        self.settings = settings
        self.challenge = challenge
        self._io: ByteIO | None = None
        self._lock = threading.Lock()
        self._no_lists = False  # the meter refused a GET-with-list it had agreed to

    def abort(self) -> None:
        with self._lock:
            io = self._io
        if io is not None:
            io.disconnect()

    def _parts(self, counter: int) -> tuple[ByteIO, DlmsClient]:
        s = self.settings
        t = s.transport
        io: ByteIO
        framing: Framing
        if isinstance(t, DlmsTcpSettings):
            io = TcpIO(t.host, t.port, s.timeout)
            framing = WrapperFraming(s.client_address, s.server_address)
        elif isinstance(t, DlmsUdpSettings):
            io = UdpIO(t.host, t.port, s.timeout)
            framing = DatagramFraming(s.client_address, s.server_address)
        else:
            io = SerialIO(t.device, t.baudrate, s.timeout)
            framing = HdlcFraming(s.client_address, s.server_address, t.server_physical_address)
        max_pdu = MAX_UDP_APDU if isinstance(t, DlmsUdpSettings) else 0xFFFF
        mechanism = _MECHANISMS[s.authentication]
        keys = SecurityKeys(s.encryption_key, s.authentication_key) \
            if mechanism is Mechanism.HLS_GMAC else None
        client = DlmsClient(ClientSettings(
            mechanism=mechanism, password=s.password, keys=keys, system_title=s.system_title,
            challenge=self.challenge() if keys else b"", invocation_counter=counter,
            max_receive_pdu=max_pdu), framing)
        return io, client

    def read(self, refs: Sequence[AttributeRef],
             invocation_counter: int) -> tuple[list[AttributeResult], int]:
        io, client = self._parts(invocation_counter)
        with self._lock:
            self._io = io
        connected = False
        try:
            io.connect()
            connected = True
            self._associate(io, client)
            results = self._get_all(io, client, refs)
            try:
                client.release()
                self._exchange(io, client, Released)
            except (DlmsError, RemoteProtocolError) as exc:
                # the values are in; a meter that drops the line on RLRQ is fine
                log.debug("dlms %s: release: %s", self.settings.name, exc)
            return results, client.invocation_counter
        except DlmsError as exc:
            raise DlmsError(exc.kind, str(exc),
                            max(exc.next_counter or 0, client.invocation_counter)) from None
        except RemoteProtocolError as exc:
            raise DlmsError(DlmsErrorKind.PROTOCOL, f"cannot understand the meter: {exc}",
                            client.invocation_counter) from None
        finally:
            with self._lock:
                self._io = None
            if connected:
                self._close(io, client)
            io.disconnect()

    def _close(self, io: ByteIO, client: DlmsClient) -> None:
        try:
            if client.close() is None:  # HDLC: DISC, then UA or DM
                self._exchange(io, client, Closed)
        except (DlmsError, RemoteProtocolError, LocalProtocolError) as exc:
            log.debug("dlms %s: disconnect: %s", self.settings.name, exc)

    def _exchange(self, io: ByteIO, client: DlmsClient, expected: type[Event]) -> Event:
        """Send what the client has, feed it answers until it completes the request."""
        retries = self.settings.transport.retries \
            if isinstance(self.settings.transport, DlmsUdpSettings) else 0
        for _ in range(MAX_EXCHANGE_READS):
            out = client.data_to_send()
            if out:
                io.send(out)
            try:
                data = io.recv_some()
            except DlmsError as exc:
                if exc.kind is not DlmsErrorKind.TIMEOUT or retries <= 0:
                    raise
                retries -= 1
                log.debug("dlms %s: no answer; sending the request again", self.settings.name)
                io.send(client.last_request)
                continue
            events = client.receive_data(data)
            out = client.data_to_send()
            if out:
                io.send(out)
            if events:
                event = events[0]
                if isinstance(event, (Refused, expected)):
                    return event
                raise RemoteProtocolError(f"{type(event).__name__} where "
                                          f"{expected.__name__} was due")
        raise DlmsError(DlmsErrorKind.TIMEOUT, "the meter's answer does not end")

    def _associate(self, io: ByteIO, client: DlmsClient) -> None:
        client.associate()
        event = self._exchange(io, client, Associated)
        if isinstance(event, Refused):
            next_counter = client.invocation_counter
            if event.meter_counter is not None:
                raise DlmsError(DlmsErrorKind.REFUSED,
                                f"the meter refused invocation counter "
                                f"{client.invocation_counter - 1}: it has seen "
                                f"{event.meter_counter}",
                                max(next_counter, event.meter_counter + 1))
            raise DlmsError(DlmsErrorKind.REFUSED, event.reason, next_counter)

    def _get_all(self, io: ByteIO, client: DlmsClient,
                 refs: Sequence[AttributeRef]) -> list[AttributeResult]:
        """Every ref: those without a selection GET-with-list, LIST_SIZE at a time, when the
        meter agreed to multiple-references (and has not refused a list before); the others,
        and all of them otherwise, one GET each."""
        by_ref: dict[AttributeRef, AttributeResult] = {}
        plain = [ref for ref in refs if ref.selection is None]
        if (len(plain) > 1 and not self._no_lists
                and client.conformance & ap.CONFORMANCE_MULTIPLE_REFERENCES):
            for chunk in _chunks(plain, client.max_pdu):
                if len(chunk) == 1:
                    continue  # one GET of its own below
                client.get_list([descriptor(ref) for ref in chunk])
                try:
                    event = self._exchange(io, client, GetDone)
                except RemoteProtocolError:
                    self._no_lists = True  # an answer we cannot use: this session fails,
                    raise  # the next ones GET one attribute at a time
                if isinstance(event, Refused):
                    # agreed to, yet refused: one GET each from now on, for this meter
                    self._no_lists = True
                    log.info("dlms %s: GET-with-list refused (%s): one GET per attribute from "
                             "now on", self.settings.name, event.reason)
                    break
                assert isinstance(event, GetDone)
                for ref, result in zip(chunk, event.results, strict=True):
                    by_ref[ref] = self._result(ref, result, True)
        return [by_ref[ref] if ref in by_ref else self._get(io, client, ref) for ref in refs]

    def _get(self, io: ByteIO, client: DlmsClient, ref: AttributeRef) -> AttributeResult:
        result = self._get_one(io, client, descriptor(ref))
        selected = True
        if result.error is not None and ref.selection is not None:
            # a meter without this selective access: the whole buffer
            log.debug("dlms %s: %s: selective access refused (%s); reading it all",
                      self.settings.name, ref, result.error)
            selected = False
            result = self._get_one(io, client, descriptor(ref, selected=False))
        return self._result(ref, result, selected)

    @staticmethod
    def _result(ref: AttributeRef, result: ap.GetResult, selected: bool) -> AttributeResult:
        if result.error is not None or result.data is None:
            return AttributeResult(ref, error=result.error or "no data", selected=selected)
        try:
            value = to_python(decode_data_all(result.data))
        except RemoteProtocolError as exc:  # a value we cannot decode: this read only
            return AttributeResult(ref, error=f"cannot decode {result.data[:64].hex()}: {exc}",
                                   selected=selected)
        return AttributeResult(ref, value=value, selected=selected)

    def _get_one(self, io: ByteIO, client: DlmsClient,
                 desc: ap.AttributeDescriptor) -> ap.GetResult:
        client.get(desc)
        event = self._exchange(io, client, GetDone)
        if isinstance(event, Refused):
            raise DlmsError(DlmsErrorKind.REFUSED, event.reason)
        assert isinstance(event, GetDone)
        return event.results[0]
