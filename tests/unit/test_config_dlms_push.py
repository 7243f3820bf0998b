"""[dlms.push]: the push listener's keys, its devices and their objects; every error with its
key path; credentials for ciphered devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtu.config import parse_config
from rtu.sources.dlms.config import dlms_config
from rtu.sources.dlms.push_config import DlmsPushConfig, PushObject
from tests.unit.test_config import SRC, errors_of, minimal
from tests.unit.test_config_dlms import AK, EK, write_credentials

D0 = "dlms.push.devices[0]"


def push_doc() -> dict[str, Any]:
    data = minimal()
    data["points"] += [
        {"name": "alarm", "ioa": 31, "kind": "single", "source": "dlms"},
        {"name": "power", "ioa": 32, "kind": "float", "source": "dlms"},
    ]
    data["dlms"] = {"push": {"devices": [
        {"name": "m1", "wport": 1, "objects": [{"point": "alarm", "index": 2, "bit": 3},
                                               {"point": "power", "index": 3, "scaler": -1}]},
    ]}}
    return data


def test_defaults_and_objects() -> None:
    push = dlms_config(parse_config(push_doc(), SRC)).push
    assert isinstance(push, DlmsPushConfig)
    assert (push.listen, push.port, push.transport) == ("0.0.0.0", 4059, "both")
    (device,) = push.devices
    assert (device.name, device.wport, device.system_title, device.ciphered) == \
        ("m1", 1, None, False)
    assert device.objects == (PushObject("alarm", 2, 3, 0, 1.0), PushObject("power", 3, None,
                                                                            -1, 1.0))


def test_errors_name_the_key_path() -> None:
    data = push_doc()
    data["dlms"]["push"].update(port=0, transport="sctp", max_rate=0, listen="any",
                                nonsense=1)
    device = data["dlms"]["push"]["devices"][0]
    del device["wport"]
    device["objects"][0].update(bit=64, point="p_single")
    errors = errors_of(data)
    assert any(e.startswith(f"{SRC}: dlms.push.nonsense: unknown key") for e in errors)
    assert f"{SRC}: dlms.push.port: expected an integer 1..65535, got 0" in errors
    assert any(e.startswith(f"{SRC}: dlms.push.transport: expected 'udp', 'tcp' or 'both'")
               for e in errors)
    assert any(e.startswith(f"{SRC}: dlms.push.listen: expected an IP address") for e in errors)
    assert any(e.startswith(f"{SRC}: dlms.push.max_rate:") for e in errors)
    assert any(e.startswith(f"{SRC}: {D0}: expected a system_title or a wport") for e in errors)
    assert f"{SRC}: {D0}.objects[0].bit: expected an integer 0..63, got 64" in errors
    assert any(e.startswith(f"{SRC}: {D0}.objects[0].point:") and "source = 'sim'" in e
               for e in errors)
    # and the alarm point is now fed by nothing
    assert any("points[" in e and "'alarm'" in e for e in errors)


def test_a_point_is_fed_once() -> None:
    data = push_doc()
    data["dlms"]["push"]["devices"][0]["objects"].append({"point": "power", "index": 4})
    (error,) = errors_of(data)
    assert error.startswith(f"{SRC}: {D0}.objects[2].point: expected a point nothing else "
                            f"feeds, got 'power' (already fed by {D0}.objects[1].point)")


def test_ciphered_devices_need_a_title_and_their_keys(tmp_path: Path) -> None:
    data = push_doc()
    data["dlms"]["push"]["devices"][0]["ciphered"] = True
    errors = errors_of(data)
    assert any(e.startswith(f"{SRC}: {D0}.system_title: ") for e in errors)
    data["dlms"]["push"]["devices"][0]["system_title"] = "5059440000000001"
    assert any(e.startswith(f"{SRC}: dlms.credentials") for e in errors_of(data))
    creds = write_credentials(tmp_path, f'[meters.m1]\nencryption_key = "{EK}"\n'
                                        f'authentication_key = "{AK}"\n')
    data["dlms"]["credentials"] = str(creds)
    push = dlms_config(parse_config(data, SRC)).push
    assert push is not None
    (device,) = push.devices
    assert device.encryption_key == bytes.fromhex(EK)
    assert device.authentication_key == bytes.fromhex(AK)
    assert device.system_title == bytes.fromhex("5059440000000001")


def test_the_example_uses_every_push_key() -> None:
    import tomllib

    from rtu.sources.dlms.push_config import DEVICE, OBJECT, PUSH
    from tests.unit.test_config import example_text
    push = tomllib.loads(example_text())["dlms"]["push"]
    assert set(push) == set(PUSH.names)
    assert set().union(*(set(d) for d in push["devices"])) == set(DEVICE.names)
    objects = [o for d in push["devices"] for o in d["objects"]]
    assert set().union(*(set(o) for o in objects)) == set(OBJECT.names)
