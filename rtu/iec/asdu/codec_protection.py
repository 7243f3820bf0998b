"""Element codecs of protection equipment events (M_EP_TD_1, M_EP_TE_1, M_EP_TF_1, and on
101 M_EP_TA_1, M_EP_TB_1, M_EP_TC_1): the element before the CP56Time2a (CP24Time2a) tag, with
its CP16Time2a (milliseconds, 0..59999). Pure functions."""

from __future__ import annotations

import struct
from typing import Final

from rtu.iec.asdu.codec_base import out_of_range
from rtu.iec.asdu.objects import (
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
    TimeTag,
)
from rtu.iec.asdu.types import Qdp

# CP16Time2a holds milliseconds 0..59999; what arrives beyond is kept as received (a peer's
# value is mirrored in a negative confirmation, not refused), up to the 16 bits it has
_CP16_MAX: Final = 0xFFFF
_ES_MASK: Final = 0x03
_SEP_QUALITY: Final = 0xF8  # EI, BL, SB, NT, IV above the ES bits
_SPE_MASK: Final = 0x3F
_OCI_MASK: Final = 0x0F
_U8_U16: Final = struct.Struct("<BH")
_U8_U8_U16: Final = struct.Struct("<BBH")
_QDP: Final = tuple(Qdp(i & _SEP_QUALITY) for i in range(256))


def _cp16(obj: ProtectionEvent | ProtectionStartEvents | ProtectionOutputCircuit,
          name: str, value: int) -> int:
    if not 0 <= value <= _CP16_MAX:
        raise out_of_range(obj, name, value)
    return value


def _quality(obj: ProtectionEvent | ProtectionStartEvents | ProtectionOutputCircuit) -> int:
    q = int(obj.quality)
    if q & ~_SEP_QUALITY:
        raise out_of_range(obj, "quality", q)
    return q


def enc_protection_event(obj: ProtectionEvent) -> bytes:
    if not 0 <= obj.state <= _ES_MASK:
        raise out_of_range(obj, "state", obj.state)
    return _U8_U16.pack(obj.state | _quality(obj), _cp16(obj, "elapsed_ms", obj.elapsed_ms))


def enc_protection_start(obj: ProtectionStartEvents) -> bytes:
    if obj.spe & ~_SPE_MASK or obj.spe < 0:
        raise out_of_range(obj, "spe", obj.spe)
    return _U8_U8_U16.pack(obj.spe, _quality(obj), _cp16(obj, "duration_ms", obj.duration_ms))


def enc_protection_output(obj: ProtectionOutputCircuit) -> bytes:
    if obj.oci & ~_OCI_MASK or obj.oci < 0:
        raise out_of_range(obj, "oci", obj.oci)
    return _U8_U8_U16.pack(obj.oci, _quality(obj),
                           _cp16(obj, "operating_ms", obj.operating_ms))


def dec_protection_event(data: bytes, off: int, ioa: int,
                         time: TimeTag | None) -> ProtectionEvent:
    sep, elapsed = _U8_U16.unpack_from(data, off)
    return ProtectionEvent(ioa, sep & _ES_MASK, elapsed, _QDP[sep], time)


def dec_protection_start(data: bytes, off: int, ioa: int,
                         time: TimeTag | None) -> ProtectionStartEvents:
    spe, qdp, duration = _U8_U8_U16.unpack_from(data, off)
    return ProtectionStartEvents(ioa, spe & _SPE_MASK, duration, _QDP[qdp], time)


def dec_protection_output(data: bytes, off: int, ioa: int,
                          time: TimeTag | None) -> ProtectionOutputCircuit:
    oci, qdp, operating = _U8_U8_U16.unpack_from(data, off)
    return ProtectionOutputCircuit(ioa, oci & _OCI_MASK, operating, _QDP[qdp], time)
