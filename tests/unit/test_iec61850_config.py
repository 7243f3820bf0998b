"""[iec61850]: the schema (every key in example.toml), the mapping and errors naming key paths."""

from __future__ import annotations

import tomllib
from typing import Any

from rtu.config import load_config
from rtu.sources.iec61850.config import (
    Iec61850Control,
    Iec61850Read,
    Iec61850Report,
    iec61850_config,
)
from tests.unit.test_config import SRC, errors_of, example_path, example_text, minimal, single_error

IEC61850_SCHEMA: dict[str, set[str]] = {
    "devices": {"name", "host", "port", "timeout", "reconnect_delay", "reconnect_delay_max",
                "poll_interval", "integrity_period", "command_timeout", "reports", "points",
                "controls", "common_address"},
    "reports": {"rcb", "buffered"},
    "points": {"point", "reference", "fc", "scale", "offset"},
    "controls": {"point", "object", "scale", "offset"},
}
DEV = "iec61850.devices[0]"


def doc() -> dict[str, Any]:
    data = minimal()
    data["points"] += [
        {"name": "i_p", "ioa": 21, "kind": "float", "source": "iec61850"},
        {"name": "i_pos", "ioa": 22, "kind": "double", "source": "iec61850"},
        {"name": "i_cmd", "ioa": 23, "kind": "double_command", "target": "iec61850",
         "feedback": "i_pos"},
    ]
    data["iec61850"] = {"devices": [{
        "name": "bay", "host": "127.0.0.1",
        "reports": [{"rcb": "LD0/LLN0.brcb01", "buffered": True}],
        "points": [{"point": "i_p", "reference": "LD0/MMXU1.TotW.mag.f", "fc": "MX"},
                   {"point": "i_pos", "reference": "LD0/XCBR1.Pos.stVal", "fc": "st"}],
        "controls": [{"point": "i_cmd", "object": "LD0/XCBR1.Pos"}],
    }]}
    return data


