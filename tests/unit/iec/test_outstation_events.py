"""The outstation's one API for event state (groups moved, merged, dropped, carried over and
handed over; sequence numbers; journal) and the translation of IEC commands into the point
database's command request. Sans-I/O, fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, DoubleCommand, EndOfInitialization, RegulatingStepCommand
from rtu.iec.asdu.types import Cot, Qu, TypeId
from rtu.iec.outstation import EventRecord, Outstation, OutstationConfig, Session
from rtu.points.commands import CommandRequest, Done, Pulse
from rtu.points.database import PointDatabase
from rtu.points.model import DoublePointValue, Point, PointKind, StepDirection

T0 = 1_700_000_000.0


class FakeClock:
    def monotonic(self) -> float:
        return 1000.0

    def wall(self) -> float:
        return T0


@dataclass
class Recorder:
    started: list[tuple[CommandRequest, Done]] = field(default_factory=list)
    journaled: list[EventRecord] = field(default_factory=list)

    def execute(self, request: CommandRequest, done: Done) -> None:
        self.started.append((request, done))

    def append(self, record: EventRecord) -> None:
        self.journaled.append(record)

    def before_send(self) -> None:
        pass


def station(queue: int = 100) -> tuple[Outstation, PointDatabase, Recorder]:
    db = PointDatabase([
        Point("sp", 1, PointKind.SINGLE),
        Point("dc", 10, PointKind.DOUBLE_COMMAND, target="k1"),
        Point("rc", 11, PointKind.REGULATING_STEP, target="tap"),
    ])
    db.update("sp", False, timestamp=T0)
    recorder = Recorder()
    outstation = Outstation(db, OutstationConfig(event_queue_size=queue), FakeClock(), recorder)
    return outstation, db, recorder


def change(db: PointDatabase, n: int) -> None:
    for i in range(n):
        db.update("sp", not db.value("sp").value, timestamp=T0 + i)


def seqs(outstation: Outstation, group: str) -> list[int]:
    return [r.seq for r in outstation.groups[group].backlog.snapshot()]


def open_session(outstation: Outstation, name: str, group: str) -> Session:
    return outstation.open_session(name, PROFILE_104, group, lambda: None)


def sent(session: Session) -> list[Asdu]:
    out = []
    while (o := session.next_output()) is not None:
        out.append(decode_asdu(o.asdu, PROFILE_104))
    return out


def test_groups_are_read_only_from_outside() -> None:
    outstation, _, _ = station()
    outstation.group("a")
    with pytest.raises(TypeError):
        outstation.groups["b"] = outstation.groups["a"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        outstation.next_seq = 5  # type: ignore[misc]


def test_move_group_puts_the_old_events_first_and_removes_the_old_group() -> None:
    outstation, db, _ = station()
    outstation.group("old")
    change(db, 2)  # sequence 1, 2 (each group also holds its end of initialisation, seq 0)
    outstation.group("new")
    change(db, 1)  # 3: in both
    assert outstation.move_group("old", "new") == 4  # with its end of initialisation
    assert outstation.group_names() == ("new",)
    assert seqs(outstation, "new") == [0, 1, 2, 3, 0, 3]
    assert outstation.move_group("gone", "new") == 0


def test_regroup_copies_a_vanished_group_into_every_new_one_or_drops_and_counts() -> None:
    outstation, db, _ = station()
    outstation.group("s/a")
    change(db, 2)
    assert outstation.regroup(["s/a"], ["s/b", "s/c"]) == 0
    assert sorted(outstation.group_names()) == ["s/b", "s/c"]
    assert seqs(outstation, "s/b")[:3] == [0, 1, 2] and seqs(outstation, "s/c")[:3] == [0, 1, 2]
    # s/c gone, nothing new: its copy of s/a's events and its own end of initialisation go
    assert outstation.regroup(["s/b", "s/c"], ["s/b"]) == 4
    assert outstation.group_names() == ("s/b",)


def test_drop_group_counts_and_open_sessions_are_protected() -> None:
    outstation, db, _ = station()
    session = open_session(outstation, "m", "g")
    change(db, 4)
    with pytest.raises(RuntimeError, match="still has sessions"):
        outstation.drop_group("g")
    session.close()
    assert outstation.drop_group("g") == 5
    assert outstation.group_names() == () and outstation.drop_group("g") == 0


def test_carry_over_and_restore_through_take_all_waiting_and_requeue() -> None:
    old, db, _ = station()
    old.group("g")
    change(db, 2)
    waiting = old.take_all_waiting()
    assert [r.seq for r in waiting["g"]] == [0, 1, 2] and len(old.groups["g"].backlog) == 0
    new, new_db, _ = station()
    new.group("g")
    change(new_db, 1)  # the new run's own event (sequence 1 of its numbering)
    assert new.requeue("g", waiting["g"]) and not new.requeue("other", waiting["g"])
    # the new run's end of initialisation first, the carried events in their order, then the
    # new run's; the old run's unsent end of initialisation is replaced by the new one
    assert seqs(new, "g") == [0, 1, 2, 1]
    assert [r.type_id for r in new.groups["g"].backlog.snapshot()].count(TypeId.M_EI_NA_1) == 1


def test_requeue_keeps_each_stations_end_of_initialisation_first() -> None:
    db = PointDatabase([Point("a", 1, PointKind.SINGLE), Point("b", 2, PointKind.SINGLE, common_address=2)])
    for name in ("a", "b"):
        db.update(name, False, timestamp=T0)
    outstation = Outstation(db, OutstationConfig(event_queue_size=100), FakeClock(), Recorder())
    outstation.group("g")
    db.update("b", True, timestamp=T0 + 1)  # this run's own event, after the carried ones
    own = outstation.groups["g"].backlog.snapshot()[-1]
    # two events of the previous run (sequence 7 and 8) of the same point, at station 2
    restored = [EventRecord(own.type_id, Cot.SPONTANEOUS, own.obj, seq) for seq in (7, 8)]
    old_ei = EventRecord(TypeId.M_EI_NA_1, Cot.INITIALIZED, EndOfInitialization(0, 0), ca=2)
    assert outstation.requeue("g", [old_ei, *restored])
    backlog = outstation.groups["g"].backlog.snapshot()
    assert [(r.type_id, r.ca) for r in backlog[:2]] == [(TypeId.M_EI_NA_1, 1),
                                                       (TypeId.M_EI_NA_1, 2)]
    assert [r.seq for r in backlog[2:]] == [7, 8, 1]


def test_requeue_into_a_full_backlog_drops_the_oldest_carried_event_never_the_initialisation(
        ) -> None:
    outstation, _, _ = station(queue=3)
    outstation.group("g")
    old, old_db, _ = station()
    old.group("g")
    change(old_db, 3)
    carried = old.take_all_waiting()["g"]
    assert outstation.requeue("g", carried)
    backlog = outstation.groups["g"].backlog
    assert [r.seq for r in backlog.snapshot()] == [0, 2, 3] and backlog.overflowed == 1
    assert outstation.groups["g"].lost == 1


def test_sequence_numbers_continue_and_never_go_back() -> None:
    outstation, db, recorder = station()
    outstation.group("g")
    outstation.continue_sequence(50)
    outstation.continue_sequence(10)
    outstation.attach_journal(recorder)
    change(db, 2)
    assert [r.seq for r in recorder.journaled] == [50, 51] and outstation.next_seq == 52
    assert outstation.held_from() == {"g": 50}
    outstation.attach_journal(None)
    change(db, 1)
    assert len(recorder.journaled) == 2 and outstation.journal is None


def test_mark_initialisation_rewrites_the_waiting_end_of_initialisation() -> None:
    outstation, _, _ = station()
    outstation.group("g")
    outstation.mark_initialisation(1, after_parameter_change=True)
    (record,) = outstation.groups["g"].backlog.snapshot()
    assert record.obj == EndOfInitialization(0, 1, after_parameter_change=True)


def test_reconfigure_applies_to_groups_made_afterwards() -> None:
    outstation, _, _ = station(queue=100)
    outstation.reconfigure(OutstationConfig(event_queue_size=7, common_address=9))
    assert outstation.config.common_address == 9
    assert outstation.group("g").backlog.maxlen == 7


def test_hand_over_stops_the_other_started_session_and_its_events_follow() -> None:
    outstation, db, _ = station()
    first = open_session(outstation, "m1", "g")
    second = open_session(outstation, "m2", "g")
    first.activate()
    assert len(sent(first)) == 1  # end of initialisation, not acknowledged
    change(db, 2)
    assert len(sent(first)) == 1  # both events in one ASDU, not acknowledged either
    stopped = outstation.hand_over(second)
    assert stopped == [(first, 3)] and not first.active and second.active is False
    second.activate()
    objects = [obj for asdu in sent(second) for obj in asdu.objects]
    assert len(objects) == 3  # the end of initialisation and both events, again
    assert outstation.hand_over(second) == []  # nobody else started
    # the link of the stopped session still gets acknowledgements for what it had sent
    first.acknowledged(2)
    assert first.unacknowledged_events == 0


def command(outstation: Outstation, session: Session, type_id: TypeId, obj: object) -> None:
    session.receive(encode_asdu(Asdu(type_id, Cot.ACTIVATION, 1, (obj,), originator=4),  # type: ignore[arg-type]
                                PROFILE_104))


@pytest.mark.parametrize(("qu", "pulse"), [
    (Qu.NONE, Pulse.DEFAULT), (Qu.SHORT_PULSE, Pulse.SHORT), (Qu.LONG_PULSE, Pulse.LONG),
    (Qu.PERSISTENT, Pulse.PERSISTENT),
])
def test_a_double_command_reaches_the_executor_in_point_terms(qu: Qu, pulse: Pulse) -> None:
    outstation, _, recorder = station()
    session = open_session(outstation, "104:m", "g")
    command(outstation, session, TypeId.C_DC_NA_1, DoubleCommand(10, 2, qu))
    ((request, _),) = recorder.started
    assert request.value is DoublePointValue.ON and request.pulse is pulse
    assert (request.output, request.link, request.originator, request.selected) == (
        "k1", "104:m", 4, False)


def test_a_regulating_step_reaches_the_executor_as_a_direction() -> None:
    outstation, _, recorder = station()
    session = open_session(outstation, "104:m", "g")
    session.activate()  # answers go out once data transfer is on
    command(outstation, session, TypeId.C_RC_NA_1, RegulatingStepCommand(11, 1, Qu.NONE))
    ((request, done),) = recorder.started
    assert request.value is StepDirection.LOWER and request.output == "tap"
    done(True)
    assert [(a.type_id, a.cot) for a in sent(session)][-1] == (TypeId.C_RC_NA_1,
                                                               Cot.ACTIVATION_TERMINATION)
