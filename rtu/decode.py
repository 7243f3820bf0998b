"""Offline decoding of captured frames for the operator: ``rtu decode HEX...``.

104 APDUs (``68 L c1 c2 c3 c4 [ASDU]``) go through the APCI parser of rtu/iec/cs104; IEC
60870-5-101 FT1.2 frames (``10 ...``, ``68 L L 68 ...``, ``E5``) through the FT1.2 parser of
rtu/iec/cs101 with the given link address size; the ASDUs of either through the one ASDU codec
with the given field sizes (104: COT 2, CA 2, IOA 3). Several frames in a row are decoded one
after the other. Output is text: the frame format, sequence numbers or the link control field,
then the type and cause by name, P/N, T, originator, common address and one line per
information object (IOA, values, quality flags, CP56Time2a time tags as UTC, CP24Time2a ones
as minute and seconds of the hour that the last clock synchronisation gave).
"""

from __future__ import annotations

import dataclasses
import re
from enum import Enum
from typing import Final

from rtu.iec.asdu.codec import AsduError, AsduProfile, decode_asdu, decode_header
from rtu.iec.asdu.objects import Asdu, Cp24Time2a, Cp56Time2a
from rtu.iec.asdu.types import OCI_NAMES, SPE_NAMES, DoublePointValue, Qdp, Qds, TypeId, bits_text
from rtu.iec.cs101.ft12 import (
    START_FIXED,
    START_VARIABLE,
    FixedFrame,
    Ft12Parser,
    SingleChar,
    VariableFrame,
)
from rtu.iec.cs101.link import (
    CONTROL_ACD,
    CONTROL_DFC,
    CONTROL_DIR,
    CONTROL_FCB,
    CONTROL_FCV,
    CONTROL_PRM,
    FUNCTION_MASK,
    PrimaryFunction,
    SecondaryFunction,
)
from rtu.iec.cs104.apci import ApciError, FrameParser, IFrame, SFrame, UFrame
from rtu.iec.errors import LocalProtocolError
from rtu.points.timestamps import utc_datetime

__all__ = ["DecodeError", "Options", "Protocol", "cp24_text", "cp56_text", "decode", "describe_asdu",
           "guess_protocol", "object_texts", "parse_hex"]

MAX_101_ASDU: Final = 253  # an FT1.2 frame carries at most 255 octets of C, A and ASDU
_HEX_SEPARATORS: Final = re.compile(r"[\s:,;._-]+")

# what the state codes of double points and double commands mean
_DCS: Final = {1: "OFF", 2: "ON"}
_RCS: Final = {1: "LOWER", 2: "HIGHER"}
_QU: Final = {0: "no further definition", 1: "short pulse", 2: "long pulse", 3: "persistent"}
# parameter loading (P_ME) and activation (P_AC); protection events (M_EP)
_KPA: Final = {1: "threshold", 2: "smoothing factor", 3: "low limit", 4: "high limit"}
_QPA: Final = {1: "loaded parameters", 2: "parameter of this object",
               3: "cyclic transmission of this object"}
_ES: Final = {0: "indeterminate", 1: "OFF", 2: "ON", 3: "indeterminate"}
_NORMALIZED: Final = (TypeId.M_ME_NA_1, TypeId.M_ME_TD_1, TypeId.C_SE_NA_1, TypeId.C_SE_TA_1,
                      TypeId.P_ME_NA_1, TypeId.M_ME_TA_1)
_DOUBLE: Final = (TypeId.M_DP_NA_1, TypeId.M_DP_TB_1, TypeId.M_DP_TA_1)
_BITSTRING: Final = (TypeId.M_BO_NA_1, TypeId.M_BO_TB_1, TypeId.C_BO_NA_1, TypeId.C_BO_TA_1,
                     TypeId.M_BO_TA_1)


class DecodeError(ValueError):
    """The input is not hex, or not a frame of the chosen protocol."""


class Protocol(Enum):
    AUTO = "auto"
    IEC104 = "104"
    IEC101 = "101"


@dataclasses.dataclass(frozen=True, slots=True)  # a default argument (ruff B008: immutable)
class Options:
    protocol: Protocol = Protocol.AUTO
    cot_size: int = 2  # 101 only; 104 is always 2/2/3
    ca_size: int = 2
    ioa_size: int = 3
    link_address_size: int = 1


