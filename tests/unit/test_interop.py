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
from rtu.files.config import FilesConfig
from rtu.files.store import DirectoryStore
from rtu.iec.asdu.codec import PROFILE_104, decode_asdu, decode_header, encode_asdu
from rtu.iec.asdu.codec_file import FILE_TYPES
from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DelayAcquisitionCommand,
    DoubleCommand,
    FileAck,
    FileCall,
    FileReady,
    InformationObject,
    InterrogationCommand,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
    QueryLog,
    ReadCommand,
    RegulatingStepCommand,
    ResetProcessCommand,
    Segment,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
    TestCommand,
    TestCommandWithTime,
)
from rtu.iec.asdu.types import FRZ_FREEZE_RESET, KPA_THRESHOLD, QPA_OBJECT, Cot, TypeId
from rtu.iec.outstation import CommandRequest, Done, Outstation
from rtu.iec.outstation.files import FileService, FileSettings
from rtu.iec.outstation.settings import CommandAgeAction
from rtu.interop import (
    ANSWER_COTS,
    FILE_TRANSFER_TYPES,
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
        "C_CD": lambda: DelayAcquisitionCommand(0, 100),
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
        if type_id < 45 or type_id is TypeId.M_EI_NA_1 or type_id in FILE_TYPES:
            continue  # (file transfer: test_the_file_transfer_section_is_what_it_does)
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
    for raw_type in (136, 1):  # a type not served, a monitor type
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
    # a type not served (136), a monitor type (1): unknown type (44)
    others = {int(t) for t in TypeId if t >= 45 and t is not TypeId.M_EI_NA_1
              and t not in FILE_TYPES} - set(listed)
    assert others and not others & set(answers)
    # C_CD_NA_1 (delay acquisition) is 101's: unknown type on 104
    assert unknown == {136, 1, TypeId.C_CD_NA_1}
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


def test_the_file_transfer_section_is_what_the_outstation_does() -> None:
    """Every file type the list names travels in its direction with its causes, through a
    directory call, a whole transfer of the export and a query log; the others (types the
    outstation sends) get 44 from a master."""
    config = bench_config()
    files = config.section("files")
    assert isinstance(files, FilesConfig)
    db = PointDatabase(config.points)
    outstation = Outstation(db, config.station, _Clock(), _Executor(db))
    outstation.attach_files(FileService(DirectoryStore(files, None), FileSettings()))
    session = outstation.open_session("m", PROFILE_104, "g", lambda: None)
    session.activate()
    seen: dict[tuple[int, str], set[int]] = {}
    unknown: set[int] = set()

    def ask(type_id: TypeId, obj: InformationObject, cot: Cot = Cot.FILE_TRANSFER) -> Asdu:
        seen.setdefault((int(type_id), "control"), set()).add(int(cot))
        session.receive(encode_asdu(Asdu(type_id, cot, 1, (obj,)), PROFILE_104))
        last = None
        while (out := session.next_output()) is not None:
            session.acknowledged(1)
            answer = decode_asdu(out.asdu, PROFILE_104)
            if answer.negative and answer.cot == Cot.UNKNOWN_TYPE_ID:
                unknown.add(int(answer.type_id))
            elif answer.type_id in FILE_TYPES:
                seen.setdefault((int(answer.type_id), "monitor"), set()).add(int(answer.cot))
                last = answer
        assert last is not None or unknown
        return last  # type: ignore[return-value]

    ask(TypeId.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)  # directory
    ready = ask(TypeId.F_SC_NA_1, FileCall(0, 3, 0, 1))  # select the export
    assert isinstance(ready.objects[0], FileReady) and ready.objects[0].length > 0
    ask(TypeId.F_SC_NA_1, FileCall(0, 3, 0, 2))  # call file: section 1 ready
    ask(TypeId.F_SC_NA_1, FileCall(0, 3, 1, 6))  # call section: segments, last segment
    ask(TypeId.F_AF_NA_1, FileAck(0, 3, 1, 3))  # section received: last section
    session.receive(encode_asdu(Asdu(TypeId.F_AF_NA_1, Cot.FILE_TRANSFER, 1,
                                     (FileAck(0, 3, 1, 1),)), PROFILE_104))  # file received
    assert session.next_output() is None
    ask(TypeId.F_SC_NB_1, QueryLog(0, 3, T, T))
    for type_id, obj in ((TypeId.F_FR_NA_1, FileReady(0, 3, 1)),
                         (TypeId.F_SG_NA_1, Segment(0, 3, 1, b"x"))):
        session.receive(encode_asdu(Asdu(type_id, Cot.FILE_TRANSFER, 1, (obj,)), PROFILE_104))
        while (out := session.next_output()) is not None:
            session.acknowledged(1)
            answer = decode_asdu(out.asdu, PROFILE_104)
            assert answer.negative and answer.cot == Cot.UNKNOWN_TYPE_ID
            unknown.add(int(answer.type_id))
    listed = {(int(t), direction): {int(c) for c in cots}
              for t, direction, cots in FILE_TRANSFER_TYPES}
    assert seen == listed
    assert unknown == {TypeId.F_FR_NA_1, TypeId.F_SG_NA_1}
    text = render(config, "md")
    assert "| 126 F_DR_TA_1 | monitor | 5 REQUEST |" in text
    assert "| file transfer | in monitor direction" in text


def test_the_negative_act_term_extension_is_listed_with_its_points() -> None:
    """Issue 18: a negative ACT_TERM extends the standard's P/N use; the list says whether it
    is on, and for which points (switchgear's negative_termination, per device)."""
    from rtu.config import parse_config
    from rtu.interop import negative_termination_text

    config = bench_config()
    row = ("| negative ACT_TERM (an extension of the standard's P/N use that many masters "
           "accept) | end state (breaker) or step (tap changer) not reached within its "
           "supervision time: negative for cb1_cmd, tap1_cmd; ")
    assert row in render(config, "md")
    section = config.section("switchgear")
    off = dataclasses.replace(section, breakers=tuple(  # type: ignore[type-var]
        dataclasses.replace(b, negative_termination=False)
        for b in section.breakers))  # type: ignore[attr-defined]
    text = negative_termination_text(dataclasses.replace(
        config, sections={**config.sections, "switchgear": off}))
    assert ("supervision time: negative for tap1_cmd; positive for cb1_cmd "
            "(negative_termination = false: the position tells)") in text
    assert "a coil driver fault: negative for cb1_cmd, tap1_cmd" in text  # whatever the option
    assert "feedback input not confirming in time): negative for relay1_cmd," in text
    # an IEC 61850 control: its device's CommandTermination; nothing else here is negative
    gateway = parse_config({
        "iec104": {"enabled": False},
        "points": [{"name": "cmd", "ioa": 1, "kind": "double_command", "target": "iec61850"},
                   {"name": "ia", "ioa": 2, "kind": "float", "source": "sim"}],
        "iec61850": {"devices": [{"name": "bay", "host": "127.0.0.1", "controls": [
            {"point": "cmd", "object": "LD0/CSWI1.Pos"}]}]}}, "t.toml")
    assert negative_termination_text(gateway) == (
        "a negative or missing CommandTermination of an IEC 61850 control (enhanced security): "
        "negative for cmd; every other refusal or failure is a negative ACT_CON")
    plain = parse_config({"iec104": {"enabled": False}, "points": [
        {"name": "ia", "ioa": 2, "kind": "float", "source": "sim"}]}, "t.toml")
    assert negative_termination_text(plain) == (
        "never (no command here ends with a negative ACT_TERM)")


def _with_101(time_tag: str) -> AppConfig:
    from rtu.iec.cs101.link import LinkParameters
    from rtu.servers.iec101 import Iec101Settings, SerialSettings

    line = Iec101Settings(SerialSettings("/dev/ttyUSB0"), LinkParameters(), time_tag=time_tag)
    return dataclasses.replace(bench_config(), iec101=line)


def test_the_101_options_are_listed() -> None:
    cp24 = render(_with_101("cp24"), "md")
    assert "| 2 M_SP_TA_1 (101; M_SP_TB_1 on 104) | 3 SPONTANEOUS, 11 RETURN_INFO_REMOTE |" in cp24
    for name in ("4 M_DP_TA_1", "14 M_ME_TC_1", "16 M_IT_TA_1"):
        assert f"| {name} (101;" in cp24
    assert "| 103 C_CS_NA_1 (101) | 3 SPONTANEOUS: the full time at each change of the hour" in cp24
    assert "| 106 C_CD_NA_1 | 3 SPONTANEOUS, 6 ACTIVATION | 7 ACTIVATION_CON |" in cp24
    assert "on 101 CP24Time2a (types 2-19, time_tag = cp24)" in cp24
    cp56 = render(_with_101("cp56"), "md")
    assert "M_SP_TA_1" not in cp56 and "| 106 C_CD_NA_1 |" in cp56
    assert "| acquisition of transmission delay | 101: C_CD_NA_1 activation answered" in cp56
    only_104 = render(bench_config(), "md")
    assert "C_CD_NA_1" not in only_104
    assert "| acquisition of transmission delay | no |" in only_104
