"""IEC 60870-5-101 server: a serial port (pyserial) around the sans-I/O FT1.2 link layer and the
shared outstation.

The port is read through the event loop (add_reader on its file descriptor), never polled. A
port that cannot be opened, or that disappears (a yanked USB adapter), is reported and reopened
with backoff; meanwhile the link is down and its events wait in the session's group backlog.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.cs101.link import LinkLayer, LinkParameters, LinkStateChanged
from rtu.iec.outstation import Outstation, Session
from rtu.monitor import TAP

log = logging.getLogger(__name__)

PARITIES = {"N": "N", "E": "E", "O": "O"}
FT12_MAX_LENGTH = 255  # octets counted by L: control, address and ASDU
REOPEN_BACKOFF_FIRST = 1.0
REOPEN_BACKOFF_MAX = 30.0
_BITS_PER_CHAR_OVERHEAD = 2  # start bit + parity counted with the stop bits below


@dataclass(frozen=True, slots=True)
class SerialSettings:
    device: str
    baudrate: int = 9600
    parity: str = "E"
    bytesize: int = 8
    stopbits: float = 1
    rs485: bool = False  # kernel RS-485 mode (TIOCSRS485); most USB adapters switch by themselves

    def __post_init__(self) -> None:
        if self.parity not in PARITIES:
            raise ValueError(f"parity must be N, E or O, got {self.parity!r}")
        if self.bytesize not in (7, 8):
            raise ValueError(f"bytesize must be 7 or 8, got {self.bytesize}")
        if self.stopbits not in (1, 1.5, 2):
            raise ValueError(f"stopbits must be 1, 1.5 or 2, got {self.stopbits}")
        if self.baudrate <= 0:
            raise ValueError(f"baudrate must be > 0, got {self.baudrate}")

    @property
    def char_time(self) -> float:
        """Seconds one character takes on the line (start, data, parity, stop bits)."""
        bits = 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits
        return bits / self.baudrate


@dataclass(frozen=True, slots=True)
class Iec101Settings:
    serial: SerialSettings
    link: LinkParameters
    cot_size: int = 2
    ca_size: int = 2
    ioa_size: int = 3
    group: str = ""  # event group; default: one per serial line

    def profile(self) -> AsduProfile:
        max_asdu = FT12_MAX_LENGTH - 1 - self.link.address_size
        return AsduProfile(self.cot_size, self.ca_size, self.ioa_size, max_asdu_length=max_asdu)


class _Application:
    """The link layer's view of a Session (the ApplicationLayer protocol of cs101.link)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def has_class1(self) -> bool:
        return self.session.has_output()

    def next_class1(self) -> bytes | None:
        out = self.session.next_output()
        return None if out is None else out.asdu

    def next_class2(self) -> bytes | None:
        return None  # no cyclic or background data is configured

    def confirmed(self) -> None:
        self.session.acknowledged(1)

    def receive(self, asdu: bytes) -> None:
        self.session.receive(asdu)

    def link_up(self) -> None:
        self.session.activate()

    def link_down(self) -> None:
        self.session.deactivate()


