"""Supervisor.reload() in process, with the supervisor running (run()) on its own loop in a
thread and a raw 104 master on loopback: queued events before a reload are delivered after it."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rtu.config import AppConfig, ConfigError, ServiceConfig, SimulationConfig, bench_config
from rtu.iec.asdu.types import TypeId
from rtu.iec.cs101.link import LinkParameters
from rtu.reload import ReloadError
from rtu.servers.iec101 import Iec101Server, Iec101Settings, SerialSettings
from rtu.sources.relays.component import Relays
from rtu.sources.simulated.source import SimulatedField
from rtu.supervisor import Supervisor
from tests.integration.outstation_thread import own_station_only
from tests.integration.peers import free_tcp_port
from tests.integration.test_iec104_raw import STARTDT_ACT, STARTDT_CON, RawMaster

pytestmark = pytest.mark.integration
T = TypeVar("T")


def quiet_config(tmp_path: Path, port: int) -> AppConfig:
    """The bench profile without random changes, on ``port``, its socket in ``tmp_path``."""
    base = own_station_only(bench_config())  # one station: counts its events
    assert base.iec104 is not None
    # without the Modbus device the bench serves itself: its first poll (3301) is an event
    return dataclasses.replace(
        base, iec104=dataclasses.replace(base.iec104, port=port),
        sections={k: v for k, v in base.sections.items() if k != "modbus"},
        points=tuple(p for p in base.points if "modbus" not in (p.source, p.target)),
        simulation=SimulationConfig(seed=1, digital_interval=1e6, analog_interval=1e6,
                                    counter_interval=1e6),
        service=ServiceConfig(control_socket=str(tmp_path / "control.sock")),
    )


class Running:
    """A Supervisor.run() on a loop in a thread."""

    def __init__(self, config: AppConfig, loader: Callable[[], AppConfig] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sup = Supervisor(config, loader=loader)
        self.task = asyncio.run_coroutine_threadsafe(self.sup.run(), self.loop)
        self.run(asyncio.wait_for(self.sup.ready.wait(), 10))

    def run(self, coro: Any, timeout: float = 15.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def invoke() -> T:
            return fn()

        result: T = self.run(invoke())
        return result

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.sup.stop)
        self.task.result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def port() -> int:
    return free_tcp_port()


@pytest.fixture
def running(tmp_path: Path, port: int) -> Iterator[Running]:
    box = Running(quiet_config(tmp_path, port))
    yield box
    box.close()


def events_after_startdt(port: int, count: int, *, then_quiet: float = 0.0
                         ) -> list[tuple[int, int, list[int], bytes]]:
    """(type id, cause, IOAs, ASDU) of the first ``count`` I-frames a new master receives;
    with ``then_quiet``, no further I-frame may come within that many seconds."""
    master = RawMaster(port)
    try:
        master.send(STARTDT_ACT)
        assert master.recv_apdu() == STARTDT_CON
        out = []
        while len(out) < count or then_quiet:
            if len(out) == count:
                extra = master.recv_apdu(then_quiet)
                if extra is None:
                    break
                assert extra[2] & 1, f"an I-frame more than {out}: {extra.hex()}"
                continue
            apdu = master.recv_apdu()
            assert apdu is not None, f"only {out}"
            asdu = apdu[6:]
            n = asdu[1] & 0x7F
            ioas = [int.from_bytes(asdu[6 + i * (3 + size):9 + i * (3 + size)], "little")
                    for size in [(len(asdu) - 6) // n - 3] for i in range(n)]
            out.append((asdu[0], asdu[2] & 0x3F, ioas, asdu))
        master.ack()
        return out
    finally:
        master.close()


def test_live_reload_keeps_database_outstation_and_queued_events(running: Running,
                                                                 tmp_path: Path) -> None:
    sup = running.sup
    db, outstation = sup.db, sup.outstation
    # di03, di04: no calculated point follows them (1301 follows di01 or di02)
    running.call(lambda: (sup.provided(SimulatedField).set("di03", True), sup.provided(SimulatedField).set("di04", True)))
    assert running.call(outstation.queued_events) == 3  # end of initialisation + 2
    new_port = free_tcp_port()
    config = sup.config
    assert config.iec104 is not None
    changed = dataclasses.replace(
        config, station=dataclasses.replace(config.station, select_timeout=3.0),
        iec104=dataclasses.replace(config.iec104, port=new_port, max_connections=2))
    summary = running.run(sup.reload(changed))
    assert summary == "station, iec104 changed"
    assert sup.db is db and sup.outstation is outstation
    assert outstation.config.select_timeout == 3.0 and sup.reloads == 1
    assert running.call(outstation.queued_events) == 3
    with pytest.raises(OSError):
        RawMaster(config.iec104.port)  # the old listener is gone
    received = events_after_startdt(new_port, 2)
    assert received[0][0] == TypeId.M_EI_NA_1
    assert received[1][0] == TypeId.M_SP_TB_1 and received[1][2] == [1003, 1004]


def test_rebuild_carries_events_and_relay_states(running: Running, port: int) -> None:
    sup = running.sup
    old_outstation = sup.outstation
    running.call(lambda: (sup.provided(SimulatedField).set("di03", True), sup.provided(SimulatedField).set("di16", True)))
    running.run(asyncio.to_thread(sup.provided(Relays).outputs["relay1"].set, True))
    fewer = dataclasses.replace(sup.config,
                                points=tuple(p for p in sup.config.points if p.name != "di16"))
    summary = running.run(sup.reload(fewer))
    assert summary == "points changed; rebuilding the field side"
    assert sup.outstation is not old_outstation and len(sup.db) == len(fewer.points)
    assert running.call(lambda: sup.provided(Relays).outputs["relay1"].get()) is True  # no output switched
    received = events_after_startdt(port, 2, then_quiet=0.5)  # the two events share an ASDU
    objects = [(t, cause, ioa) for t, cause, ioas, _ in received for ioa in ioas]
    assert objects == [
        (TypeId.M_EI_NA_1, 4, 0),  # the rebuild's, COI 1 + after parameter change, first;
        # the old run's, never delivered, gave way to it
        (TypeId.M_SP_TB_1, 3, 1003),  # carried over; di16 (1016) is gone and dropped
        (TypeId.M_SP_TB_1, 3, 1101),  # relay1_pos (relay1 is still on): the new run's
    ]
    assert received[0][3][-1] == 0x81


def test_rebuild_with_two_stations_sends_each_end_of_initialisation_first(
        tmp_path: Path, port: int) -> None:
    base = quiet_config(tmp_path, port)
    config = dataclasses.replace(base, points=tuple(
        dataclasses.replace(p, common_address=2) if p.name == "di05" else p
        for p in base.points))
    box = Running(config)
    try:
        sup = box.sup
        box.call(lambda: (sup.provided(SimulatedField).set("di03", True),  # station 1
                          sup.provided(SimulatedField).set("di05", True),  # station 2
                          sup.provided(SimulatedField).set("di04", True)))  # station 1
        fewer = dataclasses.replace(sup.config, points=tuple(
            p for p in sup.config.points if p.name != "di16"))
        assert box.run(sup.reload(fewer)) == "points changed; rebuilding the field side"
        received = events_after_startdt(port, 5, then_quiet=0.5)
    finally:
        box.close()
    seen = [(t, int.from_bytes(asdu[4:6], "little"), ioa) for t, _, ioas, asdu in received
            for ioa in ioas]
    # each station's new end of initialisation before any of its events; the carried events
    # in their original order, each once (one ASDU per station and type in a row)
    assert seen == [(TypeId.M_EI_NA_1, 1, 0), (TypeId.M_EI_NA_1, 2, 0),
                    (TypeId.M_SP_TB_1, 1, 1003), (TypeId.M_SP_TB_1, 2, 1005),
                    (TypeId.M_SP_TB_1, 1, 1004)]


def test_an_invalid_file_keeps_the_running_configuration(tmp_path: Path, port: int) -> None:
    good = quiet_config(tmp_path, port)
    state = {"fail": True}

    def loader() -> AppConfig:
        if state["fail"]:
            raise ConfigError(["site.toml: points[3].ioa: expected an integer, got 'x'",
                               "site.toml: station.k: unknown key"])
        return dataclasses.replace(good, station=dataclasses.replace(good.station,
                                                                      common_address=5))

    box = Running(good, loader=loader)
    try:
        sup = box.sup
        with pytest.raises(ReloadError, match=r"points\[3\].ioa.*\(and 1 more\)"):
            box.run(sup.reload())
        assert sup.config is good and sup.reloads == 0
        assert "reload failed: invalid configuration" in box.call(sup.watchdog.status_line)  # type: ignore[union-attr]
        state["fail"] = False
        assert box.run(sup.reload()) == "station changed"
        assert sup.outstation.config.common_address == 5 and sup.reload_error is None
    finally:
        box.close()


def test_live_only_refuses_a_rebuild(tmp_path: Path, port: int) -> None:
    config = quiet_config(tmp_path, port)
    config = dataclasses.replace(config, service=dataclasses.replace(config.service,
                                                                     reload="live-only"))
    box = Running(config)
    try:
        fewer = dataclasses.replace(config, points=config.points[1:])
        with pytest.raises(ReloadError, match="live-only"):
            box.run(box.sup.reload(fewer))
        assert len(box.sup.db) == len(config.points)
    finally:
        box.close()


def test_a_renamed_101_line_takes_its_events_along(tmp_path: Path, port: int) -> None:
    config = dataclasses.replace(quiet_config(tmp_path, port), iec101=Iec101Settings(
        serial=SerialSettings("/nonexistent/ttyA"), link=LinkParameters()))
    box = Running(config)  # the port cannot open: ready anyway, retrying in the background
    try:
        sup = box.sup
        assert sup.server(Iec101Server) is not None and not sup.server(Iec101Server).opened.is_set()
        box.call(lambda: sup.provided(SimulatedField).set("di03", True))
        assert len(sup.outstation.groups["101:/nonexistent/ttyA"].backlog) == 2
        assert config.iec101 is not None
        moved = dataclasses.replace(config, iec101=dataclasses.replace(
            config.iec101, serial=SerialSettings("/nonexistent/ttyB", baudrate=19200)))
        assert box.run(sup.reload(moved)) == "iec101 changed"
        assert "101:/nonexistent/ttyA" not in sup.outstation.groups
        backlog = sup.outstation.groups["101:/nonexistent/ttyB"].backlog.take_all()
        # old EI, di03, then the new line's own EI
        assert [r.type_id for r in backlog] == [TypeId.M_EI_NA_1, TypeId.M_SP_TB_1,
                                                TypeId.M_EI_NA_1]
        assert [s.name for s, _ in sup.source_tasks()] == ["simulation", "calculated", "health",
                                                           "101:/nonexistent/ttyB"]
    finally:
        box.close()


def _gi_planned(sup: Supervisor) -> bool:
    """The running database's station GI plan and its 104 IOA octets are already made."""
    from rtu.iec.asdu.codec import PROFILE_104
    from rtu.iec.outstation import giplan

    monitored = sup.db.monitored()
    hit = giplan._plans.get((id(monitored), None))
    if hit is None or hit[0] is not monitored:
        return False
    return all(giplan._ioa_octets.get((id(points), PROFILE_104.ioa_size), (None,))[0] is points
               for _type_id, points in hit[1])


def test_the_gi_plan_is_made_at_start_and_after_a_rebuild(running: Running) -> None:
    """Not in the first GI, where it blocked the loop (20 ms at 50,000 points) just when every
    master reconnects and interrogates."""
    sup = running.sup
    assert running.call(lambda: _gi_planned(sup))
    fewer = dataclasses.replace(sup.config,
                                points=tuple(p for p in sup.config.points if p.name != "di16"))
    running.run(sup.reload(fewer))
    assert running.call(lambda: _gi_planned(sup))
