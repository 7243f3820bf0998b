"""The keys of periodic and background data: [[points]] cyclic, [station] cyclic_groups and
background_scan."""

from __future__ import annotations

from rtu.config import parse_config
from tests.unit.test_config import SRC, minimal, single_error


def test_cyclic_keys_are_read() -> None:
    data = minimal()
    data["station"].update(background_scan=600, cyclic_groups=[{"group": 2, "period": 10},
                                                               {"group": 1, "period": 2.5}])
    data["points"].append({"name": "m", "ioa": 50, "kind": "float", "source": "sim",
                           "cyclic": 5})
    config = parse_config(data, SRC)
    assert config.station.cyclic_groups == ((1, 2.5), (2, 10.0))
    assert config.station.background_scan == 600.0
    assert {p.name: p.cyclic for p in config.points}["m"] == 5.0


def test_cyclic_on_a_counter_is_an_error() -> None:
    data = minimal()
    data["points"].append({"name": "c", "ioa": 50, "kind": "counter", "source": "sim",
                           "cyclic": 5})
    line = single_error(data)
    assert "points[" in line and ".cyclic: expected no cyclic on a counter point" in line


def test_cyclic_groups_errors() -> None:
    data = minimal()
    data["station"]["cyclic_groups"] = [{"group": 2, "period": 10}, {"group": 2, "period": 5}]
    assert single_error(data).endswith(
        "station.cyclic_groups[1].group: expected each group once, got group 2 again")
    data["station"]["cyclic_groups"] = [{"group": 17, "period": 10}]
    assert "station.cyclic_groups[0].group: expected" in single_error(data)
    data["station"]["cyclic_groups"] = [{"group": 1, "period": 0}]
    assert "station.cyclic_groups[0].period: expected a number of seconds > 0" in single_error(data)
    data["station"]["cyclic_groups"] = [{"group": 1, "period": 1, "every": 2}]
    assert "station.cyclic_groups[0].every: unknown key" in single_error(data)
    data["station"]["cyclic_groups"] = []
    data["station"]["background_scan"] = -1
    assert "station.background_scan: expected" in single_error(data)


def test_iec101_stations_multi_drop() -> None:
    data = minimal()
    data["points"].append({"name": "m", "ioa": 50, "kind": "float", "source": "sim",
                           "common_address": 2})
    data["iec101"] = {"device": "/dev/ttyS0", "stations": [{"link_address": 3,
                                                            "common_address": 2}]}
    config = parse_config(data, SRC)
    assert config.iec101 is not None and config.iec101.stations == ((3, 2),)
    data["iec101"]["stations"] = [{"link_address": 3, "common_address": 9}]
    assert single_error(data).endswith(
        "iec101.stations[0].common_address: expected the common address of some [[points]] "
        "(common_address), got 9, which no point has")
    data["iec101"]["stations"] = [{"link_address": 1, "common_address": 2}]
    assert "link addresses must differ" in single_error(data)
    data["iec101"]["mode"] = "balanced"
    data["iec101"]["stations"] = [{"link_address": 3, "common_address": 2}]
    assert "need the unbalanced mode" in single_error(data)


def test_point_common_address_must_fit_ca_size() -> None:
    data = minimal()
    data["station"]["ca_size"] = 1
    data["points"].append({"name": "m", "ioa": 50, "kind": "float", "common_address": 300})
    assert "common_address: expected a common address 1..254 (station.ca_size 1), got 300" \
        in single_error(data)


def test_a_gateway_device_gives_its_points_a_common_address_in_one_line() -> None:
    data = minimal()
    data["points"].append({"name": "tot", "ioa": 60, "kind": "float", "source": "iec61850"})
    data["iec61850"] = {"devices": [{
        "name": "relay", "host": "192.0.2.1", "common_address": 3,
        "points": [{"point": "tot", "reference": "LD0/MMXU1.TotW.mag.f", "fc": "MX"}]}]}
    config = parse_config(data, SRC)
    assert {p.name: p.common_address for p in config.points}["tot"] == 3
    data["points"].append({"name": "other", "ioa": 61, "kind": "float", "source": "iec61850",
                           "common_address": 5})
    data["iec61850"]["devices"][0]["points"].append(
        {"point": "other", "reference": "LD0/MMXU1.Hz.mag.f", "fc": "MX"})
    assert single_error(data).endswith(
        "common_address: expected 3 (its device's common_address) or none, got 5")
