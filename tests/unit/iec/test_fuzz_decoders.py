"""Property fuzzing of the input paths a peer reaches, sans-I/O, bounded by hypothesis settings.

What the existing tests already cover is not repeated here: the APCI FrameParser and
Connection.receive_data against random octets (test_cs104_apci.py, test_cs104_connection.py),
decode_asdu against random and mutated ASDUs (test_asdu_codec.py) and the FT1.2 parser
(test_cs101_ft12.py). Added here:

* the application layer: Session.receive with random ASDUs of every type id (known or not) and
  every cause, on 104 and 101 profiles: it never raises, every well-formed control-direction
  ASDU gets an answer of its own type with an allowed cause, malformed ones are ignored, unknown
  type ids and causes are mirrored negatively; and a random sequence of session operations
  (activate, stop, acknowledge, drain, complete commands, point changes) never raises;
* the whole 104 input path without sockets: mutated byte streams through Connection into Session;
* the 101 link cores (receive_data / on_timer, both modes) with a real Session behind
  it, fed random octets and mutated valid frames: it never raises;
* regression tests for the bugs this work found (see docs/reliability.md).
"""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduError,
    AsduProfile,
    UnknownCauseError,
    UnknownTypeError,
    decode_asdu,
    encode_asdu,
    object_size,
)
from rtu.iec.asdu.objects import Asdu, SingleCommand, SinglePoint
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.cs101.balanced import BalancedLink
from rtu.iec.cs101.ft12 import encode_fixed, encode_variable
from rtu.iec.cs101.link import LinkMode, LinkParameters, PrimaryFunction, primary_control
from rtu.iec.cs101.unbalanced import UnbalancedLink
from rtu.iec.cs104.connection import (
    Acknowledged,
    ApciParameters,
    AsduReceived,
    Connection,
    DataTransferStarted,
    DataTransferStopped,
)
from rtu.iec.outstation import (
    HANDLERS,
    MONITOR_TYPES,
    EventQueue,
    EventRecord,
    Outstation,
    OutstationConfig,
    Session,
)
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers.iec101 import handle_events, offer_output
from tests.unit.iec.test_outstation import FakeClock, ManualExecutor

T0 = 1_700_000_000.0
STATION = 1
PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253 - 2)
PROFILES = [PROFILE_104, PROFILE_101]
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NEGATIVE_CAUSES = {Cot.UNKNOWN_TYPE_ID, Cot.UNKNOWN_CAUSE, Cot.UNKNOWN_COMMON_ADDRESS, Cot.UNKNOWN_IOA}


MONITORED = [PointKind.SINGLE, PointKind.DOUBLE, PointKind.STEP, PointKind.BITSTRING,
             PointKind.NORMALIZED, PointKind.SCALED, PointKind.FLOAT, PointKind.COUNTER]
COMMANDS = [PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND, PointKind.REGULATING_STEP,
            PointKind.SETPOINT_NORMALIZED, PointKind.SETPOINT_SCALED, PointKind.SETPOINT_FLOAT,
            PointKind.BITSTRING_COMMAND]
POINTS = (
    [Point(f"m{i}", 1 + i, kind, groups=frozenset({1 + i % 3})) for i, kind in enumerate(MONITORED)]
    + [Point(f"c{i}", 11 + i, kind, target=f"out{i}") for i, kind in enumerate(COMMANDS)]
    + [Point("sbo", 20, PointKind.SINGLE_COMMAND, target="sbo", select_required=True)]
)
IOAS = [p.ioa for p in POINTS]


class Rig:
    def __init__(self, profile: AsduProfile, *, queue: int = 10_000) -> None:
        self.clock = FakeClock()
        self.db = PointDatabase(POINTS)
        self.executor = ManualExecutor()
        self.outstation = Outstation(self.db, OutstationConfig(common_address=STATION,
                                                               event_queue_size=queue),
                                     self.clock, self.executor)
        self.profile = profile

    def open(self, name: str) -> Session:
        return self.outstation.open_session(name, self.profile, "g", lambda: None)


