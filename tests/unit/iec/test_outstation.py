"""The shared application layer, driven sans-I/O: encoded ASDUs in, encoded ASDUs out, fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DoubleCommand,
    EndOfInitialization,
    InterrogationCommand,
    ReadCommand,
    ResetProcessCommand,
    SingleCommand,
    SinglePoint,
    TestCommandWithTime,
)
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.outstation import CommandRequest, Done, Outstation, OutstationConfig, Session
from rtu.points.commands import Pulse
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointKind, Quality

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@dataclass
class FakeClock:
    mono: float = 1000.0
    system: float = T0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.system


@dataclass
class ManualExecutor:
    started: list[tuple[CommandRequest, Done]] = field(default_factory=list)

    def execute(self, request: CommandRequest, done: Done) -> None:
        self.started.append((request, done))


def points() -> list[Point]:
    ps = [Point(f"sp{i}", 100 + i, PointKind.SINGLE, groups=frozenset({1}) if i < 3 else frozenset())
          for i in range(10)]
    ps += [
        Point("dp", 200, PointKind.DOUBLE, groups=frozenset({2})),
        Point("ai", 300, PointKind.FLOAT),
        Point("cnt", 400, PointKind.COUNTER),
        Point("cmd", 500, PointKind.SINGLE_COMMAND, target="r1"),
        Point("sbo", 501, PointKind.SINGLE_COMMAND, target="r2", select_required=True),
        Point("dcmd", 502, PointKind.DOUBLE_COMMAND, target="r3"),
    ]
    return ps


class Rig:
    def __init__(self, profile: AsduProfile = PROFILE_104, **config: object) -> None:
        self.clock = FakeClock()
        self.db = PointDatabase(points())
        for p in self.db.monitored():
            value = 0 if p.kind in (PointKind.DOUBLE, PointKind.COUNTER) else False
            if p.kind is PointKind.FLOAT:
                value = 1.5
            self.db.update(p.name, value, timestamp=T0 - 10)
        self.executor = ManualExecutor()
        self.outstation = Outstation(self.db, OutstationConfig(**config), self.clock,  # type: ignore[arg-type]
                                     self.executor)
        self.profile = profile
        self.wakes = 0
        self.session = self.open("m1")

    def open(self, name: str, group: str = "g") -> Session:
        def wake() -> None:
            self.wakes += 1

        return self.outstation.open_session(name, self.profile, group, wake)

    def send(self, asdu: Asdu, session: Session | None = None) -> None:
        (session or self.session).receive(encode_asdu(asdu, self.profile))

    def drain(self, session: Session | None = None, ack: bool = True) -> list[Asdu]:
        s = session or self.session
        out = []
        while (o := s.next_output()) is not None:
            out.append(decode_asdu(o.asdu, self.profile))
        if ack:
            s.acknowledged(len(out))
        return out


def act(type_id: TypeId, obj: object, cot: Cot = Cot.ACTIVATION, ca: int = 1, originator: int = 0,
        test: bool = False) -> Asdu:
    return Asdu(type_id, cot, ca, (obj,), originator=originator, test=test)  # type: ignore[arg-type]


def summary(asdus: list[Asdu]) -> list[tuple[TypeId, Cot, bool]]:
    return [(a.type_id, a.cot, a.negative) for a in asdus]


# -- interrogation ----------------------------------------------------------------------------

def test_station_interrogation_confirms_sends_untimed_cot20_and_terminates() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()  # end of initialisation
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), originator=7))
    out = rig.drain()
    assert summary(out) == [
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_STATION, False),
        (TypeId.M_DP_NA_1, Cot.INTERROGATED_BY_STATION, False),
        (TypeId.M_ME_NC_1, Cot.INTERROGATED_BY_STATION, False),
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, False),
    ]
    assert all(a.originator == 7 for a in out)
    assert [o.ioa for o in out[1].objects] == list(range(100, 110))
    # no time tags in GI data and counters are not part of it
    assert all(getattr(o, "time", None) is None for a in out[1:-1] for o in a.objects)


def test_group_interrogation_sends_only_members_with_group_cot() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 21)))
    out = rig.drain()
    assert summary(out)[1] == (TypeId.M_SP_NA_1, Cot.INTERROGATED_BY_GROUP_1, False)
    assert [o.ioa for o in out[1].objects] == [100, 101, 102]
    assert len(out) == 3


def test_interrogation_is_split_into_as_few_asdus_as_fit() -> None:
    profile = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=60)
    rig = Rig(profile=profile)
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)))
    out = rig.drain()
    singles = [a for a in out if a.type_id == TypeId.M_SP_NA_1]
    # header 4 octets, each SQ=0 object 3 octets: 18 per ASDU -> 10 points fit in one
    assert [len(a.objects) for a in singles] == [10]
    assert all(len(encode_asdu(a, profile)) <= 60 for a in out)


def test_second_interrogation_while_running_is_refused_and_deactivation_stops_it() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)))
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)))
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), cot=Cot.DEACTIVATION))
    out = rig.drain()
    assert summary(out) == [
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, True),
        (TypeId.C_IC_NA_1, Cot.DEACTIVATION_CON, False),
    ]


def test_counter_interrogation_uses_cot_37_and_freeze() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("cnt", 42, timestamp=T0)
    rig.drain()
    rig.send(act(TypeId.C_CI_NA_1, CounterInterrogationCommand(0, 5, 1)))  # freeze
    rig.db.update("cnt", 50, timestamp=T0)
    rig.drain()
    rig.send(act(TypeId.C_CI_NA_1, CounterInterrogationCommand(0, 5, 0)))  # read
    out = rig.drain()
    assert summary(out)[-3:] == [
        (TypeId.C_CI_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.M_IT_NA_1, Cot.REQUESTED_BY_GENERAL_COUNTER, False),
        (TypeId.C_CI_NA_1, Cot.ACTIVATION_TERMINATION, False),
    ]
    counter = out[-2].objects[0]
    assert counter.value == 42 and counter.sequence == 1  # type: ignore[union-attr]


# -- read, clock, test, reset -----------------------------------------------------------------

def test_read_answers_with_cot_request_and_no_confirmation() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_RD_NA_1, ReadCommand(300), cot=Cot.REQUEST))
    out = rig.drain()
    assert summary(out) == [(TypeId.M_ME_NC_1, Cot.REQUEST, False)]
    assert out[0].objects[0].value == 1.5  # type: ignore[union-attr]
    rig.send(act(TypeId.C_RD_NA_1, ReadCommand(999), cot=Cot.REQUEST))
    assert summary(rig.drain()) == [(TypeId.C_RD_NA_1, Cot.UNKNOWN_IOA, True)]


def test_clock_sync_keeps_an_offset_and_confirms_with_station_time() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    master = Cp56Time2a.from_timestamp(T0 + 3600.5)
    mono_before = rig.clock.mono
    rig.send(act(TypeId.C_CS_NA_1, ClockSyncCommand(0, master)))
    out = rig.drain()
    assert summary(out) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, False)]
    assert out[0].objects[0].time == master  # type: ignore[union-attr]
    assert rig.clock.system == T0 and rig.clock.mono == mono_before  # system clock untouched
    # events are stamped in station time from now on
    rig.db.update("sp0", True, timestamp=T0 + 1)
    event = rig.drain()[0].objects[0]
    assert event.time == Cp56Time2a.from_timestamp(T0 + 3601.5)  # type: ignore[union-attr]


def test_invalid_clock_sync_time_is_refused() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    bad = Cp56Time2a(0, 0, 0, 1, 1, 24, invalid=True)
    rig.send(act(TypeId.C_CS_NA_1, ClockSyncCommand(0, bad)))
    assert summary(rig.drain()) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, True)]


def test_time_tags_invalid_until_first_sync_when_configured() -> None:
    rig = Rig(time_invalid_until_sync=True)
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0)
    assert rig.drain()[0].objects[0].time.invalid  # type: ignore[union-attr]


def test_test_command_with_time_is_mirrored() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    cmd = TestCommandWithTime(0, 1234, Cp56Time2a.from_timestamp(T0))
    rig.send(act(TypeId.C_TS_TA_1, cmd))
    out = rig.drain()
    assert summary(out) == [(TypeId.C_TS_TA_1, Cot.ACTIVATION_CON, False)]
    assert out[0].objects[0] == cmd


def test_reset_process_event_buffer_discards_queued_events() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0)
    rig.send(act(TypeId.C_RP_NA_1, ResetProcessCommand(0, 2)))
    assert summary(rig.drain()) == [(TypeId.C_RP_NA_1, Cot.ACTIVATION_CON, False)]
    rig.send(act(TypeId.C_RP_NA_1, ResetProcessCommand(0, 1)))  # no restart hook configured
    assert summary(rig.drain()) == [(TypeId.C_RP_NA_1, Cot.ACTIVATION_CON, True)]


def test_reset_process_obeys_command_originators_only() -> None:
    rig = Rig(command_originators=frozenset({2}))
    resets: list[int] = []
    rig.outstation.on_reset_process = resets.append
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0)
    refused = (TypeId.C_RP_NA_1, Cot.ACTIVATION_CON, True)
    # neither a reset of the event buffer (the queued event is still sent) nor a general reset
    rig.send(act(TypeId.C_RP_NA_1, ResetProcessCommand(0, 2), originator=7))
    assert summary(rig.drain()) == [refused, (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False)]
    rig.send(act(TypeId.C_RP_NA_1, ResetProcessCommand(0, 1), originator=7))
    assert summary(rig.drain()) == [refused]
    assert resets == []
    rig.send(act(TypeId.C_RP_NA_1, ResetProcessCommand(0, 1), originator=2))
    assert summary(rig.drain(ack=False))[0] == (TypeId.C_RP_NA_1, Cot.ACTIVATION_CON, False)
    assert resets == [1]


# -- commands ---------------------------------------------------------------------------------

def test_direct_command_terminates_only_after_execution() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, qu=1), originator=3))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    (request, done), = rig.executor.started
    # the executor gets the command in the point database's terms: QU 1 is a short pulse
    assert (request.point.name, request.value, request.pulse) == ("cmd", True, Pulse.SHORT)
    assert (request.output, request.link, request.originator) == ("r1", rig.session.name, 3)
    assert rig.drain() == []  # no ACT_TERM before the output really switched
    done(True)
    out = rig.drain()
    assert summary(out) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False)]
    assert out[0].originator == 3


def test_failed_execution_gives_negative_termination() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))
    rig.drain()
    rig.executor.started[0][1](False)
    assert summary(rig.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_TERMINATION, True)]


def test_select_before_operate() -> None:
    rig = Rig(select_timeout=5.0)
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    assert rig.executor.started == []  # a select operates nothing
    rig.clock.mono += 4.9
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    assert len(rig.executor.started) == 1


def test_execute_without_select_on_sbo_point_is_refused() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    assert rig.executor.started == []


@pytest.mark.parametrize("execute", [
    SingleCommand(501, False),  # other state than selected
    SingleCommand(501, True, qu=2),  # other qualifier
])
def test_execute_not_matching_select_is_refused(execute: SingleCommand) -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    rig.send(act(TypeId.C_SC_NA_1, execute))
    assert summary(rig.drain())[-1] == (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)
    assert rig.executor.started == []


def test_select_timeout_runs_on_the_monotonic_clock_only() -> None:
    rig = Rig(select_timeout=5.0)
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    rig.clock.system += 3600  # a wall-clock step must not expire (or extend) the select
    rig.clock.mono += 5.1
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert summary(rig.drain())[-1] == (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)


def test_deactivation_cancels_a_select() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True), cot=Cot.DEACTIVATION))
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert summary(rig.drain()) == [
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.C_SC_NA_1, Cot.DEACTIVATION_CON, False),
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True),
    ]


def test_point_selected_by_another_master_is_refused() -> None:
    rig = Rig()
    other = rig.open("m2")
    for s in (rig.session, other):
        s.activate()
    rig.drain()
    rig.drain(other)  # the end of initialisation, not acknowledged by the first: both get it
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, select=True)))
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, select=True)), session=other)
    assert summary(rig.drain(other)) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]


def test_blocked_point_and_busy_point_are_refused() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("cmd", False, Quality.BL, timestamp=T0)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    rig.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 1)))
    rig.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))  # first one still executing
    assert summary(rig.drain()) == [
        (TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True),
    ]


def test_command_with_test_bit_is_confirmed_but_not_executed() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True), test=True))
    out = rig.drain()
    assert summary(out) == [
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False),
    ]
    assert all(a.test for a in out)
    assert rig.executor.started == []


def test_not_permitted_double_command_state_is_refused() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 3)))
    assert summary(rig.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True)]


# -- negative confirmations -------------------------------------------------------------------

def test_unknown_type_is_mirrored_with_cot_44() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    raw = bytes.fromhex("63 01 06 05 01 00 00 00 00 01")  # type 99, originator 5
    rig.session.receive(raw)
    o = rig.session.next_output()
    assert o is not None and o.asdu == bytes.fromhex("63 01 6C 05 01 00 00 00 00 01")
    # a monitor-direction type sent to the outstation is not a known command either
    rig.send(Asdu(TypeId.M_SP_NA_1, Cot.ACTIVATION, 1, (SinglePoint(1, True),)))
    assert summary(rig.drain()) == [(TypeId.M_SP_NA_1, Cot.UNKNOWN_TYPE_ID, True)]


def test_unknown_cause_common_address_and_ioa() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), cot=Cot.SPONTANEOUS, originator=9))
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True), ca=2))
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(777, True)))
    rig.send(act(TypeId.C_DC_NA_1, DoubleCommand(500, 2)))  # a single-command IOA
    out = rig.drain()
    assert summary(out) == [
        (TypeId.C_IC_NA_1, Cot.UNKNOWN_CAUSE, True),
        (TypeId.C_SC_NA_1, Cot.UNKNOWN_COMMON_ADDRESS, True),
        (TypeId.C_SC_NA_1, Cot.UNKNOWN_IOA, True),
        (TypeId.C_DC_NA_1, Cot.UNKNOWN_IOA, True),
    ]
    assert out[0].originator == 9 and out[1].common_address == 2
    assert rig.executor.started == []


def test_broadcast_interrogation_is_answered_from_the_station_address() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), ca=0xFFFF))
    out = rig.drain()
    assert out[0].cot == Cot.ACTIVATION_CON and {a.common_address for a in out} == {1}
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True), ca=0xFFFF))  # commands: never broadcast
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.UNKNOWN_COMMON_ADDRESS, True)]


def test_malformed_asdu_is_ignored_without_raising() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.session.receive(b"\x64\x01")
    rig.session.receive(bytes.fromhex("2d 01 06 00 01 00 88 13 00"))  # C_SC_NA_1 missing its SCO
    assert rig.drain() == []


# -- events -----------------------------------------------------------------------------------

def test_events_carry_the_source_time_in_time_tagged_types_in_order() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0 + 0.123)
    rig.db.update("sp1", True, timestamp=T0 + 0.456)
    rig.db.update("ai", 7.25, timestamp=T0 + 0.789)
    rig.db.update("sp0", False, timestamp=T0 + 1.0)
    out = rig.drain()
    assert summary(out) == [
        (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False),
        (TypeId.M_ME_TF_1, Cot.SPONTANEOUS, False),
        (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False),
    ]
    assert [(o.ioa, o.time) for o in out[0].objects] == [  # type: ignore[union-attr]
        (100, Cp56Time2a.from_timestamp(T0 + 0.123)),
        (101, Cp56Time2a.from_timestamp(T0 + 0.456)),
    ]
    assert rig.wakes > 0


def test_backlog_before_any_master_starts_with_end_of_initialisation() -> None:
    rig = Rig()
    for i in range(5):
        rig.db.update("sp0", i % 2 == 0, timestamp=T0 + i)
    assert rig.session.next_output() is None  # not started: nothing may be sent
    rig.session.activate()
    out = rig.drain()
    assert summary(out)[0] == (TypeId.M_EI_NA_1, Cot.INITIALIZED, False)
    assert out[0].objects == (EndOfInitialization(0, 0),)
    values = [o.value for a in out[1:] for o in a.objects]  # type: ignore[union-attr]
    assert values == [True, False, True, False, True]


def test_unacknowledged_events_go_to_the_next_master_in_order() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0)
    rig.db.update("ai", 3.0, timestamp=T0)
    first = rig.session.next_output()
    assert first is not None
    rig.session.close()  # the connection dropped before the master acknowledged
    rig.db.update("sp1", True, timestamp=T0 + 1)
    nxt = rig.open("m2")
    nxt.activate()
    out = rig.drain(nxt)
    ioas = [o.ioa for a in out for o in a.objects]
    assert ioas == [100, 300, 101]


def test_acknowledged_events_are_not_sent_again() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.db.update("sp0", True, timestamp=T0)
    assert len(rig.drain(ack=True)) == 1
    rig.session.close()
    nxt = rig.open("m2")
    nxt.activate()
    assert rig.drain(nxt) == []


def test_two_masters_each_receive_every_event() -> None:
    rig = Rig()
    other = rig.open("m2", group="other")
    rig.session.activate()
    other.activate()
    rig.drain()
    rig.drain(other)
    rig.db.update("sp0", True, timestamp=T0)
    assert summary(rig.drain()) == summary(rig.drain(other)) == [
        (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False)]


def test_a_master_joining_its_group_gets_what_no_master_acknowledged_first() -> None:
    """Masters of one group: a session that starts while another is started receives, first
    and in order, the events the other's master has not acknowledged, so that its own stream
    stays in order (and complete) when the other goes away."""
    rig = Rig()
    rig.session.activate()
    rig.drain(ack=True)  # EI, acknowledged
    rig.db.update("sp0", True, timestamp=T0)
    rig.db.update("sp1", True, timestamp=T0 + 1)
    first = rig.drain(ack=False)  # sent, not acknowledged
    other = rig.open("m2")
    other.activate()
    rig.db.update("sp2", True, timestamp=T0 + 2)
    sent = rig.drain(other, ack=False)
    rig.session.close()  # its master went away without acknowledging
    sent += rig.drain(other, ack=False)
    got = [o.time for a in sent for o in a.objects]  # type: ignore[union-attr]
    assert got == [Cp56Time2a.from_timestamp(T0 + i) for i in range(3)]
    assert [o.time for a in first for o in a.objects] == got[:2]  # type: ignore[union-attr]


def test_overflow_drops_oldest_and_counts() -> None:
    rig = Rig(event_queue_size=3)
    for i in range(6):
        rig.db.update("sp0", i % 2 == 0, timestamp=T0 + i)
    backlog = rig.outstation.groups["g"].backlog
    assert len(backlog) == 3 and backlog.overflowed == 4  # EI and three events dropped
    rig.session.activate()
    times = [o.time for a in rig.drain() for o in a.objects]  # type: ignore[union-attr]
    assert times == [Cp56Time2a.from_timestamp(T0 + i) for i in (3, 4, 5)]


def test_events_are_packed_many_per_asdu() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    for i in range(40):
        rig.db.update(f"sp{i % 10}", i % 20 < 10, timestamp=T0 + i)
    out = rig.drain()
    assert all(a.type_id == TypeId.M_SP_TB_1 for a in out)
    assert sum(len(a.objects) for a in out) == 40
    assert len(out) == 2  # 249-6 octets / 11 per object = 22 per ASDU
    assert out[0].objects[0].quality == Qds(0)  # type: ignore[union-attr]


def test_return_information_precedes_act_term() -> None:
    rig = Rig()
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    rig.db.update("sp9", True, timestamp=T0, origin=ChangeOrigin.REMOTE_COMMAND)
    rig.executor.started[0][1](True)
    rig.db.update("sp8", True, timestamp=T0)  # after the termination: may follow it
    assert summary(rig.drain()) == [
        (TypeId.M_SP_TB_1, Cot.RETURN_INFO_REMOTE, False),
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False),
        (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, False),
    ]
