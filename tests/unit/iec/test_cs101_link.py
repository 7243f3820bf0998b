"""The IEC 60870-5-101 link layer: a core against scripted master bytes, fake application, fake clock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

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
    Event,
    FrameDiscarded,
    LinkLayer,
    LinkMode,
    LinkParameters,
    LinkStateChanged,
    PrimaryFunction,
    SecondaryFunction,
    primary_control,
    secondary_control,
)

GI_ASDU = bytes.fromhex("64 01 06 01 00 00 14")  # C_IC_NA_1 act, CA 1, QOI 20
EI_ASDU = bytes.fromhex("46 01 04 01 00 00 00")  # M_EI_NA_1 end of initialisation
EVENT_1 = bytes.fromhex("01 01 03 01 01 00 01")  # M_SP_NA_1 spontaneous
EVENT_2 = bytes.fromhex("01 01 03 01 02 00 00")
CYCLIC = bytes.fromhex("09 01 01 01 03 40 00 10 00")  # M_ME_NA_1 periodic
E5 = b"\xe5"


@dataclass
class FakeApp:
    """Records every call the link layer makes."""

    class1: deque[bytes] = field(default_factory=deque)
    class2: deque[bytes] = field(default_factory=deque)
    received: list[bytes] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    on_link_up: list[bytes] = field(default_factory=list)  # class 1 queued by link_up

    def has_class1(self) -> bool:
        return bool(self.class1)

    def next_class1(self) -> bytes | None:
        self.calls.append("next_class1")
        return self.class1.popleft() if self.class1 else None

    def next_class2(self) -> bytes | None:
        self.calls.append("next_class2")
        return self.class2.popleft() if self.class2 else None

    def confirmed(self) -> None:
        self.calls.append("confirmed")

    def receive(self, asdu: bytes) -> None:
        self.calls.append("receive")
        self.received.append(asdu)

    def link_up(self) -> None:
        self.calls.append("link_up")
        self.class1.extend(self.on_link_up)

    def link_down(self) -> None:
        self.calls.append("link_down")

    def take_calls(self) -> list[str]:
        calls, self.calls = self.calls, []
        return calls


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


def unbalanced(app: FakeApp | None = None, **overrides: object) -> tuple[LinkLayer, FakeApp]:
    app = FakeApp() if app is None else app
    params = LinkParameters(**overrides)  # type: ignore[arg-type]
    return LinkLayer(params, app, 0.0), app


def exchange(link: LinkLayer, data: bytes, now: float = 0.0) -> tuple[bytes, list[Event]]:
    events = link.receive_data(data, now)
    return link.data_to_send(), events


def reset_link(link: LinkLayer, app: FakeApp) -> None:
    was_up = link.link_up
    _sent, events = exchange(link, request(P.RESET_REMOTE_LINK))
    assert events[-1] == LinkStateChanged(True, "reset of remote link")
    assert len(events) == (2 if was_up else 1)
    assert link.link_up
    app.take_calls()


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
    app = FakeApp(on_link_up=[EI_ASDU], class2=deque([CYCLIC]))
    link, _ = unbalanced(app)
    assert link.next_deadline() is None
    assert link.data_to_send() == b""  # a secondary speaks only when asked

    # Before the link is reset: status is answered, polling is refused without the app.
    assert exchange(link, request(P.REQUEST_CLASS_2, fcb=True)) == (answer(S.NACK), [])
    assert exchange(link, bytes.fromhex("10 49 01 4A 16")) == (
        bytes.fromhex("10 0B 01 0C 16"),
        [],
    )
    assert app.take_calls() == []
    assert not link.link_up

    # Reset: link up; link_up queued end of initialisation, so the ACK must carry ACD=1 and
    # cannot be the single character.
    sent, events = exchange(link, bytes.fromhex("10 40 01 41 16"))
    assert sent == bytes.fromhex("10 20 01 21 16")
    assert events == [LinkStateChanged(True, "reset of remote link")]
    assert app.take_calls() == ["link_up"]
    assert link.link_up

    # Status of link now shows ACD too.
    assert exchange(link, request(P.REQUEST_LINK_STATUS))[0] == answer(S.LINK_STATUS, acd=True)

    # Class 1 polling with ACD: two more events arrive.
    app.class1.extend([EVENT_1, EVENT_2])
    sent, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=True))
    assert sent == data_answer(EI_ASDU, acd=True)
    assert app.take_calls() == ["next_class1"]

    # The master lost our answer and repeats (same FCB): the identical octets, app untouched.
    sent_again, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=True))
    assert sent_again == sent
    assert app.take_calls() == []
    assert link.statistics["duplicates"] == 1

    # Toggled FCB: the previous answer arrived, confirm it, send the next.
    sent, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=False))
    assert sent == data_answer(EVENT_1, acd=True)
    assert app.take_calls() == ["confirmed", "next_class1"]
    sent, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=True))
    assert sent == data_answer(EVENT_2, acd=False)
    assert app.take_calls() == ["confirmed", "next_class1"]

    # Nothing left in class 1: NACK no data as the single character.
    sent, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=False))
    assert sent == E5
    assert app.take_calls() == ["confirmed", "next_class1"]

    # Class 2: cyclic data, then nothing.
    sent, _ = exchange(link, request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == data_answer(CYCLIC)
    assert app.take_calls() == ["next_class2"]  # the E5 answer carried no data: no confirm
    assert exchange(link, request(P.REQUEST_CLASS_2, fcb=False))[0] == E5
    assert app.take_calls() == ["confirmed", "next_class2"]

    # Class 2 with nothing but class 1 waiting: NACK no data as a fixed frame with ACD.
    app.class1.append(EVENT_1)
    sent, _ = exchange(link, request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == bytes.fromhex("10 29 01 2A 16")
    assert app.take_calls() == ["next_class2"]

    # Confirmed user data (a station interrogation): passed up once, ACK with ACD.
    sent, _ = exchange(link, user_data(GI_ASDU, fcb=False))
    assert sent == answer(S.ACK, acd=True)
    assert app.received == [GI_ASDU]
    sent_again, _ = exchange(link, user_data(GI_ASDU, fcb=False))
    assert sent_again == sent
    assert app.received == [GI_ASDU]

    # Broadcast user data, confirmed or not: accepted, never answered.
    assert exchange(link, user_data(CYCLIC, address=0xFF, confirmed=False)) == (b"", [])
    assert exchange(link, user_data(CYCLIC, address=0xFF, fcb=True)) == (b"", [])
    assert app.received == [GI_ASDU, CYCLIC, CYCLIC]

    # Another station's frames and the other secondaries' answers: silence.
    assert exchange(link, request(P.REQUEST_CLASS_1, fcb=True, address=2)) == (b"", [])
    assert exchange(link, user_data(GI_ASDU, fcb=True, address=2)) == (b"", [])
    assert exchange(link, answer(S.ACK, address=2) + E5) == (b"", [])
    assert app.received == [GI_ASDU, CYCLIC, CYCLIC]
    app.take_calls()

    stats = link.statistics
    assert stats["duplicates"] == 2
    assert stats["ignored"] == 4
    assert stats["discarded"] == 0
    assert stats["frames_received"] == stats["frames_sent"] + 2 + 4


def test_single_char_disabled_uses_fixed_frames() -> None:
    link, _app = unbalanced(single_char_ack=False)
    assert exchange(link, request(P.RESET_REMOTE_LINK))[0] == bytes.fromhex("10 00 01 01 16")
    assert exchange(link, request(P.REQUEST_CLASS_1, fcb=True))[0] == answer(S.NACK_NO_DATA)
    assert exchange(link, request(P.REQUEST_CLASS_2, fcb=False))[0] == answer(S.NACK_NO_DATA)
    assert exchange(link, user_data(GI_ASDU, fcb=True))[0] == answer(S.ACK)
    assert exchange(link, request(P.RESET_USER_PROCESS))[0] == answer(S.ACK)


def test_reset_clears_the_fcb_state() -> None:
    link, app = unbalanced()
    reset_link(link, app)
    app.class2.extend([CYCLIC, CYCLIC])
    first, _ = exchange(link, request(P.REQUEST_CLASS_2, fcb=True))
    assert first == data_answer(CYCLIC)
    reset_link(link, app)  # the data answer was never confirmed: link_down gives it back
    # The same FCB again is a new frame after a reset, not a repetition.
    sent, _ = exchange(link, request(P.REQUEST_CLASS_2, fcb=True))
    assert sent == data_answer(CYCLIC)
    assert app.take_calls() == ["next_class2"]


def test_reset_again_takes_the_link_down_and_up() -> None:
    link, app = unbalanced()
    reset_link(link, app)
    app.class1.append(EVENT_1)
    exchange(link, request(P.REQUEST_CLASS_1, fcb=False))
    app.take_calls()
    sent, events = exchange(link, request(P.RESET_REMOTE_LINK))
    assert sent == E5
    assert events == [
        LinkStateChanged(False, "link reset again by the master"),
        LinkStateChanged(True, "reset of remote link"),
    ]
    assert app.take_calls() == ["link_down", "link_up"]  # never "confirmed"


def test_status_and_reset_do_not_touch_the_fcb_state() -> None:
    link, app = unbalanced()
    reset_link(link, app)
    app.class2.append(CYCLIC)
    sent, _ = exchange(link, request(P.REQUEST_CLASS_2, fcb=True))
    exchange(link, request(P.REQUEST_LINK_STATUS))
    exchange(link, request(P.RESET_USER_PROCESS))
    # still a repetition of the class 2 request
    assert exchange(link, request(P.REQUEST_CLASS_2, fcb=True))[0] == sent


def test_test_link_is_not_implemented_in_unbalanced_mode() -> None:
    link, app = unbalanced()
    reset_link(link, app)
    sent, _ = exchange(link, request(P.TEST_LINK, fcb=True))
    assert sent == bytes.fromhex("10 0F 01 10 16")
    sent, _ = exchange(link, encode_fixed(primary_control(7), ADDRESS, 1))
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
    link, app = unbalanced()
    reset_link(link, app)
    sent, events = exchange(link, frame)
    assert sent == b""
    assert len(events) == 1
    assert isinstance(events[0], FrameDiscarded)
    assert reason in events[0].reason
    assert app.take_calls() == []
    assert link.statistics["discarded"] == 1


def test_user_data_before_reset_is_not_accepted() -> None:
    link, app = unbalanced()
    assert exchange(link, user_data(GI_ASDU, fcb=True))[0] == answer(S.NACK)
    sent, events = exchange(link, user_data(GI_ASDU, confirmed=False))
    assert sent == b""
    assert [type(e) for e in events] == [FrameDiscarded]
    sent, events = exchange(link, user_data(GI_ASDU, confirmed=False, address=0xFF))
    assert [type(e) for e in events] == [FrameDiscarded]
    assert app.received == []


def test_framing_errors_are_reported_and_survived() -> None:
    link, _app = unbalanced()
    sent, events = exchange(link, b"\x00\x10\x49\x01\x4b\x16" + request(P.REQUEST_LINK_STATUS))
    assert sent == answer(S.LINK_STATUS)
    # the garbage octet, then the frame with the bad checksum
    assert events == [FrameDiscarded("FT1.2 framing: 2 discard(s)")]
    assert link.statistics["framing_errors"] == 2


def test_split_frames_and_two_byte_addresses() -> None:
    link, app = unbalanced(address=0x1234, address_size=2)
    reset = request(P.RESET_REMOTE_LINK, address=0x1234, size=2)
    out = b""
    for octet in reset:
        out += exchange(link, bytes((octet,)))[0]
    assert out == E5
    assert link.link_up
    app.class1.append(EVENT_1)
    sent, _ = exchange(link, request(P.REQUEST_CLASS_1, fcb=True, address=0x1234, size=2))
    assert sent == data_answer(EVENT_1, address=0x1234, size=2)
    # broadcast is 0xFFFF with two octets
    exchange(link, user_data(GI_ASDU, confirmed=False, address=0xFFFF, size=2))
    assert app.received == [GI_ASDU]


def test_configured_broadcast_address() -> None:
    link, app = unbalanced(broadcast_address=0x7F)
    reset_link(link, app)
    assert exchange(link, user_data(GI_ASDU, confirmed=False, address=0x7F)) == (b"", [])
    assert exchange(link, user_data(GI_ASDU, confirmed=False, address=0xFF)) == (b"", [])
    assert app.received == [GI_ASDU]  # 0xFF is just another station now


def test_unbalanced_has_no_timers_and_no_primary() -> None:
    link, app = unbalanced()
    assert link.on_timer(1e9) == []
    link.poll_application(1.0)
    assert link.data_to_send() == b""
    assert app.take_calls() == []


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


class ScriptedMaster:
    """The controlling station, as bytes: builds its frames (DIR=1), parses ours."""

    def __init__(self, params: LinkParameters = BALANCED) -> None:
        self.size = params.address_size
        self.our_address = params.address if self.size else 0
        self.master_address = params.remote_address if self.size else 0
        self.parser = Ft12Parser(self.size)
        self.fcb = True

    # frames of the master's primary (to our secondary, our address)
    def primary(self, function: PrimaryFunction, *, fcb: bool = False) -> bytes:
        fcv = function in FCV_FUNCTIONS
        control = primary_control(function, fcb=fcb and fcv, fcv=fcv, direction=True)
        return encode_fixed(control, self.our_address, self.size)

    def next_fcb(self) -> bool:
        fcb, self.fcb = self.fcb, not self.fcb
        return fcb

    def user_data(self, asdu: bytes, fcb: bool) -> bytes:
        control = primary_control(P.USER_DATA_CONFIRMED, fcb=fcb, fcv=True, direction=True)
        return encode_variable(control, self.our_address, self.size, asdu)

    # answers of the master's secondary (to our primary, the master's address)
    def answer(self, function: SecondaryFunction, *, dfc: bool = False) -> bytes:
        control = secondary_control(function, dfc=dfc, direction=True)
        return encode_fixed(control, self.master_address, self.size)

    def frames(self, link: LinkLayer) -> list[Ft12Frame]:
        return self.parser.feed(link.data_to_send(), 0.0)

    # what our primary must send (DIR=0, the master's address)
    def ours(self, function: PrimaryFunction, *, fcb: bool = False) -> FixedFrame:
        fcv = function in FCV_FUNCTIONS
        return FixedFrame(primary_control(function, fcb=fcb, fcv=fcv), self.master_address)

    def ours_data(self, asdu: bytes, fcb: bool) -> VariableFrame:
        control = primary_control(P.USER_DATA_CONFIRMED, fcb=fcb, fcv=True)
        return VariableFrame(control, self.master_address, asdu)

    def our_answer(self, function: SecondaryFunction) -> FixedFrame:
        return FixedFrame(secondary_control(function), self.our_address)


def establish(
    link: LinkLayer, master: ScriptedMaster, app: FakeApp, now: float = 0.0
) -> list[Ft12Frame]:
    """Drive our primary's link establishment; the frames sent after the final ACK."""
    assert master.frames(link) == [master.ours(P.REQUEST_LINK_STATUS)]
    assert link.receive_data(master.answer(S.LINK_STATUS), now) == []
    assert master.frames(link) == [master.ours(P.RESET_REMOTE_LINK)]
    events = link.receive_data(master.answer(S.ACK), now)
    assert events == [LinkStateChanged(True, "link established")]
    assert link.link_up
    calls = app.take_calls()
    assert calls[0] == "link_up"
    return master.frames(link)