def drain(session: Session, limit: int = 10_000) -> list[bytes]:
    out = []
    for _ in range(limit):
        o = session.next_output()
        if o is None:
            break
        out.append(o.asdu)
    session.acknowledged(len(out))
    return out


# -- random ASDUs ---------------------------------------------------------------------------------

@st.composite
def raw_asdus(draw: st.DrawFn, profile: AsduProfile) -> bytes:
    """An ASDU of any type id (mostly a known one) and any cause, mostly of the right length."""
    known = draw(st.booleans()) or draw(st.booleans())
    type_id = draw(st.sampled_from(list(TypeId))) if known else draw(st.integers(0, 255))
    count = draw(st.sampled_from([1, 1, 1, 2, 3, 0, 127]))
    sequence = draw(st.booleans()) and draw(st.booleans())
    cause = draw(st.sampled_from([6, 6, 8, 5, 3, 7, 10, 20, 44])) if draw(st.booleans()) \
        else draw(st.integers(0, 63))
    cot_octet = cause | (0x40 if draw(st.integers(0, 9)) == 0 else 0) | \
        (0x80 if draw(st.integers(0, 9)) == 0 else 0)
    header = bytes([type_id, count | (0x80 if sequence else 0), cot_octet])
    if profile.cot_size == 2:
        header += bytes([draw(st.integers(0, 255))])
    broadcast = (1 << (8 * profile.ca_size)) - 1
    ca = draw(st.sampled_from([STATION, STATION, broadcast, 0, 7]))
    header += ca.to_bytes(profile.ca_size, "little")
    try:
        body_size = object_size(TypeId(type_id), profile) - profile.ioa_size
    except ValueError:
        body_size = draw(st.integers(0, 12))
    objects = b""
    for i in range(min(count, 3)):
        if i == 0 or not sequence:
            ioa = draw(st.sampled_from([0, 0, *IOAS, (1 << (8 * profile.ioa_size)) - 1]))
            objects += ioa.to_bytes(profile.ioa_size, "little")
        objects += draw(st.binary(min_size=body_size, max_size=body_size))
    raw = header + objects
    cut = draw(st.sampled_from([0, 0, 0, 0, 1, 2, -1]))
    if cut == -1:
        raw += draw(st.binary(min_size=1, max_size=8))
    elif cut:
        raw = raw[:-cut] if len(raw) > cut else raw
    return raw


def allowed_answer_causes(request: Asdu) -> set[int]:
    causes = {int(c) for c in NEGATIVE_CAUSES}
    if request.cot == Cot.ACTIVATION:
        causes.add(Cot.ACTIVATION_CON)
    elif request.cot == Cot.DEACTIVATION:
        causes.add(Cot.DEACTIVATION_CON)
    elif request.cot == Cot.REQUEST:
        causes.add(Cot.REQUEST)
    return causes


def check_answer(rig: Rig, raw: bytes, answers: list[bytes]) -> None:
    """The answer promise: unknown type/cause -> negative mirror; other malformed -> ignored;
    P/N set or no object -> ignored; anything else -> a first answer of its type (a read: of the
    point's monitor type) with a cause allowed for the request's cause."""
    profile = rig.profile
    cot_at = 2
    try:
        request = decode_asdu(raw, profile)
    except (UnknownTypeError, UnknownCauseError) as exc:
        cause = Cot.UNKNOWN_TYPE_ID if isinstance(exc, UnknownTypeError) else Cot.UNKNOWN_CAUSE
        assert answers[:1] == [raw[:cot_at] + bytes([(raw[cot_at] & 0x80) | 0x40 | cause])
                               + raw[cot_at + 1:]]
        return
    except AsduError:
        assert answers == [], "a malformed ASDU was answered"
        return
    if request.negative or not request.objects:
        assert answers == []
        return
    assert answers, f"no answer to {request}"
    first = decode_asdu(answers[0], profile)
    assert first.common_address in (request.common_address, STATION)
    assert first.originator == request.originator
    if first.type_id != request.type_id:
        assert request.type_id is TypeId.C_RD_NA_1 and first.cot == Cot.REQUEST
        point = rig.db.by_ioa(request.objects[0].ioa)
        assert point is not None and first.type_id == MONITOR_TYPES[point.kind][0]
        return
    assert first.cot in allowed_answer_causes(request), (request, first)
    assert first.negative == (first.cot in NEGATIVE_CAUSES) or first.cot in (
        Cot.ACTIVATION_CON, Cot.DEACTIVATION_CON)
    if request.type_id not in HANDLERS:  # monitor-direction types from a master
        assert first.negative and first.cot in (Cot.UNKNOWN_TYPE_ID, Cot.UNKNOWN_COMMON_ADDRESS)


