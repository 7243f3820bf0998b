"""README's bench table against the bench profile (issue 19 item 8): every row names points
that exist with the types it says, every bench point is in the table, and what the rows of
issue 19 claim is checked on the running bench in raw frames: station 2 answers a GI to its
common address, the periodic points come every 5 s with cause 1, the measurements accept
parameter loading, the counters are reset by a counter interrogation with FRZ 2, and the
simulated protection signal is reported as a protection event."""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rtu.config import AppConfig, bench_config
from rtu.control import sim_set
from rtu.iec.outstation.mapping import MONITOR_TYPES, event_type
from rtu.points.model import Point, PointKind
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import Raw104Client, build_asdu, free_tcp_port

README = Path(__file__).resolve().parents[2] / "README.md"
COT_PERIODIC, COT_SPONT, COT_ACT, COT_ACT_CON, COT_ACT_TERM = 1, 3, 6, 7, 10
COT_INIT, COT_GI, COT_RETURN_REMOTE, COT_COUNTER_GENERAL = 4, 20, 11, 37


@dataclasses.dataclass(frozen=True)
class Row:
    ioas: tuple[int, ...]
    what: str
    types: str


def bench_rows() -> list[Row]:
    """The rows of the table under "## The bench profile"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## The bench profile", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"\d+(-\d+)?", cells[0]):
            continue
        first, _, last = cells[0].partition("-")
        rows.append(Row(tuple(range(int(first), int(last or first) + 1)), cells[1], cells[2]))
    return rows


def by_ioa(config: AppConfig) -> dict[int, Point]:
    return {p.ioa: p for p in config.points}


def rows_with(text: str) -> list[Row]:
    found = [r for r in bench_rows() if text in r.what or text in r.types]
    assert found, f"no bench table row mentions {text!r}"
    return found


def test_table_lists_every_bench_point_with_its_types() -> None:
    points = by_ioa(bench_config())
    rows = bench_rows()
    listed = [ioa for r in rows for ioa in r.ioas]
    assert len(listed) == len(set(listed)), "an IOA in two rows"
    assert sorted(listed) == sorted(points), "README's bench table and bench.toml differ"
    for row in rows:
        for ioa in row.ioas:
            point = points[ioa]
            if point.kind.is_command:
                assert row.types == "", (ioa, row.types)
                continue
            events, _, interrogation = (t.strip() for t in row.types.partition("/"))
            assert events.split(",")[0] == event_type(point).name, (ioa, row.types)
            if point.kind.is_protection:
                assert interrogation == "not in GI"
            elif point.kind is PointKind.COUNTER:
                assert interrogation == "counter interrogation"
            else:
                assert interrogation.split(",")[0] == MONITOR_TYPES[point.kind][0].name
            stations = re.findall(r"common address (\d+)", row.what)
            assert point.common_address in ([int(s) for s in stations] or [0]), (ioa, row.what)
            period = re.search(r"every (\d+) s with cause 1", row.what)
            assert point.cyclic == (float(period.group(1)) if period else 0.0), (ioa, row.what)


class Bench:
    """The running bench profile and a raw 104 master."""

    def __init__(self, rtu: OutstationThread, client: Raw104Client) -> None:
        self.rtu, self.client = rtu, client

    def collect(self, until: Callable[[dict[str, Any]], bool],
                timeout: float = 5.0) -> list[dict[str, Any]]:
        since = len(self.client.received)
        self.client.recv_until(until, timeout)
        return [r for r in self.client.received[since:] if r["format"] == "I"]


@pytest.fixture
def bench(tmp_path: Path) -> Any:
    config = bench_config()
    config = dataclasses.replace(config, service=dataclasses.replace(
        config.service, state_directory=str(tmp_path / "state")))
    with OutstationThread(config, free_tcp_port()) as rtu, Raw104Client(rtu.port) as client:
        client.startdt()
        yield Bench(rtu, client)


def test_the_issue_19_rows_hold_on_the_running_bench(bench: Bench) -> None:
    points = by_ioa(bench.rtu.config)
    # a second station: its own end of initialisation, a GI to its common address
    (station,) = rows_with("common address 2")
    frames = bench.collect(lambda a: a.get("type") == "M_EI_NA_1" and a.get("ca") == 2)
    assert {f["ca"] for f in frames if f["type"] == "M_EI_NA_1"} == {1, 2}
    bench.client.send_asdu(build_asdu("C_IC_NA_1", COT_ACT, 2, [(0, bytes([20]))]))
    frames = bench.collect(lambda a: a.get("type") == "C_IC_NA_1" and a.get("cot") == COT_ACT_TERM)
    assert sorted(o["ioa"] for f in frames if f["cot"] == COT_GI and f["ca"] == 2
                  for o in f["objects"]) == list(station.ioas)
    # parameter loading of the measurements (threshold, KPA 1): a positive ACT_CON each
    (params,) = rows_with("P_ME_NC_1")
    for ioa in params.ioas:
        bench.client.send_asdu(build_asdu("P_ME_NC_1", COT_ACT, 1, [(ioa, struct.pack("<fB", 2.0, 1))]))
        con = bench.client.recv_until(lambda a, i=ioa: a.get("type") == "P_ME_NC_1"
                                      and a.get("ioa") == i)
        assert con["cot"] == COT_ACT_CON and not con["negative"], ioa
    # counters: a general counter interrogation with FRZ 2 (freeze and reset; no values are
    # sent, the resets are return information), then one with FRZ 0 reads the frozen values
    (counters,) = rows_with("FRZ 2")
    for ioa in counters.ioas:  # a count to be frozen and reset
        bench.rtu.call(sim_set, bench.rtu.sup, points[ioa].name, "7000")
    since = len(bench.client.received)
    bench.client.send_asdu(build_asdu("C_CI_NA_1", COT_ACT, 1, [(0, bytes([5 | 2 << 6]))]))
    bench.collect(lambda a: a.get("type") == "C_CI_NA_1" and a.get("cot") == COT_ACT_TERM)
    bench.client.send_asdu(build_asdu("C_CI_NA_1", COT_ACT, 1, [(0, bytes([5]))]))
    frames = bench.collect(lambda a: a.get("type") == "C_CI_NA_1" and a.get("cot") == COT_ACT_TERM)
    read = [(o["ioa"], struct.unpack_from("<i", bytes.fromhex(o["data"]))[0])
            for f in frames if f["type"] == "M_IT_NA_1" and f["cot"] == COT_COUNTER_GENERAL
            for o in f["objects"]]
    assert [ioa for ioa, _ in read] == list(counters.ioas)
    assert all(count >= 7000 for _, count in read)  # frozen before the reset
    resets = {o["ioa"] for f in bench.client.received[since:] if f.get("type") == "M_IT_TB_1"
              and f.get("cot") == COT_RETURN_REMOTE for o in f["objects"]}
    assert resets == set(counters.ioas)
    # the simulated protection signal, set as the row says (`rtu sim set NAME on`)
    (protection,) = rows_with("M_EP_TD_1")
    signal = re.search(r"`rtu sim set (\w+) on`", protection.what)
    assert signal is not None
    bench.rtu.call(sim_set, bench.rtu.sup, signal.group(1), "on")
    event = bench.client.recv_until(lambda a: a.get("type") == "M_EP_TD_1")
    assert (event["cot"], [o["ioa"] for o in event["objects"]]) == (COT_SPONT,
                                                                   list(protection.ioas))
    # the periodic rows: each of their points with cause 1 within the period and a margin
    (periodic,) = rows_with("with cause 1")
    period = points[periodic.ioas[0]].cyclic
    frames = bench.collect(lambda a: a.get("cot") == COT_PERIODIC, timeout=period + 2)
    assert sorted(o["ioa"] for f in frames if f["cot"] == COT_PERIODIC
                  for o in f["objects"]) == list(periodic.ioas)
    bench.client.ack()