def balanced(
    params: LinkParameters = BALANCED, app: FakeApp | None = None
) -> tuple[LinkLayer, ScriptedMaster, FakeApp]:
    app = FakeApp() if app is None else app
    return LinkLayer(params, app, 0.0), ScriptedMaster(params), app


def test_balanced_golden_establishment() -> None:
    link, _master, app = balanced()
    assert link.data_to_send() == bytes.fromhex("10 49 02 4B 16")
    assert link.next_deadline() == 1.0
    assert link.on_timer(0.5) == []
    assert link.data_to_send() == b""
    assert link.on_timer(1.0) == []  # retried every repeat_timeout, forever
    assert link.data_to_send() == bytes.fromhex("10 49 02 4B 16")
    assert link.next_deadline() == 2.0
    link.receive_data(bytes.fromhex("10 8B 02 8D 16"), 1.5)  # status of link, DIR=1
    assert link.data_to_send() == bytes.fromhex("10 40 02 42 16")
    assert not link.link_up
    events = link.receive_data(bytes.fromhex("10 80 02 82 16"), 1.6)  # ACK, DIR=1
    assert events == [LinkStateChanged(True, "link established")]
    assert app.take_calls() == ["link_up", "next_class1", "next_class2"]
    assert link.data_to_send() == b""
    assert link.next_deadline() == 11.6  # test link when idle