@FUZZ
@given(data=st.data(), profile=st.sampled_from(PROFILES), active=st.booleans())
def test_session_answers_every_random_asdu_per_the_standard(
    data: st.DataObject, profile: AsduProfile, active: bool
) -> None:
    rig = Rig(profile)
    session = rig.open("m")
    if active:
        session.activate()
    drain(session)
    for _ in range(data.draw(st.integers(1, 6))):
        raw = data.draw(raw_asdus(profile))
        session.receive(raw)  # never raises
        if session.active:
            check_answer(rig, raw, drain(session))
        else:
            # nothing goes out before data transfer; then the end of initialisation first
            assert drain(session) == []
            session.activate()
            first, *answers = drain(session)
            assert first[0] == TypeId.M_EI_NA_1
            check_answer(rig, raw, answers)
        for request, done in rig.executor.started:  # commands complete: ACT_TERM follows
            done(data.draw(st.booleans()))
        rig.executor.started.clear()
        drain(session)


@pytest.mark.parametrize("profile", PROFILES, ids=["104", "101"])
def test_every_type_id_and_every_cause_is_answered_or_ignored(profile: AsduProfile) -> None:
    """Exhaustive over type id x cause (256 x 64), one random body each (seeded): never raises,
    always the answer check_answer expects."""
    rig = Rig(profile)
    session = rig.open("m")
    session.activate()
    drain(session)
    rnd = random.Random(60870)
    ca_octets = STATION.to_bytes(profile.ca_size, "little")
    for type_id in range(256):
        try:
            body = object_size(TypeId(type_id), profile) - profile.ioa_size
        except ValueError:
            body = rnd.randrange(12)
        for cause in range(64):
            header = bytes([type_id, 1, cause]) + bytes(profile.cot_size - 1) + ca_octets
            ioa = rnd.choice([0, *IOAS]).to_bytes(profile.ioa_size, "little")
            raw = header + ioa + rnd.randbytes(body)
            session.receive(raw)
            check_answer(rig, raw, drain(session))
            for _, done in rig.executor.started:
                done(True)
            rig.executor.started.clear()
            drain(session)


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("asdu"), st.integers(0, 2**32)),
        st.tuples(st.just("activate"), st.integers(0, 2)),
        st.tuples(st.just("deactivate"), st.integers(0, 2)),
        st.tuples(st.just("close"), st.integers(0, 2)),
        st.tuples(st.just("open"), st.integers(0, 2)),
        st.tuples(st.just("send"), st.integers(0, 20)),
        st.tuples(st.just("ack"), st.integers(0, 20)),
        st.tuples(st.just("done"), st.integers(0, 1)),
        st.tuples(st.just("change"), st.integers(0, 100)),
        st.tuples(st.just("tick"), st.integers(0, 20)),
    ),
    max_size=60,
)