class Iec101Server:
    def __init__(self, outstation: Outstation, settings: Iec101Settings) -> None:
        self.outstation = outstation
        self.settings = settings
        self.name = f"101:{settings.serial.device}"  # also its Source name for the supervisor
        self.group = settings.group or self.name
        self.profile = settings.profile()
        outstation.group(self.group)  # events are kept from start-up on
        self.session: Session | None = None
        self.link: LinkLayer | None = None
        self.opened = asyncio.Event()
        self.reopens = 0
        self._serial: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Event | None = None

    async def run(self) -> None:
        """Open the port and serve it; reopen with backoff whenever it fails. Runs until cancelled."""
        self._loop = asyncio.get_running_loop()
        delay = REOPEN_BACKOFF_FIRST
        try:
            while True:
                try:
                    self._open()
                except OSError as exc:
                    log.error("%s: cannot open the serial port: %s; retrying in %.0f s",
                              self.name, exc, delay)
                else:
                    delay = REOPEN_BACKOFF_FIRST
                    assert self._lost is not None
                    await self._lost.wait()
                    self._close()
                    self.reopens += 1
                    log.warning("%s: serial port lost; reopening in %.0f s", self.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REOPEN_BACKOFF_MAX)
        finally:
            self._close()

    # -- port --------------------------------------------------------------------------------
    def _open(self) -> None:
        import serial  # pyserial; imported here so that 104-only installs never need it
        import serial.rs485

        s = self.settings.serial
        try:
            port = serial.Serial(
                s.device, s.baudrate, bytesize=s.bytesize, parity=PARITIES[s.parity],
                stopbits=s.stopbits, timeout=0, write_timeout=None, exclusive=True,
            )
        except serial.SerialException as exc:
            raise OSError(str(exc)) from exc
        if s.rs485:
            try:
                port.rs485_mode = serial.rs485.RS485Settings()
            except (OSError, ValueError, serial.SerialException) as exc:
                port.close()
                raise OSError(f"kernel RS-485 mode (TIOCSRS485) refused: {exc}") from exc
        # what arrived before we opened (a pty keeps it; a real line would have lost it) is stale
        port.reset_input_buffer()
        loop = self._loop
        assert loop is not None
        self._serial = port
        self._lost = asyncio.Event()
        self.session = self.outstation.open_session(self.name, self.profile, self.group, self._wake)
        self.link = LinkLayer(self.settings.link, _Application(self.session), loop.time())
        loop.add_reader(port.fileno(), self._on_readable)
        log.info("%s: serial port open (%d baud, %d%s%g, %s mode, link address %d)", self.name,
                 s.baudrate, s.bytesize, s.parity, s.stopbits, self.settings.link.mode.value,
                 self.settings.link.address)
        self.opened.set()
        self._flush()

    def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._serial is not None:
            if self._loop is not None:
                self._loop.remove_reader(self._serial.fileno())
            try:
                self._serial.close()
            except OSError:
                pass
            self._serial = None
        if self.session is not None:
            self.session.close()
            self.session = None
        self.link = None
        self.opened.clear()

    def _fail(self, exc: BaseException) -> None:
        log.error("%s: serial port error: %s", self.name, exc)
        if self._serial is not None and self._loop is not None:
            self._loop.remove_reader(self._serial.fileno())
        if self._lost is not None:
            self._lost.set()

    # -- I/O ---------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        link, port, loop = self.link, self._serial, self._loop
        if link is None or port is None or loop is None:
            return
        try:
            data = port.read(max(1, port.in_waiting))
        except OSError as exc:  # pyserial's SerialException is an OSError
            self._fail(exc)
            return
        if not data:
            # readable but nothing to read: the device went away (a yanked USB adapter)
            self._fail(OSError("device disconnected"))
            return
        log.debug("%s rx %s", self.name, data.hex(" "))
        if TAP.watchers:  # `rtu monitor` attached (rtu/monitor.py)
            TAP.frame("101", self.name, "rx", data)
        self._handle(link.receive_data(data, loop.time()))
        self._flush()

    def _handle(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, LinkStateChanged):
                log.info("%s: link %s (%s)", self.name, "up" if event.up else "down", event.reason)

    def _wake(self) -> None:
        if self.link is not None and self._loop is not None:
            self._loop.call_soon(self._poll_application)

    def _poll_application(self) -> None:
        if self.link is not None and self._loop is not None:
            self.link.poll_application(self._loop.time())
            self._flush()

    def _flush(self) -> None:
        link, port, loop = self.link, self._serial, self._loop
        if link is None or port is None or loop is None:
            return
        data = link.data_to_send()
        if data:
            log.debug("%s tx %s", self.name, data.hex(" "))
            if TAP.watchers:
                TAP.frame("101", self.name, "tx", data)
            try:
                port.write(data)
            except OSError as exc:
                self._fail(exc)
                return
        self._arm_timer()

    def _arm_timer(self) -> None:
        link, loop = self.link, self._loop
        if link is None or loop is None:
            return
        deadline = link.next_deadline()
        if self._timer is not None:
            if deadline is not None and self._timer.when() <= deadline:
                return
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        link, loop = self.link, self._loop
        if link is None or loop is None:
            return
        self._handle(link.on_timer(loop.time()))
        self._flush()
