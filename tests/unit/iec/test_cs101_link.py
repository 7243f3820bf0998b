"""The IEC 60870-5-101 link cores against scripted master bytes and a fake clock.

The tests drive each core the way rtu/servers/iec101.py does (:class:`Driver`): offer the
application's ASDUs, feed octets, act on the events, take the output.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.iec.cs101.balanced import BalancedLink
from rtu.iec.cs101.ft12 import (
    FixedFrame,
    Ft12Frame,
    Ft12Parser,
    VariableFrame,
    encode_fixed,
    encode_variable,
)
from rtu.iec.cs101.link import (
    FCV_FUNCTIONS,
    STATISTICS,
    AsduReceived,
    DataConfirmed,
    Event,
    FrameDiscarded,
    LinkMode,
    LinkParameters,
    LinkStateChanged,
    PrimaryFunction,
    SecondaryFunction,
    primary_control,
    secondary_control,
)
from rtu.iec.cs101.unbalanced import UnbalancedLink
from rtu.iec.errors import LocalProtocolError

GI_ASDU = bytes.fromhex("64 01 06 01 00 00 14")  # C_IC_NA_1 act, CA 1, QOI 20
ACTCON = bytes.fromhex("64 01 07 01 00 00 14")  # its activation confirmation
EI_ASDU = bytes.fromhex("46 01 04 01 00 00 00")  # M_EI_NA_1 end of initialisation
EVENT_1 = bytes.fromhex("01 01 03 01 01 00 01")  # M_SP_NA_1 spontaneous
EVENT_2 = bytes.fromhex("01 01 03 01 02 00 00")
CYCLIC = bytes.fromhex("09 01 01 01 03 40 00 10 00")  # M_ME_NA_1 periodic
E5 = b"\xe5"
UP = LinkStateChanged(True, "reset of remote link")
CONFIRMED = DataConfirmed()

Link = UnbalancedLink | BalancedLink


@dataclass
class Driver:
    """The application side, as the serial driver plays it: queues, events, offers."""

    link: Link
    class1: deque[bytes] = field(default_factory=deque)
    class2: deque[bytes] = field(default_factory=deque)
    received: list[bytes] = field(default_factory=list)
    confirmed: int = 0
    link_changes: list[bool] = field(default_factory=list)
    on_link_up: list[bytes] = field(default_factory=list)  # queued when the link comes up
    on_receive: dict[bytes, bytes] = field(default_factory=dict)  # answers queued per ASDU
    # handed to the core and not confirmed, oldest first: (its queue, the ASDU)
    outstanding: deque[tuple[deque[bytes], bytes]] = field(default_factory=deque)

    def offer(self, now: float = 0.0) -> None:
        link = self.link
        if isinstance(link, UnbalancedLink):
            if link.wants_class1 and self.class1:
                link.offer_class1(self._take(self.class1))
            if link.wants_class2 and self.class2:
                link.offer_class2(self._take(self.class2))
            link.set_class1_waiting(bool(self.class1))
            return
        while link.can_send and (self.class1 or self.class2):
            link.send_asdu(self._take(self.class1 or self.class2), now)

    def _take(self, queue: deque[bytes]) -> bytes:
        asdu = queue.popleft()
        self.outstanding.append((queue, asdu))
        return asdu

    def handle(self, events: list[Event]) -> list[Event]:
        for event in events:
            if isinstance(event, AsduReceived):
                self.received.append(event.asdu)
                if event.asdu in self.on_receive:
                    self.class1.append(self.on_receive[event.asdu])
            elif isinstance(event, DataConfirmed):
                self.confirmed += 1
                self.outstanding.popleft()
            elif isinstance(event, LinkStateChanged):
                self.link_changes.append(event.up)
                if event.up:
                    self.class1.extend(self.on_link_up)
                else:  # like Session.deactivate: what was not confirmed goes back, in order
                    while self.outstanding:
                        queue, asdu = self.outstanding.pop()
                        queue.appendleft(asdu)
        return events

    def exchange(self, data: bytes, now: float = 0.0) -> tuple[bytes, list[Event]]:
        self.offer(now)
        events = self.handle(self.link.receive_data(data, now))
        self.offer(now)
        return self.link.data_to_send(), events

    def timer(self, now: float) -> list[Event]:
        events = self.handle(self.link.on_timer(now))
        self.offer(now)
        return events

    def take_confirmed(self) -> int:
        count, self.confirmed = self.confirmed, 0
        return count


# ------------------------------------------------------------------ unbalanced helpers

ADDRESS = 1
P = PrimaryFunction
S = SecondaryFunction


def request(
    function: PrimaryFunction,
    *,
    fcb: bool = False,
    fcv: bool | None = None,
    address: int = ADDRESS,
    size: int = 1,
    direction: bool = False,
) -> bytes:
    """A fixed frame from the master's primary (FCV as the function defines it by default)."""
    if fcv is None:
        fcv = function in FCV_FUNCTIONS
    control = primary_control(function, fcb=fcb, fcv=fcv, direction=direction)
    return encode_fixed(control, address, size)