@FUZZ
@given(ops=OPERATIONS, profile=st.sampled_from(PROFILES))
def test_random_session_operations_never_raise_and_lose_no_event(
    ops: list[tuple[str, int]], profile: AsduProfile
) -> None:
    """Sessions opened, started, stopped and closed at random while ASDUs, acknowledgements,
    command completions and point changes arrive: nothing raises, and every event generated is
    acknowledged by some session or still queued somewhere (no overflow: the queues are large)."""
    rig = Rig(profile)
    sessions: list[Session | None] = [rig.open("s0"), None, None]
    sent: list[list[tuple[object, ...]]] = [[], [], []]  # per slot: unacknowledged outputs' events
    acked: set[object] = set()
    generated: set[object] = set()
    mutate = random.Random(0)
    for op, arg in ops:
        slot = arg % 3
        s = sessions[slot]
        if op == "asdu" and s is not None:
            mutate.seed(arg)
            body = mutate.randbytes(mutate.randrange(0, 30))
            s.receive(bytes([mutate.randrange(256), 1, 6]) + body)
        elif op == "activate" and s is not None:
            s.activate()
        elif op in ("deactivate", "close") and s is not None:
            if op == "deactivate":
                s.deactivate()
            else:
                s.close()
                sessions[slot] = None
            sent[slot] = []
        elif op == "open" and s is None:
            sessions[slot] = rig.open(f"s{slot}")
        elif op == "send":
            for i, t in enumerate(sessions):
                for _ in range(arg):
                    if t is None or (o := t.next_output()) is None:
                        break
                    sent[i].append(tuple(r.obj for r in o.events))
        elif op == "ack" and s is not None:
            n = min(arg, len(sent[slot]))
            s.acknowledged(n)
            for objs in sent[slot][:n]:
                acked.update(objs)
            del sent[slot][:n]
        elif op == "done" and rig.executor.started:
            _, done = rig.executor.started.pop(0)
            done(bool(arg))
        elif op == "change":
            point = POINTS[arg % len(MONITORED)]
            value: bool | int = arg
            if point.kind is PointKind.SINGLE:
                value = bool(arg % 2)
            elif point.kind is PointKind.DOUBLE:
                value = arg % 4
            before = rig.outstation.next_seq
            group = rig.outstation.groups["g"]
            rig.db.update(point.name, value, timestamp=T0 + len(generated) + rig.clock.mono)
            if rig.outstation.next_seq != before:  # a real change (not a repeated value)
                holder = group.backlog if not group.active else group.active[0].events
                generated.add(holder._items[-1].obj)
        elif op == "tick":
            rig.clock.mono += arg
    for s in sessions:
        if s is not None:
            s.close()
    group = rig.outstation.groups["g"]
    assert group.sessions == [] and group.active == []
    # every event is acknowledged by some master or back in the backlog for the next one (a
    # session that stops while another is active hands its unacknowledged events to that one)
    assert group.backlog.overflowed == 0
    queued = {r.obj for r in group.backlog.take_all()}
    assert generated <= acked | queued, generated - acked - queued


# -- the 104 input path without sockets -----------------------------------------------------------

VALID_FRAMES = [
    bytes.fromhex("68 04 07 00 00 00"),  # STARTDT act
    bytes.fromhex("68 04 43 00 00 00"),  # TESTFR act
    bytes.fromhex("68 0e 00 00 00 00 64 01 06 00 01 00 00 00 00 14"),  # GI
    bytes.fromhex("68 04 01 00 00 00"),  # S-frame
]


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(VALID_FRAMES) - 1),
                       st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), max_size=3),
                       st.integers(-4, 4)), max_size=20),
    st.integers(1, 40),
)
def test_mutated_stream_through_connection_into_session_never_raises(
    frames: list[tuple[int, list[tuple[int, int]], int]], chunk: int
) -> None:
    """What Iec104Server does with received bytes, minus the socket: every event handled."""
    rig = Rig(PROFILE_104)
    session = rig.open("m")
    conn = Connection(ApciParameters(), 0.0)
    stream = bytearray()
    for index, flips, resize in frames:
        frame = bytearray(VALID_FRAMES[index])
        for pos, value in flips:
            frame[pos % len(frame)] = value
        if resize < 0:
            del frame[resize:]
        else:
            frame += bytes(resize)
        stream += frame
    now = 0.0
    for i in range(0, len(stream), chunk):
        now += 0.1
        for event in conn.receive_data(bytes(stream[i:i + chunk]), now):
            if isinstance(event, AsduReceived):
                session.receive(event.asdu)
            elif isinstance(event, Acknowledged):
                session.acknowledged(event.count)
            elif isinstance(event, DataTransferStarted):
                session.activate()
            elif isinstance(event, DataTransferStopped):
                session.deactivate()
        while not conn.failed and conn.can_send and (out := session.next_output()) is not None:
            conn.send_asdu(out.asdu, now)
        conn.data_to_send()
        conn.on_timer(now)
    session.close()
    assert rig.outstation.groups["g"].sessions == []


