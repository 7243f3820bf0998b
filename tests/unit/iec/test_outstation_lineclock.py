"""A 101 line's clock duties with a fake clock (rtu/iec/outstation/lineclock.py): the
spontaneous C_CS_NA_1 of a CP24 line at each change of the hour and before the first CP24
event, events sent as their CP24 types, and the acquisition of the transmission delay
(C_CD_NA_1) applied to the next clock synchronisation."""

from __future__ import annotations

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.objects import (
    Asdu,
    ClockSyncCommand,
    Cp24Time2a,
    Cp56Time2a,
    DelayAcquisitionCommand,
)
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation.lineclock import RECHECK, LineClock
from tests.unit.iec.test_outstation import T0, Rig, act, summary

CP24 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253, cp24=True)
CP56 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253)
# T0 = 2023-11-14 22:13:20 UTC; the next change of the hour is 2800 s later
NEXT_HOUR = T0 + 2800.0
C_CS, C_CD = TypeId.C_CS_NA_1, TypeId.C_CD_NA_1


def line(profile: AsduProfile = CP24, stations: tuple[int, ...] = (1,)) -> Rig:
    rig = Rig(profile)
    out = rig.outstation
    rig.session.line_clock = LineClock(lambda: out.time_tag(rig.clock.wall()),
                                       rig.clock.monotonic, stations, cp24=profile.cp24)
    return rig


def started(profile: AsduProfile = CP24) -> Rig:
    rig = line(profile)
    rig.session.activate()
    return rig


def toggle(rig: Rig, at: float, name: str = "sp0") -> None:
    rig.db.update(name, not rig.db.value(name).value, timestamp=at)


def hour_of(asdu: Asdu) -> tuple[int, int]:
    (obj,) = asdu.objects
    assert isinstance(obj, ClockSyncCommand)
    return obj.time.hour, obj.time.minute


def test_link_up_sends_end_of_initialisation_then_the_full_time() -> None:
    rig = started()
    out = rig.drain()
    assert summary(out) == [(TypeId.M_EI_NA_1, Cot.INITIALIZED, False),
                            (C_CS, Cot.SPONTANEOUS, False)]
    (obj,) = out[1].objects
    assert isinstance(obj, ClockSyncCommand) and obj.ioa == 0
    assert obj.time == Cp56Time2a.from_timestamp(T0)  # station time, CP56, UTC
    assert not rig.session.has_output()


def test_events_go_out_as_cp24_types_with_minute_and_milliseconds() -> None:
    rig = started()
    rig.drain()
    toggle(rig, T0 + 1.5)
    rig.db.update("dp", 2, timestamp=T0 + 2)
    rig.db.update("ai", 7.25, timestamp=T0 + 3)
    out = rig.drain()
    assert [a.type_id for a in out] == [TypeId.M_SP_TA_1, TypeId.M_DP_TA_1, TypeId.M_ME_TC_1]
    assert out[0].objects[0].time == Cp24Time2a(21_500, 13)  # type: ignore[union-attr]


def test_a_cp56_line_never_announces_and_keeps_the_cp56_types() -> None:
    rig = started(CP56)
    rig.drain()
    toggle(rig, T0 + 1)
    rig.clock.system = NEXT_HOUR + 1
    assert rig.session.line_clock is not None and rig.session.line_clock.next_deadline() is None
    assert summary(rig.drain()) == [(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False)]


def test_each_change_of_the_hour_is_announced_once() -> None:
    rig = started()
    rig.drain()
    clock = rig.session.line_clock
    assert clock is not None
    assert clock.next_deadline() == rig.clock.mono + RECHECK  # 2800 s away: look again in 60 s
    rig.clock.system = NEXT_HOUR - 30.0
    assert clock.next_deadline() == rig.clock.mono + 30.0
    assert not rig.session.has_output()
    rig.clock.system = NEXT_HOUR + 0.004
    assert rig.session.has_output()  # unbalanced: ACD is set, class 1 data
    out = rig.drain()
    assert summary(out) == [(C_CS, Cot.SPONTANEOUS, False)]
    assert hour_of(out[0]) == (23, 0)
    rig.clock.system = NEXT_HOUR + 1800.0
    assert rig.drain() == []