def device(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data["iec61850"]["devices"][0]
    return result


def test_example_uses_every_key() -> None:
    devices = tomllib.loads(example_text())["iec61850"]["devices"]
    used = {
        "devices": set().union(*(set(d) for d in devices)),
        "reports": set().union(*(set(r) for d in devices for r in d.get("reports", []))),
        "points": set().union(*(set(p) for d in devices for p in d.get("points", []))),
        "controls": set().union(*(set(c) for d in devices for c in d.get("controls", []))),
    }
    assert used == IEC61850_SCHEMA


def test_schema_is_complete() -> None:
    for level, path in [("devices", DEV), ("reports", f"{DEV}.reports[0]"),
                        ("points", f"{DEV}.points[0]"), ("controls", f"{DEV}.controls[0]")]:
        data = doc()
        table = device(data) if level == "devices" else device(data)[level][0]
        table["not_a_key"] = 1
        prefix = f"{SRC}: {path}.not_a_key: unknown key; expected one of "
        line = single_error(data)
        assert line.startswith(prefix), line
        assert set(line.removeprefix(prefix).split(", ")) == IEC61850_SCHEMA[level]


def test_example_mapping() -> None:
    config = load_config(example_path())
    (dev,) = iec61850_config(config).devices
    assert (dev.name, dev.host, dev.port, dev.integrity_period) == ("bay1_relay", "192.168.1.40",
                                                                    102, 300.0)
    assert dev.reports == (Iec61850Report("BAY1LD0/LLN0.brcbEvents01", True),)
    assert dev.points[1] == Iec61850Read("bay1_cb_pos", "BAY1LD0/XCBR1.Pos.stVal", "ST")
    assert dev.controls == (Iec61850Control("bay1_cb_cmd", "BAY1LD0/CSWI1.Pos"),
                            Iec61850Control("bay1_p_limit", "BAY1LD0/GGIO1.AnOut1", 1000.0))


def test_defaults_and_fc_case() -> None:
    from rtu.config import parse_config

    (dev,) = iec61850_config(parse_config(doc(), SRC)).devices
    assert (dev.port, dev.timeout, dev.poll_interval, dev.integrity_period) == (102, 5.0, 0.0, 0.0)
    assert dev.points[1].fc == "ST"


def test_errors_name_the_key_path() -> None:
    data = doc()
    dev = device(data)
    dev["host"] = "not a host!"
    dev["port"] = 0
    dev["reports"][0]["rcb"] = "LLN0.brcb01"
    dev["points"][0]["fc"] = "XX"
    dev["points"][1]["reference"] = "LD0/XCBR1"
    dev["controls"][0]["object"] = "LD0/XCBR1.Pos.stVal"
    errors = errors_of(data)
    assert errors == [
        (f"{SRC}: {DEV}.host: expected an IP address or host name such as 192.168.1.30, "
        "got 'not a host!'"),
        f"{SRC}: {DEV}.port: expected an integer 1..65535, got 0",
        (f"{SRC}: {DEV}.reports[0].rcb: expected a report control block reference LD/LN.NAME "
        "such as 'LD0/LLN0.brcbA01', got 'LLN0.brcb01'"),
        (f"{SRC}: {DEV}.points[0].fc: expected 'ST', 'MX', 'CF', 'SP', 'SV', 'DC', 'EX', "
        "'BL', 'SG' or 'SE', got 'XX'"),
        (f"{SRC}: {DEV}.points[1].reference: expected an object reference LD/LN.DO.DA such as "
        "'LD0/MMXU1.TotW.mag.f', got 'LD0/XCBR1'"),
        (f"{SRC}: {DEV}.controls[0].object: expected a control object reference LD/LN.DO such "
        "as 'LD0/XCBR1.Pos', got 'LD0/XCBR1.Pos.stVal'"),
    ]


def test_points_must_be_mapped_once_and_fit() -> None:
    data = doc()
    device(data)["points"].pop()  # i_pos: source iec61850, fed by nothing
    device(data)["controls"][0]["point"] = "p_float"  # not a command with target iec61850
    errors = errors_of(data)
    assert errors == [
        (f"{SRC}: {DEV}.controls[0].point: expected the name of a [[points]] entry with target = "
        "\"iec61850\" (single_command, double_command, setpoint_normalized, setpoint_scaled, "
        "setpoint_float), got 'p_float' (it is a float point "
        "without target = \"iec61850\")"),
        (f"{SRC}: points[7].source: expected a [[iec61850.devices.points]] entry with point = "
        "'i_pos' for a point with source = \"iec61850\", got none"),
        (f"{SRC}: points[8].target: expected a [[iec61850.devices.controls]] entry with point = "
        "'i_cmd' for a command with target = \"iec61850\", got none"),
    ]
    data = doc()
    device(data)["points"][1]["point"] = "i_p"
    assert errors_of(data)[0] == (
        f"{SRC}: {DEV}.points[1].point: expected a point not mapped before, got 'i_p' (already "
        f"mapped by {DEV}.points[0])")


def test_required_keys_and_unique_names() -> None:
    data = doc()
    second = dict(device(data), reports=[], points=[], controls=[])
    data["iec61850"]["devices"].append(second)
    assert single_error(data) == (
        f"{SRC}: iec61850.devices[1].name: expected a unique device name, got 'bay' (already "
        "used by iec61850.devices[0])")
    data = doc()
    del device(data)["host"]
    del device(data)["reports"][0]["buffered"]
    assert errors_of(data) == [
        (f"{SRC}: {DEV}.host: required key missing: expected an IP address or host name such as "
        "192.168.1.30"),
        (f"{SRC}: {DEV}.reports[0].buffered: required key missing: expected true (a BRCB) or "
        "false (a URCB)"),
    ]


def with_setpoint(data: dict[str, Any], obj: str, **keys: object) -> dict[str, Any]:
    data["points"].append({"name": "i_sp", "ioa": 24, "kind": "setpoint_float",
                           "target": "iec61850"})
    device(data)["controls"].append({"point": "i_sp", "object": obj, **keys})
    return data


def test_a_set_point_goes_to_an_analogue_control_with_scale_and_offset() -> None:
    from rtu.config import parse_config

    data = with_setpoint(doc(), "LD0/GGIO1.AnOut1", scale=0.5, offset=10.0)
    (dev,) = iec61850_config(parse_config(data, SRC)).devices
    assert dev.controls[1] == Iec61850Control("i_sp", "LD0/GGIO1.AnOut1", 0.5, 10.0)
    data = with_setpoint(doc(), "LD0/ZINV1.WSpt")  # a name rtu check does not know: accepted
    device(data)["points"].append({"point": "i_p", "reference": "LD0/ZINV1.WSpt.mxVal.f",
                                   "fc": "MX"})
    device(data)["points"].pop(0)
    (dev,) = iec61850_config(parse_config(data, SRC)).devices
    assert dev.controls[1].object == "LD0/ZINV1.WSpt"


def test_rtu_check_refuses_a_command_on_an_object_of_the_other_class() -> None:
    data = with_setpoint(doc(), "LD0/XSWI2.Pos")  # a standard binary name
    assert errors_of(data) == [
        (f"{SRC}: {DEV}.controls[1].object: expected an analogue control object (APC) for the "
         "setpoint_float point, got 'LD0/XSWI2.Pos' (Pos is a binary controllable data object "
         "(IEC 61850-7-4))")]
    data = with_setpoint(doc(), "LD0/GGIO1.Out2")  # its stVal is read into a double point
    device(data)["points"][1]["reference"] = "LD0/GGIO1.Out2.stVal"
    assert errors_of(data) == [
        (f"{SRC}: {DEV}.controls[1].object: expected an analogue control object (APC) for the "
         "setpoint_float point, got 'LD0/GGIO1.Out2' (i_pos reads its stVal as a double point: "
         "a binary control (SPC, DPC))")]
    data = doc()
    device(data)["controls"][0]["object"] = "LD0/GGIO1.AnOut3"
    device(data)["controls"][0]["scale"] = 2.0
    data = with_setpoint(data, "LD0/GGIO1.AnOut4", scale=0.0)
    assert errors_of(data) == [
        (f"{SRC}: {DEV}.controls[0].scale: expected no scale or offset for a double_command "
         "point (they apply to set-points)"),
        f"{SRC}: {DEV}.controls[1].scale: expected a number other than 0, got 0.0",
    ]
    data = doc()
    device(data)["controls"][0]["object"] = "LD0/GGIO1.AnOut3"
    assert errors_of(data) == [
        (f"{SRC}: {DEV}.controls[0].object: expected a binary control object (SPC, DPC) for "
         "the double_command point, got 'LD0/GGIO1.AnOut3' (AnOut is an analogue controllable "
         "data object (APC, IEC 61850-7-4))")]