def test_balanced_reset_unanswered_starts_over() -> None:
    link, master, _app = balanced()
    master.frames(link)
    link.receive_data(master.answer(S.LINK_STATUS), 0.1)
    assert master.frames(link) == [master.ours(P.RESET_REMOTE_LINK)]
    link.on_timer(1.1)
    assert master.frames(link) == [master.ours(P.REQUEST_LINK_STATUS)]
    assert not link.link_up


def test_balanced_confirmed_user_data_both_ways() -> None:
    app = FakeApp(on_link_up=[EI_ASDU])
    link, master, _ = balanced(app=app)
    # Our primary: the first frame after the reset carries FCB=1.
    assert establish(link, master, app) == [master.ours_data(EI_ASDU, fcb=True)]
    link.poll_application(0.1)
    assert master.frames(link) == []  # one frame outstanding at a time
    app.class1.append(EVENT_1)
    app.class2.append(CYCLIC)
    assert link.receive_data(master.answer(S.ACK), 0.2) == []
    assert app.take_calls() == ["confirmed", "next_class1"]
    assert master.frames(link) == [master.ours_data(EVENT_1, fcb=False)]
    # single character ACK from the master works as well
    link.receive_data(E5, 0.3)
    assert master.frames(link) == [master.ours_data(CYCLIC, fcb=True)]
    link.receive_data(master.answer(S.ACK), 0.4)
    assert app.take_calls() == [
        "confirmed",
        "next_class1",
        "next_class2",
        "confirmed",
        "next_class1",
        "next_class2",
    ]
    assert master.frames(link) == []

    # The master's primary to our secondary: status, reset, confirmed user data.
    link.receive_data(master.primary(P.REQUEST_LINK_STATUS), 1.0)
    assert link.data_to_send() == bytes.fromhex("10 0B 01 0C 16")
    link.receive_data(master.primary(P.RESET_REMOTE_LINK), 1.1)
    assert link.data_to_send() == E5
    link.receive_data(master.user_data(GI_ASDU, fcb=True), 1.2)
    assert link.data_to_send() == E5
    assert app.received == [GI_ASDU]
    # our ACK got lost: the master repeats with the same FCB
    link.receive_data(master.user_data(GI_ASDU, fcb=True), 2.2)
    assert link.data_to_send() == E5
    assert app.received == [GI_ASDU]
    link.receive_data(master.user_data(CYCLIC, fcb=False), 2.3)
    assert link.data_to_send() == E5
    assert app.received == [GI_ASDU, CYCLIC]
    assert link.statistics["duplicates"] == 1


