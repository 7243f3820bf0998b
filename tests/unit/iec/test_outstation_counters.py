"""Counter interrogation: freeze, read, freeze with reset (FRZ 2) and reset (FRZ 3), with
resettable counters mixed with read-only ones (a meter's register)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, CounterInterrogationCommand, IntegratedTotal
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.points.counters import CounterReset, CounterResets
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointKind
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act, summary

C = TypeId.C_CI_NA_1


@dataclass
class SoftCounters:
    """Keeps the counts of ``names`` itself, so it can reset them (like the simulation)."""

    db: PointDatabase
    names: frozenset[str]
    resets_done: list[tuple[str, float]] = field(default_factory=list)

    def resets(self, point: Point) -> bool:
        return point.name in self.names

    def reset(self, point: Point, timestamp: float) -> None:
        self.resets_done.append((point.name, timestamp))
        self.db.update(point.name, 0, timestamp=timestamp, origin=ChangeOrigin.REMOTE_COMMAND)


class CounterRig:
    def __init__(self, *, resettable: frozenset[str] = frozenset({"soft1", "soft2"}),
                 **config: object) -> None:
        self.clock = FakeClock()
        self.db = PointDatabase([
            Point("soft1", 4001, PointKind.COUNTER, groups=frozenset({1})),
            Point("soft2", 4002, PointKind.COUNTER, groups=frozenset({2})),
            Point("meter", 4100, PointKind.COUNTER, groups=frozenset({1})),
        ])
        for name, value in (("soft1", 10), ("soft2", 20), ("meter", 1000)):
            self.db.update(name, value, timestamp=T0 - 10)
        self.soft = SoftCounters(self.db, resettable)
        assert isinstance(self.soft, CounterReset)
        self.outstation = Outstation(self.db, OutstationConfig(**config),  # type: ignore[arg-type]
                                     self.clock, ManualExecutor(),
                                     counter_reset=CounterResets([self.soft]))
        self.session = self.outstation.open_session("m1", PROFILE_104, "g", lambda: None)
        self.session.activate()
        self.drain()  # end of initialisation

    def send(self, rqt: int, frz: int, originator: int = 0) -> list[Asdu]:
        asdu = act(C, CounterInterrogationCommand(0, rqt, frz), originator=originator)
        self.session.receive(encode_asdu(asdu, PROFILE_104))
        return self.drain()

    def drain(self) -> list[Asdu]:
        out = []
        while (o := self.session.next_output()) is not None:
            out.append(decode_asdu(o.asdu, PROFILE_104))
        self.session.acknowledged(len(out))
        return out


def totals(out: list[Asdu]) -> dict[int, IntegratedTotal]:
    return {o.ioa: o for a in out if a.type_id == TypeId.M_IT_NA_1 for o in a.objects
            if isinstance(o, IntegratedTotal)}


def test_freeze_with_reset_freezes_all_resets_only_resettable_and_logs_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = CounterRig()
    with caplog.at_level(logging.WARNING):
        out = rig.send(5, 2)
    # ACT_CON, the reset's return information (COT 11) for the two soft counters, ACT_TERM
    assert summary(out) == [
        (C, Cot.ACTIVATION_CON, False),
        (C, Cot.ACTIVATION_TERMINATION, False),
        (TypeId.M_IT_TB_1, Cot.RETURN_INFO_REMOTE, False),
    ]
    assert [o.ioa for o in out[2].objects] == [4001, 4002]
    assert all(o.value == 0 for o in out[2].objects)  # type: ignore[union-attr]
    assert rig.soft.resets_done == [("soft1", T0), ("soft2", T0)]
    assert rig.db.value("meter").value == 1000  # a register: frozen, not reset
    assert "read-only counters not reset: meter" in caplog.text
    # the read returns the values frozen before the reset, with the new sequence number
    rig.db.update("soft1", 3, timestamp=T0)
    rig.drain()
    out = rig.send(5, 0)
    assert summary(out) == [
        (C, Cot.ACTIVATION_CON, False),
        (TypeId.M_IT_NA_1, Cot.REQUESTED_BY_GENERAL_COUNTER, False),
        (C, Cot.ACTIVATION_TERMINATION, False),
    ]
    got = totals(out)
    assert {ioa: t.value for ioa, t in got.items()} == {4001: 10, 4002: 20, 4100: 1000}
    assert {t.sequence for t in got.values()} == {1}


def test_group_freeze_with_reset_touches_only_the_group() -> None:
    rig = CounterRig()
    out = rig.send(1, 2)  # group 1: soft1 and meter
    assert rig.soft.resets_done == [("soft1", T0)]
    assert rig.db.value("soft2").value == 20
    assert summary(out)[:2] == [(C, Cot.ACTIVATION_CON, False), (C, Cot.ACTIVATION_TERMINATION, False)]
    out = rig.send(1, 0)
    assert summary(out)[1] == (TypeId.M_IT_NA_1, Cot.REQUESTED_BY_GROUP_1_COUNTER, False)
    assert {ioa: t.value for ioa, t in totals(out).items()} == {4001: 10, 4100: 1000}


def test_reset_without_freeze_keeps_the_earlier_frozen_values() -> None:
    rig = CounterRig()
    rig.send(5, 1)  # freeze: sequence 1
    rig.db.update("soft2", 25, timestamp=T0)
    rig.drain()
    out = rig.send(2, 3)  # reset group 2 (soft2) without freezing
    assert summary(out)[:2] == [(C, Cot.ACTIVATION_CON, False), (C, Cot.ACTIVATION_TERMINATION, False)]
    assert rig.db.value("soft2").value == 0
    got = totals(rig.send(5, 0))
    assert got[4002].value == 20 and got[4002].sequence == 1  # frozen before, sequence kept


def test_reset_of_only_read_only_counters_is_refused() -> None:
    rig = CounterRig(resettable=frozenset())
    out = rig.send(5, 3)
    assert summary(out) == [(C, Cot.ACTIVATION_CON, True)]
    assert rig.db.value("meter").value == 1000
    # freeze with reset still freezes them (and resets none)
    out = rig.send(5, 2)
    assert summary(out) == [(C, Cot.ACTIVATION_CON, False), (C, Cot.ACTIVATION_TERMINATION, False)]
    assert rig.db.value("soft1").value == 10


def test_without_a_counter_reset_freeze_with_reset_only_freezes() -> None:
    db = PointDatabase([Point("c", 4001, PointKind.COUNTER)])
    db.update("c", 7, timestamp=T0)
    outstation = Outstation(db, OutstationConfig(), FakeClock(), ManualExecutor())
    session: Session = outstation.open_session("m", PROFILE_104, "g", lambda: None)
    session.activate()
    session.receive(encode_asdu(act(C, CounterInterrogationCommand(0, 5, 2)), PROFILE_104))
    while session.next_output() is not None:
        pass
    assert db.value("c").value == 7


def test_command_originators_apply_to_reset_but_not_to_read_or_freeze() -> None:
    rig = CounterRig(command_originators=frozenset({9}))
    assert summary(rig.send(5, 2, originator=3)) == [(C, Cot.ACTIVATION_CON, True)]
    assert summary(rig.send(5, 3, originator=3)) == [(C, Cot.ACTIVATION_CON, True)]
    assert rig.soft.resets_done == []
    assert summary(rig.send(5, 1, originator=3))[0] == (C, Cot.ACTIVATION_CON, False)
    assert summary(rig.send(5, 0, originator=3))[0] == (C, Cot.ACTIVATION_CON, False)
    assert summary(rig.send(5, 2, originator=9))[0] == (C, Cot.ACTIVATION_CON, False)
    assert [n for n, _ in rig.soft.resets_done] == ["soft1", "soft2"]


def test_sequence_number_wraps_after_31() -> None:
    rig = CounterRig()
    for _ in range(33):
        rig.send(5, 1)
    assert {t.sequence for t in totals(rig.send(5, 0)).values()} == {1}


def test_unknown_rqt_is_refused() -> None:
    rig = CounterRig()
    assert summary(rig.send(6, 0)) == [(C, Cot.ACTIVATION_CON, True)]