def user_data(
    asdu: bytes,
    *,
    fcb: bool = False,
    confirmed: bool = True,
    address: int = ADDRESS,
    size: int = 1,
    direction: bool = False,
) -> bytes:
    function = P.USER_DATA_CONFIRMED if confirmed else P.USER_DATA_UNCONFIRMED
    control = primary_control(function, fcb=fcb, fcv=confirmed, direction=direction)
    return encode_variable(control, address, size, asdu)


def answer(
    function: SecondaryFunction, *, acd: bool = False, address: int = ADDRESS, size: int = 1
) -> bytes:
    return encode_fixed(secondary_control(function, acd=acd), address, size)


def data_answer(asdu: bytes, *, acd: bool = False, address: int = ADDRESS, size: int = 1) -> bytes:
    return encode_variable(secondary_control(S.USER_DATA, acd=acd), address, size, asdu)


def unbalanced(**overrides: object) -> Driver:
    params = LinkParameters(**overrides)  # type: ignore[arg-type]
    return Driver(UnbalancedLink(params, 0.0))


def reset_link(drv: Driver) -> None:
    was_up = drv.link.link_up
    _sent, events = drv.exchange(request(P.RESET_REMOTE_LINK))
    assert events[-1] == UP
    assert len(events) == (2 if was_up else 1)
    assert drv.link.link_up


# ----------------------------------------------------------------- golden control fields


def test_golden_frames_from_the_brief() -> None:
    assert request(P.REQUEST_LINK_STATUS) == bytes.fromhex("10 49 01 4A 16")
    assert request(P.RESET_REMOTE_LINK) == bytes.fromhex("10 40 01 41 16")
    assert answer(S.ACK) == bytes.fromhex("10 00 01 01 16")
    assert answer(S.LINK_STATUS) == bytes.fromhex("10 0B 01 0C 16")
    assert request(P.REQUEST_CLASS_2, fcb=True) == bytes.fromhex("10 7B 01 7C 16")
    assert user_data(GI_ASDU, fcb=True) == bytes.fromhex(
        "68 09 09 68 73 01 64 01 06 01 00 00 14 F4 16"
    )


def test_control_field_bits() -> None:
    assert primary_control(P.TEST_LINK, fcb=True, fcv=True, direction=True) == 0xF2
    assert secondary_control(S.NACK_NO_DATA, acd=True, dfc=True, direction=True) == 0xB9
    assert [f.value for f in PrimaryFunction] == [0, 1, 2, 3, 4, 9, 10, 11]
    assert [f.value for f in SecondaryFunction] == [0, 1, 8, 9, 11, 14, 15]


# ------------------------------------------------------------------------ unbalanced


