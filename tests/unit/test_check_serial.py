"""`rtu check` meets what `rtu run` will: a serial port claimed twice (an error, also through
a symbolic link), a serial device that is missing (a warning), a UTF-8 byte-order mark (accepted)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtu.cli import main
from rtu.config import ConfigError, load_config

BUS = '[[modbus.buses]]\nname = "rs485"\ntype = "rtu"\ndevice = "{device}"\n'
LINE = '[iec101]\nenabled = true\ndevice = "{device}"\n'


def write(tmp_path: Path, text: str, bom: bool = False) -> Path:
    path = tmp_path / "site.toml"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_one_port_claimed_by_the_101_line_and_a_modbus_bus(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    link = tmp_path / "by-id-adapter"
    os.symlink(device, link)
    path = write(tmp_path, LINE.format(device=device) + BUS.format(device=link))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        (f"{path}:7: modbus.buses[0].device: expected a serial port of its own, got "
        f"'{link}', already claimed by iec101.device (both are {device}): a port is opened "
        "by one owner only")]


def test_check_warns_of_a_missing_device_and_accepts_a_bom(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "ttyUSB7"
    path = write(tmp_path, LINE.format(device=missing), bom=True)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: OK, ")
    assert err == (f"{path}: warning: iec101.device: {missing}: no such device (yet): `rtu run` "
                   "retries until it appears (an adapter plugged later)\n")
    missing.touch()
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_points_import_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "points.csv"
    csv_path.write_text("name,ioa,kind,source\ndi1,100,single,sim\nai1,x,float,sim\n")
    site = write(tmp_path, "[iec104]\nenabled = false\n")
    assert main(["points", "import", str(csv_path), "--config", str(site)]) == 2
    err = capsys.readouterr().err
    assert f"{csv_path}:3: points[1] 'ai1'.ioa: expected an integer" in err
    csv_path.write_text("name,ioa,kind,source\ndi1,100,single,sim\nai1,200,float,sim\n")
    out = tmp_path / "points.toml"
    assert main(["points", "import", str(csv_path), "--config", str(site), "-o", str(out)]) == 0
    site.write_text("[iec104]\nenabled = false\n" + out.read_text())
    assert main(["points", "export", "--csv", "--config", str(site)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        ("name,ioa,kind,source,groups,deadband,deadband_percent,range,description,target,"
        "feedback,select_required,cyclic,common_address"),
        "di1,100,single,sim,,,,,,,,,,", "ai1,200,float,sim,,,,,,,,,,"]


def test_every_registered_component_is_asked_for_its_ports(tmp_path: Path) -> None:
    """The claims come from the components (Component.serial_ports): a Modbus bus and a DLMS
    meter on HDLC sharing one adapter is caught, and serial_ports() lists both owners."""
    from rtu.components import components
    from rtu.config.document import serial_ports

    assert {c.section for c in components() if c.serial_ports is not None} >= {"modbus", "dlms"}
    device = tmp_path / "ttyUSB0"
    meter = ('[[points]]\nname = "d_clock"\nioa = 23\nkind = "single"\nsource = "dlms"\n'
             '[[dlms.meters]]\nname = "m1"\ntransport = "hdlc"\ndevice = "{device}"\n'
             'clock_point = "d_clock"\n')
    path = write(tmp_path, "[iec104]\nenabled = false\n" + BUS.format(device=device)
                 + meter.format(device=device))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        (f"{path}:15: dlms.meters[0].device: expected a serial port of its own, got "
         f"'{device}', already claimed by modbus.buses[0].device: a port is opened by one "
         "owner only")]
    other = tmp_path / "ttyUSB1"
    path.write_text("[iec104]\nenabled = false\n" + BUS.format(device=device)
                    + meter.format(device=other))
    assert serial_ports(load_config(path)) == [("modbus.buses[0].device", str(device)),
                                               ("dlms.meters[0].device", str(other))]