def parse_hex(parts: list[str] | str) -> bytes:
    """Octets from hex text: ``68 04 07 00 00 00``, ``680407000000``, ``0x68,0x04``..."""
    text = " ".join(parts) if isinstance(parts, list) else parts
    tokens = [t for t in _HEX_SEPARATORS.split(text) if t]
    cleaned = "".join(t[2:] if t.lower().startswith("0x") else t for t in tokens)
    if len(cleaned) % 2:
        raise DecodeError(f"odd number of hex digits ({len(cleaned)})")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        bad = next((c for c in cleaned if c not in "0123456789abcdefABCDEF"), "?")
        raise DecodeError(f"not hex: {bad!r}") from None


def guess_protocol(data: bytes) -> Protocol:
    """101 for 0x10/0xE5 frames and 68 L L 68 headers; 104 for other 0x68 frames."""
    if not data:
        raise DecodeError("nothing to decode")
    first = data[0]
    if first in (START_FIXED, 0xE5):
        return Protocol.IEC101
    if first == START_VARIABLE:
        if len(data) >= 4 and data[1] == data[2] and data[3] == START_VARIABLE \
                and len(data) >= data[1] + 6:
            return Protocol.IEC101
        return Protocol.IEC104
    raise DecodeError(f"first octet 0x{first:02X} starts no 104 APDU (68) or FT1.2 frame "
                      "(10, 68, E5)")


def decode(data: bytes, options: Options = Options()) -> list[str]:
    """Lines describing every frame in ``data``."""
    protocol = options.protocol
    if protocol is Protocol.AUTO:
        protocol = guess_protocol(data)
    if protocol is Protocol.IEC104:
        return _decode_104(data)
    return _decode_101(data, options)


# -- 104 -------------------------------------------------------------------------------------------
_PROFILE_104: Final = AsduProfile(2, 2, 3)


def _decode_104(data: bytes) -> list[str]:
    parser = FrameParser()
    parser.receive_data(data)
    lines: list[str] = []
    n = 0
    while True:
        try:
            frame = parser.next_frame()
        except ApciError as exc:
            lines.append(f"error: {exc}")
            return lines
        if frame is None:
            break
        n += 1
        if isinstance(frame, IFrame):
            lines.append(f"APDU {n}: I-frame N(S)={frame.send_seq} N(R)={frame.recv_seq}, "
                         f"ASDU {len(frame.asdu)} octets")
            lines.extend("  " + line for line in describe_asdu(frame.asdu, _PROFILE_104))
        elif isinstance(frame, SFrame):
            lines.append(f"APDU {n}: S-frame N(R)={frame.recv_seq}")
        elif isinstance(frame, UFrame):
            lines.append(f"APDU {n}: U-frame {frame.function.name}")
    if parser.buffered:
        lines.append(f"incomplete: {parser.buffered} octet(s) left over")
    if not n and not parser.buffered:
        lines.append("no frame")
    return lines


# -- 101 -------------------------------------------------------------------------------------------
def _decode_101(data: bytes, options: Options) -> list[str]:
    try:
        profile = AsduProfile(options.cot_size, options.ca_size, options.ioa_size,
                              max_asdu_length=MAX_101_ASDU - options.link_address_size)
        parser = Ft12Parser(options.link_address_size)
    except (LocalProtocolError, ValueError) as exc:  # field sizes out of range
        raise DecodeError(str(exc)) from None
    frames = parser.feed(data, 0.0)
    lines: list[str] = []
    for n, frame in enumerate(frames, 1):
        if isinstance(frame, SingleChar):
            lines.append(f"frame {n}: single character E5 (ACK / no data)")
        elif isinstance(frame, FixedFrame):
            lines.append(f"frame {n}: fixed length, {control_text(frame.control)}, "
                         f"link address {frame.address}")
        elif isinstance(frame, VariableFrame):
            lines.append(f"frame {n}: variable length, {control_text(frame.control)}, "
                         f"link address {frame.address}, ASDU {len(frame.asdu)} octets")
            lines.extend("  " + line for line in describe_asdu(frame.asdu, profile))
    if parser.errors:
        lines.append(f"discarded {parser.discarded_octets} octet(s) that formed no valid frame "
                     "(checksum, end octet or length; wrong --link-address-size?)")
    if parser.buffered:
        lines.append(f"incomplete: {parser.buffered} octet(s) left over")
    if not frames and not parser.errors and not parser.buffered:
        lines.append("no frame")
    return lines