def test_unbalanced_session_scripted_as_bytes() -> None:
    drv = unbalanced()
    drv.on_link_up = [EI_ASDU]
    drv.class2.append(CYCLIC)
    link = drv.link
    assert isinstance(link, UnbalancedLink)
    assert link.next_deadline() is None
    assert link.data_to_send() == b""  # a secondary speaks only when asked
    assert not link.wants_class1  # nothing is taken from the application before the reset

    # Before the link is reset: status is answered, polling is refused.
    assert drv.exchange(request(P.REQUEST_CLASS_2, fcb=True)) == (answer(S.NACK), [])
    assert drv.exchange(bytes.fromhex("10 49 01 4A 16")) == (bytes.fromhex("10 0B 01 0C 16"), [])
    assert not link.link_up

    # Reset: link up; the application queued end of initialisation in answer, so the ACK
    # must carry ACD=1 and cannot be the single character.
    sent, events = drv.exchange(bytes.fromhex("10 40 01 41 16"))
    assert sent == bytes.fromhex("10 20 01 21 16")
    assert events == [UP]
    assert drv.link_changes == [True]
    assert link.link_up

    # Status of link now shows ACD too.
    assert drv.exchange(request(P.REQUEST_LINK_STATUS))[0] == answer(S.LINK_STATUS, acd=True)

    # Class 1 polling with ACD: two more events arrive.
    drv.class1.extend([EVENT_1, EVENT_2])
    sent, _ = drv.exchange(request(P.REQUEST_CLASS_1, fcb=True))
    assert sent == data_answer(EI_ASDU, acd=True)

    # The master lost our answer and repeats (same FCB): the identical octets.
    sent_again, events = drv.exchange(request(P.REQUEST_CLASS_1, fcb=True))
    assert sent_again == sent
    assert events == []
    assert link.statistics["duplicates"] == 1

    # Toggled FCB: the previous answer arrived, confirm it, send the next.
    sent, events = drv.exchange(request(P.REQUEST_CLASS_1, fcb=False))
    assert sent == data_answer(EVENT_1, acd=True)
    assert events == [CONFIRMED]
    sent, events = drv.exchange(request(P.REQUEST_CLASS_1, fcb=True))
    assert sent == data_answer(EVENT_2, acd=False)
    assert events == [CONFIRMED]

    # Nothing left in class 1: NACK no data as the single character.
    sent, events = drv.exchange(request(P.REQUEST_CLASS_1, fcb=False))
    assert sent == E5
    assert events == [CONFIRMED]

    # Class 2: cyclic data, then nothing.
    sent, events = drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == data_answer(CYCLIC)
    assert events == []  # the E5 answer carried no data: nothing to confirm
    sent, events = drv.exchange(request(P.REQUEST_CLASS_2, fcb=False))
    assert sent == E5
    assert events == [CONFIRMED]

    # Class 2 with nothing but class 1 waiting: NACK no data as a fixed frame with ACD.
    drv.class1.append(EVENT_1)
    sent, _ = drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == bytes.fromhex("10 29 01 2A 16")

    # Confirmed user data (a station interrogation): passed up once, ACK with ACD.
    sent, events = drv.exchange(user_data(GI_ASDU, fcb=False))
    assert sent == answer(S.ACK, acd=True)
    assert events == [AsduReceived(GI_ASDU)]
    sent_again, _ = drv.exchange(user_data(GI_ASDU, fcb=False))
    assert sent_again == sent
    assert drv.received == [GI_ASDU]

    # Broadcast user data, confirmed or not: accepted, never answered.
    assert drv.exchange(user_data(CYCLIC, address=0xFF, confirmed=False)) == (
        b"",
        [AsduReceived(CYCLIC)],
    )
    assert drv.exchange(user_data(CYCLIC, address=0xFF, fcb=True)) == (
        b"",
        [AsduReceived(CYCLIC)],
    )
    assert drv.received == [GI_ASDU, CYCLIC, CYCLIC]

    # Another station's frames and the other secondaries' answers: silence.
    assert drv.exchange(request(P.REQUEST_CLASS_1, fcb=True, address=2)) == (b"", [])
    assert drv.exchange(user_data(GI_ASDU, fcb=True, address=2)) == (b"", [])
    assert drv.exchange(answer(S.ACK, address=2) + E5) == (b"", [])
    assert drv.received == [GI_ASDU, CYCLIC, CYCLIC]

    stats = link.statistics
    assert stats["duplicates"] == 2
    assert stats["ignored"] == 4
    assert stats["discarded"] == 0
    assert stats["frames_received"] == stats["frames_sent"] + 2 + 4


def test_ack_of_user_data_carries_the_acd_of_the_answers_it_caused() -> None:
    drv = unbalanced()
    reset_link(drv)
    drv.on_receive = {GI_ASDU: ACTCON}
    sent, events = drv.exchange(user_data(GI_ASDU, fcb=True))
    assert events == [AsduReceived(GI_ASDU)]
    assert sent == answer(S.ACK, acd=True)  # the activation confirmation waits
    # A repetition gets the very same octets, although the class 1 state is unchanged.
    assert drv.exchange(user_data(GI_ASDU, fcb=True))[0] == sent
    assert drv.exchange(request(P.REQUEST_CLASS_1, fcb=False))[0] == data_answer(ACTCON)
    assert drv.received == [GI_ASDU]


def test_single_char_disabled_uses_fixed_frames() -> None:
    drv = unbalanced(single_char_ack=False)
    assert drv.exchange(request(P.RESET_REMOTE_LINK))[0] == bytes.fromhex("10 00 01 01 16")
    assert drv.exchange(request(P.REQUEST_CLASS_1, fcb=True))[0] == answer(S.NACK_NO_DATA)
    assert drv.exchange(request(P.REQUEST_CLASS_2, fcb=False))[0] == answer(S.NACK_NO_DATA)
    assert drv.exchange(user_data(GI_ASDU, fcb=True))[0] == answer(S.ACK)
    assert drv.exchange(request(P.RESET_USER_PROCESS))[0] == answer(S.ACK)


def test_reset_clears_the_fcb_state() -> None:
    drv = unbalanced()
    reset_link(drv)
    drv.class2.extend([CYCLIC, CYCLIC])
    first, _ = drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))
    assert first == data_answer(CYCLIC)
    reset_link(drv)  # the data answer was never confirmed: the link going down gives it back
    # The same FCB again is a new frame after a reset, not a repetition.
    sent, events = drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == data_answer(CYCLIC)
    assert events == []
    assert drv.confirmed == 0


def test_reset_again_takes_the_link_down_and_up() -> None:
    drv = unbalanced()
    reset_link(drv)
    drv.class1.extend([EVENT_1, EVENT_2])
    drv.exchange(request(P.REQUEST_CLASS_1, fcb=False))
    link = drv.link
    assert isinstance(link, UnbalancedLink)
    assert not link.wants_class1  # EVENT_2 is held for the next poll
    assert not drv.class1
    sent, events = drv.exchange(request(P.RESET_REMOTE_LINK))
    assert events == [
        LinkStateChanged(False, "link reset again by the master"),
        UP,
    ]
    assert drv.confirmed == 0  # never confirmed: the application took both back ...
    assert sent == answer(S.ACK, acd=True)  # ... and offers them again
    assert drv.exchange(request(P.REQUEST_CLASS_1, fcb=True))[0] == data_answer(EVENT_1, acd=True)


