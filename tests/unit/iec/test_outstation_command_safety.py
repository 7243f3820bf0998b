"""Issue 15 items 3 and 4: time-tagged commands that are too old (or too new) are not
executed; selections belong to one session and never block another master once lapsed."""

from __future__ import annotations

import pytest

from rtu.iec.asdu.objects import Cp56Time2a, SingleCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Session
from rtu.iec.outstation.settings import CommandAgeAction
from tests.unit.iec.test_outstation import T0, Rig, act, summary

TA = TypeId.C_SC_TA_1


def _rig(**config: object) -> Rig:
    rig = Rig(**config)
    rig.session.activate()
    rig.drain()
    return rig


def _stamped(ioa: int, sent: float, *, select: bool = False, invalid: bool = False) -> SingleCommand:
    return SingleCommand(ioa, True, select=select,
                         time=Cp56Time2a.from_timestamp(sent, invalid=invalid))


@pytest.mark.parametrize("sent", [T0 - 3600, T0 - 10.5, T0 + 10.5])
def test_a_command_too_old_or_from_the_future_gets_a_negative_act_con(
        sent: float, caplog: pytest.LogCaptureFixture) -> None:
    rig = _rig()
    rig.send(act(TA, _stamped(500, sent)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    assert rig.executor.started == []
    assert "C_SC_TA_1 execute on cmd from m1 not executed: its time tag is" in caplog.text
    assert "max_command_age 10 s" in caplog.text


def test_a_fresh_command_is_executed() -> None:
    rig = _rig()
    rig.send(act(TA, _stamped(500, T0 - 9.5)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, False)]
    assert len(rig.executor.started) == 1


def test_the_age_is_measured_against_station_time_after_a_clock_sync() -> None:
    rig = _rig()
    rig.outstation.restore_clock_offset(3600.0, T0)  # a master said it is an hour later
    rig.send(act(TA, _stamped(500, T0)))  # stamped with the system clock: an hour old
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    rig.send(act(TA, _stamped(500, T0 + 3600)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, False)]


def test_a_command_whose_tag_is_invalid_counts_as_too_old() -> None:
    rig = _rig()
    rig.send(act(TA, _stamped(500, T0, invalid=True)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    assert rig.executor.started == []


def test_drop_answers_nothing() -> None:
    rig = _rig(command_age_action=CommandAgeAction.DROP)
    rig.send(act(TA, _stamped(500, T0 - 3600)))
    assert rig.drain() == [] and rig.executor.started == []


def test_zero_switches_the_check_off() -> None:
    rig = _rig(max_command_age=0.0)
    rig.send(act(TA, _stamped(500, T0 - 3600)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, False)]


def test_commands_without_time_tag_are_not_aged() -> None:
    rig = _rig()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]


def test_select_and_execute_of_sbo_are_both_checked() -> None:
    rig = _rig()
    rig.send(act(TA, _stamped(501, T0 - 60, select=True)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    rig.send(act(TA, _stamped(501, T0, select=True)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, False)]
    rig.clock.system += 11  # the execute comes with a stale tag
    rig.send(act(TA, _stamped(501, T0)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    assert rig.executor.started == []


def test_unsynchronised_clock_checks_by_default_and_can_skip(caplog: pytest.LogCaptureFixture) -> None:
    rig = _rig()
    rig.outstation.system_clock_synchronised = False
    with caplog.at_level("INFO"):
        rig.send(act(TA, _stamped(500, T0 - 3600)))
    assert summary(rig.drain()) == [(TA, Cot.ACTIVATION_CON, True)]
    assert "checked against our clock, which is not synchronised" in caplog.text
    skip = _rig(check_age_unsynchronised=False)
    skip.outstation.system_clock_synchronised = False
    skip.send(act(TA, _stamped(500, T0 - 3600)))
    assert summary(skip.drain()) == [(TA, Cot.ACTIVATION_CON, False)]


# -- selections ------------------------------------------------------------------------------
def _two_masters(**config: object) -> tuple[Rig, Session]:
    rig = _rig(**config)
    other = rig.open("m2")
    other.activate()
    rig.drain(other)
    return rig, other


def test_an_expired_selection_does_not_fail_another_masters_execute() -> None:
    rig, b = _two_masters(select_timeout=5.0)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, select=True)))
    rig.drain()
    rig.clock.mono += 5.1
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, False)), session=b)
    assert summary(rig.drain(b)) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    assert len(rig.executor.started) == 1


def test_a_live_selection_keeps_the_point_reserved() -> None:
    rig, b = _two_masters(select_timeout=5.0)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, select=True)))
    rig.drain()
    rig.clock.mono += 4.9
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, False)), session=b)
    assert summary(rig.drain(b)) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    # and the selection stays its owner's
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]


@pytest.mark.parametrize("gone", ["close", "deactivate"])
def test_a_masters_selections_are_released_when_it_goes(gone: str) -> None:
    rig, b = _two_masters(select_timeout=60.0)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    rig.drain()
    getattr(rig.session, gone)()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, False, select=True)), session=b)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(501, False)), session=b)
    assert summary(rig.drain(b)) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)] * 2
    assert len(rig.executor.started) == 1


def test_an_execute_after_its_own_select_timed_out_is_refused() -> None:
    rig = _rig(select_timeout=5.0)
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True, select=True)))
    rig.drain()
    rig.clock.mono += 6
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))  # the lapse is forgotten
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
