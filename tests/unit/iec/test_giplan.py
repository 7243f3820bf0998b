"""General interrogation walks a shared, precomputed plan with an offset: every point once, in
IOA order, across many ASDUs, and the shared plan is never changed by a GI."""

from __future__ import annotations

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.iec.outstation.giplan import interrogation_plan
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind


class _Clock:
    def monotonic(self) -> float:
        return 1000.0

    def wall(self) -> float:
        return 1_700_000_000.0


class _NoExecutor:
    def execute(self, request: object, done: object) -> None:
        raise AssertionError("no command in these tests")


def _db() -> PointDatabase:
    points = [Point(f"sp{i}", 1000 + i, PointKind.SINGLE, groups=frozenset({1}) if i % 2 else frozenset())
              for i in range(500)]
    points += [Point(f"ai{i}", 5000 + i, PointKind.FLOAT) for i in range(130)]
    points.append(Point("cnt", 9000, PointKind.COUNTER))
    return PointDatabase(points)


def _gi(outstation: Outstation, qoi: int) -> list[Asdu]:
    session = outstation.open_session("m", PROFILE_104, "g", lambda: None)
    session.activate()
    ask = Asdu(TypeId.C_IC_NA_1, Cot.ACTIVATION, 1, (InterrogationCommand(0, qoi),))
    session.receive(encode_asdu(ask, PROFILE_104))
    out = []
    while (o := session.next_output()) is not None:
        out.append(decode_asdu(o.asdu, PROFILE_104))
        session.acknowledged(1)
    session.close()
    return [a for a in out if a.cot in (Cot.INTERROGATED_BY_STATION, Cot.INTERROGATED_BY_GROUP_1)]


def test_station_gi_sends_every_point_once_in_order_across_asdus_twice() -> None:
    db = _db()
    outstation = Outstation(db, OutstationConfig(), _Clock(), _NoExecutor())  # type: ignore[arg-type]
    for _ in range(2):  # the second GI walks the same plan from its start
        data = _gi(outstation, 20)
        singles = [o.ioa for a in data if a.type_id is TypeId.M_SP_NA_1 for o in a.objects]
        floats = [o.ioa for a in data if a.type_id is TypeId.M_ME_NC_1 for o in a.objects]
        assert singles == [1000 + i for i in range(500)]
        assert floats == [5000 + i for i in range(130)]
        assert sum(a.type_id is TypeId.M_SP_NA_1 for a in data) > 1  # split across ASDUs
        assert all(o.ioa != 9000 for a in data for o in a.objects)  # counters are not in GI


def test_group_gi_uses_its_own_plan_and_the_plan_is_shared_and_unchanged() -> None:
    db = _db()
    outstation = Outstation(db, OutstationConfig(), _Clock(), _NoExecutor())  # type: ignore[arg-type]
    plan = interrogation_plan(db.monitored(), 1)
    sizes = [len(points) for _, points in plan]
    data = _gi(outstation, 21)
    assert [o.ioa for a in data for o in a.objects] == [1000 + i for i in range(1, 500, 2)]
    assert interrogation_plan(db.monitored(), 1) is plan
    assert [len(points) for _, points in plan] == sizes
    # another database (a reload) gets its own plan
    other = _db()
    assert interrogation_plan(other.monitored(), 1) is not plan
