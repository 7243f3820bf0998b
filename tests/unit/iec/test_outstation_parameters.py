"""Parameter loading: P_ME_NA/NB/NC_1 thresholds and P_AC_NA_1, applied to event generation at
once, kept in a file across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
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
    (act(TypeId.P_ME_NC_1, ParameterFloat(3001, 1.0, 2)),  # smoothing: not supported
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
