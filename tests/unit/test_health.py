"""rtu.health: health signals as points, without sockets (the bench profile maps 9001-9004, 9010)."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import pytest

from rtu.config import ConfigError, bench_config, parse_config
from rtu.config.document import ConfigFile, ConfigOrigin
from rtu.eventstore import JournalWriter
from rtu.health import (
    CertificateWatch,
    HealthSource,
    certificate_not_after,
    signal_error,
    source_devices,
)
from rtu.iec.asdu.types import TypeId
from rtu.points.model import PointKind, Quality
from rtu.servers.iec104 import PROFILE_104
from rtu.sources.simulated.source import SimulatedField
from rtu.supervisor import Supervisor


class _Task:
    def __init__(self, done: bool = False) -> None:
        self._done = done

    def done(self) -> bool:
        return self._done


def _supervisor(kernel: bool | None = None) -> Supervisor:
    """The bench station, its system clock synchronised as ``kernel`` says (None: unknown)."""
    with patch("rtu.supervisor.system_clock_synchronised", lambda: bool(kernel)), \
            patch("rtu.health.system_clock_synchronised", lambda: bool(kernel)):
        return Supervisor(bench_config())


def _running(sup: Supervisor, *sources: Any) -> None:
    sup._source_tasks = [(s, _Task()) for s in sources]  # type: ignore[misc]


def _value(sup: Supervisor, name: str) -> bool | int | float:
    return sup.db.value(name).value


def test_start_up_values_before_any_evaluation() -> None:
    sup = _supervisor()
    assert [(n, _value(sup, n)) for n in ("health_clock_sync", "health_journal",
                                          "health_events_lost", "health_config_fallback",
                                          "health_sim_comm")] == [
        ("health_clock_sync", False), ("health_journal", True), ("health_events_lost", False),
        ("health_config_fallback", False), ("health_sim_comm", True)]
    assert sup.db.value("health_journal").quality == Quality.GOOD
    assert sup.health in sup.sources


def test_the_simulated_source_communicates_while_it_runs_and_masters_hear_it() -> None:
    sup = _supervisor()
    backlog = sup.outstation.groups["iec104"].backlog
    before = len(backlog)
    _running(sup, sup.provided(SimulatedField))
    sup.health.refresh()  # what start-up assumed: no event
    assert _value(sup, "health_sim_comm") is True and len(backlog) == before
    _running(sup)  # the source's task ended (it is restarting)
    sup.health.refresh()
    assert _value(sup, "health_sim_comm") is False
    event = backlog.snapshot()[-1]
    assert len(backlog) == before + 1
    assert event.type_id is TypeId.M_SP_TB_1 and event.obj.ioa == 9010
    sup.health.refresh()  # no change, no event
    assert len(backlog) == before + 1
    _running(sup, sup.provided(SimulatedField))
    sup.health.refresh()
    assert _value(sup, "health_sim_comm") is True and len(backlog) == before + 2


@pytest.mark.parametrize(("kernel", "master", "expected"), [
    (True, False, True), (False, True, True), (None, True, True), (None, False, False),
    (False, False, False),
])
def test_clock_synchronised(kernel: bool | None, master: bool, expected: bool) -> None:
    sup = _supervisor(kernel)
    sup.outstation.clock_synchronised = master
    sup.health.refresh()
    assert _value(sup, "health_clock_sync") is expected


def test_clock_synchronised_is_the_outstations_time_valid() -> None:
    """The point and the IV of the time tags follow the same state: Outstation.time_valid."""
    sup = _supervisor(False)
    sup.health.refresh()
    assert _value(sup, "health_clock_sync") is False and not sup.outstation.time_valid
    assert sup.outstation.time_tag(1_800_000_000.0).invalid
    sup.outstation.set_system_clock_state(True)  # what the supervisor's clock watch reports
    sup.health.refresh()
    assert _value(sup, "health_clock_sync") is True
    assert not sup.outstation.time_tag(1_800_000_000.0).invalid


def test_journal_health() -> None:
    sup = _supervisor()
    sup.journal = SimpleNamespace(  # type: ignore[assignment]
        last_error="disk I/O error", store=SimpleNamespace(overflowed=0))
    sup.health.refresh()
    assert _value(sup, "health_journal") is False
    sup.journal.last_error = None  # type: ignore[union-attr]
    sup.health.refresh()
    assert _value(sup, "health_journal") is True


def test_events_lost_is_the_outstations_one_point() -> None:
    """health:events_lost (9003 in the bench profile) is the outstation's events lost point:
    the outstation sets it when a queue overflows, the health source only reads the state."""
    sup = _supervisor()
    assert sup.config.station.events_lost_ioa == 9003
    assert [p.name for p in sup.db if p.source == "health:events_lost"] == ["health_events_lost"]
    sup.health.refresh()
    assert _value(sup, "health_events_lost") is False
    assert sup.health.signals()["events_lost"] is False
    group = sup.outstation.groups["iec104"]
    before = len(group.backlog)
    sup.db.update("di03", True, timestamp=1.7e9)  # an event of station 1 in the backlog...
    items = group.backlog.take_all()
    dropped = items[-1:]
    assert dropped[0].obj.ioa == sup.db.point("di03").ioa
    group.backlog.extend_front(items[:-1])
    before = len(group.backlog)
    group.count_loss(dropped * 3)  # ...dropped: what an overflowing queue of the group reports
    # set at once by the outstation, as a protected event in the backlog
    assert _value(sup, "health_events_lost") is True and sup.outstation.events_lost
    event = group.backlog.snapshot()[-1]
    assert len(group.backlog) == before + 1
    assert event.obj.ioa == 9003 and event.protected
    sup.health.refresh()  # reads the same state, writes nothing
    assert sup.health.signals()["events_lost"] is True
    assert len(group.backlog) == before + 1


def test_a_journal_overflow_sets_the_events_lost_point() -> None:
    sup = _supervisor()
    store = SimpleNamespace(overflowed=0)
    writer = JournalWriter.__new__(JournalWriter)  # only what _tell_overflow uses
    writer.store, writer.outstation, writer._loop = store, sup.outstation, None  # type: ignore[assignment]
    writer._overflow_told = 0
    writer._tell_overflow()
    assert not sup.outstation.events_lost
    store.overflowed = 5
    writer._tell_overflow()
    assert sup.outstation.events_lost and _value(sup, "health_events_lost") is True
    assert sup.outstation.events_lost_status()["awaiting_interrogation"] == ["iec104"]


def test_config_fallback_follows_the_running_configuration() -> None:
    sup = _supervisor()
    sup.health.refresh()
    assert _value(sup, "health_config_fallback") is False
    files = (ConfigFile("/etc/rtu/rtu.toml", "main", b""),)
    sup.config = dataclasses.replace(sup.config, origin=ConfigOrigin(
        files, 0.0, fallback="rtu.toml:3: station.common_address: expected ..."))
    sup.health.refresh()
    assert _value(sup, "health_config_fallback") is True
    sup.config = dataclasses.replace(sup.config, origin=ConfigOrigin(files, 1.0))  # reloaded
    sup.health.refresh()
    assert _value(sup, "health_config_fallback") is False


def test_a_104_link_is_up_while_a_master_has_data_transfer_started() -> None:
    sup = _supervisor()
    assert sup.health.signals()["link:104:iec104"] is False
    session = sup.outstation.open_session("104:127.0.0.1:5000", PROFILE_104, "iec104",
                                          lambda: None)
    session.activate()
    assert sup.health.signals()["link:104:iec104"] is True
    session.close()
    assert sup.health.signals()["link:104:iec104"] is False


def test_modbus_devices_each_have_their_state() -> None:
    sup = _supervisor()
    bus = SimpleNamespace(name="modbus:bus1", bus_up=True, devices=[
        SimpleNamespace(config=SimpleNamespace(name="meter3"), up=False),
        SimpleNamespace(config=SimpleNamespace(name="pump"), up=True),
        SimpleNamespace(config=SimpleNamespace(name="new"), up=None)])
    sup.sources.append(bus)  # type: ignore[arg-type]
    _running(sup, sup.provided(SimulatedField), bus)
    rows = {d.name: (d.ok, d.detail) for d in source_devices(sup)}
    assert rows == {"simulation": (True, "running"), "meter3": (False, "NOT ANSWERING"),
                    "pump": (True, "answering"), "new": (None, "not polled yet"),
                    "plc1": (False, "source not running (restarting)")}  # the bench's own
    bus.bus_up = False
    assert all(not d.ok for d in source_devices(sup) if d.source == "modbus:bus1")
    signals = sup.health.signals()
    assert signals["source:meter3"] is False and signals["source:simulation"] is True
    bus.bus_up = True
    assert sup.health.signals()["source:new"] is None  # not asked yet: the point keeps its value


def test_a_signal_naming_no_device_leaves_its_point_invalid() -> None:
    text = bench_text().replace('source = "health:source:simulation"',
                                'source = "health:source:meter9"')
    sup = Supervisor(parse_config(toml(text), "t.toml"))
    _running(sup, sup.provided(SimulatedField))
    sup.health.refresh()
    assert sup.db.value("health_sim_comm").quality == Quality.IV | Quality.NT


def bench_text() -> str:
    from importlib import resources

    return resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")


def toml(text: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(text)


@pytest.mark.parametrize(("source", "kind", "problem"), [
    ("health:journal", PointKind.SINGLE, None),
    ("health:source:meter3", PointKind.SINGLE, None),
    ("health:link:104:scada1", None, None),
    ("health:link:101:ttyUSB0", PointKind.SINGLE, None),
    ("health:certificate", PointKind.SINGLE, None),
    ("health:source:", PointKind.SINGLE, "unknown health signal"),
    ("health:temperature", PointKind.SINGLE, "unknown health signal"),
    ("health:journal", PointKind.FLOAT, "health signals feed single points, not float"),
])
def test_signal_names(source: str, kind: PointKind | None, problem: str | None) -> None:
    error = signal_error(source, kind)
    assert (error is None) if problem is None else (error is not None and problem in error)


def test_a_bad_signal_is_a_configuration_error() -> None:
    text = bench_text().replace('source = "health:events_lost"', 'source = "health:event_lost"')
    with pytest.raises(ConfigError) as info:
        parse_config(toml(text), "t.toml")
    assert "source: expected a health signal, got 'health:event_lost' (unknown health signal" \
        in str(info.value)


# -- the station certificate's expiry, from a minimal DER certificate -------------------------------
def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    head = bytes([length]) if length < 0x80 else bytes([0x82]) + length.to_bytes(2, "big")
    return bytes([tag]) + head + content


def _pem(not_after: bytes, tag: int = 0x17) -> str:
    validity = _der(0x30, _der(0x17, b"250101000000Z") + _der(tag, not_after))
    tbs = _der(0x30, _der(0xA0, _der(0x02, b"\x02")) + _der(0x02, b"\x01")
               + _der(0x30, b"") + _der(0x30, b"x" * 200) + validity + _der(0x30, b""))
    cert = _der(0x30, tbs + _der(0x30, b"") + _der(0x03, b"\x00"))
    body = base64.encodebytes(cert).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def test_certificate_expiry(tmp_path: Path) -> None:
    path = tmp_path / "station.pem"
    path.write_text(_pem(b"270101120000Z"))
    expected = datetime(2027, 1, 1, 12, tzinfo=UTC).timestamp()
    assert certificate_not_after(str(path)) == expected
    path.write_text(_pem(b"20491231235959Z", tag=0x18))
    assert certificate_not_after(str(path)) == datetime(2049, 12, 31, 23, 59, 59,
                                                        tzinfo=UTC).timestamp()
    path.write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM certificate"):
        certificate_not_after(str(path))


def test_certificate_watch(tmp_path: Path) -> None:
    path = tmp_path / "station.pem"
    path.write_text(_pem(b"270101120000Z"))
    expiry = datetime(2027, 1, 1, 12, tzinfo=UTC).timestamp()
    now = [expiry - 40 * 86400]
    watch = CertificateWatch(wall=lambda: now[0], monotonic=lambda: 0.0)
    assert watch.expiring(None) is False  # no TLS
    assert watch.expiring(str(path)) is False
    now[0] = expiry - 29 * 86400
    assert watch.expiring(str(path)) is True
    assert watch.expiring(str(tmp_path / "missing.pem")) is True  # unreadable: warn


def test_health_source_without_health_points_is_not_run() -> None:
    text = "\n".join(line for line in bench_text().split("\n[[points]]")[0].splitlines()
                     if not line.startswith("manual ="))  # it names points cut off here
    config = parse_config(toml(text), "t.toml")
    sup = Supervisor(config)
    assert not sup.health and sup.health not in sup.sources
    assert isinstance(HealthSource(sup.db).signals(), dict)


def test_a_101_line_is_known_by_its_group_device_and_file_name() -> None:
    import dataclasses

    from rtu.iec.cs101.link import LinkParameters
    from rtu.servers.iec101 import Iec101Settings, SerialSettings

    config = dataclasses.replace(bench_config(), iec101=Iec101Settings(
        serial=SerialSettings("/nonexistent/ttyA"), link=LinkParameters()))
    sup = Supervisor(config)  # not run: the port is not opened, the link is down
    signals = sup.health.signals()
    assert signals["link:101:/nonexistent/ttyA"] is False
    assert signals["link:101:ttyA"] is False
    assert signals["link:101:101:/nonexistent/ttyA"] is False  # its event group
    assert "link:104:iec104" in signals
