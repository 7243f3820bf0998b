"""Several logical stations behind one outstation: points with their own common address."""

from __future__ import annotations

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    InterrogationCommand,
    ReadCommand,
    SingleCommand,
)
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act

BROADCAST = 0xFFFF


def station_points() -> list[Point]:
    return [
        Point("own_sp", 100, PointKind.SINGLE),
        Point("own_ai", 300, PointKind.FLOAT),
        Point("own_cnt", 400, PointKind.COUNTER),
        Point("m_ai1", 3501, PointKind.FLOAT, common_address=2),
        Point("m_ai2", 3502, PointKind.FLOAT, common_address=2),
        Point("m_cnt", 4501, PointKind.COUNTER, common_address=2),
        Point("m_cmd", 5501, PointKind.SINGLE_COMMAND, target="r", common_address=2),
        Point("explicit_own", 101, PointKind.SINGLE, common_address=1),
    ]


class StationRig:
    def __init__(self) -> None:
        self.db = PointDatabase(station_points())
        for p in self.db.monitored():
            self.db.update(p.name, 1.0 if p.kind is PointKind.FLOAT else 1, timestamp=T0)
        self.executor = ManualExecutor()
        self.outstation = Outstation(self.db, OutstationConfig(common_address=1), FakeClock(),
                                     self.executor)
        self.session: Session = self.outstation.open_session("m", PROFILE_104, "g", lambda: None)
        self.session.activate()

    def send(self, asdu: Asdu) -> list[Asdu]:
        self.session.receive(encode_asdu(asdu, PROFILE_104))
        return self.drain()

    def drain(self) -> list[Asdu]:
        out = []
        while (o := self.session.next_output()) is not None:
            out.append(decode_asdu(o.asdu, PROFILE_104))
        self.session.acknowledged(len(out))
        return out


def shape(out: list[Asdu]) -> list[tuple[TypeId, Cot, int, bool]]:
    return [(a.type_id, a.cot, a.common_address, a.negative) for a in out]


def test_stations_and_one_end_of_initialisation_each() -> None:
    rig = StationRig()
    assert rig.outstation.stations == (1, 2)
    assert shape(rig.drain()) == [(TypeId.M_EI_NA_1, Cot.INITIALIZED, 1, False),
                                  (TypeId.M_EI_NA_1, Cot.INITIALIZED, 2, False)]


def test_interrogation_of_one_station_reports_only_its_points() -> None:
    rig = StationRig()
    rig.drain()
    out = rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=2))
    assert shape(out) == [(TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 2, False),
                          (TypeId.M_ME_NC_1, Cot.INTERROGATED_BY_STATION, 2, False),
                          (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, 2, False)]
    assert [o.ioa for o in out[1].objects] == [3501, 3502]
    out = rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=1))
    assert sorted(o.ioa for a in out[1:-1] for o in a.objects) == [100, 101, 300]


def test_broadcast_interrogation_is_answered_per_station() -> None:
    rig = StationRig()
    rig.drain()
    out = rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=BROADCAST))
    assert shape(out) == [
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 1, False),
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 2, False),
        (TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, 1, False),
        (TypeId.M_ME_NC_1, Cot.INTERROGATED_BY_STATION, 1, False),
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, 1, False),
        (TypeId.M_ME_NC_1, Cot.INTERROGATED_BY_STATION, 2, False),
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, 2, False),
    ]
    # the same station again while its interrogation runs: refused; another station's waits
    for ca in (2, 2, 1):
        rig.session.receive(encode_asdu(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20),
                                            ca=ca), PROFILE_104))
    out = shape(rig.drain())
    assert out[:3] == [(TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 2, False),
                       (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 2, True),
                       (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, 1, False)]
    assert [(ca, neg) for t, c, ca, neg in out if c == Cot.ACTIVATION_TERMINATION] == [
        (2, False), (1, False)]


def test_broadcast_clock_sync_and_counter_interrogation_per_station() -> None:
    rig = StationRig()
    rig.drain()
    out = rig.send(act(TypeId.C_CS_NA_1, ClockSyncCommand(0, Cp56Time2a.from_timestamp(T0)),
                       ca=BROADCAST))
    assert shape(out) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, 1, False),
                          (TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, 2, False)]
    out = rig.send(act(TypeId.C_CI_NA_1, CounterInterrogationCommand(0, 5), ca=BROADCAST))
    totals = [(a.common_address, [o.ioa for o in a.objects]) for a in out
              if a.type_id == TypeId.M_IT_NA_1]
    assert totals == [(1, [400]), (2, [4501])]
    assert [a.common_address for a in out if a.cot == Cot.ACTIVATION_TERMINATION] == [1, 2]


def test_unknown_common_address_and_points_of_another_station() -> None:
    rig = StationRig()
    rig.drain()
    out = rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=3))
    assert shape(out) == [(TypeId.C_IC_NA_1, Cot.UNKNOWN_COMMON_ADDRESS, 3, True)]
    out = rig.send(act(TypeId.C_RD_NA_1, ReadCommand(3501), cot=Cot.REQUEST, ca=1))
    assert shape(out) == [(TypeId.C_RD_NA_1, Cot.UNKNOWN_IOA, 1, True)]
    out = rig.send(act(TypeId.C_RD_NA_1, ReadCommand(3501), cot=Cot.REQUEST, ca=2))
    assert shape(out) == [(TypeId.M_ME_NC_1, Cot.REQUEST, 2, False)]
    out = rig.send(act(TypeId.C_SC_NA_1, SingleCommand(5501, True), ca=1))
    assert shape(out) == [(TypeId.C_SC_NA_1, Cot.UNKNOWN_IOA, 1, True)]
    assert rig.executor.started == []
    out = rig.send(act(TypeId.C_SC_NA_1, SingleCommand(5501, True), ca=2))
    assert shape(out) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, 2, False)]
    assert [r.point.name for r, _ in rig.executor.started] == ["m_cmd"]


def test_events_carry_their_station_and_are_not_mixed_in_one_asdu() -> None:
    rig = StationRig()
    rig.drain()
    rig.db.update("own_ai", 5.0, timestamp=T0 + 1)
    rig.db.update("m_ai1", 5.0, timestamp=T0 + 1)
    rig.db.update("m_ai2", 5.0, timestamp=T0 + 1)
    out = rig.drain()
    assert [(a.common_address, [o.ioa for o in a.objects]) for a in out] == [
        (1, [300]), (2, [3501, 3502])]