def test_status_and_reset_do_not_touch_the_fcb_state() -> None:
    drv = unbalanced()
    reset_link(drv)
    drv.class2.append(CYCLIC)
    sent, _ = drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))
    drv.exchange(request(P.REQUEST_LINK_STATUS))
    drv.exchange(request(P.RESET_USER_PROCESS))
    # still a repetition of the class 2 request
    assert drv.exchange(request(P.REQUEST_CLASS_2, fcb=True))[0] == sent


def test_test_link_is_not_implemented_in_unbalanced_mode() -> None:
    drv = unbalanced()
    reset_link(drv)
    sent, _ = drv.exchange(request(P.TEST_LINK, fcb=True))
    assert sent == bytes.fromhex("10 0F 01 10 16")
    sent, _ = drv.exchange(encode_fixed(primary_control(7), ADDRESS, 1))
    assert sent == answer(S.LINK_SERVICE_NOT_IMPLEMENTED)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (request(P.REQUEST_CLASS_2, fcb=True, fcv=False), "FCV=0"),
        (request(P.USER_DATA_CONFIRMED, fcb=True), "without user data"),
        (request(P.REQUEST_LINK_STATUS, address=0xFF), "broadcast"),
    ],
)
def test_frames_that_make_no_sense_are_discarded(frame: bytes, reason: str) -> None:
    drv = unbalanced()
    reset_link(drv)
    sent, events = drv.exchange(frame)
    assert sent == b""
    assert len(events) == 1
    assert isinstance(events[0], FrameDiscarded)
    assert reason in events[0].reason
    assert drv.link.statistics["discarded"] == 1


def test_user_data_before_reset_is_not_accepted() -> None:
    drv = unbalanced()
    assert drv.exchange(user_data(GI_ASDU, fcb=True))[0] == answer(S.NACK)
    sent, events = drv.exchange(user_data(GI_ASDU, confirmed=False))
    assert sent == b""
    assert [type(e) for e in events] == [FrameDiscarded]
    sent, events = drv.exchange(user_data(GI_ASDU, confirmed=False, address=0xFF))
    assert [type(e) for e in events] == [FrameDiscarded]
    assert drv.received == []


def test_framing_errors_are_reported_and_survived() -> None:
    drv = unbalanced()
    sent, events = drv.exchange(b"\x00\x10\x49\x01\x4b\x16" + request(P.REQUEST_LINK_STATUS))
    assert sent == answer(S.LINK_STATUS)
    # the garbage octet, then the frame with the bad checksum
    assert events == [FrameDiscarded("FT1.2 framing: 2 discard(s)")]
    assert drv.link.statistics["framing_errors"] == 2


def test_split_frames_and_two_byte_addresses() -> None:
    drv = unbalanced(address=0x1234, address_size=2)
    reset = request(P.RESET_REMOTE_LINK, address=0x1234, size=2)
    out = b""
    for octet in reset:
        out += drv.exchange(bytes((octet,)))[0]
    assert out == E5
    assert drv.link.link_up
    drv.class1.append(EVENT_1)
    sent, _ = drv.exchange(request(P.REQUEST_CLASS_1, fcb=True, address=0x1234, size=2))
    assert sent == data_answer(EVENT_1, address=0x1234, size=2)
    # broadcast is 0xFFFF with two octets
    drv.exchange(user_data(GI_ASDU, confirmed=False, address=0xFFFF, size=2))
    assert drv.received == [GI_ASDU]


def test_configured_broadcast_address() -> None:
    drv = unbalanced(broadcast_address=0x7F)
    reset_link(drv)
    assert drv.exchange(user_data(GI_ASDU, confirmed=False, address=0x7F)) == (
        b"",
        [AsduReceived(GI_ASDU)],
    )
    assert drv.exchange(user_data(GI_ASDU, confirmed=False, address=0xFF)) == (b"", [])
    assert drv.received == [GI_ASDU]  # 0xFF is just another station now


def test_unbalanced_has_no_timer_without_a_partial_frame_and_no_primary() -> None:
    drv = unbalanced()
    assert drv.link.next_deadline() is None
    assert drv.timer(1e9) == []
    assert drv.link.data_to_send() == b""


def test_offers_are_checked() -> None:
    link = UnbalancedLink(LinkParameters(), 0.0)
    with pytest.raises(LocalProtocolError, match="down"):
        link.offer_class1(EVENT_1)  # the link is not up
    link.receive_data(request(P.RESET_REMOTE_LINK), 0.0)
    link.offer_class1(EVENT_1)
    with pytest.raises(LocalProtocolError, match="holds one"):
        link.offer_class1(EVENT_2)
    link.offer_class2(CYCLIC)
    with pytest.raises(LocalProtocolError):
        link.offer_class2(CYCLIC)


