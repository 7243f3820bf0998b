"""A DLMS/COSEM client link (IEC 62056) behind one small Protocol: read attributes of a meter.

:class:`DlmsLink` is all a source sees: :meth:`DlmsLink.read` opens a session (connect,
associate), GETs the attributes asked for by logical name, releases the association and
disconnects; :meth:`DlmsLink.abort` closes the line from another thread. The implementation
is ``rtu.sources.dlms.link.CoreLink``: our own sans-I/O core (``rtu/dlms``) driven over the
byte I/O of ``hal/dlms_io.py``; this module has only the interface, the settings and the
errors.

Settled here:

* **Blocking.** The caller runs :meth:`read` in a worker thread (``asyncio.to_thread``), one
  at a time per meter, and bounds it from outside; every receive has its own timeout.
* **One session per read.** A meter drops an idle association (its inactivity timeout), so
  every poll is connect - AARQ - GETs - RLRQ - disconnect; nothing lives between polls.
* **Security suite 0 only** (AES-GCM-128): HLS-GMAC (mechanism 5) runs in a ciphered context
  (glo-ciphering with the global keys), LLS (mechanism 1) sends the password in the AARQ.
* **Invocation counters.** The client's counter is the caller's: it passes the first one to
  use and gets back the next unused one, even when the read fails (a counter that may have
  reached the meter is never used again). The meter's own counter must rise within a session;
  a fresh session accepts any (a restarted meter may begin at 0).
* **Load profiles.** An :class:`AttributeRef` may carry a :class:`RangeSelection` or an
  :class:`EntrySelection` (selective access to a Profile Generic buffer); a meter that answers
  it with an error gets a GET of the whole buffer in the same session
  (``AttributeResult.selected`` False).
* **UDP** (:class:`DlmsUdpSettings`): one APDU per datagram; a request whose answer does not
  come within the timeout is sent again, ``retries`` times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Protocol

SYSTEM_TITLE_SIZE: Final = 8
KEY_SIZE: Final = 16  # security suite 0: AES-128
INVOCATION_COUNTER_MAX: Final = 0xFFFFFFFF


class Authentication(Enum):
    NONE = "none"  # mechanism 0: lowest level security
    LLS = "lls"  # mechanism 1: a password in the AARQ
    HLS_GMAC = "hls-gmac"  # mechanism 5: challenges answered with GMAC, ciphered APDUs


class DlmsErrorKind(Enum):
    CONNECTION = "connection"  # cannot connect / open the port, or the line was lost
    TIMEOUT = "timeout"  # no (complete) answer within the timeout
    REFUSED = "refused"  # the association was rejected (authentication, counter, SAP)
    ACCESS = "access"  # the meter answered a GET with a data-access-result error
    PROTOCOL = "protocol"  # an answer that cannot be understood


class DlmsError(Exception):
    """``next_counter``: raised by :meth:`DlmsLink.read`, the client invocation counter to go
    on with (the first one not handed to the meter); None inside the I/O layer."""

    def __init__(self, kind: DlmsErrorKind, message: str,
                 next_counter: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.next_counter = next_counter


@dataclass(frozen=True, slots=True)
class DlmsTcpSettings:
    """The TCP wrapper transport (IEC 62056-47; port 4059)."""

    host: str
    port: int = 4059


@dataclass(frozen=True, slots=True)
class DlmsUdpSettings:
    """The UDP wrapper transport (IEC 62056-47; port 4059): datagrams lost are sent again."""

    host: str
    port: int = 4059
    retries: int = 2


@dataclass(frozen=True, slots=True)
class DlmsHdlcSettings:
    """HDLC (IEC 62056-46) on a serial line; addresses are the HDLC server's."""

    device: str
    baudrate: int = 9600
    server_physical_address: int | None = None  # None: one-byte server address (logical only)


@dataclass(frozen=True, slots=True)
class DlmsLinkSettings:
    name: str
    transport: DlmsTcpSettings | DlmsUdpSettings | DlmsHdlcSettings
    client_address: int = 16  # client SAP = source wPort (16: public client)
    server_address: int = 1  # server SAP = destination wPort / HDLC upper address
    authentication: Authentication = Authentication.NONE
    system_title: bytes = b"RTU\x00\x00\x00\x00\x01"  # the client's (HLS-GMAC)
    timeout: float = 5.0  # seconds per request (and to connect)
    password: bytes = field(default=b"", repr=False)  # LLS
    encryption_key: bytes = field(default=b"", repr=False)  # HLS-GMAC: global unicast key
    authentication_key: bytes = field(default=b"", repr=False)  # HLS-GMAC


@dataclass(frozen=True, slots=True)
class RangeSelection:
    """Selective access by range (access selector 1) to a Profile Generic buffer: the entries
    whose ``restricting`` capture object (a date-time column, normally the clock) lies within
    ``start .. end`` (POSIX seconds, sent as UTC), all columns. A meter that refuses it gets a
    GET of the whole buffer instead: the caller filters by time either way."""

    restricting_class: int
    restricting_obis: tuple[int, int, int, int, int, int]
    restricting_attribute: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class EntrySelection:
    """Selective access by entry (access selector 2) to a Profile Generic buffer: entries
    ``from_entry .. to_entry`` (1 is the oldest; 0 as ``to_entry``: the newest), columns
    ``from_column .. to_column`` (1-based; 0 as ``to_column``: the last)."""

    from_entry: int
    to_entry: int = 0
    from_column: int = 1
    to_column: int = 0


@dataclass(frozen=True, slots=True)
class AttributeRef:
    """One COSEM attribute by logical name (a buffer with an optional range selection)."""

    class_id: int
    obis: tuple[int, int, int, int, int, int]
    attribute: int
    selection: RangeSelection | EntrySelection | None = None

    def __str__(self) -> str:
        a, b, c, d, e, f = self.obis
        return f"{a}.{b}.{c}.{d}.{e}.{f}/{self.class_id}:{self.attribute}"


@dataclass(frozen=True, slots=True)
class AttributeResult:
    """The decoded value of one attribute (``rtu.dlms.axdr.to_python``: int, float, bytes,
    str, bool, list for arrays and structures, None), or why there is none. ``selected``: False when
    a range selection was refused and the whole buffer was read instead."""

    ref: AttributeRef
    value: Any = None
    error: str | None = None
    selected: bool = True


class DlmsLink(Protocol):
    def read(self, refs: Sequence[AttributeRef],
             invocation_counter: int) -> tuple[list[AttributeResult], int]:
        """Blocking: one session reading ``refs``; returns their results and the next unused
        client invocation counter. DlmsError when the session fails as a whole (then the
        counter to go on with is in ``DlmsError.next_counter`` when it moved)."""
        ...

    def abort(self) -> None:
        """Close the line now (from any thread); a running read fails at once."""
        ...
