"""The command audit: every command's answer and every operator action, on record.

Each answer the outstation gives to a command (ACT_CON or DEACT_CON, positive or negative, and
ACT_TERM) becomes an audit record: time, link (the master), originator address, type, IOA and
point, value, select or execute, outcome and the reason of a refusal. So does every operator
action on the box (``rtu substitute``, ``rtu block``, ``rtu release``: who, which point, what).
Records go into the sequence-of-events log (kind ``command`` or ``operator``; `rtu soe`) and,
when ``[soe] syslog`` names a collector, to it as RFC 5424 messages over UDP (one datagram
each) or TCP (octet-counted framing, RFC 6587), from a bounded queue: a collector that is away
or slow loses records (counted, logged), it never holds up the outstation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from rtu.iec.asdu.objects import Asdu
from rtu.iec.asdu.types import Cot
from rtu.soe import ActionRecord, SoeLog, SyslogTarget, parse_syslog, value_text

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

log = logging.getLogger(__name__)

SYSLOG_QUEUE: Final = 1000  # records waiting for the collector before drops
SYSLOG_RETRY: Final = 5.0  # seconds before a TCP collector is tried again
_FACILITY_AUTHPRIV: Final = 10  # security/authorisation messages (private)
_NOTICE, _WARNING = 5, 4
_APP: Final = "rtu"


def rfc5424(record: ActionRecord, *, hostname: str, procid: int, severity: int) -> bytes:
    """One RFC 5424 message: structured data carry the fields, MSG the text."""
    stamp = datetime.fromtimestamp(record.time, tz=UTC).isoformat(timespec="milliseconds")
    fields = {"kind": record.kind, "point": record.point, "ioa": str(record.ioa),
              "type": record.type, "value": record.value, "outcome": record.outcome,
              "cause": record.cause}
    params = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in fields.items())
    message = (f"{record.kind} {record.point or record.ioa} {record.type} {record.value}: "
               f"{record.outcome}" + (f" ({record.detail})" if record.detail else ""))
    pri = _FACILITY_AUTHPRIV * 8 + severity
    msgid = "COMMAND" if record.kind == "command" else "OPERATOR"
    return (f"<{pri}>1 {stamp.replace('+00:00', 'Z')} {hostname} {_APP} {procid} {msgid} "
            f"[audit@32473 {params}] {message}").encode()


def _sd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


class SyslogSender:
    """Sends records to one collector from a bounded queue (the run() task)."""

    def __init__(self, target: SyslogTarget) -> None:
        self.target = target
        self.hostname = socket.gethostname() or "-"
        self.queue: deque[bytes] = deque()
        self.sent = 0
        self.dropped = 0
        self._wake = asyncio.Event()

    def send(self, record: ActionRecord, severity: int) -> None:
        if len(self.queue) >= SYSLOG_QUEUE:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("syslog %s:%d: %d audit records dropped (collector away or slow)",
                            self.target.host, self.target.port, self.dropped)
            return
        self.queue.append(rfc5424(record, hostname=self.hostname, procid=os.getpid(),
                                  severity=severity))
        self._wake.set()

    async def run(self) -> None:
        if self.target.transport == "udp":
            await self._run_udp()
        else:
            await self._run_tcp()

    async def _run_udp(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.target.host, self.target.port,
                                       type=socket.SOCK_DGRAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as sock:
            sock.setblocking(False)
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self.queue:
                    try:
                        sock.sendto(self.queue.popleft(), address)
                        self.sent += 1
                    except OSError as exc:  # a full buffer, no route: this record is lost
                        self.dropped += 1
                        log.debug("syslog datagram not sent: %s", exc)

    async def _run_tcp(self) -> None:
        while True:
            try:
                async with asyncio.timeout(10.0):
                    _, writer = await asyncio.open_connection(self.target.host,
                                                              self.target.port)
            except (OSError, TimeoutError) as exc:
                log.warning("syslog %s:%d: cannot connect: %s", self.target.host,
                            self.target.port, exc)
                await asyncio.sleep(SYSLOG_RETRY)
                continue
            try:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    while self.queue:
                        message = self.queue[0]
                        writer.write(f"{len(message)} ".encode() + message)
                        async with asyncio.timeout(10.0):
                            await writer.drain()
                        self.queue.popleft()
                        self.sent += 1
            except (OSError, TimeoutError) as exc:
                log.warning("syslog %s:%d: connection lost: %s", self.target.host,
                            self.target.port, exc)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(SYSLOG_RETRY)


_OUTCOME: Final = {
    (Cot.ACTIVATION_CON, False): "confirmed", (Cot.ACTIVATION_CON, True): "REFUSED",
    (Cot.DEACTIVATION_CON, False): "deactivated", (Cot.DEACTIVATION_CON, True): "REFUSED",
    (Cot.ACTIVATION_TERMINATION, False): "executed",
    (Cot.ACTIVATION_TERMINATION, True): "FAILED",
}


def build_audit(sup: Supervisor) -> Audit:
    """The running supervisor's audit: into its log, and to [soe] syslog when set."""
    settings = sup.config.soe
    syslog = SyslogSender(parse_syslog(settings.syslog)) if settings.syslog else None

    def name(ioa: int) -> str:
        point = sup.db.by_ioa(ioa)  # the supervisor's database of the moment (reloads)
        return point.name if point is not None else ""

    return Audit(sup.soe, syslog, names=name)


class Audit:
    """Turns command answers and operator actions into records for the log and syslog."""

    def __init__(self, soe: SoeLog | None, syslog: SyslogSender | None = None, *,
                 names: Callable[[int], str] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.soe = soe
        self.syslog = syslog
        self.names = names or (lambda ioa: "")
        self.wall = wall

    def answered(self, master: str, answer: Asdu, reason: str) -> None:
        obj = answer.objects[0] if answer.objects else None
        ioa = obj.ioa if obj is not None else 0
        select = bool(getattr(obj, "select", False))
        step = "select" if select else "execute"
        if answer.cot == Cot.DEACTIVATION_CON:
            step = "deactivate"
        outcome = _OUTCOME.get((answer.cot, answer.negative)) or (
            f"REFUSED ({int(answer.cot)} {answer.cot.name})" if answer.negative
            else answer.cot.name)
        detail = f"link {master}, originator {answer.originator}, {step}"
        if answer.test:
            detail += ", TEST"
        if reason and answer.negative:
            detail += f", reason: {reason}"
        record = ActionRecord(self.wall(), "command", self.names(ioa), ioa, answer.type_id.name,
                              value_text(obj) if obj is not None else "", f"{step} {outcome}",
                              answer.cot.name, detail)
        self._record(record, _WARNING if answer.negative else _NOTICE)

    def operator(self, action: str, point: str, ioa: int, value: str, who: str) -> None:
        record = ActionRecord(self.wall(), "operator", point, ioa, action, value, "done", "-",
                              f"by {who}")
        self._record(record, _NOTICE)

    def _record(self, record: ActionRecord, severity: int) -> None:
        log.info("audit: %s %s %s %s: %s (%s)", record.kind, record.point or record.ioa,
                 record.type, record.value, record.outcome, record.detail)
        if self.soe is not None:
            self.soe.action(record)
        if self.syslog is not None:
            self.syslog.send(record, severity)
