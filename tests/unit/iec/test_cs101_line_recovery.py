"""Issue 14 item 3: a 101 line recovers from half a frame, with a fake clock (both cores)."""

from __future__ import annotations

import logging

import pytest

from rtu.iec.cs101.balanced import BalancedLink
from rtu.iec.cs101.ft12 import encode_fixed
from rtu.iec.cs101.link import (
    FrameDiscarded,
    LinkMode,
    LinkParameters,
    PrimaryFunction,
    SecondaryFunction,
    primary_control,
    secondary_control,
)
from rtu.iec.cs101.unbalanced import UnbalancedLink

TIMEOUT = 0.05
HALF_HEADER = bytes.fromhex("68 09 09")
STATUS = encode_fixed(primary_control(PrimaryFunction.REQUEST_LINK_STATUS), 1, 1)
STATUS_ANSWER = encode_fixed(secondary_control(SecondaryFunction.LINK_STATUS), 1, 1)
DROPPED = [FrameDiscarded("FT1.2 framing: 1 discard(s)")]


def unbalanced() -> UnbalancedLink:
    return UnbalancedLink(LinkParameters(idle_timeout=TIMEOUT), 0.0)


def test_the_timer_drops_the_fragment_and_the_next_request_is_answered_at_once() -> None:
    link = unbalanced()
    assert link.receive_data(HALF_HEADER, 1.0) == []
    assert link.next_deadline() == 1.0 + TIMEOUT
    assert link.on_timer(1.04) == []  # too early: the frame may still come
    assert link.on_timer(1.0 + TIMEOUT) == DROPPED
    assert link.next_deadline() is None
    assert link.receive_data(STATUS, 1.2) == []
    assert link.data_to_send() == STATUS_ANSWER
    stats = link.statistics
    assert stats["fragments_dropped"] == 1
    assert stats["framing_errors"] == 1


def test_without_the_timer_the_next_request_still_breaks_the_fragment() -> None:
    link = unbalanced()
    link.receive_data(HALF_HEADER, 0.0)
    for n in range(5):  # every request is answered, none is swallowed by the old header
        now = 0.5 * (n + 1)
        events = link.receive_data(STATUS, now)
        assert events == (DROPPED if n == 0 else [])
        assert link.data_to_send() == STATUS_ANSWER
    assert link.statistics["fragments_dropped"] == 1


def test_a_frame_with_short_pauses_is_not_broken() -> None:
    link = unbalanced()
    for i, octet in enumerate(STATUS):  # USB adapters deliver in bursts ~16 ms apart
        assert link.receive_data(bytes((octet,)), 0.016 * i) == []
    assert link.data_to_send() == STATUS_ANSWER
    assert link.statistics["fragments_dropped"] == 0


def test_dropped_fragments_are_logged_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rtu.iec.cs101.link")
    link = unbalanced()
    for start in (0.0, 10.0, 70.0):
        link.receive_data(HALF_HEADER, start)
        link.on_timer(start + TIMEOUT)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "1 partial frame(s)" in lines[0] and "1 in all" in lines[0]
    assert "2 partial frame(s)" in lines[1] and "3 in all" in lines[1]
    assert link.statistics["fragments_dropped"] == 3


def test_balanced_link_recovers_the_same_way() -> None:
    params = LinkParameters(
        mode=LinkMode.BALANCED, remote_address=2, repeat_timeout=1.0, idle_timeout=TIMEOUT
    )
    link = BalancedLink(params, 0.0)
    link.data_to_send()  # request status of link
    assert link.next_deadline() == 1.0  # the primary's repeat timeout
    master_status = encode_fixed(
        primary_control(PrimaryFunction.REQUEST_LINK_STATUS, direction=True), 1, 1
    )
    assert link.receive_data(HALF_HEADER, 0.2) == []
    assert link.next_deadline() == 0.2 + TIMEOUT  # the earlier of the two deadlines
    assert link.on_timer(0.2 + TIMEOUT) == DROPPED
    assert link.data_to_send() == b""  # the primary's timer has not expired
    assert link.next_deadline() == 1.0
    link.receive_data(master_status, 0.3)
    assert link.data_to_send() == STATUS_ANSWER
    assert link.statistics["fragments_dropped"] == 1


def test_a_timer_at_the_deadline_always_drops_the_fragment() -> None:
    # The deadline is last octet + timeout; on_timer at exactly that time must act, or a
    # driver would re-arm the same deadline for ever.
    for start in (0.1, 0.3, 1234.567, 1e6 + 0.1):
        link = unbalanced()
        link.receive_data(HALF_HEADER, start)
        deadline = link.next_deadline()
        assert deadline is not None
        assert link.on_timer(deadline) == DROPPED
        assert link.next_deadline() is None