def test_each_core_refuses_the_other_mode() -> None:
    with pytest.raises(LocalProtocolError, match="unbalanced"):
        UnbalancedLink(LinkParameters(mode=LinkMode.BALANCED), 0.0)
    with pytest.raises(LocalProtocolError, match="balanced"):
        BalancedLink(LinkParameters(), 0.0)


# -------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("overrides", "field_name"),
    [
        ({"address_size": 3}, "address_size"),
        ({"address_size": 0}, "address_size"),  # unbalanced
        ({"address": 256}, "address"),
        ({"address": 255}, "address"),  # the broadcast address
        ({"address": -1}, "address"),
        ({"address": "1"}, "address"),
        ({"remote_address": 300}, "remote_address"),
        ({"broadcast_address": 256}, "broadcast_address"),
        ({"broadcast_address": 1}, "address"),
        ({"mode": "balanced", "address_size": 0}, "mode"),
        ({"mode": LinkMode.BALANCED, "address_size": 0, "broadcast_address": 1}, "broadcast"),
        ({"single_char_ack": 1}, "single_char_ack"),
        ({"repeat_timeout": 0}, "repeat_timeout"),
        ({"repeat_timeout": float("nan")}, "repeat_timeout"),
        ({"max_repeats": -1}, "max_repeats"),
        ({"max_repeats": 1.5}, "max_repeats"),
        ({"test_interval": -1}, "test_interval"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"address_size": 2, "address": 0xFFFF}, "address"),
    ],
)
def test_parameters_are_validated(overrides: dict[str, object], field_name: str) -> None:
    with pytest.raises(ValueError, match=field_name):
        LinkParameters(**overrides)  # type: ignore[arg-type]


def test_parameter_defaults() -> None:
    params = LinkParameters()
    assert params.mode is LinkMode.UNBALANCED
    assert params.effective_broadcast == 0xFF
    assert LinkParameters(address_size=2).effective_broadcast == 0xFFFF
    zero = LinkParameters(mode=LinkMode.BALANCED, address_size=0)
    assert zero.effective_broadcast is None


# --------------------------------------------------------------------------- balanced

OUR = 1
MASTER = 2
BALANCED = LinkParameters(
    mode=LinkMode.BALANCED,
    address=OUR,
    remote_address=MASTER,
    repeat_timeout=1.0,
    max_repeats=2,
    test_interval=10.0,
)
ESTABLISHED = LinkStateChanged(True, "link established")


class ScriptedMaster:
    """The controlling station, as bytes: builds its frames (DIR=1), parses ours."""

    def __init__(self, params: LinkParameters = BALANCED) -> None:
        self.size = params.address_size
        self.our_address = params.address if self.size else 0
        self.master_address = params.remote_address if self.size else 0
        self.parser = Ft12Parser(self.size)

    # frames of the master's primary (to our secondary, our address)
    def primary(self, function: PrimaryFunction, *, fcb: bool = False) -> bytes:
        fcv = function in FCV_FUNCTIONS
        control = primary_control(function, fcb=fcb and fcv, fcv=fcv, direction=True)
        return encode_fixed(control, self.our_address, self.size)

    def user_data(self, asdu: bytes, fcb: bool) -> bytes:
        control = primary_control(P.USER_DATA_CONFIRMED, fcb=fcb, fcv=True, direction=True)
        return encode_variable(control, self.our_address, self.size, asdu)

    # answers of the master's secondary (to our primary, the master's address)
    def answer(self, function: SecondaryFunction, *, dfc: bool = False) -> bytes:
        control = secondary_control(function, dfc=dfc, direction=True)
        return encode_fixed(control, self.master_address, self.size)

    def frames(self, drv: Driver) -> list[Ft12Frame]:
        return self.parser.feed(drv.link.data_to_send(), 0.0)

    # what our primary must send (DIR=0, the master's address)
    def ours(self, function: PrimaryFunction, *, fcb: bool = False) -> FixedFrame:
        fcv = function in FCV_FUNCTIONS
        return FixedFrame(primary_control(function, fcb=fcb, fcv=fcv), self.master_address)

    def ours_data(self, asdu: bytes, fcb: bool) -> VariableFrame:
        control = primary_control(P.USER_DATA_CONFIRMED, fcb=fcb, fcv=True)
        return VariableFrame(control, self.master_address, asdu)

    def our_answer(self, function: SecondaryFunction) -> FixedFrame:
        return FixedFrame(secondary_control(function), self.our_address)


def feed(drv: Driver, data: bytes, now: float) -> list[Event]:
    """Octets from the master, then the driver's offer (as after every read)."""
    events = drv.handle(drv.link.receive_data(data, now))
    drv.offer(now)
    return events


