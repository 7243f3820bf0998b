"""Who the 104 server admits, with made-up peer addresses (no sockets): the per-address limit,
a configured master making room, and refusal lines at most once a minute per address."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from rtu.iec.outstation import CommandRequest, Done, Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.servers.iec104 import Iec104Server, Iec104Settings, RedundancyGroup, RefusalLog


class _Clock:
    def monotonic(self) -> float:
        return 0.0

    def wall(self) -> float:
        return 1.7e9


class _Executor:
    def execute(self, request: CommandRequest, done: Done) -> None:
        done(False)


@dataclass
class _Conn:
    started: bool = False


@dataclass
class _FakeLink:
    """What Iec104Server._admit reads of a connection."""

    host: str
    configured: bool
    since: float
    conn: _Conn = field(default_factory=_Conn)
    name: str = ""
    aborted: str = ""

    def __post_init__(self) -> None:
        self.name = f"104:{self.host}:{int(self.since)}"

    def abort(self, reason: str, *, warn: bool = False) -> None:
        self.aborted = reason

    def __hash__(self) -> int:
        return id(self)


def server(**settings: object) -> Iec104Server:
    outstation = Outstation(PointDatabase([]), OutstationConfig(), _Clock(), _Executor())
    return Iec104Server(outstation, Iec104Settings(**settings))  # type: ignore[arg-type]


def connect(srv: Iec104Server, host: str, since: float) -> tuple[_FakeLink, str | None]:
    link = _FakeLink(host, srv.configured_master(host), since)
    reason = srv._admit((host, 40000), link)  # type: ignore[arg-type]
    if reason is None:
        srv.links.add(link)  # type: ignore[arg-type]
    return link, reason


def test_one_address_gets_at_most_max_connections_per_address() -> None:
    srv = server(max_connections=4)
    assert connect(srv, "10.0.0.9", 1)[1] is None
    assert connect(srv, "10.0.0.9", 2)[1] is None
    reason = connect(srv, "10.0.0.9", 3)[1]
    assert reason == "already 2 connections from 10.0.0.9 (max_connections_per_address)"
    assert connect(srv, "10.0.0.8", 4)[1] is None  # another address still gets in


def test_a_configured_master_closes_the_oldest_unconfigured_stopped_connection() -> None:
    srv = server(max_connections=3, redundancy_groups=(
        RedundancyGroup("centre", ("192.0.2.1",)), RedundancyGroup("anyone")))
    old, _ = connect(srv, "10.0.0.1", 1)
    started, _ = connect(srv, "10.0.0.2", 0)
    started.conn.started = True  # data transfer started: never closed to make room
    young, _ = connect(srv, "10.0.0.3", 2)
    assert connect(srv, "10.0.0.4", 3)[1] == "already 3 connections (max_connections)"
    master, reason = connect(srv, "192.0.2.1", 4)
    assert reason is None
    assert old.aborted == f"making room for configured master {master.name}"
    assert not started.aborted and not young.aborted


def test_without_an_unconfigured_stopped_connection_a_master_is_refused_too() -> None:
    srv = server(max_connections=1, allowed_masters=("192.0.2.0/24",))
    connect(srv, "192.0.2.1", 1)  # a configured master, stopped (standby)
    assert connect(srv, "192.0.2.2", 2)[1] == "already 1 connections (max_connections)"


def test_unlisted_addresses_are_refused_before_counting() -> None:
    srv = server(allowed_masters=("192.0.2.0/24",))
    assert connect(srv, "10.0.0.1", 1)[1] == "address not in allowed_masters"
    assert srv.configured_master("192.0.2.77")
    assert not server().configured_master("127.0.0.1")  # nothing configured: nobody is


def test_settings_refuse_nonsense_bounds() -> None:
    with pytest.raises(ValueError, match="max_connections_per_address"):
        Iec104Settings(max_connections_per_address=0)
    with pytest.raises(ValueError, match="startdt_timeout"):
        Iec104Settings(startdt_timeout=0)


def test_refusals_are_logged_once_a_minute_per_address_with_the_count(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(interval=60, max_addresses=3, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "rtu.servers.iec104")
    for _ in range(500):
        refusals.refused("10.0.0.1", "104:10.0.0.1:1", "too many")
    refusals.refused("10.0.0.2", "104:10.0.0.2:1", "too many")
    now[0] = 59.9
    refusals.refused("10.0.0.1", "104:10.0.0.1:2", "too many")
    now[0] = 60.0
    refusals.refused("10.0.0.1", "104:10.0.0.1:3", "too many")
    assert [r.getMessage() for r in caplog.records] == [
        "refused connection from 104:10.0.0.1:1: too many",
        "refused connection from 104:10.0.0.2:1: too many",
        "refused connection from 104:10.0.0.1:3: too many (500 more refused since the last line)",
    ]
    assert refusals.suppressed == 500


def test_the_addresses_remembered_for_refusal_lines_are_bounded(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    refusals = RefusalLog(interval=60, max_addresses=4, clock=lambda: now[0])
    caplog.set_level(logging.WARNING, "rtu.servers.iec104")
    for i in range(10_000):
        refusals.refused(f"10.0.{i // 256}.{i % 256}", f"104:10.0.0.{i}:1", "no")
    assert len(refusals._seen) <= 5  # four addresses and the shared entry
    assert len(caplog.records) == 4 + 1  # the shared entry's first line only
    assert "(one of many addresses)" in caplog.records[-1].getMessage()
