"""Issue 15 item 5: end of initialisation first, and ACT_CON, return information, ACT_TERM in
that order, whether or not data transfer was on when the command came (a 101 balanced
master's command can arrive before the outstation's own link to it is up)."""

from __future__ import annotations

from rtu.iec.asdu.objects import InterrogationCommand, SingleCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.points.model import ChangeOrigin
from tests.unit.iec.test_outstation import T0, Rig, act, summary

EI = (TypeId.M_EI_NA_1, Cot.INITIALIZED, False)


def _command_completes(rig: Rig) -> None:
    """The executor switches the output, the feedback reports it, then the command is done."""
    ((_, done),) = rig.executor.started
    rig.db.update("sp5", True, timestamp=T0 + 0.1, origin=ChangeOrigin.REMOTE_COMMAND)
    done(True)


def test_a_command_before_data_transfer_is_answered_in_order_after_end_of_initialisation() -> None:
    rig = Rig()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    _command_completes(rig)
    assert rig.session.next_output() is None  # nothing before the link is up
    rig.session.activate()
    assert summary(rig.drain()) == [
        EI,
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.M_SP_TB_1, Cot.RETURN_INFO_REMOTE, False),
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False),
    ]


def test_a_command_right_after_start_waits_for_end_of_initialisation() -> None:
    rig = Rig()
    rig.session.activate()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    _command_completes(rig)
    assert summary(rig.drain()) == [
        EI,
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False),
        (TypeId.M_SP_TB_1, Cot.RETURN_INFO_REMOTE, False),
        (TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False),
    ]


def test_an_early_interrogation_confirms_after_end_of_initialisation() -> None:
    for activate_first in (False, True):
        rig = Rig()
        if activate_first:
            rig.session.activate()
        rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)))
        if not activate_first:
            rig.session.activate()
        out = summary(rig.drain())
        assert out[:2] == [EI, (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False)], activate_first
        assert out[-1] == (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, False)
        assert all(cot is Cot.INTERROGATED_BY_STATION for _, cot, _ in out[2:-1])


def test_a_new_connection_gets_no_second_end_of_initialisation() -> None:
    rig = Rig()
    rig.session.activate()
    assert summary(rig.drain()) == [EI]
    rig.session.close()
    again = rig.open("m1-again")
    again.activate()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)), session=again)
    assert summary(rig.drain(again))[0] == (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False)
