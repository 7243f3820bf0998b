"""Test harness for talking to our outstation through peers we did not write.

What is here (no project imports; usable against any 104 outstation):

* ``free_tcp_port()``      a free TCP port on 127.0.0.1.
* ``C104Master``           a 104 master (client) built on c104 (lib60870-C).
* ``Raw104Client``         a tiny plain-socket 104 master for what c104 cannot
                           send (select without execute, odd/malformed frames).
* ``TsharkCapture``        dumpcap on ``lo`` with ``tcp port PORT`` into a pcapng.
* ``tshark_decode_104()``  Wireshark's own IEC 104 dissector over that capture.
* ``parse_apdu()`` / ``build_asdu()`` / ``i_frame()``: independent byte-level
  helpers (104 profile: COT 2 bytes, CA 2, IOA 3) so assertions never rest on
  the project's own codec.

Network: 127.0.0.1 only.

What we learned about c104 2.2.1 (PyPI "c104", lib60870-C inside, GPL; test-only)
===============================================================================
API used (all keyword arguments, exactly as in c104/__init__.pyi):
  c104.Client(tick_rate_ms=50, command_timeout_ms=N)
  client.add_connection(ip=, port=, init=c104.Init.NONE) -> Connection
      Init.ALL (the default!) makes c104 send C_IC_NA_1 and C_CS_NA_1 by itself
      after every (re)connect; we use Init.NONE so tests decide what is sent.
  connection.add_station(common_address=) -> Station
  station.add_point(io_address=, type=c104.Type.X, command_mode=c104.CommandMode.Y)
  connection.on_receive_raw / on_send_raw(callable=f(connection, data))
      one call per APDU (I, S and U frames), full bytes from 0x68 on. This is
      how we see every ASDU's type id, COT, P/N bit, S/E bit and ACT_TERM.
  connection.on_state_change(callable=f(connection, state))
  connection.on_unexpected_message(callable=f(connection, message, cause))
  client.on_new_station(callable=f(client, connection, common_address))
  client.on_new_point(callable=f(client, station, io_address, point_type))
  point.on_receive(callable=f(point, previous_info, message) -> c104.ResponseState)
  connection.interrogation(common_address=, qualifier=c104.Qoi(20..36))
  connection.counter_interrogation(common_address=, qualifier=c104.Rqt(5..9),
                                   freeze=c104.Frz(0..3))
  connection.clock_sync(common_address=)       (sends the host clock; no choice)
  connection.test(common_address=, with_time=) (C_TS_TA_1 / C_TS_NA_1)
  connection.mute() / unmute()                 (STOPDT act / STARTDT act)
  connection.connect() / disconnect()
  point.info = c104.SingleCmd(on=, qualifier=c104.Qoc(qu)); point.transmit(cause=)
  point.read()                                  (C_RD_NA_1)
  c104.explain_bytes(apdu=) / explain_bytes_dict(apdu=)

Quirks:
  * Callbacks are checked by signature: parameter NAMES and type ANNOTATIONS
    must match the .pyi exactly (a lambda or an unannotated function raises
    ValueError). Bound methods are fine (``self`` is not counted).
  * tick_rate_ms >= 50 (ValueError below that).
  * Callbacks run on c104's threads; keep them short, never block.
  * Connect race (seen ~1 in 10 connects, also against a trivial socket
    server): the state reaches OPEN_MUTED but STARTDT act is never sent, or
    its STARTDT con is not noticed, so the connection sits muted forever.
    ``C104Master.wait_connected`` calls ``unmute()`` again when that happens;
    an outstation under test may therefore see a second STARTDT act (it must
    just answer STARTDT con again).
  * Time-tagged types (M_SP_TB_1, ...) with COT=20 (GI answers) are reported
    through on_unexpected_message as Umc.INVALID_COT; the point value is still
    updated. This is c104 being strict, not an error of the outstation.
  * recorded_at is a NAIVE datetime built from the CP56Time2a fields;
    processed_at is the local receive time. parse_apdu() decodes CP56 itself.
  * Byte32 cannot be int()-ed; bytes(x) works. c104's enums have no int
    constructor in the stubs (c104.Qoi(20) works at run time; mypy objects).
  * A c104 call (transmit, interrogation, ...) can return BEFORE the raw
    callback for its answer has run: always wait on the records (the
    C104Master methods already wait for the answer that ends the exchange).
  * c104 prints "[c104.IncomingMessage.extract] Unsupported type C_TS_TA_1"
    to stderr on a test-command confirmation; harmless. c104's own server
    does not answer C_TS_NA_1 (not a 104 type), so test(with_time=False)
    times out against it.

Capabilities / limits as a master:
  * Select-before-operate: only as a whole. With CommandMode.SELECT_AND_EXECUTE
    ``transmit`` sends select (S/E=1), waits for its ACT_CON, sends execute
    (S/E=0) and then waits for ACT_CON *and* ACT_TERM (returns False after
    command_timeout_ms if the outstation sends no ACT_TERM). A select alone, a
    select followed by DEACTIVATION, or an execute without select cannot be
    expressed -> use Raw104Client.
  * Lost wake-up in c104's command wait (2.2.1, still so upstream in Feb 2026):
    Connection::command() registers the command, sends it, and only then
    calls awaitCommandSuccess(), whose loop starts with
    ``response_wait.wait_until(...)`` and looks at the recorded result only
    after a notification. When the answer is handled (setCommandSuccess(),
    which notifies) in the gap between the send and that wait, the
    notification is lost and the call sleeps to command_timeout_ms and returns
    False although the recorded result was SUCCESS. c104's debug log
    (c104.set_debug_mode(c104.Debug.Connection)) shows it in that order:
    "set_command_success] Result ...: 1 | found: 1", "command SEND 1",
    "await_command_success] Await", "... Timeout". The gap is microseconds, so
    it needs a preempted command thread (a loaded machine) or a very fast
    outstation: a 30-line socket server that answers at once loses 4-10 %
    of c104's selects; our outstation under 5 busy processes 2 of 150. For a
    direct command only ``ok`` is wrong (hence "trust the records"); for
    select-before-operate the select's positive ACT_CON is ignored and c104
    never sends the execute. ``C104Master`` finishes such an exchange itself
    (see ``_command``) and corrects c104's False from the records when the
    answer that ends an exchange came, positive, before c104 returned. tick_rate_ms and command_timeout_ms do not help (the
    first is not involved, the second only lengthens the lost wait); c104's
    Python callbacks run later on another thread, so the harness cannot hold
    the answer back either.
  * Direct commands (CommandMode.DIRECT): transmit returns at ACT_CON; the
    later ACT_TERM is only visible in the raw receive callback.
  * transmit/interrogation/read return a bool: False for a negative
    confirmation AND for a timeout (indistinguishable), and for the lost
    wake-up above. The verdict can even be
    wrong: a later ASDU for the same CA/type/IOA can overwrite it before the
    waiting thread wakes (seen once: negative ACT_CON followed by COT=47
    reported as True). Trust the raw records (``CommandResult``), not ``ok``.
  * interrogation()/counter_interrogation() wait for ACT_CON then ACT_TERM;
    clock_sync()/test() wait for ACT_CON; read() waits for the COT=5 answer.
  * No API to send a raw ASDU or a malformed frame, to choose the clock-sync
    time, or to send with the test bit -> Raw104Client.
  * P/N bit: visible (raw callback, IncomingMessage.is_negative).
  * Reconnection: after the peer closes, the state goes CLOSED_AWAIT_RECONNECT
    and c104 reconnects by itself about once a second; with Init.NONE it only
    sends STARTDT act afterwards. Points/stations survive reconnects.
  * Monitoring ASDUs for a CA/IOA the master does not know are delivered only
    if on_new_station/on_new_point add them (C104Master does).
  * c104's APCI defaults on the master (read off 2.2.1): t0=10 s, t1=15 s,
    t2=10 s, t3=20 s, k=12, w=8; see/set ``m.connection.protocol_parameters``
    (connection_timeout, message_timeout, confirm_interval,
    keep_alive_interval, send_window_size, receive_window_size). So c104
    acknowledges our I-frames after 8 of them or after 10 s.
"""