def test_balanced_lost_ack_is_repeated() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    app.class1.append(EVENT_1)
    link.poll_application(5.0)
    frame = master.frames(link)
    assert frame == [master.ours_data(EVENT_1, fcb=True)]
    assert link.next_deadline() == 6.0
    assert link.on_timer(6.0) == []
    assert master.frames(link) == frame  # identical, same FCB
    assert link.statistics["repeats"] == 1
    link.receive_data(master.answer(S.ACK), 6.5)
    assert app.take_calls() == ["next_class1", "confirmed", "next_class1", "next_class2"]
    # the next one toggles the FCB
    app.class1.append(EVENT_2)
    link.poll_application(7.0)
    assert master.frames(link) == [master.ours_data(EVENT_2, fcb=False)]


def test_balanced_repeat_limit_loses_the_link_and_reestablishes() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    app.class1.extend([EVENT_1, EVENT_2])
    link.poll_application(0.0)
    first = master.frames(link)
    assert first == [master.ours_data(EVENT_1, fcb=True)]
    assert link.on_timer(1.0) == []
    assert master.frames(link) == first
    assert link.on_timer(2.0) == []
    assert master.frames(link) == first
    events = link.on_timer(3.0)  # max_repeats=2 exhausted
    assert events == [LinkStateChanged(False, "no ACK within 1.0 s after 2 repeat(s)")]
    assert not link.link_up
    assert app.take_calls() == ["next_class1", "link_down"]
    assert master.frames(link) == [master.ours(P.REQUEST_LINK_STATUS)]
    link.poll_application(3.1)  # no user data while the link is down
    assert master.frames(link) == []
    # Re-establish: the FCB starts again at 1; the app re-queued its unconfirmed data.
    app.class1.appendleft(EVENT_1)
    link.receive_data(master.answer(S.LINK_STATUS), 3.5)
    assert master.frames(link) == [master.ours(P.RESET_REMOTE_LINK)]
    link.receive_data(master.answer(S.ACK), 3.6)
    assert master.frames(link) == [master.ours_data(EVENT_1, fcb=True)]
    assert link.link_up


