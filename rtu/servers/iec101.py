"""IEC 60870-5-101 server: a serial port (pyserial) around the sans-I/O link cores of
rtu/iec/cs101 (unbalanced or balanced) and the shared outstation.

The port is read through the event loop (add_reader on its file descriptor), never polled. A
port that cannot be opened, or that disappears (a yanked USB adapter), is reported and reopened
with backoff; meanwhile the link is down and its events wait in the session's group backlog.

This driver only moves octets, timers and ASDUs: it feeds the core, acts on its events (ASDUs
to the session, confirmations, link up/down), and offers the session's next output to the core
(unbalanced: one class 1 ASDU held for the next poll plus whether more waits, for ACD, and one
class 2 ASDU of periodic or background data; balanced: the next ASDU whenever the primary is free).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rtu.frozen import frozen
from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.cs101.balanced import BalancedLink
from rtu.iec.cs101.link import (
    AsduReceived,
    DataConfirmed,
    Event,
    LinkMode,
    LinkParameters,
    LinkStateChanged,
    inter_character_timeout,
)
from rtu.iec.cs101.unbalanced import UnbalancedLink
from rtu.iec.outstation import Outstation, Session
from rtu.iec.outstation.lineclock import LineClock
from rtu.servers.loop import call_at_end_of_turn
from rtu.tap import TAP

log = logging.getLogger(__name__)

PARITIES = {"N": "N", "E": "E", "O": "O"}
FT12_MAX_LENGTH = 255  # octets counted by L: control, address and ASDU
DEFAULT_INTER_CHARACTER_TIMEOUT_MIN = 0.05  # USB adapters deliver octets in bursts ~16 ms apart
REOPEN_BACKOFF_FIRST = 1.0
REOPEN_BACKOFF_MAX = 30.0
TIME_TAGS = ("cp56", "cp24")  # [iec101] time_tag
_BITS_PER_CHAR_OVERHEAD = 2  # start bit + parity counted with the stop bits below


@frozen
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


@frozen
class Iec101Settings:
    serial: SerialSettings
    link: LinkParameters
    cot_size: int = 2
    ca_size: int = 2
    ioa_size: int = 3
    group: str = ""  # event group; default: one per serial line
    # unbalanced multi-drop: more logical stations on this line, each behind its own link
    # address: (link address, common address); the link address above serves the others
    stations: tuple[tuple[int, int], ...] = ()
    # floor of the FT1.2 inter-character timeout (seconds); the timeout in force is the larger
    # of this and 33 bit times at the baud rate, unless link.idle_timeout is set explicitly
    inter_character_timeout_min: float = DEFAULT_INTER_CHARACTER_TIMEOUT_MIN
    # "cp24": time-tagged events go out as the CP24Time2a types (2-19), with a spontaneous
    # C_CS_NA_1 at each change of the hour; "cp56" (default): the CP56Time2a types (30-40)
    time_tag: str = "cp56"

    def __post_init__(self) -> None:
        if self.time_tag not in TIME_TAGS:
            raise ValueError(f"time_tag must be cp56 or cp24, got {self.time_tag!r}")
        inter_character_timeout(self.serial.baudrate, self.inter_character_timeout_min)
        if self.stations and self.link.mode is not LinkMode.UNBALANCED:
            raise ValueError("several link addresses on one line need the unbalanced mode")
        addresses = [self.link.address, *(address for address, _ in self.stations)]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"link addresses must differ, got {addresses}")
        cas = [ca for _, ca in self.stations]
        if len(set(cas)) != len(cas):
            raise ValueError(f"each station gets one link address, got common addresses {cas}")

    def profile(self) -> AsduProfile:
        max_asdu = FT12_MAX_LENGTH - 1 - self.link.address_size
        return AsduProfile(self.cot_size, self.ca_size, self.ioa_size, max_asdu_length=max_asdu,
                           cp24=self.time_tag == "cp24")

    @property
    def idle_timeout(self) -> float:
        """The FT1.2 inter-character timeout in force on this line, in seconds."""
        if self.link.idle_timeout is not None:
            return self.link.idle_timeout
        return inter_character_timeout(self.serial.baudrate, self.inter_character_timeout_min)

    def link_parameters(self) -> LinkParameters:
        """The link parameters with the inter-character timeout in force."""
        return dataclasses.replace(self.link, idle_timeout=self.idle_timeout)


def handle_events(session: Session, events: Sequence[Event]) -> None:
    """Act on a link core's events, in order: ASDUs to the session, confirmations, link state."""
    for event in events:
        if isinstance(event, AsduReceived):
            session.receive(event.asdu)
        elif isinstance(event, DataConfirmed):
            session.acknowledged(1)
        elif isinstance(event, LinkStateChanged):
            if event.up:
                session.activate()
            else:
                session.deactivate()