import datetime as _dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest

try:  # c104 is a test extra; the tshark helpers work without it.
    import c104
except ImportError:  # pragma: no cover - depends on the environment
    c104 = None  # type: ignore[assignment]

LOCALHOST = "127.0.0.1"

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# independent byte-level helpers (104 profile: COT 2, CA 2, IOA 3)
# ---------------------------------------------------------------------------

#: type id -> (name, size of one information element without its IOA)
TYPES: dict[int, tuple[str, int]] = {
    1: ("M_SP_NA_1", 1), 2: ("M_SP_TA_1", 4), 3: ("M_DP_NA_1", 1), 4: ("M_DP_TA_1", 4),
    5: ("M_ST_NA_1", 2), 6: ("M_ST_TA_1", 5), 7: ("M_BO_NA_1", 5), 8: ("M_BO_TA_1", 8),
    9: ("M_ME_NA_1", 3), 10: ("M_ME_TA_1", 6), 11: ("M_ME_NB_1", 3), 12: ("M_ME_TB_1", 6),
    13: ("M_ME_NC_1", 5), 14: ("M_ME_TC_1", 8), 15: ("M_IT_NA_1", 5), 16: ("M_IT_TA_1", 8),
    17: ("M_EP_TA_1", 6), 18: ("M_EP_TB_1", 7), 19: ("M_EP_TC_1", 7), 20: ("M_PS_NA_1", 5),
    21: ("M_ME_ND_1", 2), 30: ("M_SP_TB_1", 8), 31: ("M_DP_TB_1", 8), 32: ("M_ST_TB_1", 9),
    33: ("M_BO_TB_1", 12), 34: ("M_ME_TD_1", 10), 35: ("M_ME_TE_1", 10),
    36: ("M_ME_TF_1", 12), 37: ("M_IT_TB_1", 12), 38: ("M_EP_TD_1", 10),
    39: ("M_EP_TE_1", 11), 40: ("M_EP_TF_1", 11),
    45: ("C_SC_NA_1", 1), 46: ("C_DC_NA_1", 1), 47: ("C_RC_NA_1", 1), 48: ("C_SE_NA_1", 3),
    49: ("C_SE_NB_1", 3), 50: ("C_SE_NC_1", 5), 51: ("C_BO_NA_1", 4),
    58: ("C_SC_TA_1", 8), 59: ("C_DC_TA_1", 8), 60: ("C_RC_TA_1", 8), 61: ("C_SE_TA_1", 10),
    62: ("C_SE_TB_1", 10), 63: ("C_SE_TC_1", 12), 64: ("C_BO_TA_1", 11),
    70: ("M_EI_NA_1", 1),
    100: ("C_IC_NA_1", 1), 101: ("C_CI_NA_1", 1), 102: ("C_RD_NA_1", 0), 103: ("C_CS_NA_1", 7),
    104: ("C_TS_NA_1", 2), 105: ("C_RP_NA_1", 1), 106: ("C_CD_NA_1", 2), 107: ("C_TS_TA_1", 9),
    110: ("P_ME_NA_1", 3), 111: ("P_ME_NB_1", 3), 112: ("P_ME_NC_1", 5), 113: ("P_AC_NA_1", 1),
}
TYPE_IDS: dict[str, int] = {name: tid for tid, (name, _) in TYPES.items()}

#: types whose element ends in a CP56Time2a
_CP56_TYPES = frozenset({30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
                         58, 59, 60, 61, 62, 63, 64, 103, 107})
#: commands whose last element byte carries S/E in bit 7 (SCO/DCO/RCO/QOS)
_SE_TYPES = frozenset({45, 46, 47, 48, 49, 50, 58, 59, 60, 61, 62, 63})

# COT values used in assertions (names as in IEC 60870-5-101 7.2.3)
COT_PERIODIC, COT_BACKGROUND, COT_SPONTANEOUS, COT_INITIALISED, COT_REQUEST = 1, 2, 3, 4, 5
COT_ACTIVATION, COT_ACTIVATION_CON, COT_DEACTIVATION, COT_DEACTIVATION_CON = 6, 7, 8, 9
COT_ACTIVATION_TERMINATION, COT_RETURN_REMOTE, COT_RETURN_LOCAL = 10, 11, 12
COT_INTERROGATED_BY_STATION = 20
COT_REQUESTED_BY_GENERAL_COUNTER = 37
COT_UNKNOWN_TYPE_ID, COT_UNKNOWN_COT, COT_UNKNOWN_CA, COT_UNKNOWN_IOA = 44, 45, 46, 47

_U_NAMES = {0x07: "STARTDT_ACT", 0x0B: "STARTDT_CON", 0x13: "STOPDT_ACT",
            0x23: "STOPDT_CON", 0x43: "TESTFR_ACT", 0x83: "TESTFR_CON"}
STARTDT_ACT = bytes.fromhex("680407000000")
STOPDT_ACT = bytes.fromhex("680413000000")
TESTFR_ACT = bytes.fromhex("680443000000")


