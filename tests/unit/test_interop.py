"""rtu.interop: the interoperability list says exactly what the outstation does.

Every control-direction type is sent with every cause to an outstation built from the bench
profile, and every monitor-direction ASDU it produces (interrogations, reads, spontaneous and
return-information events) is collected; the (type, cause) pairs must be those the list
gives, no more and no fewer."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rtu import cli
from rtu.config import AppConfig, bench_config
from rtu.iec.asdu.codec import PROFILE_104, decode_header, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DoubleCommand,
    InformationObject,
    InterrogationCommand,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
    ReadCommand,
    RegulatingStepCommand,
    ResetProcessCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
    TestCommand,
    TestCommandWithTime,
)
from rtu.iec.asdu.types import FRZ_FREEZE_RESET, KPA_THRESHOLD, QPA_OBJECT, Cot, TypeId
from rtu.iec.outstation import CommandRequest, Done, Outstation
from rtu.iec.outstation.settings import CommandAgeAction
from rtu.interop import (
    ANSWER_COTS,
    NEGATIVE_COTS,
    control_types,
    monitor_causes,
    render,
)
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, PointKind
from rtu.sources.simulated.source import SimulatedField

T = Cp56Time2a.from_timestamp(1_764_000_000.0)


class _Clock:
    def monotonic(self) -> float:
        return 100.0

    def wall(self) -> float:
        return 1_764_000_000.0


class _Executor:
    def __init__(self, db: PointDatabase) -> None:
        self.db = db

    def execute(self, request: CommandRequest, done: Done) -> None:
        if request.point.feedback:  # the relay's position follows, as return information
            moved = not self.db.value(request.point.feedback).value
            self.db.update(request.point.feedback, moved, timestamp=1.0,
                           origin=ChangeOrigin.REMOTE_COMMAND)
        done(True)


def _object(type_id: TypeId, ioa: int) -> InformationObject:
    tagged = T if type_id.name[5] == "T" else None  # C_SC_TA_1, C_SE_TB_1, C_SE_TC_1...
    makers: dict[str, Any] = {
        "C_SC": lambda: SingleCommand(ioa, True, 0, False, tagged),
        "C_DC": lambda: DoubleCommand(ioa, 2, 0, False, tagged),
        "C_RC": lambda: RegulatingStepCommand(ioa, 2, 0, False, tagged),
        "C_SE_NA": lambda: SetpointNormalized(ioa, 100, 0, False, tagged),
        "C_SE_TA": lambda: SetpointNormalized(ioa, 100, 0, False, tagged),
        "C_SE_NB": lambda: SetpointScaled(ioa, 100, 0, False, tagged),
        "C_SE_TB": lambda: SetpointScaled(ioa, 100, 0, False, tagged),
        "C_SE_NC": lambda: SetpointFloat(ioa, 1.5, 0, False, tagged),
        "C_SE_TC": lambda: SetpointFloat(ioa, 1.5, 0, False, tagged),
        "C_BO": lambda: Bitstring32Command(ioa, 5, tagged),
        "C_IC": lambda: InterrogationCommand(0, 20),
        "C_CI": lambda: CounterInterrogationCommand(0, 5, 0),
        "C_RD": lambda: ReadCommand(ioa or 1001),
        "C_CS": lambda: ClockSyncCommand(0, T),
        "C_TS_NA": lambda: TestCommand(0),
        "C_TS_TA": lambda: TestCommandWithTime(0, 1, T),
        "C_RP": lambda: ResetProcessCommand(0, 2),
        # parameter loading: a threshold (KPA 1) of a measured value, then its activation
        "P_ME_NA": lambda: ParameterNormalized(ioa, 100, KPA_THRESHOLD),
        "P_ME_NB": lambda: ParameterScaled(ioa, 5, KPA_THRESHOLD),
        "P_ME_NC": lambda: ParameterFloat(ioa, 0.5, KPA_THRESHOLD),
        "P_AC": lambda: ParameterActivation(ioa, QPA_OBJECT),
    }
    name = type_id.name
    for prefix in sorted(makers, key=len, reverse=True):
        if name.startswith(prefix):
            return makers[prefix]()  # type: ignore[no-any-return]
    raise AssertionError(name)


def _drive(config: AppConfig) -> tuple[set[tuple[int, int]], dict[int, set[int]], set[int]]:
    """(monitor (type, cause) pairs, answers per control type, types answered 44)."""
    db = PointDatabase(config.points)
    for point in db.monitored():
        db.update(point.name, point.kind is PointKind.SINGLE, timestamp=1.0)
    # the simulated source resets its counters (FRZ 2, 3), as in the bench
    outstation = Outstation(db, config.station, _Clock(), _Executor(db),
                            counter_reset=SimulatedField(db))
    session = outstation.open_session("m", PROFILE_104, "g", lambda: None)
    session.activate()
    answers: dict[int, set[int]] = {}
    unknown: set[int] = set()
    monitor: set[tuple[int, int]] = set()

    def drain(sent: TypeId | None) -> None:
        while (out := session.next_output()) is not None:
            session.acknowledged(1)
            head = decode_header(out.asdu, PROFILE_104)
            type_id, cause = int(head.type_id), int(head.cause)
            if head.negative and cause in NEGATIVE_COTS:
                if cause == Cot.UNKNOWN_TYPE_ID:
                    unknown.add(type_id)
                continue
            if type_id < 45 or type_id == TypeId.M_EI_NA_1:
                monitor.add((type_id, cause))
            elif sent is not None:
                assert type_id == sent
                answers.setdefault(type_id, set()).add(cause)

    drain(None)
    by_kind = {p.kind: p.ioa for p in config.points if p.kind.is_command}
    measured = next(p.ioa for p in config.points if p.kind is PointKind.FLOAT)
    for type_id in TypeId:
        if type_id < 45 or type_id is TypeId.M_EI_NA_1:
            continue
        if type_id.name.startswith("P_"):
            ioa = measured
        else:
            ioa = by_kind.get(_kind_of(type_id), 0) if type_id < 100 else 0
        for cot in (Cot.ACTIVATION, Cot.DEACTIVATION, Cot.REQUEST):
            for select in (False, True):
                obj = _object(type_id, ioa)
                if select and not hasattr(obj, "select"):
                    continue
                if select:
                    obj = dataclasses.replace(obj, select=True)  # type: ignore[type-var]
                asdu = Asdu(type_id, cot, config.station.common_address, (obj,))
                session.receive(encode_asdu(asdu, PROFILE_104))
                drain(type_id)
    for group_qoi in (21, 22):
        session.receive(encode_asdu(Asdu(TypeId.C_IC_NA_1, Cot.ACTIVATION, 1,
                                         (InterrogationCommand(0, group_qoi),)), PROFILE_104))
        drain(TypeId.C_IC_NA_1)
    session.receive(encode_asdu(Asdu(TypeId.C_CI_NA_1, Cot.ACTIVATION, 1,
                                     (CounterInterrogationCommand(0, 1, 0),)), PROFILE_104))
    drain(TypeId.C_CI_NA_1)
    # freeze with reset: the simulated counters are reset, reported as return information
    for point in db.monitored():
        if point.kind is PointKind.COUNTER:
            db.update(point.name, 7, timestamp=1.5)
    drain(None)
    session.receive(encode_asdu(Asdu(TypeId.C_CI_NA_1, Cot.ACTIVATION, 1,
                                     (CounterInterrogationCommand(0, 5, FRZ_FREEZE_RESET),)), PROFILE_104))
    drain(TypeId.C_CI_NA_1)
    for point in db.monitored():
        session.receive(encode_asdu(Asdu(TypeId.C_RD_NA_1, Cot.REQUEST, 1,
                                         (ReadCommand(point.ioa),)), PROFILE_104))
        value = False if point.kind is PointKind.SINGLE else 2
        db.update(point.name, value, timestamp=2.0)
        drain(TypeId.C_RD_NA_1)
    # periodic and background data: every deadline of the next minute
    for _ in range(1000):
        deadline = outstation.next_deadline()
        if deadline is None or deadline > 160.0:
            break
        outstation.on_timer(deadline)
        drain(None)
    for raw_type in (120, 1):  # file transfer, a monitor type
        raw = bytes([raw_type, 1, 6, 0, 1, 0, 0, 0, 0, 0])  # one object: IOA 0, one octet
        session.receive(raw)
        drain(None)
    return monitor, answers, unknown


def _kind_of(type_id: TypeId) -> PointKind | None:
    from rtu.iec.outstation import COMMAND_KINDS

    return COMMAND_KINDS.get(type_id)


@pytest.mark.parametrize("background_scan", [0.0, 30.0])
def test_the_list_is_what_the_outstation_does(background_scan: float) -> None:
    config = bench_config()
    station = dataclasses.replace(config.station, background_scan=background_scan)
    config = dataclasses.replace(config, station=station)
    monitor, answers, unknown = _drive(config)
    listed_monitor = {(int(t), int(c)) for t, cots in monitor_causes(config).items()
                      for c in cots}
    assert monitor == listed_monitor
    listed = control_types(config)
    assert {t: answers.get(int(t), set()) for t in listed} == {
        t: {int(c) for c in ANSWER_COTS[t]} for t in listed}
    # the command types of kinds the bench has no points of get negative answers only (47);
    # file transfer (120), a monitor type (1): unknown type (44)
    others = {int(t) for t in TypeId if t >= 45 and t is not TypeId.M_EI_NA_1} - set(listed)
    assert others and not others & set(answers)
    assert unknown == {120, 1}
    assert {TypeId.P_ME_NA_1, TypeId.P_AC_NA_1} <= set(listed)
    assert TypeId.C_SC_NA_1 in listed and TypeId.C_DC_NA_1 in listed  # cb1 (issue 18)
    assert TypeId.C_RC_NA_1 in listed and TypeId.C_SE_NC_1 in listed  # 5301: the Modbus device
    assert TypeId.C_SE_NA_1 not in listed


def test_rendering(capsys: Any) -> None:
    text = render(bench_config(), "md")
    assert "| 30 M_SP_TB_1 | 3 SPONTANEOUS, 11 RETURN_INFO_REMOTE |" in text
    assert "| k (maximum unacknowledged I-frames sent) | 12 |" in text
    assert "select timeout 10 s" in text
    page = render(bench_config(), "html")
    assert page.startswith("<!DOCTYPE html>") and "<td>100 C_IC_NA_1</td>" in page
    assert cli.main(["interop", "--format", "md"]) == 0
    assert "## IEC 60870-5-104 parameters" in capsys.readouterr().out


def test_the_maximum_command_age_is_stated() -> None:
    """[station] max_command_age appears in the list as the outstation applies it."""
    config = bench_config()
    text = render(config, "md")
    assert "maximum command age (C_xx_TA_1, select and execute): 10 s" in text
    assert "(negative ACT_CON)" in text
    station = dataclasses.replace(config.station, max_command_age=2.5,
                                  command_age_action=CommandAgeAction.DROP,
                                  check_age_unsynchronised=False)
    text = render(dataclasses.replace(config, station=station), "md")
    assert "maximum command age (C_xx_TA_1, select and execute): 2.5 s" in text
    assert "(not answered); not checked while our clock is not synchronised" in text
    off = dataclasses.replace(config.station, max_command_age=0.0)
    assert "not checked (max_command_age 0)" in render(dataclasses.replace(config, station=off))