class SentClasses:
    """Unbalanced: the class (1 or 2) of each ASDU the core handed out and the master has not
    confirmed yet, oldest first. The core confirms ASDUs in the order it sent them, which is
    the order of the master's polls, not the order they were offered; only class 1 outputs are
    the session's to acknowledge (periodic data is never sent again)."""

    def __init__(self) -> None:
        self.sent: deque[int] = deque(maxlen=8)  # at most one unconfirmed answer: a margin

    def before(self, link: UnbalancedLink) -> tuple[bool, bool]:
        """Which ASDUs (class 1, class 2) the core holds now."""
        up = link.link_up
        return up and not link.wants_class1, up and not link.wants_class2

    def filter(self, link: UnbalancedLink, held: tuple[bool, bool],
               events: Sequence[Event]) -> list[Event]:
        """``events`` of one receive/timer call without the confirmations of class 2 data;
        records what the core answered in that call (a slot it held and no longer holds)."""
        kept: list[Event] = []
        for event in events:
            if isinstance(event, DataConfirmed):
                if (self.sent.popleft() if self.sent else 1) == 2:
                    continue
            elif isinstance(event, LinkStateChanged):
                self.sent.clear()
            kept.append(event)
        if held[0] and link.wants_class1:
            self.sent.append(1)
        if held[1] and link.wants_class2:
            self.sent.append(2)
        return kept


def offer_output(link: UnbalancedLink | BalancedLink, session: Session, now: float) -> None:
    """Hand the session's next output to the core, as far as the core takes it.

    Unbalanced: one class 1 ASDU is held for the next poll, and whether more waits (ACD); one
    class 2 ASDU (periodic or background data) for the next class 2 poll.  Balanced: the next
    ASDU whenever the primary is free.
    """
    if isinstance(link, UnbalancedLink):
        session.cyclic_class2 = True
        if link.wants_class1:
            out = session.next_output()
            if out is not None:
                link.offer_class1(out.asdu)
        if link.wants_class2:
            cyclic = session.next_class2()
            if cyclic is not None:
                link.offer_class2(cyclic.asdu)
        link.set_class1_waiting(session.has_output())
        return
    while link.can_send:
        out = session.next_output()
        if out is None:
            return
        link.send_asdu(out.asdu, now)


@dataclass(slots=True)
class _Drop:
    """Another logical station on a multi-drop line: its own link address, link and session."""

    address: int
    common_address: int
    group: str
    link: UnbalancedLink | None = None
    session: Session | None = None
    sent: SentClasses = dataclasses.field(default_factory=SentClasses)