def wait_log(caplog: pytest.LogCaptureFixture, *needles: str, timeout: float = 3.0
             ) -> logging.LogRecord:
    """The first WARNING (or worse) whose message contains every needle; waits, since the
    outstation logs on its own thread (AssertionError with the last records otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        for record in caplog.records:
            text = record.getMessage()
            if record.levelno >= logging.WARNING and all(n in text for n in needles):
                return record
        if time.monotonic() >= deadline:
            seen = "\n  ".join(r.getMessage() for r in caplog.records[-10:])
            raise AssertionError(f"no warning containing {needles}; last records:\n  {seen}")
        time.sleep(0.02)


def free_tcp_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def decode_cp56(b: bytes) -> dict[str, Any]:
    """CP56Time2a -> {'time': naive datetime | None, 'iv': bool, 'su': bool}."""
    ms = b[0] | b[1] << 8
    try:
        t: _dt.datetime | None = _dt.datetime(
            2000 + (b[6] & 0x7F), b[5] & 0x0F, b[4] & 0x1F, b[3] & 0x1F, b[2] & 0x3F,
            ms // 1000, (ms % 1000) * 1000)
    except ValueError:
        t = None
    return {"time": t, "iv": bool(b[2] & 0x80), "su": bool(b[3] & 0x80)}


def encode_cp56(t: _dt.datetime, *, iv: bool = False) -> bytes:
    ms = t.second * 1000 + t.microsecond // 1000
    return bytes([ms & 0xFF, ms >> 8, t.minute | (0x80 if iv else 0), t.hour,
                  t.day | (t.isoweekday() << 5), t.month, t.year - 2000])


def parse_apdu(data: bytes) -> dict[str, Any]:
    """Decode one APDU (0x68 ...) into a plain dict.

    Always: ``format`` ('I'|'S'|'U'|'?'), ``raw`` (hex). I: ``tx_seq``,
    ``rx_seq`` and the ASDU fields ``type_id``, ``type`` (name), ``sq``,
    ``count``, ``cot``, ``negative``, ``test``, ``oa``, ``ca``, ``ioa`` (first
    IOA or None), ``objects`` (list of {'ioa', 'data' hex, 'time'?, 'select'?}),
    ``select`` (S/E bit of the first command object, else None),
    ``error`` (str, when the ASDU does not have the length its header implies).
    S: ``rx_seq``. U: ``u`` e.g. 'STARTDT_ACT'.
    """
    rec: dict[str, Any] = {"raw": data.hex(), "format": "?"}
    if len(data) < 6 or data[0] != 0x68:
        rec["error"] = "not an APDU"
        return rec
    c = data[2:6]
    if c[0] & 1 == 0:
        rec.update(format="I", tx_seq=(c[0] | c[1] << 8) >> 1, rx_seq=(c[2] | c[3] << 8) >> 1)
        rec.update(parse_asdu(data[6:]))
    elif c[0] & 3 == 1:
        rec.update(format="S", rx_seq=(c[2] | c[3] << 8) >> 1)
    else:
        rec.update(format="U", u=_U_NAMES.get(c[0], f"U_{c[0]:#04x}"))
    return rec


def parse_asdu(a: bytes) -> dict[str, Any]:
    """Decode an ASDU header and split its information objects (see parse_apdu)."""
    rec: dict[str, Any] = {"type_id": None, "type": None, "objects": [], "ioa": None,
                           "select": None}
    if len(a) < 6:
        rec["error"] = f"ASDU too short ({len(a)} bytes)"
        return rec
    tid, vsq, cotb = a[0], a[1], a[2]
    rec.update(type_id=tid, type=TYPES.get(tid, (f"TYPE_{tid}", -1))[0], sq=bool(vsq & 0x80),
               count=vsq & 0x7F, cot=cotb & 0x3F, negative=bool(cotb & 0x40),
               test=bool(cotb & 0x80), oa=a[3], ca=a[4] | a[5] << 8)
    size = TYPES.get(tid, ("", -1))[1]
    body, n = a[6:], vsq & 0x7F
    if size < 0:
        rec["error"] = f"unknown type id {tid}"
        return rec
    need = (3 + n * size) if rec["sq"] else n * (3 + size)
    if len(body) != need:
        rec["error"] = f"{len(body)} object bytes, header implies {need}"
    objs: list[dict[str, Any]] = []
    pos = 0
    for i in range(n):
        if rec["sq"]:
            if len(body) < 3:
                break
            ioa = (body[0] | body[1] << 8 | body[2] << 16) + i
            pos = 3 + i * size
        else:
            if len(body) < pos + 3:
                break
            ioa = body[pos] | body[pos + 1] << 8 | body[pos + 2] << 16
            pos += 3
        elem = body[pos:pos + size]
        if not rec["sq"]:
            pos += size
        if len(elem) < size:
            break
        obj: dict[str, Any] = {"ioa": ioa, "data": elem.hex()}
        if tid in _CP56_TYPES and size >= 7:
            obj.update(decode_cp56(elem[-7:]))
        if tid in _SE_TYPES:
            se_byte = elem[0] if tid in (45, 46, 47, 58, 59, 60) else elem[{48: 2, 49: 2, 50: 4,
                                                                         61: 2, 62: 2, 63: 4}[tid]]
            obj["select"] = bool(se_byte & 0x80)
        objs.append(obj)
    rec["objects"] = objs
    if objs:
        rec["ioa"] = objs[0]["ioa"]
        rec["select"] = objs[0].get("select")
    return rec


def build_asdu(type_id: int | str, cot: int, ca: int, objects: Iterable[tuple[int, bytes]], *,
               negative: bool = False, test: bool = False, oa: int = 0) -> bytes:
    """ASDU bytes (SQ=0) from (ioa, element bytes) pairs; no size checking on purpose."""
    tid = TYPE_IDS[type_id] if isinstance(type_id, str) else type_id
    objs = list(objects)
    out = bytearray([tid, len(objs), cot | (0x40 if negative else 0) | (0x80 if test else 0),
                     oa, ca & 0xFF, ca >> 8])
    for ioa, elem in objs:
        out += ioa.to_bytes(3, "little") + elem
    return bytes(out)


def sco(on: bool, *, select: bool = False, qu: int = 0) -> bytes:
    """Single command element SCO."""
    return bytes([(1 if on else 0) | (qu & 0x1F) << 2 | (0x80 if select else 0)])


def dco(state: int, *, select: bool = False, qu: int = 0) -> bytes:
    """Double command element DCO (state 1=OFF, 2=ON)."""
    return bytes([(state & 3) | (qu & 0x1F) << 2 | (0x80 if select else 0)])


def i_frame(asdu: bytes, tx_seq: int, rx_seq: int) -> bytes:
    """Wrap an ASDU in an I-format APDU."""
    return bytes([0x68, len(asdu) + 4, (tx_seq << 1) & 0xFE, (tx_seq >> 7) & 0xFF,
                  (rx_seq << 1) & 0xFE, (rx_seq >> 7) & 0xFF]) + asdu


def s_frame(rx_seq: int) -> bytes:
    return bytes([0x68, 4, 1, 0, (rx_seq << 1) & 0xFE, (rx_seq >> 7) & 0xFF])


# ---------------------------------------------------------------------------
# shared record log with waiting
# ---------------------------------------------------------------------------

class _Log:
    """Thread-safe append-only list of dicts with a blocking ``wait_for``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._items: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def append(self, item: dict[str, Any]) -> None:
        with self._cond:
            item.setdefault("seq", len(self._items))
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self, since: int = 0) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._items[since:])

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float,
                 since: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            checked = since
            while True:
                while checked < len(self._items):
                    item = self._items[checked]
                    checked += 1
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(_short(i) for i in self._items[max(since, checked - 15):])
                    raise AssertionError(
                        f"no {self.name} record matched within {timeout:.1f}s; "
                        f"last ones:\n  {tail or '(none)'}")
                self._cond.wait(left)