def test_balanced_test_link_when_idle() -> None:
    link, master, app = balanced()
    establish(link, master, app, now=0.0)
    assert link.next_deadline() == 10.0
    # a frame from the master postpones the test
    link.receive_data(master.primary(P.REQUEST_LINK_STATUS), 4.0)
    link.data_to_send()
    assert link.next_deadline() == 14.0
    assert link.on_timer(14.0) == []
    assert master.frames(link) == [master.ours(P.TEST_LINK, fcb=True)]
    assert link.next_deadline() == 15.0
    link.receive_data(master.answer(S.ACK), 14.1)
    assert "confirmed" not in app.take_calls()
    assert link.next_deadline() == pytest.approx(24.1)
    # an unanswered test link loses the link like user data
    link.on_timer(24.1)
    assert master.frames(link) == [master.ours(P.TEST_LINK, fcb=False)]
    link.on_timer(25.1)
    link.on_timer(26.1)
    assert link.on_timer(27.1)[0] == LinkStateChanged(
        False, "no ACK within 1.0 s after 2 repeat(s)"
    )


def test_balanced_test_link_from_the_master() -> None:
    params = LinkParameters(
        mode=LinkMode.BALANCED, address=OUR, remote_address=MASTER, single_char_ack=False
    )
    link, master, app = balanced(params)
    master.frames(link)
    link.receive_data(master.primary(P.RESET_REMOTE_LINK), 0.0)
    assert master.frames(link) == [master.our_answer(S.ACK)]
    link.receive_data(master.primary(P.TEST_LINK, fcb=True), 0.1)
    assert master.frames(link) == [master.our_answer(S.ACK)]
    link.receive_data(master.primary(P.TEST_LINK, fcb=True), 0.2)  # repeated
    assert master.frames(link) == [master.our_answer(S.ACK)]
    assert link.statistics["duplicates"] == 1
    # class polling does not exist in balanced mode
    link.receive_data(master.primary(P.REQUEST_CLASS_1, fcb=False), 0.3)
    assert master.frames(link) == [master.our_answer(S.LINK_SERVICE_NOT_IMPLEMENTED)]
    assert app.take_calls() == []


