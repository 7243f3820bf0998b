"""After a master's reset process every event group (every 104 and 101 link) gets an end of
initialisation with COI 2; after a rebuilding reload, COI 1 with the parameter-change bit."""

from __future__ import annotations

from rtu.iec.asdu.objects import EndOfInitialization
from rtu.iec.asdu.types import TypeId
from rtu.iec.outstation import CommandRequest, Done, Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.reload import COI_LOCAL_MANUAL_RESET, COI_REMOTE_RESET, mark_reinitialised


class _Clock:
    def monotonic(self) -> float:
        return 0.0

    def wall(self) -> float:
        return 1.7e9


class _Executor:
    def execute(self, request: CommandRequest, done: Done) -> None:
        done(False)


def outstation() -> Outstation:
    station = Outstation(PointDatabase([]), OutstationConfig(), _Clock(), _Executor())
    for name in ("iec104/control-centre", "iec104/backup", "iec101/line1"):
        station.group(name)
    return station


def ends(station: Outstation) -> dict[str, list[EndOfInitialization]]:
    return {name: [r.obj for r in group.backlog.snapshot()
                   if r.type_id is TypeId.M_EI_NA_1 and isinstance(r.obj, EndOfInitialization)]
            for name, group in station.groups.items()}


def test_a_remote_reset_marks_every_group_with_coi_2() -> None:
    station = outstation()
    mark_reinitialised(station, remote_reset=True)
    assert ends(station) == {name: [EndOfInitialization(0, COI_REMOTE_RESET)]
                             for name in station.groups}


def test_a_rebuild_still_marks_a_local_reset_after_a_parameter_change() -> None:
    station = outstation()
    mark_reinitialised(station)
    expected = EndOfInitialization(0, COI_LOCAL_MANUAL_RESET, after_parameter_change=True)
    assert ends(station) == {name: [expected] for name in station.groups}