def _short(r: dict[str, Any]) -> str:
    keep = ("dir", "format", "u", "type", "cot", "negative", "select", "ca", "ioa", "value",
            "quality", "error")
    return " ".join(f"{k}={r[k]}" for k in keep if k in r and r[k] is not None)


def _member(enum: Any, value: int) -> Any:
    """c104 enum member by its integer value (c104's stubs lack int constructors)."""
    for member in enum.__members__.values():
        if int(member.value) == value:
            return member
    raise ValueError(f"{enum.__name__} has no member with value {value}")


def _plain(v: Any) -> Any:
    """c104 value objects -> plain Python (bool/int/float/bytes/None)."""
    if v is None or isinstance(v, (bool, int, float, str, bytes)):
        return v
    if c104 is not None and isinstance(v, c104.Byte32):
        return int.from_bytes(bytes(v), "big")
    if c104 is not None and isinstance(v, c104.NormalizedFloat):
        return float(v)  # type: ignore[arg-type]
    if hasattr(v, "value") and hasattr(v, "name"):  # c104 enums (Double, Step, ...)
        return int(v.value)
    for conv in (int, float):
        try:
            return conv(v)
        except (TypeError, ValueError):
            pass
    return repr(v)


# ---------------------------------------------------------------------------
# c104 master
# ---------------------------------------------------------------------------

@dataclass
class CommandResult:
    """What happened to one command sent by ``C104Master``.

    ``ok`` is c104's own verdict (see limits in the module doc: do not rely on
    it alone), a False turned True when c104 lost the wake-up of a positive
    answer (the final answer was handled before c104 returned, none negative). ``responses`` are the raw received ASDUs with the command's
    type id, CA and IOA that arrived while c104 was waiting; ``since`` indexes
    ``master.received`` just before sending, for later ``wait_for`` calls.
    """

    ok: bool
    since: int
    type_id: int
    ioa: int
    responses: list[dict[str, Any]] = field(default_factory=list)
    #: c104 lost the select's positive ACT_CON (see the module doc) and the
    #: harness sent the execute itself, one command timeout after the select
    execute_sent_by_harness: bool = False

    def _last(self, cot: int, select: bool | None = None) -> dict[str, Any] | None:
        hits = [r for r in self.responses
                if r["cot"] == cot and (select is None or r.get("select") is select)]
        return hits[-1] if hits else None

    @property
    def act_con(self) -> dict[str, Any] | None:
        """ACT_CON of the execute phase (or of a direct command)."""
        return self._last(COT_ACTIVATION_CON, select=False)

    @property
    def select_con(self) -> dict[str, Any] | None:
        """ACT_CON of the select phase (S/E=1), if a select was sent."""
        return self._last(COT_ACTIVATION_CON, select=True)

    @property
    def act_term(self) -> dict[str, Any] | None:
        return self._last(COT_ACTIVATION_TERMINATION)

    @property
    def negative(self) -> bool | None:
        """P/N bit of the first confirmation (select's if any), None if none came."""
        cons = [r for r in self.responses if r["cot"] in (COT_ACTIVATION_CON,
                                                          COT_DEACTIVATION_CON)]
        negs = [r for r in self.responses if r["negative"]]
        if negs:
            return True
        return None if not cons else False

    @property
    def cots(self) -> list[int]:
        return [r["cot"] for r in self.responses]