def test_balanced_discards_frames_with_the_wrong_direction_or_address() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    echo = request(P.REQUEST_LINK_STATUS, address=OUR)  # DIR=0
    events = link.receive_data(echo, 1.0)
    assert [type(e) for e in events] == [FrameDiscarded]
    assert "DIR=0" in events[0].reason
    other = request(P.REQUEST_LINK_STATUS, address=5, direction=True)
    assert [type(e) for e in link.receive_data(other, 1.0)] == [FrameDiscarded]
    stray_ack = master.answer(S.ACK)  # nothing outstanding
    assert [type(e) for e in link.receive_data(stray_ack, 1.0)] == [FrameDiscarded]
    assert link.data_to_send() == b""
    assert link.statistics["discarded"] == 3


def test_balanced_nack_waits_and_sends_again_with_a_new_fcb() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    app.class1.append(EVENT_1)
    link.poll_application(0.0)
    assert master.frames(link) == [master.ours_data(EVENT_1, fcb=True)]
    assert link.receive_data(master.answer(S.NACK), 0.1) == []
    assert master.frames(link) == []
    assert link.next_deadline() == 1.1
    link.on_timer(1.1)
    assert master.frames(link) == [master.ours_data(EVENT_1, fcb=False)]
    link.receive_data(master.answer(S.ACK), 1.2)
    assert app.take_calls().count("confirmed") == 1


