"""rtu.soe: the sequence-of-events log, written and queried without sockets."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rtu import cli
from rtu.config import ConfigError, bench_config, parse_config
from rtu.control import ControlServer
from rtu.servers.iec104 import PROFILE_104
from rtu.soe import (
    SoeConfig,
    SoeError,
    SoeLog,
    open_configured,
    parse_time,
    query,
    read_file,
    render,
)
from rtu.supervisor import Supervisor

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def sup() -> Supervisor:
    return Supervisor(bench_config())


def _log(tmp_path: Path, sup: Supervisor, **kwargs: float) -> SoeLog:
    soe = SoeLog(tmp_path / "soe.sqlite3", wall=lambda: T0 + 60, **kwargs)  # type: ignore[arg-type]
    soe.attach(sup.outstation)
    return soe


def test_events_are_logged_with_their_time_tag_cause_and_masters(tmp_path: Path,
                                                                  sup: Supervisor) -> None:
    soe = _log(tmp_path, sup)
    session = sup.outstation.open_session("104:127.0.0.1:5000", PROFILE_104, "iec104",
                                          lambda: None)
    session.activate()
    sup.db.update("di03", True, timestamp=T0)  # di03: no calculated point follows it
    sup.db.update("ai1", 42.5, timestamp=T0 + 1)
    sup.db.update("dp1", 2, timestamp=T0 + 2)
    outputs = []
    while (out := session.next_output()) is not None:
        outputs.append(out)
    sent = [o for o in outputs if o.events]
    assert len(sent) >= 3
    session.acknowledged(len(outputs) - 1)  # the last event ASDU is not acknowledged yet
    soe.flush()
    rows = read_file(soe.path)
    assert [(r["point"], r["ioa"], r["type"], r["value"], r["quality"], r["cause"],
             r["masters"]) for r in rows] == [
        ("di03", 1003, "M_SP_TB_1", "on", "ok", "SPONTANEOUS", "104:127.0.0.1:5000"),
        ("ai1", 3001, "M_ME_TF_1", "42.5", "ok", "SPONTANEOUS", "104:127.0.0.1:5000"),
        ("dp1", 2001, "M_DP_TB_1", "on", "ok", "SPONTANEOUS", ""),
    ]
    assert [r["time"] for r in rows] == [T0, T0 + 1, T0 + 2]
    session.acknowledged(1)
    soe.flush()
    assert read_file(soe.path, point="dp*")[0]["masters"] == "104:127.0.0.1:5000"
    assert soe.status()["logged"] == 3


def test_queries_filter_by_time_and_point(tmp_path: Path, sup: Supervisor) -> None:
    soe = _log(tmp_path, sup)
    for i in range(10):
        sup.db.update("di04", bool(i % 2 == 0), timestamp=T0 + i)  # no calculated point
        sup.db.update("ai2", float(i), timestamp=T0 + i)
    soe.flush()
    assert len(read_file(soe.path)) == 20
    rows = read_file(soe.path, point="di0?", since=T0 + 7)
    assert [(r["point"], r["time"]) for r in rows] == [("di04", T0 + 7), ("di04", T0 + 8),
                                                      ("di04", T0 + 9)]
    rows = read_file(soe.path, since=T0 + 2, until=T0 + 3)
    assert len(rows) == 4
    newest = read_file(soe.path, limit=3)
    assert [r["time"] for r in newest] == [T0 + 8, T0 + 9, T0 + 9]
    with pytest.raises(SoeError, match="limit must be"):
        read_file(soe.path, limit=0)


def test_bounds_on_disk_and_in_memory(tmp_path: Path, sup: Supervisor) -> None:
    soe = _log(tmp_path, sup, max_events=5, max_pending=4)
    for i in range(6):
        sup.db.update("ai3", float(i), timestamp=T0 + i)
    assert soe.dropped == 2  # only 4 wait for the write
    soe.flush()
    for i in range(6, 9):
        sup.db.update("ai3", float(i), timestamp=T0 + i)
    soe.flush()
    rows = read_file(soe.path)
    assert [r["value"] for r in rows] == ["1", "2", "3", "6", "7", "8"][-5:]
    assert soe.pruned == 2
    old = _log(tmp_path / "age", sup, max_age_days=1)
    sup.db.update("ai4", 1.0, timestamp=T0 - 2 * 86400)  # two days older than "now"
    sup.db.update("ai4", 2.0, timestamp=T0)
    old.flush()
    assert [r["value"] for r in read_file(old.path)] == ["2"]


def test_a_write_failure_is_counted_not_raised(tmp_path: Path, sup: Supervisor) -> None:
    soe = _log(tmp_path, sup)
    soe._conn.close()
    sup.db.update("di03", True, timestamp=T0)
    soe.flush()
    assert soe.failures == 1 and soe.last_error


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-05T10:00:00", T0), ("2026-12-05T10:00:00Z", T0),
    ("2026-12-05T11:00:00+01:00", T0), ("2026-12-05", T0 - 10 * 3600),
    ("10m", T0 - 600), ("2h", T0 - 7200), ("1.5d", T0 - 1.5 * 86400), ("30s", T0 - 30),
])
def test_times(text: str, expected: float) -> None:
    assert parse_time(text, now=T0) == expected


def test_bad_time() -> None:
    with pytest.raises(ValueError, match="is not a time: expected ISO 8601"):
        parse_time("yesterday")


def test_formats(tmp_path: Path, sup: Supervisor) -> None:
    soe = _log(tmp_path, sup)
    sup.db.update("di04", True, timestamp=T0)
    soe.flush()
    rows = read_file(soe.path)
    table = render(rows, "table").splitlines()
    assert table[0].split() == ["TIME", "KIND", "POINT", "IOA", "TYPE", "VALUE", "QUALITY",
                                "CAUSE", "MASTERS"]
    assert table[1].split()[:4] == ["2026-12-05T10:00:00.000Z", "event", "di04", "1004"]
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert parsed[0]["point"] == "di04" and parsed[0]["value"] == "on"
    assert json.loads(render(rows, "json"))[0]["time"] == "2026-12-05T10:00:00.000Z"


def test_configuration(tmp_path: Path) -> None:
    def parse(section: str) -> SoeConfig:
        return parse_config(tomllib.loads('[station]\ncommon_address = 1\n' + section),
                            "t.toml").soe

    assert parse("") == SoeConfig()
    assert parse('[soe]\nenabled = true\nmax_events = 5000\nmax_age_days = 7') == SoeConfig(
        enabled=True, max_events=5000, max_age_days=7.0)
    with pytest.raises(ConfigError) as info:
        parse('[soe]\nenabled = "yes"\nmax_events = 10\nmax_age_days = 0\nsize = 1')
    text = str(info.value)
    assert "soe.enabled: expected true, false or \"auto\", got 'yes'" in text
    assert "soe.max_events" in text and "soe.max_age_days" in text and "size" in text
    assert parse('[soe]\nsyslog = "udp://10.0.0.9"').syslog == "udp://10.0.0.9"
    with pytest.raises(ConfigError, match="soe.syslog: expected udp://HOST"):
        parse('[soe]\nsyslog = "10.0.0.9:514"')


def test_auto_needs_a_state_directory_of_the_service(tmp_path: Path) -> None:
    assert open_configured(SoeConfig(), "", environ={"HOME": str(tmp_path)}) is None
    soe = open_configured(SoeConfig(), "", environ={"STATE_DIRECTORY": str(tmp_path / "s")})
    assert soe is not None and soe.path == tmp_path / "s" / "soe.sqlite3"
    assert open_configured(SoeConfig(enabled=False), str(tmp_path)) is None
    (tmp_path / "f").write_text("a file, not a directory")
    with pytest.raises(SoeError, match="x.db"):
        open_configured(SoeConfig(enabled=True, path=str(tmp_path / "f" / "x.db")), "",
                        environ={"HOME": str(tmp_path)})


def test_the_operator_socket_and_the_cli(tmp_path: Path, sup: Supervisor,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    server = ControlServer(sup, tmp_path / "control.sock")
    refused = json.loads(server.handle_line(b'{"command": "soe"}\n'))
    assert refused["ok"] is False and "no sequence-of-events log" in refused["error"]
    sup.soe = _log(tmp_path, sup)
    sup.db.update("di05", True, timestamp=T0)
    sup.soe.flush()
    answer = json.loads(server.handle_line(b'{"command": "soe", "point": "di*"}\n'))
    assert answer["ok"] is True and [r["point"] for r in answer["result"]] == ["di05"]
    bad = json.loads(server.handle_line(b'{"command": "soe", "limit": 0}\n'))
    assert "limit must be" in bad["error"]
    assert cli.main(["soe", "--file", str(sup.soe.path), "--format", "csv"]) == 0
    assert "di05" in capsys.readouterr().out
    assert cli.main(["soe", "--file", str(tmp_path / "none.db")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["soe", "--file", str(sup.soe.path), "--since", "soon"]) == 2


def test_query_on_an_open_connection(tmp_path: Path, sup: Supervisor) -> None:
    soe = _log(tmp_path, sup)
    sup.db.update("di06", True, timestamp=T0)
    soe.flush()
    assert [r["point"] for r in query(soe._conn, point="di06")] == ["di06"]