class Iec101Server:
    def __init__(self, outstation: Outstation, settings: Iec101Settings) -> None:
        self.outstation = outstation
        self.settings = settings
        self.name = f"101:{settings.serial.device}"  # also its Source name for the supervisor
        self.group = settings.group or self.name
        self.profile = settings.profile()
        self.drops = [_Drop(address, ca, f"{self.group}/{address}")
                      for address, ca in settings.stations]
        elsewhere = {d.common_address for d in self.drops}
        # the main link address serves every station without a link address of its own
        mine = frozenset(ca for ca in outstation.stations if ca not in elsewhere) \
            if elsewhere else frozenset()
        outstation.group(self.group, mine)  # events are kept from start-up on
        self._mine = mine
        for drop in self.drops:
            outstation.group(drop.group, frozenset({drop.common_address}))
        self.session: Session | None = None
        self.link: UnbalancedLink | BalancedLink | None = None
        self.opened = asyncio.Event()
        self.reopens = 0
        self.last_error: tuple[float, str] | None = None  # (POSIX time, what) of the port
        self._serial: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost: asyncio.Event | None = None
        self._sent = SentClasses()

    async def run(self) -> None:
        """Open the port and serve it; reopen with backoff whenever it fails. Runs until cancelled."""
        self._loop = asyncio.get_running_loop()
        delay = REOPEN_BACKOFF_FIRST
        try:
            while True:
                try:
                    self._open()
                except OSError as exc:
                    self.last_error = (time.time(), f"cannot open the serial port: {exc}")
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
    def status(self) -> dict[str, Any]:
        """The line as `rtu status` shows it: port open, link up, reopens, link statistics."""
        link = self.link
        return {
            "device": self.settings.serial.device,
            "open": self.opened.is_set(),
            "link_up": bool(link is not None and link.link_up),
            "mode": self.settings.link.mode.value,
            "reopens": self.reopens,
            "statistics": dict(link.statistics) if link is not None else {},
            "last_error": ({"time": self.last_error[0], "error": self.last_error[1]}
                           if self.last_error else None),
        }

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
        self.session.line_clock = self._line_clock(
            self._mine or self.outstation.stations, loop)
        params = self.settings.link_parameters()
        if params.mode is LinkMode.BALANCED:
            self.link = BalancedLink(params, loop.time())
        else:
            self.link = UnbalancedLink(params, loop.time())
            self._sent = SentClasses()
        for drop in self.drops:
            drop.session = self.outstation.open_session(f"{self.name}/{drop.address}",
                                                        self.profile, drop.group, self._wake)
            drop.session.line_clock = self._line_clock((drop.common_address,), loop)
            drop.link = UnbalancedLink(dataclasses.replace(params, address=drop.address),
                                       loop.time())
            drop.sent = SentClasses()
        loop.add_reader(port.fileno(), self._on_readable)
        log.info("%s: serial port open (%d baud, %d%s%g, %s mode, link address %d, "
                 "inter-character timeout %.3f s)", self.name, s.baudrate, s.bytesize, s.parity,
                 s.stopbits, params.mode.value, params.address, params.idle_timeout or 0.0)
        self.opened.set()
        self._flush()

    def _line_clock(self, stations: Iterable[int], loop: asyncio.AbstractEventLoop) -> LineClock:
        """The line's clock duties for a session serving ``stations`` (CP24 hour announcements,
        delay acquisition): station time as the outstation stamps events, the loop's clock."""
        outstation = self.outstation
        return LineClock(lambda: outstation.time_tag(outstation.clock.wall()), loop.time,
                         sorted(stations), cp24=self.profile.cp24)

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
        for drop in self.drops:
            if drop.session is not None:
                drop.session.close()
            drop.session, drop.link = None, None
        self.opened.clear()

    def _fail(self, exc: BaseException) -> None:
        log.error("%s: serial port error: %s", self.name, exc)
        self.last_error = (time.time(), f"serial port error: {exc}")
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
        if TAP.watchers:  # `rtu monitor` attached (rtu/tap.py)
            TAP.frame("101", self.name, "rx", data)
        self._offer()  # what the session queued since: the answer to a poll carries it
        held = self._sent.before(link) if isinstance(link, UnbalancedLink) else (False, False)
        events = link.receive_data(data, loop.time())
        if isinstance(link, UnbalancedLink):
            events = self._sent.filter(link, held, events)
        self._handle(events)
        for drop in self.drops:  # every secondary on the line reads it; one is addressed
            if drop.link is not None and drop.session is not None:
                held = drop.sent.before(drop.link)
                handle_events(drop.session, drop.sent.filter(
                    drop.link, held, drop.link.receive_data(data, loop.time())))
        self._flush()

    def _handle(self, events: Sequence[Event]) -> None:
        for event in events:
            if isinstance(event, LinkStateChanged):
                log.info("%s: link %s (%s)", self.name, "up" if event.up else "down", event.reason)
        if self.session is not None:
            handle_events(self.session, events)

    def _offer(self) -> None:
        link, session, loop = self.link, self.session, self._loop
        if link is not None and session is not None and loop is not None:
            offer_output(link, session, loop.time())
        for drop in self.drops:
            if drop.link is not None and drop.session is not None and loop is not None:
                offer_output(drop.link, drop.session, loop.time())

    def _wake(self) -> None:
        if self.link is not None and self._loop is not None:
            call_at_end_of_turn(self._loop, self._flush)

    def _flush(self) -> None:
        link, port, loop = self.link, self._serial, self._loop
        if link is None or port is None or loop is None:
            return
        self._offer()
        data = link.data_to_send() + b"".join(
            d.link.data_to_send() for d in self.drops if d.link is not None)
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
        clocks = [s.line_clock.next_deadline() for s in (self.session, *(d.session
                  for d in self.drops)) if s is not None and s.line_clock is not None]
        deadlines = [d for d in (link.next_deadline(), *(drop.link.next_deadline()
                     for drop in self.drops if drop.link is not None), *clocks) if d is not None]
        deadline = min(deadlines) if deadlines else None
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
        held = self._sent.before(link) if isinstance(link, UnbalancedLink) else (False, False)
        events = link.on_timer(loop.time())
        if isinstance(link, UnbalancedLink):
            events = self._sent.filter(link, held, events)
        self._handle(events)
        for drop in self.drops:
            if drop.link is not None and drop.session is not None:
                held = drop.sent.before(drop.link)
                handle_events(drop.session, drop.sent.filter(
                    drop.link, held, drop.link.on_timer(loop.time())))
        self._flush()