def establish(drv: Driver, master: ScriptedMaster, now: float = 0.0) -> list[Ft12Frame]:
    """Drive our primary's link establishment; the frames sent after the final ACK."""
    assert master.frames(drv) == [master.ours(P.REQUEST_LINK_STATUS)]
    assert feed(drv, master.answer(S.LINK_STATUS), now) == []
    assert master.frames(drv) == [master.ours(P.RESET_REMOTE_LINK)]
    assert feed(drv, master.answer(S.ACK), now) == [ESTABLISHED]
    assert drv.link.link_up
    return master.frames(drv)


def balanced(params: LinkParameters = BALANCED) -> tuple[Driver, ScriptedMaster]:
    return Driver(BalancedLink(params, 0.0)), ScriptedMaster(params)


def test_balanced_golden_establishment() -> None:
    drv, _master = balanced()
    link = drv.link
    assert link.data_to_send() == bytes.fromhex("10 49 02 4B 16")
    assert link.next_deadline() == 1.0
    assert drv.timer(0.5) == []
    assert link.data_to_send() == b""
    assert drv.timer(1.0) == []  # retried every repeat_timeout, forever
    assert link.data_to_send() == bytes.fromhex("10 49 02 4B 16")
    assert link.next_deadline() == 2.0
    feed(drv, bytes.fromhex("10 8B 02 8D 16"), 1.5)  # status of link, DIR=1
    assert link.data_to_send() == bytes.fromhex("10 40 02 42 16")
    assert not link.link_up
    events = feed(drv, bytes.fromhex("10 80 02 82 16"), 1.6)  # ACK, DIR=1
    assert events == [ESTABLISHED]
    assert link.data_to_send() == b""  # the application had nothing to send
    assert link.next_deadline() == 11.6  # test link when idle


def test_balanced_reset_unanswered_starts_over() -> None:
    drv, master = balanced()
    master.frames(drv)
    feed(drv, master.answer(S.LINK_STATUS), 0.1)
    assert master.frames(drv) == [master.ours(P.RESET_REMOTE_LINK)]
    drv.timer(1.1)
    assert master.frames(drv) == [master.ours(P.REQUEST_LINK_STATUS)]
    assert not drv.link.link_up


def test_balanced_confirmed_user_data_both_ways() -> None:
    drv, master = balanced()
    drv.on_link_up = [EI_ASDU]
    link = drv.link
    assert isinstance(link, BalancedLink)
    # Our primary: the first frame after the reset carries FCB=1.
    assert establish(drv, master) == [master.ours_data(EI_ASDU, fcb=True)]
    assert not link.can_send  # one frame outstanding at a time
    drv.class1.append(EVENT_1)
    drv.class2.append(CYCLIC)
    drv.offer(0.1)
    assert master.frames(drv) == []
    assert feed(drv, master.answer(S.ACK), 0.2) == [CONFIRMED]
    assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=False)]
    # single character ACK from the master works as well
    assert feed(drv, E5, 0.3) == [CONFIRMED]
    assert master.frames(drv) == [master.ours_data(CYCLIC, fcb=True)]
    assert feed(drv, master.answer(S.ACK), 0.4) == [CONFIRMED]
    assert master.frames(drv) == []
    assert link.can_send

    # The master's primary to our secondary: status, reset, confirmed user data.
    feed(drv, master.primary(P.REQUEST_LINK_STATUS), 1.0)
    assert link.data_to_send() == bytes.fromhex("10 0B 01 0C 16")
    feed(drv, master.primary(P.RESET_REMOTE_LINK), 1.1)
    assert link.data_to_send() == E5
    assert feed(drv, master.user_data(GI_ASDU, fcb=True), 1.2) == [AsduReceived(GI_ASDU)]
    assert link.data_to_send() == E5
    # our ACK got lost: the master repeats with the same FCB
    assert feed(drv, master.user_data(GI_ASDU, fcb=True), 2.2) == []
    assert link.data_to_send() == E5
    feed(drv, master.user_data(CYCLIC, fcb=False), 2.3)
    assert link.data_to_send() == E5
    assert drv.received == [GI_ASDU, CYCLIC]
    assert link.statistics["duplicates"] == 1


def test_balanced_answer_goes_before_the_data_it_caused() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.on_receive = {GI_ASDU: ACTCON}
    feed(drv, master.primary(P.RESET_REMOTE_LINK), 1.0)
    master.frames(drv)
    feed(drv, master.user_data(GI_ASDU, fcb=True), 1.1)
    assert master.parser.feed(drv.link.data_to_send(), 0.0)[1:] == [
        master.ours_data(ACTCON, fcb=True)
    ]


def test_balanced_lost_ack_is_repeated() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.class1.append(EVENT_1)
    drv.offer(5.0)
    frame = master.frames(drv)
    assert frame == [master.ours_data(EVENT_1, fcb=True)]
    assert drv.link.next_deadline() == 6.0
    assert drv.timer(6.0) == []
    assert master.frames(drv) == frame  # identical, same FCB
    assert drv.link.statistics["repeats"] == 1
    assert feed(drv, master.answer(S.ACK), 6.5) == [CONFIRMED]
    # the next one toggles the FCB
    drv.class1.append(EVENT_2)
    drv.offer(7.0)
    assert master.frames(drv) == [master.ours_data(EVENT_2, fcb=False)]


