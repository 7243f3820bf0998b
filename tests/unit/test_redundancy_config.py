"""[[iec104.redundancy_groups]]: parsing, errors naming the key path, and what a reload does
with the events of groups that are redefined."""

from __future__ import annotations

from typing import Any

import pytest

from rtu.config import ConfigError, bench_config, parse_config
from rtu.iec.outstation import Outstation
from rtu.points.database import PointDatabase
from rtu.reload import regroup
from rtu.servers.iec104 import Iec104Settings, RedundancyGroup
from tests.unit.test_config import SRC, minimal


def errors(data: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, SRC)
    return info.value.errors


def with_groups(*groups: Any) -> dict[str, Any]:
    data = minimal()
    data["iec104"] = {"redundancy_groups": list(groups)}
    return data


def test_groups_are_parsed_in_order() -> None:
    config = parse_config(with_groups({"name": "a", "masters": ["10.0.0.1", "10.1.0.0/16"]},
                                      {"name": "rest"}), SRC)
    assert config.iec104 is not None
    assert config.iec104.redundancy_groups == (
        RedundancyGroup("a", ("10.0.0.1", "10.1.0.0/16")), RedundancyGroup("rest"))
    assert config.iec104.event_groups() == ("iec104/a", "iec104/rest")
    assert Iec104Settings().event_groups() == ("iec104",)


@pytest.mark.parametrize(("groups", "message"), [
    ([{"name": "a"}, {"name": "a", "masters": ["10.0.0.1"]}],
     ("iec104.redundancy_groups[1].name: expected a unique redundancy group name, got 'a' "
     "(already used by iec104.redundancy_groups[0])")),
    ([{"name": "a"}, {"name": "b"}],
     ("iec104.redundancy_groups[1].masters: expected master addresses (only one group may "
     "leave them empty: iec104.redundancy_groups[0] does)")),
    ([{"name": "a", "masters": ["10.0.0.300"]}],
     "iec104.redundancy_groups[0].masters[0]: expected an IP address or CIDR network"),
    ([{"masters": ["10.0.0.1"]}], "iec104.redundancy_groups[0].name: required key missing"),
    ([{"name": "a", "master": ["10.0.0.1"]}], "iec104.redundancy_groups[0].master: unknown key (did you mean 'masters'?)"),
    (["a"], "iec104.redundancy_groups[0]: expected a table ([[iec104.redundancy_groups]])"),
])
def test_errors_name_the_key(groups: list[Any], message: str) -> None:
    found = errors(with_groups(*groups))
    assert len(found) == 1 and found[0].startswith(f"{SRC}: {message}"), found


def test_not_an_array() -> None:
    data = minimal()
    data["iec104"] = {"redundancy_groups": {"name": "a"}}
    (found,) = errors(data)
    assert found.startswith(f"{SRC}: iec104.redundancy_groups: expected an array of tables")


def test_settings_check_themselves() -> None:
    with pytest.raises(ValueError, match="unique"):
        Iec104Settings(redundancy_groups=(RedundancyGroup("a"), RedundancyGroup("a", ("::1",))))
    with pytest.raises(ValueError, match="catch-all"):
        Iec104Settings(redundancy_groups=(RedundancyGroup("a"), RedundancyGroup("b")))
    with pytest.raises(ValueError):
        RedundancyGroup("a", ("not-an-address",))


class _NoExecutor:
    def execute(self, *args: object) -> None:
        raise AssertionError("no command here")


class _Clock:
    def monotonic(self) -> float:
        return 1000.0

    def wall(self) -> float:
        return 1_700_000_000.0


def outstation() -> Outstation:
    config = bench_config()
    # the bench's own station only (station 2 would add an end of initialisation of its own)
    points = [p for p in config.points if p.common_address in (0, config.station.common_address)]
    return Outstation(PointDatabase(points), config.station, _Clock(),  # type: ignore[arg-type]
                      _NoExecutor())  # type: ignore[arg-type]


def test_regroup_keeps_copies_and_drops_with_a_count() -> None:
    os = outstation()
    for name in ("iec104/a", "iec104/b"):
        os.group(name)
    os.groups["iec104/b"].backlog.take_all()  # b: nothing waiting; a: its end of initialisation
    # a stays, b is gone and c and d are new: b's (empty) backlog is copied to c and d
    assert regroup(os, ("iec104/a", "iec104/b"), ("iec104/a", "iec104/c", "iec104/d")) == 0
    assert set(os.groups) == {"iec104/a", "iec104/c", "iec104/d"}
    assert len(os.groups["iec104/a"].backlog) == 1
    # a is gone and c, d are not new: a's event is dropped and counted
    assert regroup(os, ("iec104/a", "iec104/c", "iec104/d"), ("iec104/c", "iec104/d")) == 1
    assert set(os.groups) == {"iec104/c", "iec104/d"}
    # the groups of a server without redundancy groups become new ones: events copied
    os.group("iec104")
    assert regroup(os, ("iec104",), ("iec104/x",)) == 0
    assert len(os.groups["iec104/x"].backlog) == 2  # iec104's end of initialisation, then x's