def control_text(control: int) -> str:
    code = control & FUNCTION_MASK
    if control & CONTROL_PRM:
        try:
            function = PrimaryFunction(code).name
        except ValueError:
            function = f"function {code} (reserved)"
        bits = [f"FCB={int(bool(control & CONTROL_FCB))}", f"FCV={int(bool(control & CONTROL_FCV))}"]
        who = "primary (PRM=1)"
    else:
        try:
            function = SecondaryFunction(code).name
        except ValueError:
            function = f"function {code} (reserved)"
        bits = [f"ACD={int(bool(control & CONTROL_ACD))}", f"DFC={int(bool(control & CONTROL_DFC))}"]
        who = "secondary (PRM=0)"
    direction = f" DIR={int(bool(control & CONTROL_DIR))}" if control & CONTROL_DIR else ""
    return f"C=0x{control:02X} {who} {function} {' '.join(bits)}{direction}"


# -- ASDU ------------------------------------------------------------------------------------------
def describe_asdu(raw: bytes, profile: AsduProfile) -> list[str]:
    """Lines for one ASDU; an undecodable one is shown with the reason and its header."""
    try:
        asdu = decode_asdu(raw, profile)
    except AsduError as exc:
        lines = [f"ASDU not decoded: {exc}"]
        try:
            header = decode_header(raw, profile)
        except AsduError:
            header = None
        if header is not None:
            lines.append(f"header: type {header.type_id}, cause {header.cause}, "
                         f"P/N {int(header.negative)}, T {int(header.test)}, "
                         f"originator {header.originator}, CA {header.common_address}, "
                         f"{header.count} object(s), SQ {int(header.sequence)}")
        lines.append(f"octets: {raw.hex(' ')}")
        return lines
    return _asdu_lines(asdu)


def object_texts(asdu: Asdu) -> list[str]:
    """One text per information object of a decoded ASDU: ``IOA 1001: value=ON ...``."""
    return [line.strip() for line in _asdu_lines(asdu)[1:]]


def _asdu_lines(asdu: Asdu) -> list[str]:
    cot = asdu.cot
    lines = [(
        f"{asdu.type_id.name} ({int(asdu.type_id)}), COT {int(cot)} {cot.name}"
        f"{' negative (P/N=1)' if asdu.negative else ''}{' TEST (T=1)' if asdu.test else ''}, "
        f"originator {asdu.originator}, CA {asdu.common_address}, "
        f"{len(asdu.objects)} object(s){' SQ=1' if asdu.sequence else ''}"
    )]
    for obj in asdu.objects:
        fields = [f"{name}={text}" for name, text in _object_fields(asdu.type_id, obj)]
        lines.append(f"  IOA {obj.ioa}: " + " ".join(fields))
    return lines


def _object_fields(type_id: TypeId, obj: object) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    assert dataclasses.is_dataclass(obj)
    for field in dataclasses.fields(obj):
        name = field.name
        if name == "ioa":
            continue
        value = getattr(obj, name)
        if name == "time":
            if isinstance(value, Cp24Time2a):
                out.append(("time", cp24_text(value)))
            elif value is not None:
                out.append(("time", cp56_text(value)))
            continue
        out.append((name, _field_text(type_id, name, value)))
    return out


