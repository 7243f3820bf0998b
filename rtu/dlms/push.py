"""Receiving DLMS/COSEM pushes (data-notification, Green Book 9.3.8), sans-I/O.

A push arrives as a wrapper PDU (UDP datagram or TCP stream) carrying a data-notification,
plain or ciphered (general-glo-ciphering, which names the sender's system title, or a
glo-ciphered form deciphered with the configured title). :class:`PushReceiver` decides whose
it is and whether to take it:

* a sender is known by its system title (when the APDU carries one) and/or its source wPort;
  both must match what is configured where both are; anything else is refused;
* a device configured ``ciphered`` has every plain push refused; a ciphered push must
  authenticate with the device's keys;
* replay protection: a ciphered push whose invocation counter is not above the last one
  accepted from that device is refused (``last_counters``; the driver persists it).

Refusals are :class:`PushRefused` (a RemoteProtocolError with the reason) for the driver to log
and count; accepted pushes are :class:`Push` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rtu.dlms import apdu as ap
from rtu.dlms.axdr import Data
from rtu.dlms.errors import RemoteProtocolError
from rtu.dlms.security import (
    GENERAL_GLO_CIPHERING,
    SecurityKeys,
    decipher_apdu,
    is_ciphered,
    parse_ciphered,
)
from rtu.dlms.wrapper import WrapperPdu


class PushRefused(RemoteProtocolError):
    """A push that is not taken: unknown sender, not ciphered as required, a replay."""


@dataclass(frozen=True, slots=True)
class PushDevice:
    name: str
    system_title: bytes | None = None
    wport: int | None = None
    keys: SecurityKeys | None = None  # set: only ciphered pushes are accepted


@dataclass(frozen=True, slots=True)
class Push:
    device: str
    counter: int | None  # the invocation counter of a ciphered push
    date_time: bytes | None  # the notification's date-time (12 octets), when it has one
    body: Data


class PushReceiver:
    def __init__(self, devices: Iterable[PushDevice],
                 last_counters: Mapping[str, int] | None = None) -> None:
        self.devices = tuple(devices)
        self.last_counters: dict[str, int] = dict(last_counters or {})

    def _identify(self, title: bytes | None, wport: int) -> PushDevice:
        """The device that sent it: every configured identifier must match, at least one must
        be there; one known by its system title wins over one known by its wPort only."""
        candidates = [
            d for d in self.devices
            if (d.wport is None or d.wport == wport)
            and (title is None or d.system_title is None or d.system_title == title)
            and (d.wport is not None or (title is not None and d.system_title == title))]
        candidates.sort(key=lambda d: title is None or d.system_title != title)
        if candidates:
            return candidates[0]
        who = f"system title {title.hex().upper()}, " if title is not None else ""
        raise PushRefused(f"a push from an unknown sender ({who}wPort {wport})")

    def receive(self, pdu: WrapperPdu) -> Push:
        """The push in ``pdu``; PushRefused or RemoteProtocolError when it is not taken."""
        apdu = pdu.apdu
        counter = None
        if is_ciphered(apdu):
            ciphered = parse_ciphered(apdu)
            device = self._identify(ciphered.system_title, pdu.source)
            if device.keys is None or device.system_title is None:
                raise PushRefused(f"{device.name}: a ciphered push from a device configured "
                                  f"without keys")
            plain = decipher_apdu(device.keys, device.system_title, ciphered)
            last = self.last_counters.get(device.name)
            if last is not None and ciphered.counter <= last:
                raise PushRefused(f"{device.name}: invocation counter {ciphered.counter} is not "
                                  f"above the last accepted ({last}): a replay")
            counter = ciphered.counter
            apdu = plain
        else:
            title = None
            device = self._identify(title, pdu.source)
            if device.keys is not None:
                raise PushRefused(f"{device.name}: a plain push from a device that must cipher")
        if apdu[:1] == bytes([GENERAL_GLO_CIPHERING]) or is_ciphered(apdu):
            raise RemoteProtocolError(f"{device.name}: a push ciphered twice")
        note = ap.decode_data_notification(apdu)
        if counter is not None:
            self.last_counters[device.name] = counter
        return Push(device.name, counter, note.date_time, note.body)
