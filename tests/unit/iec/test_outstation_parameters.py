"""Parameter loading: P_ME_NA/NB/NC_1 thresholds and P_AC_NA_1, applied to event generation at
once, kept in a file across restarts."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    InterrogationCommand,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
)
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.iec.outstation.parameters import LoadedThreshold
from rtu.paramstore import load_parameters, save_parameters
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act


def analog_points() -> list[Point]:
    return [Point("f", 3001, PointKind.FLOAT, deadband=0.5),
            Point("s", 3002, PointKind.SCALED),
            Point("n", 3003, PointKind.NORMALIZED),
            Point("sp", 1001, PointKind.SINGLE)]


class ParamRig:
    def __init__(self, **config: object) -> None:
        self.db = PointDatabase(analog_points())
        for p in self.db.monitored():
            self.db.update(p.name, 0, timestamp=T0)
        self.saved: list[dict[str, LoadedThreshold]] = []
        self.outstation = Outstation(self.db, OutstationConfig(**config),  # type: ignore[arg-type]
                                     FakeClock(), ManualExecutor(),
                                     on_parameters=lambda d: self.saved.append(dict(d)))
        self.session: Session = self.outstation.open_session("m", PROFILE_104, "g", lambda: None)
        self.session.activate()
        self.drain()

    def send(self, asdu: Asdu) -> list[tuple[TypeId, Cot, bool]]:
        self.session.receive(encode_asdu(asdu, PROFILE_104))
        return [(a.type_id, a.cot, a.negative) for a in self.drain()]

    def drain(self) -> list[Asdu]:
        out = []
        while (o := self.session.next_output()) is not None:
            out.append(decode_asdu(o.asdu, PROFILE_104))
        self.session.acknowledged(len(out))
        return out

    def reported(self, name: str, value: float) -> bool:
        return self.db.update(name, value, timestamp=T0 + 1)


def test_loaded_threshold_changes_event_generation_at_once() -> None:
    rig = ParamRig()
    assert rig.reported("f", 0.6)  # configured deadband 0.5
    rig.drain()
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1))) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, False)]
    assert not rig.reported("f", 2.0)  # within 2.0 of 0.6
    assert rig.reported("f", 2.7)
    assert rig.saved[-1] == {"f": LoadedThreshold(2.0, True, 0.5)}
    # scaled and normalized values: the threshold in the point's own units
    assert rig.send(act(TypeId.P_ME_NB_1, ParameterScaled(3002, 10, 1)))[0][2] is False
    assert rig.send(act(TypeId.P_ME_NA_1, ParameterNormalized(3003, 8192, 1)))[0][2] is False
    assert rig.db.deadband("s") == 10.0 and rig.db.deadband("n") == 0.25


def test_deactivation_brings_the_configured_deadband_back_and_activation_restores() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 5.0, 1)))
    assert rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(3001, 2), cot=Cot.DEACTIVATION)) == [
        (TypeId.P_AC_NA_1, Cot.DEACTIVATION_CON, False)]
    assert rig.db.deadband("f") == 0.5
    assert rig.saved[-1]["f"].active is False
    assert rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(0, 1))) == [
        (TypeId.P_AC_NA_1, Cot.ACTIVATION_CON, False)]
    assert rig.db.deadband("f") == 5.0


def test_not_in_operation_is_loaded_but_not_applied() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 5.0, 1, pop=True)))
    assert rig.db.deadband("f") == 0.5
    rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(3001, 2)))
    assert rig.db.deadband("f") == 5.0


@pytest.mark.parametrize(("asdu", "expected"), [
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, 1.0, 5)),  # KPA 5: not a kind we know
     (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, -1.0, 2)),  # a negative smoothing factor
     (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, float("inf"), 3)),  # not a finite limit
     (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, -1.0, 1)),  # a negative threshold
     (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(1001, 1.0, 1)),  # not a measured value
     (TypeId.P_ME_NC_1, Cot.UNKNOWN_IOA, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(9999, 1.0, 1)),
     (TypeId.P_ME_NC_1, Cot.UNKNOWN_IOA, True)),
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, 1.0, 1), cot=Cot.DEACTIVATION),
     (TypeId.P_ME_NC_1, Cot.UNKNOWN_CAUSE, True)),
    (act(TypeId.P_AC_NA_1, ParameterActivation(3001, 2)),  # nothing loaded for it
     (TypeId.P_AC_NA_1, Cot.ACTIVATION_CON, True)),
    (act(TypeId.P_AC_NA_1, ParameterActivation(3001, 3)),  # cyclic transmission: not here
     (TypeId.P_AC_NA_1, Cot.ACTIVATION_CON, True)),
])
def test_refusals(asdu: Asdu, expected: tuple[TypeId, Cot, bool]) -> None:
    rig = ParamRig()
    assert rig.send(asdu) == [expected]
    assert rig.db.deadband("f") == 0.5 and rig.saved == []
    assert rig.db.smoothing("f") == 0.0 and rig.db.limits("f") == (None, None)


def test_command_originators_apply_to_parameter_loading() -> None:
    rig = ParamRig(command_originators=frozenset({7}))
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1), originator=3)) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)]
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1), originator=7)) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, False)]


def test_kept_across_a_restart_until_the_configuration_changes_the_point(tmp_path: Path) -> None:
    path = tmp_path / "parameters.json"
    save_parameters(path, {"f": LoadedThreshold(2.0, True, 0.5),
                           "s": LoadedThreshold(3.0, False, 0.0),
                           "gone": LoadedThreshold(1.0, True, 0.0)})
    rig = ParamRig()
    dropped = rig.outstation.parameters.restore(load_parameters(path))
    assert dropped == ["gone"]
    assert rig.db.deadband("f") == 2.0 and rig.db.deadband("s") == 0.0
    # the configuration now says 0.7 for f: the master's value no longer holds
    db = PointDatabase([Point("f", 3001, PointKind.FLOAT, deadband=0.7)])
    other = Outstation(db, OutstationConfig(), FakeClock(), ManualExecutor())
    assert other.parameters.restore(load_parameters(path)) == ["f", "gone", "s"]
    assert db.deadband("f") == 0.7


def test_unreadable_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "parameters.json"
    assert load_parameters(path) == {}
    path.write_text("{not json")
    assert load_parameters(path) == {}
    path.write_text('{"f": {"threshold": -1, "active": true, "configured": 0}, "g": 3}')
    assert load_parameters(path) == {}


# -- KPA 2-4: smoothing, low and high limit -----------------------------------------------------

def at(rig: ParamRig, name: str, value: float, seconds: float) -> bool:
    """The field reports ``value`` at T0 + ``seconds`` (the time stamps drive the filter)."""
    return rig.db.update(name, value, timestamp=T0 + seconds)


def test_smoothing_filters_the_field_values_with_their_time_constant() -> None:
    rig = ParamRig()
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 10.0, 2))) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, False)]
    assert rig.db.smoothing("f") == 10.0
    # a step from 0 to 100, seen 10 s later: one time constant, 1 - 1/e of the way
    assert at(rig, "f", 100.0, 10)
    assert rig.db.value("f").value == pytest.approx(100 * (1 - math.exp(-1)))
    # another 10 s: 1 - 1/e of the rest
    at(rig, "f", 100.0, 20)
    assert rig.db.value("f").value == pytest.approx(100 * (1 - math.exp(-2)))
    # values at the same instant do not move it (dt 0); a clock step back neither
    before = rig.db.value("f").value
    at(rig, "f", 0.0, 20)
    at(rig, "f", 0.0, 5)
    assert rig.db.value("f").value == before
    # the configured deadband (0.5) still decides what is reported, on the smoothed value
    assert not at(rig, "f", 100.0, 5.01)  # 10 ms: moves by about 0.12
    # smoothing 0 (or a deactivation) ends it: the next value passes as it is
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 0.0, 2)))
    assert at(rig, "f", 42.0, 30) and rig.db.value("f").value == 42.0


def test_smoothing_starts_from_the_first_value_when_none_was_read_yet() -> None:
    db = PointDatabase([Point("f", 3001, PointKind.FLOAT)])
    db.set_smoothing("f", 5.0)  # before any value: the point is IV
    db.update("f", 80.0, timestamp=T0)
    assert db.value("f").value == 80.0


def test_a_limit_crossing_is_reported_even_within_the_threshold() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 50.0, 1)))  # threshold 50
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 10.0, 4))) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, False)]
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, -10.0, 3)))[0][2] is False
    assert rig.db.limits("f") == (-10.0, 10.0)
    assert not at(rig, "f", 9.0, 1)  # within the threshold, inside the limits
    assert at(rig, "f", 10.5, 2)  # above the high limit: reported
    assert not at(rig, "f", 12.0, 3)  # still above: the threshold again
    assert at(rig, "f", 9.5, 4)  # back below it: reported
    assert at(rig, "f", -10.5, 5)  # below the low limit
    assert at(rig, "f", -9.0, 6)  # back above it
    events = [(o.value) for a in rig.drain() for o in a.objects  # type: ignore[union-attr]
              if a.type_id is TypeId.M_ME_TF_1]
    assert events == [10.5, 9.5, -10.5, -9.0]
    assert rig.saved[-1]["f"] == LoadedThreshold(50.0, True, 0.5, None, -10.0, 10.0)


def test_limits_the_wrong_way_round_are_refused() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 10.0, 4)))
    assert rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 20.0, 3))) == [
        (TypeId.P_ME_NC_1, Cot.ACTIVATION_CON, True)]
    assert rig.db.limits("f") == (None, 10.0) and rig.saved[-1]["f"].low is None


def test_deactivation_takes_smoothing_and_limits_out_of_operation() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 10.0, 2)))
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 5.0, 4)))
    rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(3001, 2), cot=Cot.DEACTIVATION))
    assert rig.db.smoothing("f") == 0.0 and rig.db.limits("f") == (None, None)
    assert rig.db.deadband("f") == 0.5
    rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(3001, 2)))
    assert rig.db.smoothing("f") == 10.0 and rig.db.limits("f") == (None, 5.0)
    assert rig.db.deadband("f") == 0.5  # no threshold was loaded: the configured one


def test_every_kind_is_kept_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "parameters.json"
    rig = ParamRig()
    rig.outstation.parameters.on_change = lambda d: save_parameters(path, d)
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1)))
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 3.0, 2)))
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, -4.0, 3)))
    rig.send(act(TypeId.P_ME_NB_1, ParameterScaled(3002, 40, 4)))
    again = ParamRig()
    assert again.outstation.parameters.restore(load_parameters(path)) == []
    assert again.db.deadband("f") == 2.0 and again.db.smoothing("f") == 3.0
    assert again.db.limits("f") == (-4.0, None) and again.db.limits("s") == (None, 40.0)
    assert again.db.deadband("s") == 0.0  # s: only a limit was loaded
    # an older file (threshold only) still reads; nonsense is skipped
    path.write_text('{"f": {"threshold": 1, "active": true, "configured": 0.5},'
                    ' "s": {"threshold": null, "active": true, "configured": 0, "low": 5,'
                    ' "high": 1}}')
    assert load_parameters(path) == {"f": LoadedThreshold(1.0, True, 0.5)}


# -- parameters on interrogation ([station] parameters_in_gi) ---------------------------------

def gi(rig: ParamRig, qoi: int = 20) -> list[Asdu]:
    rig.session.receive(encode_asdu(act(TypeId.C_IC_NA_1, InterrogationCommand(0, qoi)),
                                    PROFILE_104))
    return rig.drain()


def test_interrogation_answers_the_parameters_after_the_monitored_data() -> None:
    rig = ParamRig(parameters_in_gi=True)
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1)))
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 9.0, 4, pop=True)))  # out of operation
    rig.send(act(TypeId.P_ME_NB_1, ParameterScaled(3002, 7, 3)))
    out = gi(rig)
    assert (out[0].cot, out[-1].cot) == (Cot.ACTIVATION_CON, Cot.ACTIVATION_TERMINATION)
    kinds = [a.type_id for a in out[1:-1]]
    first_parameter = kinds.index(TypeId.P_ME_NC_1)
    assert all(t.name.startswith("M_") for t in kinds[:first_parameter])
    parameters = [(a.type_id, a.cot, o) for a in out[1:-1] if a.type_id.name.startswith("P_")
                  for o in a.objects]
    assert parameters == [
        (TypeId.P_ME_NC_1, Cot.INTERROGATED_BY_STATION, ParameterFloat(3001, 2.0, 1, pop=True)),
        (TypeId.P_ME_NC_1, Cot.INTERROGATED_BY_STATION, ParameterFloat(3001, 9.0, 4, pop=True)),
        # another point, loaded in operation
        (TypeId.P_ME_NB_1, Cot.INTERROGATED_BY_STATION, ParameterScaled(3002, 7, 3)),
    ]
    rig.send(act(TypeId.P_AC_NA_1, ParameterActivation(0, 1)))  # all in operation
    parameters = [o for a in gi(rig) if a.type_id.name.startswith("P_") for o in a.objects]
    assert parameters == [ParameterFloat(3001, 2.0, 1), ParameterFloat(3001, 9.0, 4),
                          ParameterScaled(3002, 7, 3)]


def test_a_configured_deadband_is_reported_as_the_threshold_and_groups_have_their_cause(
        ) -> None:
    rig = ParamRig(parameters_in_gi=True)
    parameters = [(a.cot, o) for a in gi(rig) if a.type_id.name.startswith("P_")
                  for o in a.objects]
    assert parameters == [(Cot.INTERROGATED_BY_STATION, ParameterFloat(3001, 0.5, 1))]
    assert [a for a in gi(rig, 21) if a.type_id.name.startswith("P_")] == []  # not in group 1


def test_parameters_are_not_in_interrogation_by_default() -> None:
    rig = ParamRig()
    rig.send(act(TypeId.P_ME_NC_1, ParameterFloat(3001, 2.0, 1)))
    assert [a for a in gi(rig) if a.type_id.name.startswith("P_")] == []


def test_golden_bytes_of_a_parameter_answered_in_interrogation() -> None:
    asdu = Asdu(TypeId.P_ME_NC_1, Cot.INTERROGATED_BY_STATION, 1,
                (ParameterFloat(3001, 2.0, 1, pop=True),))
    # type 112, one object, COT 20, OA 0, CA 1, IOA 3001, float 2.0, QPM KPA 1 + POP
    assert encode_asdu(asdu, PROFILE_104).hex(" ") == \
        "70 01 14 00 01 00 b9 0b 00 00 00 00 40 81"
