"""rtu.control without sockets: the requests the operator socket answers, where the socket is,
and the text the CLI prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtu.config import bench_config
from rtu.control import (
    ControlError,
    ControlServer,
    control_socket_path,
    default_socket_paths,
    find_control_socket,
    format_status,
    parse_sim_value,
    quality_text,
    status_line,
    status_snapshot,
    table,
    time_text,
)
from rtu.points.model import Point, PointKind, Quality
from rtu.supervisor import Supervisor


@pytest.fixture
def server() -> ControlServer:
    return ControlServer(Supervisor(bench_config()), Path("/nonexistent/control.sock"))


def ask(server: ControlServer, message: object) -> dict[str, object]:
    answer = json.loads(server.handle_line(json.dumps(message).encode() + b"\n"))
    assert isinstance(answer, dict)
    return answer


def test_points_with_a_filter(server: ControlServer) -> None:
    answer = ask(server, {"command": "points", "filter": "di0[12]"})
    assert answer["ok"] is True
    rows = answer["result"]
    assert isinstance(rows, list)
    assert [(r["name"], r["ioa"], r["kind"], r["value"], r["quality"], r["source"])
            for r in rows] == [("di01", 1001, "single", False, "ok", "sim"),
                               ("di02", 1002, "single", False, "ok", "sim")]


def test_sim_set_drives_only_simulated_points(server: ControlServer) -> None:
    answer = ask(server, {"command": "sim_set", "name": "ai1", "value": "42.5"})
    assert answer["ok"] is True
    assert server.supervisor.db.value("ai1").value == 42.5
    refused = ask(server, {"command": "sim_set", "name": "relay1_pos", "value": "on"})
    assert refused == {"ok": False, "error": "relay1_pos is not simulated (no source "
                       "(command/feedback)); only points with source = \"sim\" can be set"}
    unknown = ask(server, {"command": "sim_set", "name": "di1", "value": "on"})
    assert "no point 'di1' (similar: di10" in str(unknown["error"])


def test_malformed_requests_get_an_answer(server: ControlServer) -> None:
    assert json.loads(server.handle_line(b"{nope\n")) == {"ok": False, "error": "not JSON"}
    assert ask(server, [1])["error"] == "expected a JSON object"
    assert "unknown command 'reboot'" in str(ask(server, {"command": "reboot"})["error"])
    assert ask(server, {"command": "points", "filter": 3})["error"] == "filter must be a string"
    assert "needs a point name" in str(ask(server, {"command": "sim_set"})["error"])


def test_status_of_a_supervisor_that_is_not_serving(server: ControlServer) -> None:
    status = status_snapshot(server.supervisor)
    assert status["points"] == len(server.supervisor.config.points) and status["masters"] == []
    assert status["iec104"]["listening"] is False
    # the watchdog's check of the 104 server: it is not listening
    assert server.supervisor.servers["iec104"].check() == "the 104 listening socket is closed"
    # one end of initialisation per station of the bench (common addresses 1 and 2)
    assert status["groups"][0]["name"] == "iec104" and status["groups"][0]["backlog"] == 2
    assert status["sources"] == [{"name": "simulation", "running": False, "restarts": 0},
                                 {"name": "modbus:bench", "running": False, "restarts": 0,
                                  "state": "source not running (restarting)"},
                                 {"name": "calculated", "running": False, "restarts": 0},
                                 {"name": "health", "running": False, "restarts": 0}]
    # every field device with its real state: the simulation is not running here
    assert status["devices"] == [{"name": "simulation", "kind": "simulation",
                                  "source": "simulation", "communication": "FAILED",
                                  "detail": "source not running (restarting)"},
                                 {"name": "plc1", "kind": "modbus", "source": "modbus:bench",
                                  "communication": "FAILED",
                                  "detail": "source not running (restarting)"}]
    signals = {row["signal"]: row for row in status["health_signals"]}
    assert signals["health:journal"] == {"signal": "health:journal", "state": "ON",
                                         "mapped": True}
    assert signals["health:link:104:iec104"]["state"] == "OFF"
    assert signals["health:link:104:iec104"]["mapped"] is False
    text = format_status(json.loads(json.dumps(status)))
    assert "104 127.0.0.1:2404 NOT LISTENING" in text and "no systemd watchdog" in text
    assert "send_delay_ms" not in text  # send coalescing off: not mentioned
    coalescing = json.loads(json.dumps(status))
    coalescing["iec104"].update(send_delay_ms=5.0, held_flushes=17)
    assert "send_delay_ms 5 (17 flushes held)" in format_status(coalescing)
    assert "field devices" in text and "health:source:simulation   OFF    True" in text
    points = len(server.supervisor.config.points)
    assert status_line(server.supervisor) == f"0 masters connected, {points} points, 2 queued events"
    server.supervisor.last_error = "modbus bus1: timeout"
    assert status_line(server.supervisor).endswith("last error: modbus bus1: timeout")
    server.supervisor.reload_error = "invalid configuration: x"
    assert status_line(server.supervisor).endswith("reload failed: invalid configuration: x")


@pytest.mark.parametrize(("kind", "text", "value"), [
    (PointKind.SINGLE, "on", True), (PointKind.SINGLE, "0", False),
    (PointKind.DOUBLE, "on", 2), (PointKind.DOUBLE, "3", 3),
    (PointKind.FLOAT, "1e3", 1000.0), (PointKind.SCALED, "0x10", 16),
    (PointKind.COUNTER, "-5", -5),
])
def test_sim_values(kind: PointKind, text: str, value: object) -> None:
    assert parse_sim_value(Point("p", 1, kind), text) == value


@pytest.mark.parametrize(("kind", "text"), [(PointKind.SINGLE, "maybe"), (PointKind.DOUBLE, "4"),
                                            (PointKind.FLOAT, "x"), (PointKind.STEP, "1.5")])
def test_bad_sim_values(kind: PointKind, text: str) -> None:
    with pytest.raises(ControlError, match=f"is a {kind.value} point: expected"):
        parse_sim_value(Point("p", 1, kind), text)


def test_where_the_server_puts_its_socket() -> None:
    assert control_socket_path("/srv/rtu.sock", {}) == Path("/srv/rtu.sock")
    assert control_socket_path("", {"RUNTIME_DIRECTORY": "/run/rtu:/run/other"}) == \
        Path("/run/rtu/control.sock")
    assert control_socket_path("", {"XDG_RUNTIME_DIR": "/run/user/1000"}) == \
        Path("/run/user/1000/rtu/control.sock")
    assert control_socket_path("", {}, uid=1000) == Path("/tmp/rtu-1000/control.sock")
    # per instance: the name follows the state directory, so two outstations never share one
    one = control_socket_path("", {}, uid=1000, state_dir=Path("/srv/site-a/state"))
    two = control_socket_path("", {}, uid=1000, state_dir=Path("/srv/site-b/state"))
    assert one.parent == two.parent == Path("/tmp/rtu-1000") and one != two
    assert one.name.startswith("control-") and one.name.endswith(".sock")
    assert control_socket_path("", {"RUNTIME_DIRECTORY": "/run/rtu"},
                               state_dir=Path("/x")) == Path("/run/rtu/control.sock")


def test_where_the_client_looks(tmp_path: Path) -> None:
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    assert default_socket_paths(env, uid=7) == [
        Path("/run/rtu/control.sock"), tmp_path / "rtu" / "control*.sock",
        Path("/tmp/rtu-7/control*.sock")]
    assert find_control_socket("/x.sock", env) == Path("/x.sock")
    assert find_control_socket(None, {"RTU_CONTROL_SOCKET": "/y.sock"}) == Path("/y.sock")
    with pytest.raises(ControlError, match="no running outstation found"):
        find_control_socket(None, {"RUNTIME_DIRECTORY": str(tmp_path / "none")}, uid=4_000_123)



def test_text_helpers() -> None:
    assert set(quality_text(Quality.IV | Quality.NT).split("|")) == {"IV", "NT"}
    assert quality_text(Quality.GOOD) == "ok"
    assert time_text(0.0) == "-"
    assert time_text(1700000000.123) == "2023-11-14T22:13:20.123Z"
    assert table([{"a": 1.5, "b": None}], ["a", "b"]) == "A    B\n1.5  -"


def test_status_shows_the_clock_state(server: ControlServer) -> None:
    outstation = server.supervisor.outstation
    outstation.system_clock_synchronised = False
    status = status_snapshot(server.supervisor)
    assert status["clock"] == {"valid": False, "system_synchronised": False,
                               "master_synchronised": False, "offset": 0.0, "mode": "offset",
                               "time_tags": "utc"}
    assert "clock NOT SYNCHRONISED (utc time tags" in format_status(json.loads(json.dumps(status)))
    outstation.restore_clock_offset(2.5, outstation.clock.wall())
    outstation.system_clock_synchronised = True
    text = format_status(json.loads(json.dumps(status_snapshot(server.supervisor))))
    assert "clock synchronised by NTP and a master (utc time tags, clock sync offset, offset +2.5 s)" \
        in text


def test_status_carries_the_digest_of_the_file_as_loaded(tmp_path: Path) -> None:
    import hashlib

    from rtu.config import load_config

    raw = (Path(__file__).resolve().parents[2] / "rtu" / "examples" / "bench.toml").read_bytes()
    path = tmp_path / "rtu.toml"
    path.write_bytes(raw + b"\n# pushed by the fleet\n")
    status = status_snapshot(Supervisor(load_config(path)))
    assert status["config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert status["config_sha256"] != hashlib.sha256(raw).hexdigest()
    assert status_snapshot(Supervisor(bench_config()))["config_sha256"] == ""


def test_status_shows_events_lost_per_group_and_station(server: ControlServer) -> None:
    outstation = server.supervisor.outstation
    group = outstation.groups["iec104"]
    server.supervisor.db.update("di03", True, timestamp=1.7e9)
    dropped = group.backlog.snapshot()[-1:]
    group.count_loss(dropped * 4)  # what an overflowing queue reports: 4 events of station 1
    status = json.loads(json.dumps(status_snapshot(server.supervisor)))
    assert status["events_lost"]["lost_by_station"] == {"iec104": {"1": 4}}
    assert status["events_lost"]["stations"]["1"]["active"] is True
    text = format_status(status)
    assert "EVENTS LOST in iec104 (health_events_lost ON until interrogated); station 1: " \
        "health_events_lost (IOA 9003) ON" in text
    assert "4 (CA 1: 4)" in text
