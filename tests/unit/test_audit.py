"""rtu.audit: commands and operator actions on record (SOE log, RFC 5424 text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtu.audit import Audit, SyslogTarget, parse_syslog, rfc5424
from rtu.config import bench_config
from rtu.control import ControlServer
from rtu.iec.asdu.codec import PROFILE_104, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    CounterInterrogationCommand,
    ParameterActivation,
    ParameterFloat,
    SingleCommand,
)
from rtu.iec.asdu.types import FRZ_FREEZE, FRZ_FREEZE_RESET, KPA_THRESHOLD, QPA_OBJECT, Cot, TypeId
from rtu.iec.outstation import CommandRequest, Done, Outstation
from rtu.points.database import PointDatabase
from rtu.soe import ActionRecord, SoeLog, read_file
from rtu.supervisor import Supervisor


class _Clock:
    def monotonic(self) -> float:
        return 100.0

    def wall(self) -> float:
        return 1_764_000_000.0


class _Executor:
    def __init__(self) -> None:
        self.ok = True

    def execute(self, request: CommandRequest, done: Done) -> None:
        done(self.ok)


def _station(tmp_path: Path) -> tuple[PointDatabase, Any, SoeLog, _Executor]:
    config = bench_config()
    db = PointDatabase(config.points)
    executor = _Executor()
    outstation = Outstation(db, config.station, _Clock(), executor)
    soe = SoeLog(tmp_path / "soe.sqlite3", wall=lambda: 1_764_000_000.0)
    soe.attach(outstation)

    def name(ioa: int) -> str:
        point = db.by_ioa(ioa)
        return point.name if point else ""

    outstation.audit = Audit(soe, names=name, wall=lambda: 1_764_000_000.0)
    session = outstation.open_session("104:10.0.0.5:40000", PROFILE_104, "g", lambda: None)
    session.activate()
    return db, session, soe, executor


def _command(session: Any, ioa: int, *, select: bool = False, originator: int = 7) -> None:
    asdu = Asdu(TypeId.C_SC_NA_1, Cot.ACTIVATION, 1, (SingleCommand(ioa, True, 0, select),),
                originator=originator)
    session.receive(encode_asdu(asdu, PROFILE_104))


def _audit_rows(soe: SoeLog) -> list[tuple[str, str, str]]:
    soe.flush()
    return [(r["point"], r["quality"], r["detail"]) for r in read_file(soe.path)
            if r["kind"] == "command"]


def test_every_command_answer_is_recorded_with_its_reason(tmp_path: Path) -> None:
    db, session, soe, executor = _station(tmp_path)
    _command(session, 5001)  # direct execute: ACT_CON, ACT_TERM
    _command(session, 5002, select=True)
    _command(session, 5002)  # execute after select
    executor.ok = False
    _command(session, 5003)
    db.block("relay4_cmd", timestamp=1.0)
    _command(session, 5004)
    _command(session, 9999)
    rows = _audit_rows(soe)
    link = "link 104:10.0.0.5:40000, originator 7"
    assert rows == [
        ("relay1_cmd", "execute confirmed", f"{link}, execute"),
        ("relay1_cmd", "execute executed", f"{link}, execute"),
        ("relay2_cmd", "select confirmed", f"{link}, select"),
        ("relay2_cmd", "execute confirmed", f"{link}, execute"),
        ("relay2_cmd", "execute executed", f"{link}, execute"),
        ("relay3_cmd", "execute confirmed", f"{link}, execute"),
        ("relay3_cmd", "execute FAILED", f"{link}, execute, reason: the output did not execute"),
        ("relay4_cmd", "execute REFUSED", f"{link}, execute, reason: the point is blocked"),
        ("", "execute REFUSED (47 UNKNOWN_IOA)", (f"{link}, execute, reason: no C_SC_NA_1 "
                                                 "command point at IOA 9999")),
    ]
    first = read_file(soe.path)[0]
    assert (first["type"], first["value"], first["cause"], first["ioa"]) == (
        "C_SC_NA_1", "on", "ACTIVATION_CON", 5001)


def test_parameter_loading_and_counter_resets_are_recorded(tmp_path: Path) -> None:
    """A master that changes a threshold or resets counters is on record like a command; a
    plain counter freeze (no reset) is not."""
    _, session, soe, _ = _station(tmp_path)
    measured = next(p for p in bench_config().points if p.ioa == 3001)
    for asdu in (
        Asdu(TypeId.P_ME_NC_1, Cot.ACTIVATION, 1, (ParameterFloat(3001, 0.5, KPA_THRESHOLD),),
             originator=7),
        Asdu(TypeId.P_AC_NA_1, Cot.DEACTIVATION, 1, (ParameterActivation(3001, QPA_OBJECT),),
             originator=7),
        Asdu(TypeId.C_CI_NA_1, Cot.ACTIVATION, 1,
             (CounterInterrogationCommand(0, 5, FRZ_FREEZE),), originator=7),
        Asdu(TypeId.C_CI_NA_1, Cot.ACTIVATION, 1,
             (CounterInterrogationCommand(0, 5, FRZ_FREEZE_RESET),), originator=7),
    ):
        session.receive(encode_asdu(asdu, PROFILE_104))
    soe.flush()
    rows = [(r["type"], r["point"], r["value"], r["cause"]) for r in read_file(soe.path)
            if r["kind"] == "command"]
    assert rows[:2] == [("P_ME_NC_1", measured.name, "0.5 (KPA 1)", "ACTIVATION_CON"),
                        ("P_AC_NA_1", measured.name, "QPA 2", "DEACTIVATION_CON")]
    # the freeze without reset is not there; the freeze with reset is (ACT_CON and ACT_TERM:
    # no counter can be reset here, so they are frozen and read, which is logged)
    assert rows[2:] == [("C_CI_NA_1", "", "RQT 5 FRZ 2", "ACTIVATION_CON"),
                        ("C_CI_NA_1", "", "RQT 5 FRZ 2", "ACTIVATION_TERMINATION")]


def test_rfc5424() -> None:
    record = ActionRecord(1_764_000_000.5, "command", "relay1_cmd", 5001, "C_SC_NA_1", "on",
                          "execute REFUSED", "ACTIVATION_CON", 'reason: "blocked"]')
    text = rfc5424(record, hostname="rtu7", procid=42, severity=4).decode()
    assert text.startswith("<84>1 2025-11-24T16:00:00.500Z rtu7 rtu 42 COMMAND [audit@32473 ")
    assert 'point="relay1_cmd" ioa="5001"' in text and 'outcome="execute REFUSED"' in text
    assert text.endswith('] command relay1_cmd C_SC_NA_1 on: execute REFUSED (reason: '
                         '"blocked"])')


@pytest.mark.parametrize(("text", "target"), [
    ("udp://10.0.0.9", SyslogTarget("udp", "10.0.0.9", 514)),
    ("tcp://logs.example:6514", SyslogTarget("tcp", "logs.example", 6514)),
    ("tcp://[::1]", SyslogTarget("tcp", "::1", 601)),
])
def test_syslog_targets(text: str, target: SyslogTarget) -> None:
    assert parse_syslog(text) == target


@pytest.mark.parametrize("text", ["10.0.0.9:514", "http://x", "udp://", "udp://h:99999",
                                  "udp://h/path"])
def test_bad_syslog_targets(text: str) -> None:
    with pytest.raises(ValueError, match="expected|port"):
        parse_syslog(text)


def test_operator_actions_over_the_socket_are_audited(tmp_path: Path) -> None:
    sup = Supervisor(bench_config())
    sup.soe = SoeLog(tmp_path / "soe.sqlite3")
    sup.soe.attach(sup.outstation)
    sup.audit = Audit(sup.soe)
    server = ControlServer(sup, tmp_path / "control.sock")

    def ask(message: dict[str, Any]) -> dict[str, Any]:
        answer = json.loads(server.handle_line(json.dumps(message).encode() + b"\n"))
        assert isinstance(answer, dict)
        return answer

    done = ask({"command": "substitute", "name": "ai1", "value": "77.5"})
    assert done["ok"] and done["result"]["quality"] == "SB"
    assert sup.db.value("ai1").value == 77.5
    assert ask({"command": "block", "name": "di01"})["result"]["quality"] == "BL"
    assert ask({"command": "release", "name": "ai1"})["result"]["quality"] == "ok"
    bad = ask({"command": "release", "name": "di02"})
    assert bad == {"ok": False, "error": "di02 is neither substituted nor blocked"}
    assert "is a float point: expected a number" in ask(
        {"command": "substitute", "name": "ai1", "value": "x"})["error"]
    sup.soe.flush()
    rows = [(r["kind"], r["point"], r["type"], r["value"]) for r in read_file(sup.soe.path)
            if r["kind"] == "operator"]
    assert rows == [("operator", "ai1", "substitute", "77.5"), ("operator", "di01", "block",
                                                                "False"),
                    ("operator", "ai1", "release", "50.0")]
    assert all(r["detail"] == "by operator" for r in read_file(sup.soe.path)
               if r["kind"] == "operator")