# -- the 101 link layer with a real session behind it ---------------------------------------------

def _valid_101_frames(address: int) -> list[bytes]:
    def prim(function: PrimaryFunction, fcb: bool = False, fcv: bool = False) -> int:
        return primary_control(function, fcb=fcb, fcv=fcv)

    gi = bytes.fromhex("64 01 06 01 00 00 14")
    return [
        encode_fixed(prim(PrimaryFunction.RESET_REMOTE_LINK), address, 1),
        encode_fixed(prim(PrimaryFunction.REQUEST_LINK_STATUS), address, 1),
        encode_fixed(prim(PrimaryFunction.REQUEST_CLASS_1, fcb=True, fcv=True), address, 1),
        encode_fixed(prim(PrimaryFunction.REQUEST_CLASS_2, fcb=False, fcv=True), address, 1),
        encode_variable(prim(PrimaryFunction.USER_DATA_CONFIRMED, fcb=True, fcv=True), address, 1, gi),
        encode_variable(prim(PrimaryFunction.USER_DATA_UNCONFIRMED), 0xFF, 1, gi),
        b"\xe5",
    ]


@FUZZ
@given(
    mode=st.sampled_from(list(LinkMode)),
    pieces=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.tuples(st.integers(0, 6), st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)),
                                                  max_size=2)),
        ),
        max_size=25,
    ),
    gaps=st.lists(st.floats(0, 3), min_size=25, max_size=25),
)
def test_link_layer_with_a_session_never_raises(
    mode: LinkMode, pieces: list[bytes | tuple[int, list[tuple[int, int]]]], gaps: list[float]
) -> None:
    params = LinkParameters(mode=mode, address=1, address_size=1, remote_address=2,
                            idle_timeout=0.5)
    profile = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253 - 2)
    rig = Rig(profile)
    session = rig.open("101")
    link: UnbalancedLink | BalancedLink = (
        BalancedLink(params, 0.0) if mode is LinkMode.BALANCED else UnbalancedLink(params, 0.0))
    valid = _valid_101_frames(1)
    now = 0.0
    for piece, gap in zip(pieces, gaps, strict=False):
        if isinstance(piece, tuple):
            index, flips = piece
            frame = bytearray(valid[index])
            for pos, value in flips:
                frame[pos % len(frame)] = value
            data = bytes(frame)
        else:
            data = piece
        now += gap
        offer_output(link, session, now)
        handle_events(session, link.receive_data(data, now))
        offer_output(link, session, now)
        link.data_to_send()
        deadline = link.next_deadline()
        if deadline is not None and deadline <= now + gap:
            handle_events(session, link.on_timer(deadline))
        rig.db.update("m0", bool(int(now * 10) % 2), timestamp=T0 + now)
    handle_events(session, link.receive_data(b"", now + 10))  # the idle rule drops a fragment
    session.close()
    assert rig.outstation.groups["g"].sessions == []


# -- regressions found by the robustness work -----------------------------------------------------