def test_balanced_dfc_holds_the_next_frame() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    app.class1.extend([EVENT_1, EVENT_2])
    link.poll_application(0.0)
    master.frames(link)
    link.receive_data(master.answer(S.ACK, dfc=True), 0.1)  # accepted, but full
    assert master.frames(link) == []
    link.poll_application(0.5)
    assert master.frames(link) == []
    link.on_timer(1.1)
    assert master.frames(link) == [master.ours_data(EVENT_2, fcb=False)]


def test_balanced_without_addresses() -> None:
    params = LinkParameters(mode=LinkMode.BALANCED, address_size=0)
    link, _master, app = balanced(params)
    assert link.data_to_send() == bytes.fromhex("10 49 49 16")
    link.receive_data(bytes.fromhex("10 8B 8B 16"), 0.1)
    assert link.data_to_send() == bytes.fromhex("10 40 40 16")
    link.receive_data(E5, 0.2)
    assert link.link_up
    app.class1.append(GI_ASDU)
    link.poll_application(0.3)
    assert link.data_to_send() == encode_variable(0x73, 0, 0, GI_ASDU)


def test_statistics_keys() -> None:
    link, _ = unbalanced()
    assert set(link.statistics) == {
        "frames_received",
        "frames_sent",
        "repeats",
        "duplicates",
        "discarded",
        "ignored",
        "framing_errors",
    }


def test_balanced_refused_every_time_loses_the_link() -> None:
    link, master, app = balanced()
    establish(link, master, app)
    app.class1.append(EVENT_1)
    link.poll_application(0.0)
    for now in (0.0, 1.1):  # the first send and max_repeats=2 resends
        assert master.frames(link) == [master.ours_data(EVENT_1, fcb=now == 0.0)]
        assert link.receive_data(master.answer(S.NACK), now + 0.1) == []
        link.on_timer(now + 1.1)
    assert master.frames(link) == [master.ours_data(EVENT_1, fcb=True)]
    events = link.receive_data(master.answer(S.NACK), 2.3)
    assert events == [LinkStateChanged(False, "user data refused with function 1")]
    assert app.take_calls()[-1] == "link_down"
    assert master.frames(link) == [master.ours(P.REQUEST_LINK_STATUS)]


def test_idle_timeout_drops_a_broken_frame() -> None:
    link, _app = unbalanced(idle_timeout=0.01)
    status = request(P.REQUEST_LINK_STATUS)
    assert exchange(link, status[:3], 0.0) == (b"", [])
    sent, events = exchange(link, b"", 0.5)
    assert sent == b""
    assert events == [FrameDiscarded("FT1.2 framing: 1 discard(s)")]
    assert exchange(link, status, 0.6)[0] == answer(S.LINK_STATUS)
