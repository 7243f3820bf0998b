"""Issue 15 item 6: an overflow is reported in-band by the "events lost" point
(health:events_lost, [station] events_lost_ioa), which is never dropped itself, nor is the
end of initialisation; OFF again once every group that lost events was interrogated."""

from __future__ import annotations

from rtu.config.station import EVENTS_LOST_POINT, events_lost_point
from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand, SinglePoint
from rtu.iec.asdu.types import TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act

LOST_IOA = 9003


class Station:
    def __init__(self, queue_size: int = 5) -> None:
        self.clock = FakeClock()
        points = [Point(f"sp{i}", 100 + i, PointKind.SINGLE, groups=frozenset({1}))
                  for i in range(3)] + [events_lost_point(LOST_IOA)]
        self.db = PointDatabase(points)
        for i in range(3):
            self.db.update(f"sp{i}", False, timestamp=T0 - 10)
        self.outstation = Outstation(self.db, OutstationConfig(
            event_queue_size=queue_size, events_lost_ioa=LOST_IOA), self.clock, ManualExecutor())
        self.outstation.system_clock_synchronised = True

    def open(self, name: str, group: str) -> Session:
        session = self.outstation.open_session(name, PROFILE_104, group, lambda: None)
        return session

    def burst(self, n: int, start: float = T0) -> None:
        for i in range(n):
            self.db.update("sp0", i % 2 == 0, timestamp=start + i)

    def drain(self, session: Session) -> list[Asdu]:
        out = []
        while (o := session.next_output()) is not None:
            out.append(decode_asdu(o.asdu, PROFILE_104))
        session.acknowledged(len(out))
        return out


def lost_states(asdus: list[Asdu]) -> list[tuple[bool, bool]]:
    """(value, time-tagged) of every "events lost" object sent."""
    return [(o.value, a.type_id is TypeId.M_SP_TB_1) for a in asdus for o in a.objects
            if isinstance(o, SinglePoint) and o.ioa == LOST_IOA]


def gi(station: Station, session: Session) -> list[Asdu]:
    session.receive(encode_asdu(
        act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)), PROFILE_104))  # type: ignore[arg-type]
    return station.drain(session)


def test_the_point_is_off_and_answered_in_interrogation() -> None:
    station = Station()
    assert station.db.point(EVENTS_LOST_POINT).ioa == LOST_IOA
    session = station.open("m", "g")
    session.activate()
    station.drain(session)
    assert lost_states(gi(station, session)) == [(False, False)]


def test_an_overflow_without_a_master_is_reported_and_the_report_is_kept() -> None:
    station = Station(queue_size=5)
    station.open("m", "g")
    station.burst(50)
    group = station.outstation.groups["g"]
    assert group.lost > 0 and station.outstation.events_lost
    assert station.db.value(EVENTS_LOST_POINT).value is True
    session = station.outstation.groups["g"].sessions[0]
    session.activate()
    out = station.drain(session)
    assert out[0].type_id is TypeId.M_EI_NA_1  # never dropped
    assert lost_states(out) == [(True, True)]  # ON, with its time tag, survived the overflow
    status = station.outstation.events_lost_status()
    assert status["active"] is True and status["awaiting_interrogation"] == ["g"]
    assert status["lost"] == {"g": group.lost}


def test_every_group_is_told_and_off_needs_a_gi_in_every_group_that_lost() -> None:
    station = Station(queue_size=5)
    small = station.open("a", "g1")  # no master started: its backlog overflows
    other = station.open("b", "g2")
    other.activate()
    station.drain(other)
    told = []
    for chunk in range(5):  # g2's master keeps up: g2 loses nothing
        station.burst(4, start=T0 + 10 * chunk)
        told += lost_states(station.drain(other))
    assert told == [(True, True)]  # but it is told
    assert station.outstation.groups["g2"].lost == 0
    assert lost_states(gi(station, other)) == [(True, False)]  # g2's GI does not clear it
    assert station.outstation.events_lost
    small.activate()
    station.drain(small)
    answered = gi(station, small)
    assert lost_states(answered)[0] == (True, False)  # the GI still says ON...
    assert lost_states(answered)[-1] == (False, True)  # ...then OFF follows, time-tagged
    assert not station.outstation.events_lost
    assert lost_states(station.drain(other)) == [(False, True)]


def test_a_gi_that_started_before_the_loss_does_not_clear_it() -> None:
    station = Station(queue_size=5)
    session = station.open("m", "g")
    session.activate()
    station.drain(session)
    session.receive(encode_asdu(
        act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)), PROFILE_104))  # type: ignore[arg-type]
    session.next_output()  # ACT_CON; the GI is under way
    station.burst(20)  # the session's queue overflows meanwhile
    station.drain(session)
    assert station.outstation.events_lost
    assert lost_states(gi(station, session))[-1] == (False, True)


def test_end_of_initialisation_survives_any_overflow() -> None:
    station = Station(queue_size=1)
    session = station.open("m", "g")
    station.burst(100)
    session.activate()
    out = station.drain(session)
    assert out[0].type_id is TypeId.M_EI_NA_1
    assert lost_states(out) == [(True, True)]


