"""The 104 APCI connection state machine: two cores (or a core and scripted bytes), fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.iec.cs104.apci import (
    SEQ_MODULO,
    Frame,
    FrameParser,
    IFrame,
    SFrame,
    UFrame,
    UFunction,
    encode_frame,
)
from rtu.iec.cs104.connection import (
    Acknowledged,
    ApciParameters,
    AsduReceived,
    Connection,
    ConnectionFailed,
    DataTransferStarted,
    DataTransferStopped,
    Event,
    Role,
)
from rtu.iec.errors import LocalProtocolError

PARAMS = ApciParameters()  # k=12 w=8 t1=15 t2=10 t3=20
ASDU = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")

STARTDT_ACT = encode_frame(UFrame(UFunction.STARTDT_ACT))
STARTDT_CON = encode_frame(UFrame(UFunction.STARTDT_CON))
STOPDT_ACT = encode_frame(UFrame(UFunction.STOPDT_ACT))
STOPDT_CON = encode_frame(UFrame(UFunction.STOPDT_CON))
TESTFR_ACT = encode_frame(UFrame(UFunction.TESTFR_ACT))
TESTFR_CON = encode_frame(UFrame(UFunction.TESTFR_CON))


def i_frame(send_seq: int, recv_seq: int, asdu: bytes = ASDU) -> bytes:
    return encode_frame(IFrame(send_seq, recv_seq, asdu))


def s_frame(recv_seq: int) -> bytes:
    return encode_frame(SFrame(recv_seq))


def sent_frames(conn: Connection) -> list[Frame]:
    return FrameParser().feed(conn.data_to_send())


def started_outstation(params: ApciParameters = PARAMS, now: float = 0.0) -> Connection:
    conn = Connection(params, now)
    assert conn.receive_data(STARTDT_ACT, now) == [DataTransferStarted()]
    assert conn.data_to_send() == STARTDT_CON
    return conn


def started_master(params: ApciParameters = PARAMS, now: float = 0.0) -> Connection:
    conn = Connection(params, now, Role.CONTROLLING)
    conn.start_data_transfer(now)
    assert conn.data_to_send() == STARTDT_ACT
    assert conn.receive_data(STARTDT_CON, now) == [DataTransferStarted()]
    return conn


def assert_inert(conn: Connection, now: float) -> None:
    reason = conn.failed
    assert reason is not None
    assert conn.receive_data(STARTDT_ACT + TESTFR_ACT + b"garbage", now) == []
    assert conn.on_timer(now + 1000.0) == []
    assert conn.next_deadline() is None
    assert conn.data_to_send() == b""
    conn.send_test_frame(now)
    assert conn.data_to_send() == b""
    assert not conn.can_send
    with pytest.raises(LocalProtocolError):
        conn.send_asdu(ASDU, now)
    assert conn.failed == reason


def only_failure(events: list[Event]) -> str:
    assert len(events) >= 1
    *before, last = events
    assert isinstance(last, ConnectionFailed)
    assert not any(isinstance(e, ConnectionFailed) for e in before)
    return last.reason


# ------------------------------------------------------------------ parameters


def test_default_parameters() -> None:
    p = ApciParameters()
    assert (p.k, p.w, p.t0, p.t1, p.t2, p.t3) == (12, 8, 30.0, 15.0, 10.0, 20.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k="),
        ({"k": 32768}, "k="),
        ({"w": 0}, "w="),
        ({"w": 32768}, "w="),
        ({"k": 1.5}, "k="),
        ({"t0": 0.0}, "t0="),
        ({"t1": -1.0}, "t1="),
        ({"t2": 0.0}, "t2="),
        ({"t3": float("nan")}, "t3="),
        ({"t3": float("inf")}, "t3="),
        ({"t1": 10.0, "t2": 10.0}, "t2=10.0: must be less than t1"),
        ({"t1": 5.0}, "t2=10.0: must be less than t1=5.0"),
    ],
)
def test_parameter_validation(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("(", r"\(")):
        ApciParameters(**kwargs)  # type: ignore[arg-type]


def test_w_above_two_thirds_of_k_is_allowed() -> None:
    assert ApciParameters(k=3, w=3).w == 3
    assert ApciParameters(k=32767, w=32767, t1=1.0, t2=0.5).k == 32767


# ------------------------------------------------------------ controlled role


def test_controlled_starts_stopped() -> None:
    conn = Connection(PARAMS, 0.0)
    assert conn.role is Role.CONTROLLED
    assert not conn.started
    assert not conn.can_send
    assert conn.unacknowledged == 0
    assert conn.failed is None
    assert conn.data_to_send() == b""
    with pytest.raises(LocalProtocolError, match="stopped"):
        conn.send_asdu(ASDU, 0.0)


def test_startdt_act_is_confirmed() -> None:
    conn = Connection(PARAMS, 0.0)
    assert conn.receive_data(STARTDT_ACT, 1.0) == [DataTransferStarted()]
    assert conn.data_to_send() == STARTDT_CON
    assert conn.started and conn.can_send
    # a repeated STARTDT act is confirmed again, without a second event
    assert conn.receive_data(STARTDT_ACT, 2.0) == []
    assert conn.data_to_send() == STARTDT_CON


def test_i_frame_while_stopped_fails() -> None:
    conn = Connection(PARAMS, 0.0)
    reason = only_failure(conn.receive_data(i_frame(0, 0), 1.0))
    assert "while data transfer is stopped" in reason
    assert_inert(conn, 1.0)


def test_send_and_receive_i_frames() -> None:
    conn = started_outstation()
    assert conn.send_asdu(b"\x01", 1.0) == 0
    assert conn.send_asdu(b"\x02", 1.0) == 1
    assert conn.unacknowledged == 2
    assert sent_frames(conn) == [IFrame(0, 0, b"\x01"), IFrame(1, 0, b"\x02")]
    events = conn.receive_data(i_frame(0, 1, b"\xaa") + i_frame(1, 2, b"\xbb"), 2.0)
    assert events == [
        Acknowledged(1),
        AsduReceived(b"\xaa"),
        Acknowledged(1),
        AsduReceived(b"\xbb"),
    ]
    assert conn.unacknowledged == 0
    # our next I-frame carries N(R)=2 and acknowledges both
    assert conn.send_asdu(b"\x03", 3.0) == 2
    assert sent_frames(conn) == [IFrame(2, 2, b"\x03")]
    assert conn.next_deadline() == 3.0 + PARAMS.t1  # no t2 armed any more


def test_partial_frames_across_calls() -> None:
    conn = started_outstation()
    wire = i_frame(0, 0, b"\x01\x02\x03") + TESTFR_ACT
    events: list[Event] = []
    for i in range(len(wire)):
        events += conn.receive_data(wire[i : i + 1], 1.0)
    assert events == [AsduReceived(b"\x01\x02\x03")]
    assert conn.data_to_send() == TESTFR_CON


def test_send_asdu_rejects_bad_asdu() -> None:
    conn = started_outstation()
    with pytest.raises(LocalProtocolError):
        conn.send_asdu(b"", 0.0)
    with pytest.raises(LocalProtocolError):
        conn.send_asdu(bytes(250), 0.0)
    assert conn.unacknowledged == 0


def test_sequence_error_fails() -> None:
    conn = started_outstation()
    assert conn.receive_data(i_frame(0, 0), 1.0) == [AsduReceived(ASDU)]
    reason = only_failure(conn.receive_data(i_frame(2, 0), 2.0))
    assert reason == "sequence error: received I-frame N(S)=2, expected 1"
    assert_inert(conn, 2.0)


def test_repeated_i_frame_fails() -> None:
    conn = started_outstation()
    conn.receive_data(i_frame(0, 0), 1.0)
    assert "sequence error" in only_failure(conn.receive_data(i_frame(0, 0), 1.0))


@pytest.mark.parametrize("bad_nr", [4, 100, SEQ_MODULO - 1])
def test_nr_beyond_our_next_ns_fails(bad_nr: int) -> None:
    conn = started_outstation()
    for _ in range(3):
        conn.send_asdu(ASDU, 1.0)
    reason = only_failure(conn.receive_data(s_frame(bad_nr), 2.0))
    assert reason.startswith(f"N(R)={bad_nr} out of range")
    assert "N(S)=0" in reason and "N(S)=3" in reason
    assert_inert(conn, 2.0)


def test_nr_below_oldest_unacknowledged_fails() -> None:
    conn = started_outstation()
    for _ in range(5):
        conn.send_asdu(ASDU, 1.0)
    assert conn.receive_data(s_frame(3), 2.0) == [Acknowledged(3)]
    # the same N(R) again is fine (acknowledges nothing new) ...
    assert conn.receive_data(s_frame(3), 2.0) == []
    # ... an older one is not
    assert "N(R)=2 out of range" in only_failure(conn.receive_data(s_frame(2), 2.0))


def test_nr_in_an_i_frame_is_checked_too() -> None:
    conn = started_outstation()
    reason = only_failure(conn.receive_data(i_frame(0, 1), 1.0))
    assert reason.startswith("N(R)=1 out of range")


def test_send_room_is_what_can_send_allows() -> None:
    params = ApciParameters(k=3, w=2)
    conn = Connection(params, 0.0)
    assert conn.send_room == 0  # not started
    conn.receive_data(STARTDT_ACT, 0.5)
    assert conn.send_room == 3
    conn.send_asdu(ASDU, 1.0)
    assert conn.send_room == 2
    conn.send_asdu(ASDU, 1.0)
    conn.send_asdu(ASDU, 1.0)
    assert conn.send_room == 0 and not conn.can_send
    conn.receive_data(s_frame(1), 2.0)
    assert conn.send_room == 1 and conn.can_send
    conn.receive_data(STOPDT_ACT, 2.5)  # stopping: nothing more goes out
    assert conn.send_room == 0 and not conn.can_send


def test_k_window_blocks() -> None:
    params = ApciParameters(k=3, w=2)
    conn = started_outstation(params)
    assert [conn.send_asdu(ASDU, 1.0) for _ in range(3)] == [0, 1, 2]
    assert not conn.can_send
    assert conn.unacknowledged == 3
    with pytest.raises(LocalProtocolError, match="k=3"):
        conn.send_asdu(ASDU, 1.0)
    assert conn.receive_data(s_frame(2), 2.0) == [Acknowledged(2)]
    assert conn.can_send and conn.unacknowledged == 1
    assert conn.send_asdu(ASDU, 2.0) == 3
    assert conn.send_asdu(ASDU, 2.0) == 4
    assert not conn.can_send


def test_s_frame_after_w_received() -> None:
    params = ApciParameters(k=12, w=3)
    conn = started_outstation(params)
    for ns in range(2):
        conn.receive_data(i_frame(ns, 0), 1.0)
        assert conn.data_to_send() == b""
    conn.receive_data(i_frame(2, 0), 1.0)
    assert conn.data_to_send() == s_frame(3)
    # the count restarts
    conn.receive_data(i_frame(3, 0) + i_frame(4, 0), 1.0)
    assert conn.data_to_send() == b""
    conn.receive_data(i_frame(5, 0), 1.0)
    assert conn.data_to_send() == s_frame(6)


def test_s_frame_on_t2() -> None:
    conn = started_outstation()
    conn.receive_data(i_frame(0, 0), 100.0)
    conn.receive_data(i_frame(1, 0), 104.0)  # t2 runs from the first unacknowledged one
    assert conn.next_deadline() == 100.0 + PARAMS.t2
    assert conn.on_timer(109.99) == []
    assert conn.data_to_send() == b""
    assert conn.on_timer(110.0) == []
    assert conn.data_to_send() == s_frame(2)
    assert conn.next_deadline() == 104.0 + PARAMS.t3  # only t3 is left


def test_our_i_frame_cancels_t2() -> None:
    conn = started_outstation()
    conn.receive_data(i_frame(0, 0), 0.0)
    conn.send_asdu(ASDU, 1.0)
    assert sent_frames(conn) == [IFrame(0, 1, ASDU)]
    assert conn.on_timer(PARAMS.t2) == []
    assert conn.data_to_send() == b""


def test_t1_expiry_on_missing_ack() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 5.0)
    conn.send_asdu(ASDU, 6.0)
    assert conn.next_deadline() == 5.0 + PARAMS.t1
    assert conn.on_timer(19.99) == []
    assert conn.receive_data(s_frame(1), 19.99) == [Acknowledged(1)]
    assert conn.next_deadline() == 6.0 + PARAMS.t1
    reason = only_failure(conn.on_timer(21.0))
    assert reason == "t1 expired: I-frame N(S)=1 not acknowledged within 15.0 s"
    assert conn.unacknowledged == 1  # what was lost stays visible
    assert_inert(conn, 21.0)


def test_t3_sends_testfr_and_expects_con_within_t1() -> None:
    conn = Connection(PARAMS, 0.0)
    assert conn.next_deadline() == PARAMS.t3
    assert conn.on_timer(19.0) == []
    assert conn.data_to_send() == b""
    assert conn.on_timer(20.0) == []
    assert conn.data_to_send() == TESTFR_ACT
    assert conn.next_deadline() == 20.0 + PARAMS.t1
    assert conn.receive_data(TESTFR_CON, 30.0) == []
    assert conn.next_deadline() == 30.0 + PARAMS.t3
    # again, but now the con never comes
    assert conn.on_timer(50.0) == []
    assert conn.data_to_send() == TESTFR_ACT
    assert conn.on_timer(64.9) == []
    assert conn.data_to_send() == b""
    reason = only_failure(conn.on_timer(65.0))
    assert reason == "t1 expired: TESTFR_ACT not confirmed within 15.0 s"
    assert_inert(conn, 65.0)


def test_other_frames_do_not_replace_the_testfr_con() -> None:
    conn = started_outstation()
    conn.on_timer(20.0)
    assert conn.data_to_send() == TESTFR_ACT
    conn.receive_data(i_frame(0, 0), 21.0)
    assert conn.next_deadline() == 31.0  # t2 first
    conn.on_timer(31.0)
    assert conn.data_to_send() == s_frame(1)
    assert "TESTFR_ACT" in only_failure(conn.on_timer(35.0))


def test_any_received_frame_restarts_t3() -> None:
    conn = started_outstation(now=0.0)
    conn.receive_data(s_frame(0), 15.0)
    assert conn.next_deadline() == 35.0
    conn.receive_data(TESTFR_ACT[:3], 30.0)  # half a frame is not a frame
    assert conn.next_deadline() == 35.0
    conn.receive_data(TESTFR_ACT[3:], 31.0)
    assert conn.next_deadline() == 51.0
    assert conn.data_to_send() == TESTFR_CON


@pytest.mark.parametrize("role", list(Role))
def test_testfr_act_always_answered(role: Role) -> None:
    conn = Connection(PARAMS, 0.0, role)
    assert conn.receive_data(TESTFR_ACT + TESTFR_ACT, 1.0) == []
    assert conn.data_to_send() == TESTFR_CON + TESTFR_CON
    assert not conn.started


@pytest.mark.parametrize("role", list(Role))
def test_send_test_frame(role: Role) -> None:
    conn = Connection(PARAMS, 0.0, role)
    conn.send_test_frame(2.0)
    conn.send_test_frame(3.0)  # one is already awaiting its con
    assert conn.data_to_send() == TESTFR_ACT
    assert conn.next_deadline() == 2.0 + PARAMS.t1
    conn.receive_data(TESTFR_CON, 4.0)
    assert conn.next_deadline() == 4.0 + PARAMS.t3
    conn.send_test_frame(5.0)
    assert conn.data_to_send() == TESTFR_ACT
    assert "TESTFR_ACT" in only_failure(conn.on_timer(20.0))


def test_unsolicited_testfr_con_is_tolerated() -> None:
    conn = Connection(PARAMS, 0.0)
    assert conn.receive_data(TESTFR_CON, 1.0) == []
    assert conn.failed is None


def test_stopdt_without_pending_frames_is_immediate() -> None:
    conn = started_outstation()
    conn.receive_data(i_frame(0, 0), 1.0)  # one received, not yet acknowledged
    assert conn.receive_data(STOPDT_ACT, 2.0) == [DataTransferStopped()]
    # the pending acknowledgement goes out before the STOPDT con
    assert conn.data_to_send() == s_frame(1) + STOPDT_CON
    assert not conn.started and not conn.can_send
    assert conn.next_deadline() == 22.0  # no t2 left


def test_stopdt_waits_for_pending_acks() -> None:
    conn = started_outstation()
    for _ in range(3):
        conn.send_asdu(ASDU, 1.0)
    conn.data_to_send()
    assert conn.receive_data(STOPDT_ACT, 2.0) == []
    assert conn.data_to_send() == b""
    assert conn.started and not conn.can_send
    with pytest.raises(LocalProtocolError, match="STOPDT in progress"):
        conn.send_asdu(ASDU, 2.0)
    assert conn.receive_data(STOPDT_ACT, 2.5) == []  # repeated: still waiting
    assert conn.receive_data(s_frame(2), 3.0) == [Acknowledged(2)]
    assert conn.data_to_send() == b""
    assert conn.receive_data(s_frame(3), 4.0) == [Acknowledged(1), DataTransferStopped()]
    assert conn.data_to_send() == STOPDT_CON
    assert not conn.started
    # stopped: I-frames are a violation, STOPDT act is confirmed again
    assert conn.receive_data(STOPDT_ACT, 5.0) == []
    assert conn.data_to_send() == STOPDT_CON
    # and a new STARTDT restarts, the sequence numbers carry on
    assert conn.receive_data(STARTDT_ACT, 6.0) == [DataTransferStarted()]
    assert conn.data_to_send() == STARTDT_CON
    assert conn.send_asdu(ASDU, 6.0) == 3
    assert conn.receive_data(i_frame(0, 4), 7.0) == [Acknowledged(1), AsduReceived(ASDU)]


def test_stopdt_pending_acks_t1_still_applies() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 1.0)
    conn.receive_data(STOPDT_ACT, 2.0)
    assert "t1 expired" in only_failure(conn.on_timer(16.0))


def test_startdt_act_while_stopping_cancels_the_stop() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 1.0)
    conn.data_to_send()
    conn.receive_data(STOPDT_ACT, 2.0)
    assert not conn.can_send
    assert conn.receive_data(STARTDT_ACT, 3.0) == []
    assert conn.data_to_send() == STARTDT_CON
    assert conn.can_send
    assert conn.receive_data(s_frame(1), 4.0) == [Acknowledged(1)]
    assert conn.data_to_send() == b""


def test_i_frame_while_stopping_fails_in_controlled_role() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 1.0)
    conn.receive_data(STOPDT_ACT, 2.0)
    reason = only_failure(conn.receive_data(i_frame(0, 0), 3.0))
    assert "while data transfer is stopping" in reason


@pytest.mark.parametrize("wire", [STARTDT_CON, STOPDT_CON])
def test_confirmations_are_violations_in_controlled_role(wire: bytes) -> None:
    conn = started_outstation()
    reason = only_failure(conn.receive_data(wire, 1.0))
    assert "in the controlled role" in reason
    assert_inert(conn, 1.0)


def test_controlled_role_cannot_start_or_stop() -> None:
    conn = Connection(PARAMS, 0.0)
    with pytest.raises(LocalProtocolError):
        conn.start_data_transfer(0.0)
    with pytest.raises(LocalProtocolError):
        conn.stop_data_transfer(0.0)


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (b"\x00\x04\x07\x00\x00\x00", "start octet 0x00"),
        (b"\x68\x02", "APDU length 2"),
        (b"\x68\x04\x00\x00\x00\x00", "I-frame without an ASDU"),
        (b"\x68\x04\x0f\x00\x00\x00", "more than one function bit"),
        (b"\x68\x04\x03\x00\x00\x00", "no function bit"),
        (b"\x68\x05\x01\x00\x00\x00\x00", "S-frame with length 5"),
    ],
)
def test_framing_error_fails_after_processing_the_frames_before_it(
    wire: bytes, problem: str
) -> None:
    conn = started_outstation()
    events = conn.receive_data(i_frame(0, 0, b"\x42") + wire, 1.0)
    assert events[0] == AsduReceived(b"\x42")
    reason = only_failure(events)
    assert problem in reason
    assert wire[:2].hex(" ") in reason
    assert_inert(conn, 1.0)


def test_frames_after_a_violation_are_not_processed() -> None:
    conn = started_outstation()
    events = conn.receive_data(i_frame(1, 0) + i_frame(0, 0), 1.0)
    assert len(events) == 1
    assert isinstance(events[0], ConnectionFailed)


# ----------------------------------------------------------- controlling role


def test_controlling_start_and_stop() -> None:
    conn = Connection(PARAMS, 0.0, Role.CONTROLLING)
    assert not conn.can_send
    conn.start_data_transfer(1.0)
    assert conn.data_to_send() == STARTDT_ACT
    assert not conn.started
    assert conn.next_deadline() == 1.0 + PARAMS.t1
    with pytest.raises(LocalProtocolError):
        conn.start_data_transfer(1.0)
    assert conn.receive_data(STARTDT_CON, 2.0) == [DataTransferStarted()]
    assert conn.started and conn.can_send
    with pytest.raises(LocalProtocolError):
        conn.start_data_transfer(2.0)
    conn.send_asdu(ASDU, 3.0)
    conn.receive_data(i_frame(0, 0), 3.5)  # unacknowledged until the STOPDT act
    conn.data_to_send()
    conn.stop_data_transfer(4.0)
    assert conn.data_to_send() == s_frame(1) + STOPDT_ACT
    assert not conn.can_send
    # I-frames the outstation sent before it saw our STOPDT act are accepted and acked at once
    assert conn.receive_data(i_frame(1, 1), 4.5) == [Acknowledged(1), AsduReceived(ASDU)]
    assert conn.data_to_send() == s_frame(2)
    assert conn.receive_data(STOPDT_CON, 5.0) == [DataTransferStopped()]
    assert not conn.started
    with pytest.raises(LocalProtocolError):
        conn.stop_data_transfer(5.0)
    assert "while data transfer is stopped" in only_failure(conn.receive_data(i_frame(2, 1), 6.0))


def test_controlling_startdt_t1() -> None:
    conn = Connection(PARAMS, 0.0, Role.CONTROLLING)
    conn.start_data_transfer(1.0)
    assert conn.on_timer(15.9) == []
    reason = only_failure(conn.on_timer(16.0))
    assert reason == "t1 expired: STARTDT_ACT not confirmed within 15.0 s"


def test_controlling_stopdt_t1() -> None:
    conn = started_master()
    conn.stop_data_transfer(1.0)
    assert "STOPDT_ACT not confirmed" in only_failure(conn.on_timer(16.0))


@pytest.mark.parametrize(
    ("wire", "problem"),
    [
        (STARTDT_ACT, "unexpected STARTDT_ACT in the controlling role"),
        (STOPDT_ACT, "unexpected STOPDT_ACT in the controlling role"),
        (STARTDT_CON, "unexpected STARTDT_CON while awaiting nothing"),
        (STOPDT_CON, "unexpected STOPDT_CON while awaiting nothing"),
    ],
)
def test_controlling_violations(wire: bytes, problem: str) -> None:
    conn = started_master()
    assert only_failure(conn.receive_data(wire, 1.0)) == problem
    assert_inert(conn, 1.0)


def test_controlling_wrong_confirmation() -> None:
    conn = Connection(PARAMS, 0.0, Role.CONTROLLING)
    conn.start_data_transfer(0.0)
    reason = only_failure(conn.receive_data(STOPDT_CON, 1.0))
    assert reason == "unexpected STOPDT_CON while awaiting STARTDT_ACT"


def test_controlling_i_frame_before_startdt_con_fails() -> None:
    conn = Connection(PARAMS, 0.0, Role.CONTROLLING)
    conn.start_data_transfer(0.0)
    assert "stopped" in only_failure(conn.receive_data(i_frame(0, 0), 1.0))


def test_on_timer_fires_everything_due() -> None:
    conn = started_outstation()
    conn.receive_data(i_frame(0, 0), 0.0)
    assert conn.next_deadline() == PARAMS.t2
    assert conn.on_timer(100.0) == []  # t2 and t3 both overdue
    assert conn.data_to_send() == s_frame(1) + TESTFR_ACT


# --------------------------------------------------------- sequence wrap-around


def test_wrap_around_with_helper() -> None:
    conn = started_outstation()
    conn._set_sequence_numbers(SEQ_MODULO - 2, SEQ_MODULO - 1)
    assert [conn.send_asdu(ASDU, 1.0) for _ in range(4)] == [32766, 32767, 0, 1]
    assert sent_frames(conn)[2] == IFrame(0, 32767, ASDU)
    events = conn.receive_data(i_frame(32767, 0) + s_frame(1) + i_frame(0, 2), 2.0)
    assert events == [
        Acknowledged(2),
        AsduReceived(ASDU),
        Acknowledged(1),
        Acknowledged(1),
        AsduReceived(ASDU),
    ]
    assert conn.unacknowledged == 0
    assert conn.send_asdu(ASDU, 3.0) == 2
    assert sent_frames(conn) == [IFrame(2, 1, ASDU)]


def ack_across_the_wrap(nr: int) -> list[Event]:
    """A fresh outstation with N(S) 32766, 32767, 0, 1 outstanding, fed S-frame N(R)=nr."""
    conn = started_outstation()
    conn._set_sequence_numbers(SEQ_MODULO - 2, 0)
    for _ in range(4):
        conn.send_asdu(ASDU, 1.0)
    return conn.receive_data(s_frame(nr), 2.0)


@pytest.mark.parametrize(("nr", "count"), [(SEQ_MODULO - 2, 0), (32767, 1), (0, 2), (2, 4)])
def test_nr_range_across_the_wrap(nr: int, count: int) -> None:
    events = ack_across_the_wrap(nr)
    assert events == ([Acknowledged(count)] if count else [])


@pytest.mark.parametrize("nr", [3, SEQ_MODULO - 3, 100])
def test_nr_out_of_range_across_the_wrap(nr: int) -> None:
    assert f"N(R)={nr} out of range" in only_failure(ack_across_the_wrap(nr))


def test_set_sequence_numbers_refuses_while_frames_are_outstanding() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 0.0)
    with pytest.raises(LocalProtocolError):
        conn._set_sequence_numbers(5, 5)


def test_natural_wrap_without_helper() -> None:
    """More than 32768 frames in each direction with the default k and w; no shortcuts."""
    master = started_master()
    outstation = started_outstation()
    total = SEQ_MODULO + 300
    got_master = 0
    got_outstation = 0
    acked = {"m": 0, "o": 0}
    now = 0.0
    for n in range(total):
        payload = n.to_bytes(3, "little")
        assert outstation.can_send and master.can_send  # w < k and immediate delivery
        outstation.send_asdu(payload, now)
        master.send_asdu(payload, now)
        for event in master.receive_data(outstation.data_to_send(), now):
            if isinstance(event, AsduReceived):
                assert event.asdu == got_master.to_bytes(3, "little")
                got_master += 1
            elif isinstance(event, Acknowledged):
                acked["m"] += event.count
            else:
                pytest.fail(repr(event))
        for event in outstation.receive_data(master.data_to_send(), now):
            if isinstance(event, AsduReceived):
                assert event.asdu == got_outstation.to_bytes(3, "little")
                got_outstation += 1
            elif isinstance(event, Acknowledged):
                acked["o"] += event.count
            else:
                pytest.fail(repr(event))
    assert got_master == got_outstation == total
    assert acked["m"] + master.unacknowledged == total
    assert acked["o"] + outstation.unacknowledged == total


# ----------------------------------------------------------------- back to back


class Link:
    """Two cores wired back to back through byte pipes delivered in random slices."""

    def __init__(self, rng: random.Random, params_m: ApciParameters, params_o: ApciParameters):
        self.rng = rng
        self.now = 0.0
        self.master = Connection(params_m, self.now, Role.CONTROLLING)
        self.outstation = Connection(params_o, self.now, Role.CONTROLLED)
        self.wire_to_o = bytearray()
        self.wire_to_m = bytearray()
        self.events_m: list[Event] = []
        self.events_o: list[Event] = []

    def collect(self) -> None:
        self.wire_to_o += self.master.data_to_send()
        self.wire_to_m += self.outstation.data_to_send()

    def deliver(self, everything: bool = False) -> None:
        self.collect()
        for wire, dst, sink in (
            (self.wire_to_o, self.outstation, self.events_o),
            (self.wire_to_m, self.master, self.events_m),
        ):
            n = len(wire) if everything else self.rng.randint(0, len(wire))
            if n:
                chunk = bytes(wire[:n])
                del wire[:n]
                sink += dst.receive_data(chunk, self.now)
        self.collect()

    def settle(self) -> None:
        while True:
            self.deliver(everything=True)
            if not self.wire_to_o and not self.wire_to_m:
                return

    def advance(self, seconds: float) -> None:
        self.settle()
        self.now += seconds
        self.events_m += self.master.on_timer(self.now)
        self.events_o += self.outstation.on_timer(self.now)
        self.settle()


def check_stream(events: list[Event], expected: list[bytes]) -> int:
    """Every expected ASDU arrived once, in order, no failure; returns the acknowledged total."""
    assert not [e for e in events if isinstance(e, ConnectionFailed)]
    assert [e.asdu for e in events if isinstance(e, AsduReceived)] == expected
    return sum(e.count for e in events if isinstance(e, Acknowledged))


windows = st.integers(min_value=1, max_value=24)


@settings(max_examples=25, deadline=None)
@given(
    k_m=windows,
    w_m=windows,
    k_o=windows,
    w_o=windows,
    start_m=st.integers(min_value=SEQ_MODULO - 1500, max_value=SEQ_MODULO - 1),
    start_o=st.integers(min_value=SEQ_MODULO - 1500, max_value=SEQ_MODULO - 1),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_back_to_back_past_the_wrap(
    k_m: int, w_m: int, k_o: int, w_o: int, start_m: int, start_o: int, seed: int
) -> None:
    rng = random.Random(seed)
    params_m = ApciParameters(k=k_m, w=w_m)
    params_o = ApciParameters(k=k_o, w=w_o)
    link = Link(rng, params_m, params_o)
    link.master.start_data_transfer(link.now)
    link.settle()
    assert link.events_m == [DataTransferStarted()]
    assert link.events_o == [DataTransferStarted()]
    link.events_m.clear()
    link.events_o.clear()
    link.master._set_sequence_numbers(start_m, start_o)
    link.outstation._set_sequence_numbers(start_o, start_m)

    count = 2000  # per direction, always across the wrap
    from_m = [b"M" + i.to_bytes(2, "little") + bytes(rng.randint(0, 20)) for i in range(count)]
    from_o = [b"O" + i.to_bytes(2, "little") + bytes(rng.randint(0, 20)) for i in range(count)]
    sent_m = sent_o = 0
    while sent_m < count or sent_o < count:
        progressed = False
        for _ in range(rng.randint(0, 6)):
            if sent_m < count and link.master.can_send:
                ns = link.master.send_asdu(from_m[sent_m], link.now)
                assert ns == (start_m + sent_m) % SEQ_MODULO
                sent_m += 1
                progressed = True
            if sent_o < count and link.outstation.can_send:
                ns = link.outstation.send_asdu(from_o[sent_o], link.now)
                assert ns == (start_o + sent_o) % SEQ_MODULO
                sent_o += 1
                progressed = True
        assert link.master.unacknowledged <= k_m
        assert link.outstation.unacknowledged <= k_o
        link.deliver()
        if rng.random() < 0.02:
            link.advance(rng.uniform(0.0, 1.0))
        elif not progressed and not (link.wire_to_o or link.wire_to_m):
            link.advance(params_o.t2)  # both windows full: wait for the t2 acknowledgements
    link.advance(max(params_m.t2, params_o.t2))
    link.advance(max(params_m.t2, params_o.t2))

    acks_m = check_stream(link.events_m, from_o)
    acks_o = check_stream(link.events_o, from_m)
    assert acks_m == count and link.master.unacknowledged == 0
    assert acks_o == count and link.outstation.unacknowledged == 0
    assert link.master.failed is None and link.outstation.failed is None

    # and stop cleanly with frames outstanding in both directions
    for i in range(min(k_m, k_o, 3)):
        link.master.send_asdu(bytes([i + 1]), link.now)
        link.outstation.send_asdu(bytes([i + 1]), link.now)
    link.master.stop_data_transfer(link.now)
    link.events_m.clear()
    link.events_o.clear()
    link.advance(max(params_m.t2, params_o.t2))
    assert DataTransferStopped() in link.events_m
    assert DataTransferStopped() in link.events_o
    assert link.outstation.unacknowledged == 0
    assert not link.master.started and not link.outstation.started
    assert link.master.failed is None and link.outstation.failed is None


# ------------------------------------------------------------------------ fuzz

roles = st.sampled_from(list(Role))
seq = st.integers(min_value=0, max_value=SEQ_MODULO - 1)
wire_frames = st.one_of(
    st.builds(IFrame, seq, seq, st.binary(min_size=1, max_size=30)),
    st.builds(IFrame, st.integers(0, 3), st.integers(0, 3), st.binary(min_size=1, max_size=4)),
    st.builds(SFrame, seq),
    st.builds(SFrame, st.integers(0, 3)),
    st.builds(UFrame, st.sampled_from(UFunction)),
).map(encode_frame)
chunks = st.one_of(st.binary(max_size=40), wire_frames)


def exercise(conn: Connection, actions: list[tuple[bytes, float, int]]) -> None:
    now = 0.0
    for chunk, dt, op in actions:
        now += dt
        failed_before = conn.failed is not None
        if op == 0:
            events = conn.on_timer(now)
        else:
            events = conn.receive_data(chunk, now)
        assert all(
            isinstance(
                e,
                AsduReceived
                | DataTransferStarted
                | DataTransferStopped
                | Acknowledged
                | ConnectionFailed,
            )
            for e in events
        )
        if failed_before:
            assert events == []
        assert sum(isinstance(e, ConnectionFailed) for e in events) <= 1
        if conn.can_send and op == 2:
            conn.send_asdu(b"\x01", now)
        if conn.role is Role.CONTROLLED:
            assert conn.unacknowledged <= conn.params.k
        deadline = conn.next_deadline()
        if op == 0:  # everything due has fired
            assert deadline is None or deadline > now
        conn.data_to_send()


actions_strategy = st.lists(
    st.tuples(chunks, st.floats(min_value=0.0, max_value=12.0), st.integers(0, 2)),
    max_size=40,
)


@settings(max_examples=300)
@given(role=roles, started=st.booleans(), actions=actions_strategy)
def test_fuzz_receive_data_never_raises(
    role: Role, started: bool, actions: list[tuple[bytes, float, int]]
) -> None:
    if not started:
        conn = Connection(PARAMS, 0.0, role)
    elif role is Role.CONTROLLING:
        conn = started_master()
    else:
        conn = started_outstation()
    exercise(conn, actions)


@settings(max_examples=200)
@given(role=roles, data=st.binary(max_size=1000))
def test_fuzz_random_bytes(role: Role, data: bytes) -> None:
    conn = Connection(PARAMS, 0.0, role)
    events = conn.receive_data(data, 1.0)
    assert all(not isinstance(e, ConnectionFailed) for e in events[:-1])
    if conn.failed is not None:
        assert events[-1] == ConnectionFailed(conn.failed)
        assert_inert(conn, 1.0)


# ------------------------------------------------------------- redundancy takeover


def test_suspend_stops_without_a_frame_and_keeps_t1_on_what_was_sent() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 1.0)
    conn.send_asdu(ASDU, 1.0)
    conn.receive_data(i_frame(0, 0), 1.0)  # one I-frame from the master, not yet acknowledged
    conn.data_to_send()
    conn.suspend_data_transfer()
    assert not conn.started and not conn.can_send
    # what it received is acknowledged now (an S-frame); no U-frame: the standard has none
    assert sent_frames(conn) == [SFrame(1)]
    assert conn.unacknowledged == 2
    assert conn.next_deadline() == 1.0 + PARAMS.t1
    assert conn.receive_data(s_frame(1), 2.0) == [Acknowledged(1)]
    assert conn.next_deadline() == 1.0 + PARAMS.t1  # the second is still under t1
    assert only_failure(conn.on_timer(1.0 + PARAMS.t1)).startswith("t1")


def test_suspended_connection_can_start_again_and_refuses_i_frames() -> None:
    conn = started_outstation()
    conn.suspend_data_transfer()
    assert conn.receive_data(STARTDT_ACT, 1.0) == [DataTransferStarted()]
    assert conn.data_to_send() == STARTDT_CON and conn.can_send
    conn.suspend_data_transfer()
    assert "stopped" in only_failure(conn.receive_data(i_frame(0, 0), 2.0))


def test_suspend_during_a_stopdt_and_in_the_controlling_role() -> None:
    conn = started_outstation()
    conn.send_asdu(ASDU, 0.0)
    conn.receive_data(STOPDT_ACT, 0.0)  # waits for the acknowledgement
    conn.suspend_data_transfer()
    conn.data_to_send()
    # STOPDT while stopped is confirmed at once
    assert conn.receive_data(STOPDT_ACT, 1.0) == []
    assert conn.data_to_send() == STOPDT_CON
    with pytest.raises(LocalProtocolError):
        started_master().suspend_data_transfer()