class C104Master:
    """A 104 master (controlling station) driven through c104.

    Example::

        with C104Master(port, ca=1) as m:
            m.wait_connected(5)
            assert m.interrogation()            # waits for ACT_CON + ACT_TERM
            m.wait_for(lambda r: r["type"] == "C_IC_NA_1" and r["cot"] == 10)
            res = m.single_command(200, True)   # direct execute
            assert res.act_con and not res.negative
            res = m.single_command(201, True, select=True)  # select, then execute
            m.wait_act_term(201, since=res.since)

    Records (plain dicts, in arrival order, thread-safe):

    * ``m.received``: every APDU c104 received, ``parse_apdu`` fields plus
      ``dir='rx'``, ``at`` (time.monotonic()), ``seq`` (index).
    * ``m.sent``: every APDU c104 sent (same shape, ``dir='tx'``).
    * ``m.updates``: per-point monitoring updates as c104 decoded them:
      ``type_id``, ``type``, ``cot``, ``ca``, ``ioa``, ``value`` (plain Python),
      ``quality`` (int bits, 0 = good), ``recorded_at`` (naive datetime|None),
      ``processed_at``, ``negative``, ``test``, ``at``.
    * ``m.unexpected``: c104's on_unexpected_message (``type``, ``cot``,
      ``ioa``, ``cause`` e.g. 'INVALID_COT').
    * ``m.states``: connection state names with ``at``.

    Use ``received`` for protocol assertions (COT, P/N, S/E, ACT_TERM) and
    ``updates`` for values.
    """

    def __init__(self, port: int, ca: int = 1, *, host: str = LOCALHOST,
                 init: str = "NONE", tick_rate_ms: int = 50, command_timeout_ms: int = 3000,
                 originator_address: int = 0) -> None:
        if c104 is None:
            pytest.skip("c104 is not installed (pip install -e '.[test]')")
        self.host, self.port, self.ca = host, port, ca
        self.received = _Log("received APDU")
        self.sent = _Log("sent APDU")
        self.updates = _Log("point update")
        self.unexpected = _Log("unexpected message")
        self.states = _Log("state")
        self._init = getattr(c104.Init, init)
        self._tick = tick_rate_ms
        self._cmd_timeout_ms = command_timeout_ms
        self._oa = originator_address
        self._lock = threading.Lock()
        self._muted_since: float | None = None
        self._startdt_sent: float | None = None
        self.client: Any = None
        self.connection: Any = None
        self.station: Any = None

    # -- lifecycle ---------------------------------------------------------
    def __enter__(self) -> Self:
        self.client = c104.Client(tick_rate_ms=self._tick,
                                  command_timeout_ms=self._cmd_timeout_ms)
        if self._oa:
            self.client.originator_address = self._oa
        cb = self._cb = self._callbacks()
        self.client.on_new_station(callable=cb["on_new_station"])
        self.client.on_new_point(callable=cb["on_new_point"])
        con = self.client.add_connection(ip=self.host, port=self.port, init=self._init)
        if con is None:
            raise RuntimeError(f"c104 refused connection to {self.host}:{self.port}")
        self.connection = con
        con.on_receive_raw(callable=cb["on_receive_raw"])
        con.on_send_raw(callable=cb["on_send_raw"])
        con.on_state_change(callable=cb["on_state_change"])
        con.on_unexpected_message(callable=cb["on_unexpected_message"])
        self.station = con.add_station(common_address=self.ca)
        self.client.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.stop()
            self.client = None

    # -- c104 callbacks -------------------------------------------------------
    # c104 checks each callback's parameter names AND annotations against its
    # stubs, with annotations evaluated (so no ``from __future__ import
    # annotations`` in this module); they are closures built in _callbacks()
    # so that importing this module does not need c104.
    def _callbacks(self) -> dict[str, Callable[..., Any]]:
        def on_receive_raw(connection: c104.Connection, data: bytes) -> None:
            rec = parse_apdu(bytes(data))
            rec.update(dir="rx", at=time.monotonic())
            self.received.append(rec)

        def on_send_raw(connection: c104.Connection, data: bytes) -> None:
            rec = parse_apdu(bytes(data))
            rec.update(dir="tx", at=time.monotonic())
            if rec.get("u") == "STARTDT_ACT":
                self._startdt_sent = rec["at"]
            self.sent.append(rec)

        def on_state_change(connection: c104.Connection, state: c104.ConnectionState) -> None:
            now = time.monotonic()
            if state == c104.ConnectionState.OPEN_MUTED:
                self._muted_since, self._startdt_sent = now, None
            self.states.append({"state": state.name, "at": now})

        def on_unexpected_message(connection: c104.Connection, message: c104.IncomingMessage,
                                  cause: c104.Umc) -> None:
            self.unexpected.append({"type": message.type.name, "cot": int(message.cot.value),
                                    "ca": message.common_address, "ioa": message.io_address,
                                    "negative": message.is_negative, "cause": cause.name,
                                    "at": time.monotonic()})

        def on_new_station(client: c104.Client, connection: c104.Connection,
                           common_address: int) -> None:
            connection.add_station(common_address=common_address)

        def on_new_point(client: c104.Client, station: c104.Station, io_address: int,
                         point_type: c104.Type) -> None:
            point = station.add_point(io_address=io_address, type=point_type)
            if point is not None:
                point.on_receive(callable=on_point)

        def on_point(point: c104.Point, previous_info: c104.Information,
                     message: c104.IncomingMessage) -> c104.ResponseState:
            q = point.quality
            self.updates.append({
                "type_id": int(point.type.value), "type": point.type.name,
                "cot": int(message.cot.value), "ca": message.common_address,
                "ioa": point.io_address, "value": _plain(point.value),
                "quality": int(q.value) if q is not None else None,
                "recorded_at": point.recorded_at, "processed_at": point.processed_at,
                "negative": message.is_negative, "test": message.is_test,
                "at": time.monotonic()})
            return c104.ResponseState.NONE

        return {name: fn for name, fn in locals().items() if name.startswith("on_")}

    # -- connection --------------------------------------------------------
    @property
    def state(self) -> str:
        return str(self.connection.state.name)

    def wait_connected(self, timeout: float = 5.0) -> None:
        """Block until STARTDT is confirmed (state OPEN); works around c104's
        connect race by re-sending STARTDT act when it was lost."""
        deadline = time.monotonic() + timeout
        OPEN, MUTED = c104.ConnectionState.OPEN, c104.ConnectionState.OPEN_MUTED
        while True:
            st = self.connection.state
            if st == OPEN:
                return
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(
                    f"c104 master not connected to {self.host}:{self.port} after {timeout}s "
                    f"(state {st.name}; states seen "
                    f"{[s['state'] for s in self.states.snapshot()]})")
            if st == MUTED and self._muted_since is not None:
                sent = self._startdt_sent
                if (sent is None and now - self._muted_since > 0.2) or \
                        (sent is not None and now - sent > 1.0):
                    self._startdt_sent = now
                    self.connection.unmute()
            time.sleep(0.01)

    def wait_disconnected(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connection.is_connected:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"still connected after {timeout}s")
            time.sleep(0.01)

    def disconnect(self) -> None:
        """Close the TCP connection (c104 will not reconnect until ``connect``)."""
        self.connection.disconnect()

    def connect(self) -> None:
        self.connection.connect()

    def startdt(self) -> bool:
        return bool(self.connection.unmute())

    def stopdt(self) -> bool:
        return bool(self.connection.mute())

    # -- application functions ----------------------------------------------
    def mark(self) -> int:
        """Index into ``received`` to pass as ``since=`` to ``wait_for``."""
        return len(self.received)

    def _settle(self, since: int, ok: bool, type_name: str, done_cot: int,
                ioa: int = 0) -> bool:
        """c104 can return before its raw callback for the answer has run: wait
        (briefly) until the answer that ends the exchange is in ``received``.
        Returns c104's verdict, except that a False becomes True when c104 lost
        the wake-up of a positive answer (module doc): the answer that ends the
        exchange was handled before c104 returned, and nothing of the exchange
        was negative. A True from c104 is never changed."""
        returned_at = time.monotonic()
        tid = TYPE_IDS[type_name]

        def own(r: dict[str, Any]) -> bool:
            return r.get("type_id") == tid and r.get("ca") in (self.ca, 0xFFFF)

        def final(r: dict[str, Any]) -> bool:
            if own(r):
                return bool(r["negative"] or r["cot"] >= COT_UNKNOWN_TYPE_ID
                            or r["cot"] == done_cot)
            # a read ends with the monitoring object itself (COT=5)
            return tid == 102 and r.get("cot") == COT_REQUEST and r.get("ioa") == ioa

        try:
            last = self.received.wait_for(final, 1.0 if ok else 0.2, since)
        except AssertionError:
            return ok
        if ok:
            return ok
        records = [r for r in self.received.snapshot(since) if own(r)]
        if any(r["negative"] or r["cot"] >= COT_UNKNOWN_TYPE_ID for r in records):
            return False
        if done_cot == COT_ACTIVATION_TERMINATION and not any(
                r["cot"] == COT_ACTIVATION_CON for r in records):
            return False
        return bool(last["at"] <= returned_at)

    def interrogation(self, qoi: int = 20, *, wait: bool = True) -> bool:
        """C_IC_NA_1; with wait, c104 blocks until ACT_CON and ACT_TERM."""
        since = self.mark()
        ok = bool(self.connection.interrogation(
            common_address=self.ca, qualifier=_member(c104.Qoi, qoi), wait_for_response=wait))
        if wait:
            ok = self._settle(since, ok, "C_IC_NA_1", COT_ACTIVATION_TERMINATION)
        return ok

    def counter_interrogation(self, rqt: int = 5, frz: int = 0, *, wait: bool = True) -> bool:
        """C_CI_NA_1 (rqt 5 = general, 1..4 = group; frz 0 = read)."""
        since = self.mark()
        ok = bool(self.connection.counter_interrogation(
            common_address=self.ca, qualifier=_member(c104.Rqt, rqt),
            freeze=_member(c104.Frz, frz), wait_for_response=wait))
        if wait:
            ok = self._settle(since, ok, "C_CI_NA_1", COT_ACTIVATION_TERMINATION)
        return ok

    def clock_sync(self, *, wait: bool = True) -> bool:
        """C_CS_NA_1 with the host clock (c104 gives no way to choose the time)."""
        since = self.mark()
        ok = bool(self.connection.clock_sync(common_address=self.ca, wait_for_response=wait))
        if wait:
            ok = self._settle(since, ok, "C_CS_NA_1", COT_ACTIVATION_CON)
        return ok

    def test_command(self, *, with_time: bool = True, wait: bool = True) -> bool:
        """C_TS_TA_1 (or C_TS_NA_1); c104 prints 'Unsupported type C_TS_TA_1'
        to stderr when the confirmation arrives; harmless."""
        since = self.mark()
        ok = bool(self.connection.test(common_address=self.ca, with_time=with_time,
                                       wait_for_response=wait))
        if wait:
            ok = self._settle(since, ok, "C_TS_TA_1" if with_time else "C_TS_NA_1",
                         COT_ACTIVATION_CON)
        return ok

    def read(self, ioa: int, type_name: str | None = None) -> bool:
        """C_RD_NA_1 for ``ioa``. c104 needs a local point: one seen before is
        reused, else one of ``type_name`` (default M_SP_NA_1) is added; if the
        answer's type differs, ``updates`` may not show it, but the raw answer
        is always in ``received``."""
        point = self.station.get_point(io_address=ioa)
        if point is None:
            point = self.station.add_point(io_address=ioa,
                                           type=getattr(c104.Type, type_name or "M_SP_NA_1"))
            point.on_receive(callable=self._cb["on_point"])
        since = self.mark()
        ok = bool(point.read())
        return self._settle(since, ok, "C_RD_NA_1", -1, ioa)

    def single_command(self, ioa: int, value: bool, select: bool = False,
                       qu: int = 0) -> CommandResult:
        """C_SC_NA_1. select=False: direct execute (returns at ACT_CON).
        select=True: c104's select-before-operate (select, ACT_CON, execute,
        ACT_CON, ACT_TERM)."""
        cmd = c104.SingleCmd(on=value, qualifier=_member(c104.Qoc, qu))
        return self._command("C_SC_NA_1", ioa, cmd, select)

    def single_command_at(self, ioa: int, value: bool, recorded_at: _dt.datetime, *,
                          qu: int = 0) -> CommandResult:
        """C_SC_TA_1 (direct) carrying the time tag ``recorded_at`` (an aware UTC datetime)."""
        cmd = c104.SingleCmd(on=value, qualifier=_member(c104.Qoc, qu), recorded_at=recorded_at)
        return self._command("C_SC_TA_1", ioa, cmd, False)

    def double_command(self, ioa: int, state: int, select: bool = False,
                       qu: int = 0) -> CommandResult:
        """C_DC_NA_1, state 1 = OFF, 2 = ON."""
        cmd = c104.DoubleCmd(state=_member(c104.Double, state), qualifier=_member(c104.Qoc, qu))
        return self._command("C_DC_NA_1", ioa, cmd, select)

    def _command(self, type_name: str, ioa: int, info: Any, select: bool) -> CommandResult:
        mode = (c104.CommandMode.SELECT_AND_EXECUTE if select else c104.CommandMode.DIRECT)
        ctype = getattr(c104.Type, type_name)
        tid = TYPE_IDS[type_name]

        def mine(r: dict[str, Any]) -> bool:
            return (r["dir"] == "rx" and r.get("type_id") == tid and r.get("ioa") == ioa
                    and r.get("ca") == self.ca)

        by_harness = False
        with self._lock:
            point = self.station.get_point(io_address=ioa)
            if point is None or point.type != ctype:
                if point is not None:
                    self.station.remove_point(io_address=ioa)
                point = self.station.add_point(io_address=ioa, type=ctype, command_mode=mode)
            point.command_mode = mode
            point.info = info
            since, sent_since = self.mark(), len(self.sent)
            ok = bool(point.transmit(cause=c104.Cot.ACTIVATION))
            returned_at = time.monotonic()
            if select and not ok and self._select_con_lost(tid, ioa, since, sent_since,
                                                           time.monotonic()):
                # c104's lost wake-up (module doc): the outstation confirmed the
                # select in time, c104 dropped that and sent no execute. Send the
                # execute as c104 should have (same object, S/E=0); the answers
                # are still checked by the caller, only later.
                log.warning("c104 lost the positive select ACT_CON of %s IOA %d (c104 bug, "
                            "see tests/integration/peers.py); the harness sends the execute",
                            type_name, ioa)
                by_harness = True
                point.command_mode = c104.CommandMode.DIRECT
                try:
                    ok = bool(point.transmit(cause=c104.Cot.ACTIVATION))
                finally:
                    point.command_mode = mode
                returned_at = time.monotonic()

        def final(r: dict[str, Any]) -> bool:
            # c104 can return before its raw callback for the answer has run,
            # so wait for the answer that ends this command's exchange.
            if not mine(r):
                return False
            if r["negative"] or r["cot"] >= COT_UNKNOWN_TYPE_ID:
                return True
            if select:
                return bool(r["cot"] == COT_ACTIVATION_TERMINATION)
            return bool(r["cot"] == COT_ACTIVATION_CON)

        try:
            self.received.wait_for(final, 1.0 if ok or by_harness else 0.3, since)
        except AssertionError:
            pass
        time.sleep(0.05)  # trailing answers (e.g. a COT=47 after a negative ACT_CON)
        responses = [r for r in self.received.snapshot(since) if mine(r)]
        if not ok:  # c104's lost wake-up on a positive answer (module doc)?
            done = (COT_ACTIVATION_TERMINATION if select and not by_harness
                    else COT_ACTIVATION_CON)
            ok = (not any(r["negative"] or r["cot"] >= COT_UNKNOWN_TYPE_ID for r in responses)
                  and any(r["cot"] == done and r.get("select") is False
                          and r["at"] <= returned_at for r in responses))
        return CommandResult(ok=ok, since=since, type_id=tid, ioa=ioa, responses=responses,
                             execute_sent_by_harness=by_harness)

    def _select_con_lost(self, tid: int, ioa: int, since: int, sent_since: int,
                         returned_at: float) -> bool:
        """After c104's select-before-operate returned False: True only for c104's lost
        wake-up, i.e. the one answer is a positive select ACT_CON, handled before
        c104 gave up, and c104 sent no execute. A negative or missing confirmation,
        any other answer, or one after the timeout stays c104's (correct) False."""
        def mine(r: dict[str, Any]) -> bool:
            return (r.get("type_id") == tid and r.get("ioa") == ioa
                    and r.get("ca") == self.ca)

        def select_con(r: dict[str, Any]) -> bool:
            return mine(r) and r["cot"] == COT_ACTIVATION_CON and r.get("select") is True

        try:  # c104 runs the raw callbacks on another thread, a little later
            con = self.received.wait_for(select_con, 0.5, since)
        except AssertionError:
            return False
        answers = [r for r in self.received.snapshot(since) if mine(r)]
        executes = [r for r in self.sent.snapshot(sent_since)
                    if mine(r) and r.get("select") is False]
        return (answers == [con] and not con["negative"] and con["at"] <= returned_at
                and not executes)

    # -- waiting -------------------------------------------------------------
    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0, *,
                 since: int = 0) -> dict[str, Any]:
        """First record in ``received[since:]`` matching predicate (waits up to
        ``timeout``; AssertionError listing the last records otherwise)."""
        return self.received.wait_for(predicate, timeout, since)

    def wait_update(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 3.0, *,
                    since: int = 0) -> dict[str, Any]:
        return self.updates.wait_for(predicate, timeout, since)

    def wait_act_term(self, ioa: int, type_name: str = "C_SC_NA_1", *, since: int = 0,
                      timeout: float = 3.0) -> dict[str, Any]:
        tid = TYPE_IDS[type_name]
        return self.wait_for(lambda r: r.get("type_id") == tid and r.get("ioa") == ioa
                             and r.get("cot") == COT_ACTIVATION_TERMINATION,
                             timeout, since=since)

    def asdus(self, since: int = 0, **match: Any) -> list[dict[str, Any]]:
        """Received I-frames whose fields equal ``match``, e.g. asdus(type='M_SP_NA_1', cot=20)."""
        return [r for r in self.received.snapshot(since) if r["format"] == "I"
                and all(r.get(k) == v for k, v in match.items())]