def test_events_of_the_old_hour_go_before_the_announcement_and_the_new_ones_after() -> None:
    rig = started()
    rig.drain()
    toggle(rig, NEXT_HOUR - 0.5)  # 22:59:59.5, still queued when the hour changes
    rig.clock.system = NEXT_HOUR + 0.2
    toggle(rig, NEXT_HOUR + 0.1, "sp1")  # 23:00:00.1, same type: another ASDU
    out = rig.drain()
    assert summary(out) == [(TypeId.M_SP_TA_1, Cot.SPONTANEOUS, False),
                            (C_CS, Cot.SPONTANEOUS, False),
                            (TypeId.M_SP_TA_1, Cot.SPONTANEOUS, False)]
    assert out[0].objects[0].time == Cp24Time2a(59_500, 59)  # type: ignore[union-attr]
    assert hour_of(out[1]) == (23, 0)
    assert out[2].objects[0].time == Cp24Time2a(100, 0)  # type: ignore[union-attr]


def test_an_event_of_a_new_hour_is_announced_even_before_the_timer() -> None:
    rig = started()
    rig.drain()
    rig.clock.system = NEXT_HOUR + 5
    toggle(rig, NEXT_HOUR + 5)
    assert summary(rig.drain()) == [(C_CS, Cot.SPONTANEOUS, False),
                                    (TypeId.M_SP_TA_1, Cot.SPONTANEOUS, False)]


def test_a_clock_step_either_way_announces_the_hour_again() -> None:
    rig = started()
    rig.drain()
    rig.clock.system = T0 + 3 * 3600  # stepped forward three hours (NTP at last)
    out = rig.drain()
    assert summary(out) == [(C_CS, Cot.SPONTANEOUS, False)] and hour_of(out[0]) == (1, 13)
    rig.clock.system = T0  # and back
    out = rig.drain()
    assert summary(out) == [(C_CS, Cot.SPONTANEOUS, False)] and hour_of(out[0]) == (22, 13)
    # a master's clock synchronisation shifts station time: its hour counts
    rig.send(act(C_CS, ClockSyncCommand(0, Cp56Time2a.from_timestamp(NEXT_HOUR + 60))))
    assert summary(rig.drain()) == [(C_CS, Cot.ACTIVATION_CON, False),
                                    (C_CS, Cot.SPONTANEOUS, False)]


def test_nothing_while_the_link_is_down_and_again_when_it_comes_up() -> None:
    rig = started()
    rig.drain()
    rig.session.deactivate()
    rig.clock.system = NEXT_HOUR + 1
    assert not rig.session.has_output() and rig.session.next_output() is None
    toggle(rig, NEXT_HOUR + 2)
    rig.session.activate()
    assert summary(rig.drain()) == [(C_CS, Cot.SPONTANEOUS, False),
                                    (TypeId.M_SP_TA_1, Cot.SPONTANEOUS, False)]


def test_each_station_of_the_line_gets_its_announcement() -> None:
    rig = line(stations=(1, 2))
    rig.session.activate()
    out = rig.drain()
    assert [(a.type_id, a.common_address) for a in out] == [
        (TypeId.M_EI_NA_1, 1), (C_CS, 1), (C_CS, 2)]


# -- delay acquisition --------------------------------------------------------------------------

