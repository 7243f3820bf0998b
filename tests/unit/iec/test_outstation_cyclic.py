"""Periodic (COT 1) and background (COT 2) data: the schedule, and what sessions receive."""

from __future__ import annotations

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.iec.outstation.cyclic import BACKGROUND_BATCH, CyclicScheduler, cyclic_period
from rtu.iec.outstation.session import CYCLIC_QUEUE_SIZE
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act, summary


def measurements() -> list[Point]:
    return [
        Point("own", 3601, PointKind.FLOAT, cyclic=5.0),
        Point("own2", 3602, PointKind.SCALED, cyclic=5.0, groups=frozenset({2})),
        Point("grouped", 3001, PointKind.FLOAT, groups=frozenset({2, 3})),
        Point("plain", 1001, PointKind.SINGLE),
        Point("cnt", 4001, PointKind.COUNTER, groups=frozenset({2})),
        Point("cmd", 5001, PointKind.SINGLE_COMMAND, target="r"),
    ]


def test_period_own_then_shortest_group_and_never_counters_or_commands() -> None:
    groups = {2: 10.0, 3: 7.0}
    by_name = {p.name: cyclic_period(p, groups) for p in measurements()}
    assert by_name == {"own": 5.0, "own2": 5.0, "grouped": 7.0, "plain": 0.0, "cnt": 0.0,
                       "cmd": 0.0}


def test_schedule_sends_each_period_once_and_does_not_burst_after_a_stall() -> None:
    s = CyclicScheduler(measurements(), {3: 7.0}, 0.0, now=100.0)
    assert s.next_deadline() == 105.0
    assert s.due(104.9) == []
    due = s.due(105.0)
    assert [(cot, [p.ioa for p in pts]) for cot, pts in due] == [(Cot.PERIODIC, [3601, 3602])]
    assert s.next_deadline() == 107.0
    assert [[p.ioa for p in pts] for _, pts in s.due(107.0)] == [[3001]]
    # a stall of a minute: one report each, then on from now
    assert len(s.due(170.0)) == 2
    assert s.next_deadline() == 175.0


def test_background_scan_goes_round_all_points_but_counters() -> None:
    points = [Point(f"s{i}", 1000 + i, PointKind.SINGLE) for i in range(BACKGROUND_BATCH + 4)]
    points.append(Point("f", 3000, PointKind.FLOAT))
    points.append(Point("c", 4000, PointKind.COUNTER))
    s = CyclicScheduler(points, {}, 30.0, now=0.0)  # three steps: 16 singles, 4 singles, 1 float
    assert s.next_deadline() == 10.0
    rounds = [s.due(t) for t in (10.0, 20.0, 30.0, 40.0)]
    assert [(r[0][0], len(r[0][1])) for r in rounds] == [
        (Cot.BACKGROUND, BACKGROUND_BATCH), (Cot.BACKGROUND, 4), (Cot.BACKGROUND, 1),
        (Cot.BACKGROUND, BACKGROUND_BATCH)]
    assert rounds[2][0][1][0].ioa == 3000


class CyclicRig:
    def __init__(self, **config: object) -> None:
        self.clock = FakeClock()
        self.db = PointDatabase(measurements())
        for p in self.db.monitored():
            self.db.update(p.name, 1 if p.kind is not PointKind.FLOAT else 1.5, timestamp=T0)
        self.outstation = Outstation(self.db, OutstationConfig(**config),  # type: ignore[arg-type]
                                     self.clock, ManualExecutor())
        self.session = self.open()

    def open(self) -> Session:
        session = self.outstation.open_session("m", PROFILE_104, "g", lambda: None)
        session.activate()
        self.drain(session)
        return session

    def tick(self, seconds: float) -> None:
        self.clock.mono += seconds
        self.outstation.on_timer(self.clock.mono)

    def drain(self, session: Session | None = None) -> list[Asdu]:
        s = session or self.session
        out = []
        while (o := s.next_output()) is not None:
            out.append(decode_asdu(o.asdu, PROFILE_104))
        s.acknowledged(len(out))
        return out


def test_periodic_data_is_untagged_cot_1_and_goes_after_responses() -> None:
    rig = CyclicRig()
    start = rig.outstation.next_deadline()
    assert start == rig.clock.mono + 5.0
    rig.tick(5.0)
    rig.session.receive(encode_asdu(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)),
                                    PROFILE_104))
    out = rig.drain()
    kinds = summary(out)
    assert kinds[0] == (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False)
    assert kinds.index((TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, False)) < kinds.index(
        (TypeId.M_ME_NC_1, Cot.PERIODIC, False))
    periodic = [a for a in out if a.cot == Cot.PERIODIC]
    assert [(a.type_id, [o.ioa for o in a.objects]) for a in periodic] == [
        (TypeId.M_ME_NB_1, [3602]), (TypeId.M_ME_NC_1, [3601])]
    assert all(getattr(o, "time", 1) is None for a in periodic for o in a.objects)


def test_group_periods_and_background_scan_from_the_station_settings() -> None:
    rig = CyclicRig(cyclic_groups=((3, 2.0),), background_scan=4.0)
    rig.tick(2.0)
    out = rig.drain()
    got = {(a.type_id, a.cot, tuple(o.ioa for o in a.objects)) for a in out}
    # group 3 every 2 s; background: 4 steps (single, scaled, float, ...) one per second
    assert (TypeId.M_ME_NC_1, Cot.PERIODIC, (3001,)) in got
    assert any(cot == Cot.BACKGROUND for _, cot, _ in got)


def test_inactive_sessions_get_nothing_and_the_queue_is_bounded() -> None:
    rig = CyclicRig()
    rig.session.deactivate()
    rig.tick(5.0)
    assert rig.drain() == []
    rig.session.activate()
    rig.drain()
    for _ in range(CYCLIC_QUEUE_SIZE):
        rig.tick(5.0)  # two ASDUs each time, nobody reads
    assert len(rig.session.cyclic) == CYCLIC_QUEUE_SIZE
    assert rig.session.cyclic_dropped == CYCLIC_QUEUE_SIZE


def test_class2_sessions_keep_periodic_data_out_of_class_1() -> None:
    rig = CyclicRig()
    rig.session.cyclic_class2 = True
    rig.tick(5.0)
    assert rig.session.next_output() is None and not rig.session.has_output()
    first = rig.session.next_class2()
    assert first is not None and decode_asdu(first.asdu, PROFILE_104).cot == Cot.PERIODIC
    assert rig.session.unacknowledged_events == 0


def test_no_periodic_configuration_means_no_deadline() -> None:
    db = PointDatabase([Point("x", 1, PointKind.FLOAT)])
    outstation = Outstation(db, OutstationConfig(), FakeClock(), ManualExecutor())
    assert outstation.next_deadline() is None
    outstation.on_timer(1e9)  # nothing to do, nothing raised
