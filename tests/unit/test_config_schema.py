"""rtu config-schema, line numbers and point names in errors, and the byte-order mark."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rtu.cli import main
from rtu.config import ConfigError, config_schema, load_config
from rtu.config.locate import key_lines, line_of

EXAMPLES = sorted((Path(__file__).parents[2] / "rtu" / "examples").glob("*.toml"))


def schema() -> dict[str, Any]:
    loaded = json.loads(config_schema())
    assert isinstance(loaded, dict)
    return loaded


def test_the_subcommand_prints_a_draft_2020_12_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == schema()
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert printed["additionalProperties"] is False
    iec104 = printed["properties"]["iec104"]
    # declared once: the default is the server's own (Iec104Settings), the bound the parser's
    assert iec104["properties"]["max_connections"] == {"type": "integer", "minimum": 1,
                                                       "default": 4}
    reads = printed["properties"]["modbus"]["properties"]["devices"]["items"]["properties"][
        "polls"]["items"]["properties"]["reads"]["items"]
    assert set(reads["required"]) == {"point", "table", "address"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_shipped_examples_validate(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    jsonschema.Draft202012Validator.check_schema(schema())
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


def test_a_misspelt_key_is_flagged() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    data = tomllib.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    data["iec104"]["max_conections"] = 4
    data["points"][2]["dead_band"] = 1.0
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    assert [(list(e.absolute_path), e.validator) for e in errors] == [
        (["iec104"], "additionalProperties"),
        (["points", 2], "additionalProperties"),
    ]
    assert "max_conections" in errors[0].message and "dead_band" in errors[1].message


def test_a_value_out_of_range_is_flagged() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema())
    data = {"iec104": {"max_connections": 0, "t1": -1}, "journal": {"fsync": "always"}}
    paths = sorted(list(e.absolute_path) for e in validator.iter_errors(data))
    assert paths == [["iec104", "max_connections"], ["iec104", "t1"], ["journal", "fsync"]]


def test_errors_give_the_line_and_the_point_name(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        "[station]\n"                        # 1
        "common_address = 1\n"               # 2
        "\n"                                 # 3
        "[[points]]\n"                       # 4
        'name = "feeder1_cb"\n'              # 5
        "ioa = 1\n"                          # 6
        'kind = "single"\n'                  # 7
        "[[points]]\n"                       # 8
        'name = "feeder3_cb"\n'              # 9
        "ioa = 'x'\n"                        # 10
        'kind = "single"\n'                  # 11
        "groups = [\n"                       # 12
        "  1,\n"                             # 13
        "  99,\n"                            # 14
        "]\n"                                # 15
        "[[points]]\n"                       # 16
        "ioa = 3\n"                          # 17
        'kind = "single"\n',                 # 18
        encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [
        (f"{path}:10: points[1] 'feeder3_cb'.ioa: expected an integer 1..16777215 "
         "(ioa_size 3), got 'x'"),
        (f"{path}:12: points[1] 'feeder3_cb'.groups[1]: expected an integer 1..16 "
         "(interrogation groups 1..16), got 99"),
        (f"{path}:16: points[2].name: required key missing: expected a name of letters, "
         "digits, '_', '.' or '-'"),
    ]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    text = EXAMPLES[0].read_text(encoding="utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load_config(path).points == load_config(EXAMPLES[0]).points


def test_key_lines_follow_nested_arrays_of_tables_and_odd_keys() -> None:
    text = (
        "[[modbus.devices]]\n"                           # 1
        'name = "a"\n'                                   # 2
        "[[modbus.devices.polls]]\n"                     # 3
        "interval = 1\n"                                 # 4
        "[[modbus.devices.polls.reads]]\n"               # 5
        'point = "p"\n'                                  # 6
        "[[modbus.devices]]\n"                           # 7
        'name = "b"  # a comment with [brackets]\n'      # 8
        "[[modbus.devices.polls]]\n"                     # 9
        'text = """\n'                                   # 10
        "interval = 99\n"                                # 11
        '"""\n'                                          # 12
        "[[modbus.devices.polls.reads]]\n"               # 13
        "[[modbus.devices.polls.reads]]\n"               # 14
        'point = "q"\n'                                  # 15
        '[iec104]\n'                                     # 16
        'tls.enabled = true\n'                           # 17
        '"odd key" = 1\n'                                # 18
    )
    lines = key_lines(text)
    assert line_of(lines, "modbus.devices[0].polls[0].reads[0].point") == 6
    assert line_of(lines, "modbus.devices[1].name") == 8
    assert line_of(lines, "modbus.devices[1].polls[0].interval") == 9  # not the string's line
    assert line_of(lines, "modbus.devices[1].polls[0].reads[1].point") == 15
    assert line_of(lines, "modbus.devices[1].polls[0].reads[0].table") == 13
    assert line_of(lines, "iec104.tls.enabled") == 17
    assert line_of(lines, 'iec104."odd key"') == 18
    assert line_of(lines, "station.common_address") is None


def test_the_declarations_are_the_public_key_names() -> None:
    """The schema test_config.py pins (public names, DESIGN.md rule 9) is what the sections
    declare, and so what `rtu config-schema` prints."""
    from rtu.config.document import DOCUMENT
    from tests.unit.test_config import SCHEMA

    assert set(DOCUMENT.names) == set(SCHEMA) | {"points_file"}  # the one top-level key
    assert DOCUMENT.key("points_file").table is None
    for section, keys in SCHEMA.items():
        table = DOCUMENT.key(section).table
        assert table is not None and set(table.names) == keys, section