# -- issue 19: each logical station is told of losses in its own stream ------------------------

LOST2_IOA = 9503


class TwoStations(Station):
    """Station 1 (sp0-sp2, the main events lost point 9003) and station 2 at common address 2
    (m0, m1; with ``own_point``, its own events lost point 9503)."""

    def __init__(self, queue_size: int = 5, own_point: bool = True) -> None:
        self.clock = FakeClock()
        points = [Point(f"sp{i}", 100 + i, PointKind.SINGLE) for i in range(3)]
        points += [Point(f"m{i}", 200 + i, PointKind.SINGLE, common_address=2) for i in range(2)]
        points.append(events_lost_point(LOST_IOA))
        if own_point:
            points.append(Point("lost2", LOST2_IOA, PointKind.SINGLE, common_address=2,
                                source="health:events_lost"))
        self.db = PointDatabase(points)
        for point in points[:-2 if own_point else -1]:
            self.db.update(point.name, False, timestamp=T0 - 10)
        self.outstation = Outstation(self.db, OutstationConfig(
            event_queue_size=queue_size, events_lost_ioa=LOST_IOA,
            station_events_lost_ioas=(LOST2_IOA,) if own_point else ()),
            self.clock, ManualExecutor())
        self.outstation.system_clock_synchronised = True

    def burst_station2(self, n: int, start: float = T0) -> None:
        for i in range(n):
            self.db.update("m0", i % 2 == 0, timestamp=start + i)


def objects_at(asdus: list[Asdu], ioa: int) -> list[tuple[int, bool, bool]]:
    """(common address, value, time-tagged) of every object sent at ``ioa``."""
    return [(a.common_address, o.value, a.type_id is TypeId.M_SP_TB_1) for a in asdus
            for o in a.objects if isinstance(o, SinglePoint) and o.ioa == ioa]


def gi_at(station: Station, session: Session, ca: int) -> list[Asdu]:
    session.receive(encode_asdu(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=ca),
                                PROFILE_104))
    return station.drain(session)


def test_a_loss_of_station_2s_events_is_told_at_station_2_only() -> None:
    station = TwoStations(queue_size=5)
    session = station.open("m", "g")
    station.burst_station2(30)  # no master yet: the backlog drops station 2's events
    group = station.outstation.groups["g"]
    assert group.lost_by_station == {2: group.lost} and group.lost > 0
    assert station.db.value("lost2").value is True
    assert station.db.value(EVENTS_LOST_POINT).value is False  # station 1 lost nothing
    session.activate()
    out = station.drain(session)
    assert [a.common_address for a in out[:2]] == [1, 2]  # each station's end of init. first
    assert objects_at(out, LOST2_IOA) == [(2, True, True)]  # told at its station's address
    assert objects_at(out, LOST_IOA) == []
    status = station.outstation.events_lost_status()
    assert status["lost_by_station"] == {"g": {2: group.lost}}
    assert status["stations"] == {
        1: {"point": EVENTS_LOST_POINT, "ioa": LOST_IOA, "active": False,
            "awaiting_interrogation": []},
        2: {"point": "lost2", "ioa": LOST2_IOA, "active": True, "awaiting_interrogation": ["g"]}}
    # station 1's GI answers nothing of station 2's loss; station 2's GI does
    assert objects_at(gi_at(station, session, 1), LOST2_IOA) == []
    assert station.db.value("lost2").value is True
    answered = gi_at(station, session, 2)
    assert objects_at(answered, LOST2_IOA) == [(2, True, False), (2, False, True)]
    assert not station.outstation.events_lost


def test_a_station_without_its_own_point_is_told_by_the_main_one() -> None:
    station = TwoStations(queue_size=5, own_point=False)
    session = station.open("m", "g")
    station.burst_station2(30)
    assert station.db.value(EVENTS_LOST_POINT).value is True
    session.activate()
    station.drain(session)
    gi_at(station, session, 1)  # not the station that lost events
    assert station.db.value(EVENTS_LOST_POINT).value is True
    assert objects_at(gi_at(station, session, 2), LOST_IOA)[-1] == (1, False, True)


def test_a_line_of_station_2_only_gets_station_2s_point() -> None:
    station = TwoStations(queue_size=5)
    station.outstation.group("101:ttyA/2", frozenset({2}))  # a multi-drop line's station 2
    line = station.open("line", "101:ttyA/2")
    station.burst_station2(30)
    line.activate()
    out = station.drain(line)
    assert objects_at(out, LOST2_IOA) == [(2, True, True)]
    assert {a.common_address for a in out} == {2}


def test_a_journal_loss_sets_every_stations_point() -> None:
    station = TwoStations()
    station.open("m", "g")
    station.outstation.report_loss("the journal deleted 5 unacknowledged events")
    assert station.db.value(EVENTS_LOST_POINT).value is True
    assert station.db.value("lost2").value is True
    assert station.outstation.events_lost_status()["awaiting_interrogation"] == ["g"]