def _field_text(type_id: TypeId, name: str, value: object) -> str:
    if isinstance(value, bytes):  # a file segment
        more = " ..." if len(value) > _SEGMENT_SHOWN else ""
        return f"{len(value)} octets [{value[:_SEGMENT_SHOWN].hex(' ')}{more}]"
    if isinstance(value, Qds | Qdp):
        flags = [flag.name for flag in type(value) if flag in value and flag.name]
        return "|".join(flags) if flags else "ok"
    if isinstance(value, int) and not isinstance(value, bool):
        special = _parameter_or_protection_text(type_id, name, value)
        if special is not None:
            return special
    if name == "value" and type_id in _DOUBLE and isinstance(value, int):
        try:
            return DoublePointValue(value).name
        except ValueError:
            return str(value)
    if name == "value" and type_id in _NORMALIZED and isinstance(value, int):
        return f"{value} ({value / 32768:.5f})"
    if name == "value" and type_id in _BITSTRING and isinstance(value, int):
        return f"0x{value:08X}"
    if name == "state" and isinstance(value, int) and not isinstance(value, bool):
        names = _RCS if type_id in (TypeId.C_RC_NA_1, TypeId.C_RC_TA_1) else _DCS
        return names.get(value, f"{value} (not permitted)")
    if name == "qu" and isinstance(value, int):
        return f"{value} ({_QU.get(value, 'reserved')})"
    if name == "select" and isinstance(value, bool):
        return "select" if value else "execute"
    if name == "cause" and type_id is TypeId.M_EI_NA_1 and isinstance(value, int):
        causes = {0: "local power on", 1: "local manual reset", 2: "remote reset"}
        return f"{value} ({causes.get(value, 'reserved')})"
    if isinstance(value, float):
        return f"{value:.7g}"
    return str(value)


def _parameter_or_protection_text(type_id: TypeId, name: str, value: int) -> str | None:
    if name in _FILE_QUALIFIERS and type_id in _FILE_QUALIFIERS[name][0]:
        return f"{value} ({_FILE_QUALIFIERS[name][1].get(value, 'reserved')})"
    if name == "kpa":
        return f"{value} ({_KPA.get(value, 'reserved')})"
    if name == "qpa":
        return f"{value} ({_QPA.get(value, 'reserved')})"
    if name == "state" and type_id in (TypeId.M_EP_TD_1, TypeId.M_EP_TA_1):
        return f"{value} ({_ES.get(value & 3, 'indeterminate')})"
    if name in ("spe", "oci"):
        return f"0x{value:02X} ({bits_text(value, SPE_NAMES if name == 'spe' else OCI_NAMES)})"
    if name in ("elapsed_ms", "duration_ms", "operating_ms"):
        return f"{value} ms"
    if name == "milliseconds" and type_id is TypeId.C_CD_NA_1:
        return f"{value} ms"
    return None


# file transfer (types 120-127): the qualifiers' names (rtu/iec/outstation/files.py)
_SEGMENT_SHOWN = 16
_FILE_ERRORS = {0: "none", 1: "no memory", 2: "checksum failed", 3: "unexpected service",
                4: "unexpected name of file", 5: "unexpected name of section"}
_FILE_QUALIFIERS: dict[str, tuple[tuple[TypeId, ...], dict[int, str]]] = {
    "scq": ((TypeId.F_SC_NA_1,), {0: "default/call directory", 1: "select file", 2: "call file",
                                  3: "deactivate file", 4: "delete file", 5: "select section",
                                  6: "call section", 7: "deactivate section"}),
    "afq": ((TypeId.F_AF_NA_1,), {1: "file received", 2: "file not received",
                                  3: "section received", 4: "section not received"}),
    "lsq": ((TypeId.F_LS_NA_1,), {1: "last section", 2: "file aborted", 3: "last segment",
                                  4: "section aborted"}),
    "error": ((TypeId.F_SC_NA_1, TypeId.F_AF_NA_1), _FILE_ERRORS),
}


def cp24_text(t: Cp24Time2a) -> str:
    """``hh:22:33.456 (CP24: hour from the last clock sync)`` (+ IV)."""
    text = f"hh:{t.minute:02d}:{t.milliseconds / 1000:06.3f} (CP24, hour of the last clock sync)"
    return text + (" [IV]" if t.invalid else "")


def cp56_text(t: Cp56Time2a) -> str:
    """``2026-11-23 11:22:33.456 UTC`` (+ invalid / summer time / weekday flags)."""
    try:
        moment = utc_datetime(t.to_timestamp())
        text = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.milliseconds % 1000:03d} UTC"
    except (ValueError, OverflowError):
        text = (f"20{t.year:02d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:"
                f"{t.milliseconds / 1000:06.3f} (impossible date)")
    flags = []
    if t.invalid:
        flags.append("IV")
    if t.summer_time:
        flags.append("SU")
    if t.weekday:
        flags.append(f"weekday {t.weekday}")
    return text + (f" [{', '.join(flags)}]" if flags else "")