def test_balanced_repeat_limit_loses_the_link_and_reestablishes() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.class1.extend([EVENT_1, EVENT_2])
    drv.offer(0.0)
    first = master.frames(drv)
    assert first == [master.ours_data(EVENT_1, fcb=True)]
    assert drv.timer(1.0) == []
    assert master.frames(drv) == first
    assert drv.timer(2.0) == []
    assert master.frames(drv) == first
    events = drv.timer(3.0)  # max_repeats=2 exhausted
    assert events == [LinkStateChanged(False, "no ACK within 1.0 s after 2 repeat(s)")]
    assert not drv.link.link_up
    assert master.frames(drv) == [master.ours(P.REQUEST_LINK_STATUS)]
    drv.offer(3.1)  # no user data while the link is down
    assert master.frames(drv) == []
    # Re-establish: the FCB starts again at 1; the application re-queued its unconfirmed data.
    assert list(drv.class1) == [EVENT_1, EVENT_2]
    feed(drv, master.answer(S.LINK_STATUS), 3.5)
    assert master.frames(drv) == [master.ours(P.RESET_REMOTE_LINK)]
    feed(drv, master.answer(S.ACK), 3.6)
    assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=True)]
    assert drv.link.link_up


def test_balanced_test_link_when_idle() -> None:
    drv, master = balanced()
    establish(drv, master, now=0.0)
    link = drv.link
    assert link.next_deadline() == 10.0
    # a frame from the master postpones the test
    feed(drv, master.primary(P.REQUEST_LINK_STATUS), 4.0)
    link.data_to_send()
    assert link.next_deadline() == 14.0
    assert drv.timer(14.0) == []
    assert master.frames(drv) == [master.ours(P.TEST_LINK, fcb=True)]
    assert link.next_deadline() == 15.0
    assert feed(drv, master.answer(S.ACK), 14.1) == []  # a test link confirms no data
    assert link.next_deadline() == pytest.approx(24.1)
    # an unanswered test link loses the link like user data
    drv.timer(24.1)
    assert master.frames(drv) == [master.ours(P.TEST_LINK, fcb=False)]
    drv.timer(25.1)
    drv.timer(26.1)
    assert drv.timer(27.1)[0] == LinkStateChanged(False, "no ACK within 1.0 s after 2 repeat(s)")


def test_balanced_test_link_from_the_master() -> None:
    params = LinkParameters(
        mode=LinkMode.BALANCED, address=OUR, remote_address=MASTER, single_char_ack=False
    )
    drv, master = balanced(params)
    master.frames(drv)
    feed(drv, master.primary(P.RESET_REMOTE_LINK), 0.0)
    assert master.frames(drv) == [master.our_answer(S.ACK)]
    feed(drv, master.primary(P.TEST_LINK, fcb=True), 0.1)
    assert master.frames(drv) == [master.our_answer(S.ACK)]
    feed(drv, master.primary(P.TEST_LINK, fcb=True), 0.2)  # repeated
    assert master.frames(drv) == [master.our_answer(S.ACK)]
    assert drv.link.statistics["duplicates"] == 1
    # class polling does not exist in balanced mode
    assert feed(drv, master.primary(P.REQUEST_CLASS_1, fcb=False), 0.3) == []
    assert master.frames(drv) == [master.our_answer(S.LINK_SERVICE_NOT_IMPLEMENTED)]


def test_balanced_discards_frames_with_the_wrong_direction_or_address() -> None:
    drv, master = balanced()
    establish(drv, master)
    echo = request(P.REQUEST_LINK_STATUS, address=OUR)  # DIR=0
    events = feed(drv, echo, 1.0)
    assert [type(e) for e in events] == [FrameDiscarded]
    assert isinstance(events[0], FrameDiscarded)
    assert "DIR=0" in events[0].reason
    other = request(P.REQUEST_LINK_STATUS, address=5, direction=True)
    assert [type(e) for e in feed(drv, other, 1.0)] == [FrameDiscarded]
    stray_ack = master.answer(S.ACK)  # nothing outstanding
    assert [type(e) for e in feed(drv, stray_ack, 1.0)] == [FrameDiscarded]
    assert drv.link.data_to_send() == b""
    assert drv.link.statistics["discarded"] == 3


def test_balanced_nack_waits_and_sends_again_with_a_new_fcb() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.class1.append(EVENT_1)
    drv.offer(0.0)
    assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=True)]
    assert feed(drv, master.answer(S.NACK), 0.1) == []
    assert master.frames(drv) == []
    assert drv.link.next_deadline() == 1.1
    drv.timer(1.1)
    assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=False)]
    assert feed(drv, master.answer(S.ACK), 1.2) == [CONFIRMED]