def test_delay_acquisition_confirms_sdt_plus_the_time_spent_here() -> None:
    rig = started()
    rig.drain()
    rig.send(act(C_CD, DelayAcquisitionCommand(0, 1_000), originator=0))
    rig.clock.mono += 0.25  # waited for the class 1 poll
    out = rig.drain()
    assert summary(out) == [(C_CD, Cot.ACTIVATION_CON, False)]
    assert out[0].objects == (DelayAcquisitionCommand(0, 1_250),)
    # ms within the minute: wraps
    rig.send(act(C_CD, DelayAcquisitionCommand(0, 59_900)))
    rig.clock.mono += 0.3
    assert rig.drain()[0].objects == (DelayAcquisitionCommand(0, 200),)


def test_the_loaded_delay_corrects_the_next_clock_synchronisation_only() -> None:
    rig = started()
    rig.drain()
    rig.send(act(C_CD, DelayAcquisitionCommand(0, 500), cot=Cot.SPONTANEOUS))
    assert rig.drain() == []  # loading the delay is not confirmed
    master = T0 + 100.0
    rig.send(act(C_CS, ClockSyncCommand(0, Cp56Time2a.from_timestamp(master))))
    rig.drain()
    assert rig.outstation.clock_offset == 100.5
    rig.send(act(C_CS, ClockSyncCommand(0, Cp56Time2a.from_timestamp(master))))
    rig.drain()
    assert rig.outstation.clock_offset == 100.0


def test_bad_delay_acquisitions_are_answered_negatively() -> None:
    rig = started()
    rig.drain()
    rig.send(Asdu(C_CD, Cot.ACTIVATION, 1, (DelayAcquisitionCommand(5, 100),)))
    rig.send(Asdu(C_CD, Cot.REQUEST, 1, (DelayAcquisitionCommand(0, 100),)))
    rig.send(Asdu(C_CD, Cot.ACTIVATION, 1, (DelayAcquisitionCommand(0, 60_000),)))
    rig.send(Asdu(C_CD, Cot.SPONTANEOUS, 1, (DelayAcquisitionCommand(0, 65_000),)))
    assert summary(rig.drain()) == [(C_CD, Cot.UNKNOWN_IOA, True),
                                    (C_CD, Cot.UNKNOWN_CAUSE, True),
                                    (C_CD, Cot.ACTIVATION_CON, True)]
    assert rig.session.line_clock is not None and rig.session.line_clock.delay_ms is None


def test_104_has_no_delay_acquisition() -> None:
    rig = Rig()  # the 104 profile, no line clock
    rig.session.activate()
    rig.drain()
    rig.send(act(C_CD, DelayAcquisitionCommand(0, 100)))
    assert summary(rig.drain()) == [(C_CD, Cot.UNKNOWN_TYPE_ID, True)]


def test_a_broadcast_clock_synchronisation_gives_every_station_the_delay() -> None:
    clock = LineClock(lambda: Cp56Time2a.from_timestamp(T0), lambda: 0.0, (1, 2), cp24=True)
    clock.acquisition(Asdu(C_CD, Cot.SPONTANEOUS, 1, (DelayAcquisitionCommand(0, 300),)))
    command = ClockSyncCommand(0, Cp56Time2a.from_timestamp(T0))
    assert clock.take_delay(command) == 0.3
    assert clock.take_delay(command) == 0.3  # the same command, handled for station 2
    assert clock.take_delay(ClockSyncCommand(0, Cp56Time2a.from_timestamp(T0))) == 0.0


def test_the_repeated_local_hour_of_autumn_is_announced_too() -> None:
    summer = Cp56Time2a(0, 59, 2, 27, 10, 24, summer_time=True)  # 02:59 CEST
    winter = Cp56Time2a(0, 0, 2, 27, 10, 24)  # 02:00 CET, an hour later
    now = [summer]
    clock = LineClock(lambda: now[0], lambda: 0.0, (1,), cp24=True)
    assert clock.announcement(None) is not None
    assert clock.announcement(None) is None
    now[0] = winter
    announced = clock.announcement(None)
    assert announced is not None and announced.objects[0] == ClockSyncCommand(0, winter)