# ---------------------------------------------------------------------------
# raw socket master for what c104 cannot send
# ---------------------------------------------------------------------------

class Raw104Client:
    """Minimal 104 master over a plain socket, for frames c104 cannot produce.

    Keeps N(S)/N(R); acknowledges received I-frames with an S-frame every
    ``w`` frames and on ``ack()``. Example::

        with Raw104Client(port) as r:
            r.startdt()
            r.send_asdu(build_asdu("C_SC_NA_1", COT_ACTIVATION, 1, [(201, sco(True, select=True))]))
            con = r.recv_until(lambda a: a.get("cot") == COT_ACTIVATION_CON)
            assert con["select"] and not con["negative"]
    """

    def __init__(self, port: int, host: str = LOCALHOST, *, w: int = 8,
                 connect_timeout: float = 3.0) -> None:
        self.host, self.port, self.w = host, port, w
        self._connect_timeout = connect_timeout
        self.sock: socket.socket | None = None
        self.tx_seq = 0
        self.rx_seq = 0
        self._unacked = 0
        self._buf = b""
        self.received: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        self.sock = socket.create_connection((self.host, self.port), self._connect_timeout)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def send_asdu(self, asdu: bytes) -> None:
        self.send_raw(i_frame(asdu, self.tx_seq, self.rx_seq))
        self.tx_seq = (self.tx_seq + 1) % 32768
        self._unacked = 0

    def ack(self) -> None:
        self.send_raw(s_frame(self.rx_seq))
        self._unacked = 0

    def startdt(self, timeout: float = 3.0) -> None:
        self.send_raw(STARTDT_ACT)
        self.recv_until(lambda a: a.get("u") == "STARTDT_CON", timeout)

    def recv(self, timeout: float = 3.0) -> dict[str, Any] | None:
        """Next APDU as ``parse_apdu`` dict; None on timeout or when the peer
        closed (then ``closed`` is True)."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            if len(self._buf) >= 2 and len(self._buf) >= 2 + self._buf[1]:
                n = 2 + self._buf[1]
                frame, self._buf = self._buf[:n], self._buf[n:]
                rec = parse_apdu(frame)
                rec.update(dir="rx", at=time.monotonic())
                if rec["format"] == "I":
                    self.rx_seq = (rec["tx_seq"] + 1) % 32768
                    self._unacked += 1
                    if self._unacked >= self.w:
                        self.ack()
                elif rec.get("u") == "TESTFR_ACT":
                    self.send_raw(bytes.fromhex("680483000000"))
                self.received.append(rec)
                return rec
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                return None
            except ConnectionError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self._buf += chunk

    closed = False

    def recv_until(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float = 3.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            rec = self.recv(max(0.0, deadline - time.monotonic()))
            if rec is not None and predicate(rec):
                return rec
            if rec is None:
                tail = "\n  ".join(_short(r) for r in self.received[-15:])
                raise AssertionError(f"no matching APDU within {timeout:.1f}s "
                                     f"(closed={self.closed}); last:\n  {tail or '(none)'}")


# ---------------------------------------------------------------------------
# tshark
# ---------------------------------------------------------------------------

def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (scripts/setup-test installs tshark)")
    return path


class TsharkCapture:
    """Capture ``tcp port PORT`` on ``lo`` into a pcapng with dumpcap.

    ``__enter__`` returns once dumpcap has the interface open ("File:" on its
    stderr), or skips the test if dumpcap is missing or may not capture.
    ``__exit__`` waits ``settle`` seconds for the last packets, stops dumpcap
    with SIGTERM (SIGINT is ignored by background jobs of non-interactive
    shells, SIGTERM is not) and leaves the file at ``.path``::

        with TsharkCapture(port, tmp_path / "gi.pcapng") as cap:
            ...
        frames = tshark_decode_104(cap.path, port)
    """

    def __init__(self, port: int, path: str | os.PathLike[str] | None = None, *,
                 interface: str = "lo", start_timeout: float = 5.0,
                 settle: float = 0.3) -> None:
        self.port = port
        self.interface = interface
        self.start_timeout = start_timeout
        self.settle = settle
        if path is None:
            fd, tmp = tempfile.mkstemp(prefix=f"iec104-{port}-", suffix=".pcapng")
            os.close(fd)
            path = tmp
        self.path = Path(path)
        self.proc: subprocess.Popen[bytes] | None = None
        self._err_path = self.path.with_suffix(".dumpcap.log")

    def __enter__(self) -> Self:
        tool = shutil.which("dumpcap")
        args: list[str]
        if tool is not None:
            args = [tool]
        else:
            args = [_need("tshark")]
        args += ["-i", self.interface, "-f", f"tcp port {self.port}", "-w", str(self.path), "-q"]
        self.path.unlink(missing_ok=True)
        err = open(self._err_path, "wb")
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        finally:
            err.close()
        deadline = time.monotonic() + self.start_timeout
        while True:
            text = self._stderr()
            if self.proc.poll() is not None:
                pytest.skip(f"cannot capture on {self.interface}: "
                            f"{' '.join(text.split())[:300] or 'dumpcap exited'}")
            if "File:" in text:  # after "Capturing on", once the device is open
                return self
            if time.monotonic() >= deadline:
                self._kill()
                pytest.skip(f"dumpcap did not start within {self.start_timeout}s: {text[:300]}")
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Path:
        if self.proc is not None and self.proc.poll() is None:
            time.sleep(self.settle)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None
        return self.path

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def _stderr(self) -> str:
        try:
            return self._err_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class Decoded104(list):  # type: ignore[type-arg]
    """``list[dict]`` of APDUs as Wireshark decoded them, plus problem flags.

    ``malformed``: True if any frame of the capture had a malformed-packet or
    an error-severity expert item; ``problems``: [(frame, text), ...].
    """

    malformed: bool = False
    problems: list[tuple[int, str]]

    def __init__(self) -> None:
        super().__init__()
        self.problems = []

    def i_frames(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self if r["format"] == "I"
                and all(r.get(k) == v for k, v in match.items())]


_APCI = {0: "I", 1: "S", 3: "U"}
_PDML_ASDU_FIELDS = {"iec60870_asdu.typeid": "type_id", "iec60870_asdu.causetx": "cot",
                     "iec60870_asdu.addr": "ca", "iec60870_asdu.oa": "oa",
                     "iec60870_asdu.numix": "count"}
_PDML_BOOL_FIELDS = {"iec60870_asdu.nega": "negative", "iec60870_asdu.test": "test",
                     "iec60870_asdu.sq": "sq"}
_SE_FIELDS = ("iec60870_asdu.sco.se", "iec60870_asdu.dco.se", "iec60870_asdu.rco.se",
              "iec60870_asdu.qos.se")


def tshark_decode_104(pcap: str | os.PathLike[str], port: int, *,
                      timeout: float = 30.0) -> Decoded104:
    """Decode a capture with ``tshark -d tcp.port==PORT,iec60870_104 -T pdml``.

    One dict per APDU, in capture order: ``frame``, ``time`` (relative s),
    ``dir`` ('to_server' if sent to PORT else 'from_server'), ``format``
    ('I'|'S'|'U'), ``u`` (e.g. 'STARTDT act'), ``tx_seq``/``rx_seq``; for I:
    ``type_id``, ``type`` (name), ``cot``, ``negative``, ``test``, ``sq``,
    ``count``, ``oa``, ``ca``, ``ioa`` (first), ``ioas`` (all), ``select``
    (S/E of the first command object or None), ``info`` (Wireshark summary).
    """
    tshark = _need("tshark")
    proc = subprocess.run(
        [tshark, "-r", str(pcap), "-d", f"tcp.port=={port},iec60870_104", "-T", "pdml"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tshark failed ({proc.returncode}): "
                           f"{proc.stderr.decode(errors='replace')[:500]}")
    out = Decoded104()
    root = ET.fromstring(proc.stdout)
    for packet in root.iter("packet"):
        frame, rel, dport = 0, 0.0, None
        for f in packet.iter("field"):
            name = f.get("name")
            if name == "frame.number":
                frame = int(f.get("show", "0"))
            elif name == "frame.time_relative":
                rel = float(f.get("show", "0"))
            elif name == "tcp.dstport" and dport is None:
                dport = int(f.get("show", "0"))
            elif name == "_ws.expert.severity" and f.get("show", "").lower() == "error" \
                    or name == "_ws.expert" and "error" in (f.get("showname") or "").lower():
                out.problems.append((frame, f.get("showname") or f.get("show") or name))
        direction = "to_server" if dport == port else "from_server"
        current: dict[str, Any] | None = None
        for proto in packet.findall("proto"):
            pname = proto.get("name")
            if pname == "_ws.malformed":
                out.problems.append((frame, proto.get("showname") or "malformed"))
            elif pname == "iec60870_104":
                current = {"frame": frame, "time": rel, "dir": direction, "format": "?",
                           "u": None, "type_id": None, "type": None, "cot": None,
                           "negative": None, "ioa": None, "ioas": [], "select": None}
                for f in proto.iter("field"):
                    name, show = f.get("name"), f.get("show", "")
                    if name == "iec60870_104.type":
                        current["format"] = _APCI.get(int(show, 0), "?")
                    elif name == "iec60870_104.utype":
                        current["u"] = (f.get("showname") or "").split(": ", 1)[-1] \
                            .rsplit(" (", 1)[0]
                    elif name == "iec60870_104.tx":
                        current["tx_seq"] = int(show)
                    elif name == "iec60870_104.rx":
                        current["rx_seq"] = int(show)
                out.append(current)
            elif pname == "iec60870_asdu":
                if current is None:
                    continue
                current["info"] = proto.get("showname")
                for f in proto.iter("field"):
                    name, show = f.get("name"), f.get("show", "")
                    if name in _PDML_ASDU_FIELDS:
                        current[_PDML_ASDU_FIELDS[name]] = int(show, 0)
                    elif name in _PDML_BOOL_FIELDS:
                        current[_PDML_BOOL_FIELDS[name]] = show in ("1", "True", "true")
                    elif name == "iec60870_asdu.ioa":
                        current["ioas"].append(int(show, 0))
                    elif name in _SE_FIELDS and current["select"] is None:
                        current["select"] = show in ("1", "True", "true")
                if current["type_id"] is not None:
                    current["type"] = TYPES.get(current["type_id"],
                                                (f"TYPE_{current['type_id']}", 0))[0]
                if current["ioas"]:
                    current["ioa"] = current["ioas"][0]
                current = None
    out.malformed = bool(out.problems)
    return out