def test_balanced_dfc_holds_the_next_frame() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.class1.extend([EVENT_1, EVENT_2])
    drv.offer(0.0)
    master.frames(drv)
    assert feed(drv, master.answer(S.ACK, dfc=True), 0.1) == [CONFIRMED]  # accepted, but full
    assert master.frames(drv) == []
    drv.offer(0.5)
    assert master.frames(drv) == []
    drv.timer(1.1)
    assert master.frames(drv) == [master.ours_data(EVENT_2, fcb=False)]


def test_balanced_without_addresses() -> None:
    params = LinkParameters(mode=LinkMode.BALANCED, address_size=0)
    drv, _master = balanced(params)
    link = drv.link
    assert link.data_to_send() == bytes.fromhex("10 49 49 16")
    feed(drv, bytes.fromhex("10 8B 8B 16"), 0.1)
    assert link.data_to_send() == bytes.fromhex("10 40 40 16")
    feed(drv, E5, 0.2)
    assert link.link_up
    drv.class1.append(GI_ASDU)
    drv.offer(0.3)
    assert link.data_to_send() == encode_variable(0x73, 0, 0, GI_ASDU)


def test_balanced_send_needs_a_free_primary() -> None:
    drv, master = balanced()
    link = drv.link
    assert isinstance(link, BalancedLink)
    with pytest.raises(LocalProtocolError, match="not free"):
        link.send_asdu(EVENT_1, 0.0)  # link not established
    establish(drv, master)
    link.send_asdu(EVENT_1, 0.0)
    with pytest.raises(LocalProtocolError, match="awaiting ACK"):
        link.send_asdu(EVENT_2, 0.0)


def test_statistics_keys() -> None:
    drv = unbalanced()
    expected = {
        "frames_received",
        "frames_sent",
        "repeats",
        "duplicates",
        "discarded",
        "ignored",
        "framing_errors",
        "fragments_dropped",  # partial frames broken by the inter-character timeout
    }
    assert set(drv.link.statistics) == expected == set(STATISTICS)
    assert set(balanced()[0].link.statistics) == expected


def test_balanced_refused_every_time_loses_the_link() -> None:
    drv, master = balanced()
    establish(drv, master)
    drv.class1.append(EVENT_1)
    drv.offer(0.0)
    for now in (0.0, 1.1):  # the first send and max_repeats=2 resends
        assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=now == 0.0)]
        assert feed(drv, master.answer(S.NACK), now + 0.1) == []
        drv.timer(now + 1.1)
    assert master.frames(drv) == [master.ours_data(EVENT_1, fcb=True)]
    events = feed(drv, master.answer(S.NACK), 2.3)
    assert events == [LinkStateChanged(False, "user data refused with function 1")]
    assert drv.link_changes[-1] is False
    assert master.frames(drv) == [master.ours(P.REQUEST_LINK_STATUS)]


def test_idle_timeout_drops_a_broken_frame() -> None:
    drv = unbalanced(idle_timeout=0.01)
    status = request(P.REQUEST_LINK_STATUS)
    assert drv.exchange(status[:3], 0.0) == (b"", [])
    sent, events = drv.exchange(b"", 0.5)
    assert sent == b""
    assert events == [FrameDiscarded("FT1.2 framing: 1 discard(s)")]
    assert drv.exchange(status, 0.6)[0] == answer(S.LINK_STATUS)


# ------------------------------------------------------------------------ properties

_POLLS = (P.REQUEST_CLASS_1, P.REQUEST_CLASS_2, P.USER_DATA_CONFIRMED)


@given(
    st.lists(st.tuples(st.sampled_from(_POLLS), st.booleans(), st.integers(0, 3)), max_size=40)
)
def test_a_repetition_gets_the_identical_octets_and_no_event(
    steps: list[tuple[PrimaryFunction, bool, int]],
) -> None:
    """Whatever the master polls or sends and whatever data arrives, the same frame again
    (same FCB) is answered byte for byte as before and nothing reaches the application twice;
    every ASDU is handed out once and confirmed at most once."""
    drv = unbalanced()
    reset_link(drv)
    fcb = False
    handed: list[bytes] = []
    for function, repeat, new_events in steps:
        drv.class1.extend(EVENT_1 for _ in range(new_events))
        fcb = not fcb
        frame = user_data(GI_ASDU, fcb=fcb) if function is P.USER_DATA_CONFIRMED else request(
            function, fcb=fcb
        )
        received = len(drv.received)
        first, _ = drv.exchange(frame)
        if first[:1] == b"\x68":
            handed.append(first)
        if repeat:
            again, events = drv.exchange(frame)
            assert again == first
            assert events == []
        assert len(drv.received) == received + (function is P.USER_DATA_CONFIRMED)
    drv.exchange(request(P.REQUEST_LINK_STATUS))
    drv.exchange(request(P.REQUEST_CLASS_2, fcb=not fcb))  # confirms the last answer
    assert drv.confirmed == len(handed)  # each ASDU handed out once, confirmed once
    assert drv.link.statistics["discarded"] == 0