def _event_values(asdus: list[bytes], profile: AsduProfile) -> list[int]:
    values = []
    for raw in asdus:
        asdu = decode_asdu(raw, profile)
        if asdu.type_id is TypeId.M_ME_TE_1:
            values.extend(int(o.value) for o in asdu.objects)  # type: ignore[attr-defined]
    return values


def test_events_unacknowledged_by_a_dropped_master_reach_a_master_that_joined_after_them() -> None:
    """Found by the disconnect storm: a master reconnects (new session active) before the old
    connection's loss is noticed. The old session's unacknowledged events were dropped ("the
    other masters have them") although the new session joined after they were generated."""
    rig = Rig(PROFILE_104)
    old = rig.open("old")
    old.activate()
    drain(old)  # end of initialisation, acknowledged
    for v in range(3):
        rig.db.update("m5", v + 1, timestamp=T0 + v)  # scaled point: M_ME_TE_1 events
    sent = []
    while (o := old.next_output()) is not None:
        sent.append(o.asdu)
    assert _event_values(sent, PROFILE_104) == [1, 2, 3]  # sent, never acknowledged
    new = rig.open("new")
    new.activate()  # the master is back on a new connection...
    rig.db.update("m5", 4, timestamp=T0 + 3)  # ...one more event reaches both sessions
    old.close()  # ...and only now is the old connection's loss noticed
    assert _event_values(drain(new), PROFILE_104) == [1, 2, 3, 4]


def test_a_session_that_joined_before_the_events_gets_no_duplicates_from_a_dropped_one() -> None:
    rig = Rig(PROFILE_104)
    first = rig.open("first")
    first.activate()
    drain(first)
    second = rig.open("second")
    second.activate()  # joined before every event: it has them all already
    for v in range(3):
        rig.db.update("m5", v + 1, timestamp=T0 + v)
    while first.next_output() is not None:
        pass
    first.close()
    assert _event_values(drain(second), PROFILE_104) == [1, 2, 3]


def test_queue_overflow_is_counted_and_logged_without_flooding(caplog: pytest.LogCaptureFixture) -> None:
    """The documented overflow policy: oldest dropped, every drop counted, a warning at the first
    drop and then once per 1000 (a flood of drops does not flood the log)."""
    queue = EventQueue("g/backlog", 2)
    record = EventRecord(TypeId.M_SP_NA_1, Cot.SPONTANEOUS, SinglePoint(1, True))
    with caplog.at_level(logging.WARNING, logger="rtu.iec.outstation"):
        for _ in range(2 + 2500):
            queue.append(record)
    assert queue.overflowed == 2500 and len(queue) == 2
    warnings = [r.getMessage() for r in caplog.records if "g/backlog full" in r.getMessage()]
    assert len(warnings) == 3  # at drops 1, 1000 and 2000
    assert warnings[-1].endswith("2000 dropped so far")


@pytest.mark.parametrize(("cot", "answer"), [
    (Cot.ACTIVATION, Cot.ACTIVATION_CON),
    (Cot.DEACTIVATION, Cot.DEACTIVATION_CON),  # was ACT_CON
    (Cot.PERIODIC, Cot.UNKNOWN_CAUSE),  # was ACT_CON
])
def test_a_command_with_two_objects_is_refused_with_the_cause_its_request_calls_for(
    cot: Cot, answer: Cot
) -> None:
    """Found by test_session_answers_every_random_asdu_per_the_standard: a command ASDU holding
    more than one object was refused with ACT_CON whatever its cause."""
    rig = Rig(PROFILE_104)
    session = rig.open("m")
    session.activate()
    drain(session)
    request = Asdu(TypeId.C_SC_NA_1, cot, STATION, (SingleCommand(11, True), SingleCommand(11, False)))
    session.receive(encode_asdu(request, PROFILE_104))
    (raw,) = drain(session)
    reply = decode_asdu(raw, PROFILE_104)
    assert (reply.type_id, reply.cot, reply.negative) == (TypeId.C_SC_NA_1, answer, True)
    assert rig.executor.started == []
