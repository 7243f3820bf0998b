"""rtu.sources.adc.source: scaling, quality (OV, IV|NT and recovery) with a fake wall clock, and the
sources built from a configuration over a fake IIO sysfs tree and fake spidev/smbus2."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from hal.fake import FakeAnalogInput
from rtu.config import parse_config
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind, Quality
from rtu.sources.adc.source import AdcBinding, AdcSource, Scaling, build_adc_sources, convert


class FlakyInput:
    def __init__(self, name: str, value: float) -> None:
        self.name = name
        self.value = value
        self.fail = False

    def read(self) -> float:
        if self.fail:
            raise OSError(errno.EIO, "Input/output error")
        return self.value


def test_scaling_and_two_point_calibration() -> None:
    assert Scaling(11.0, -0.5).apply(2.0) == pytest.approx(21.5)
    # a 4-20 mA loop through 250 ohm: 1 V = 0 bar, 5 V = 10 bar
    cal = Scaling.two_point(1.0, 0.0, 5.0, 10.0)
    assert (cal.scale, cal.offset) == (pytest.approx(2.5), pytest.approx(-2.5))
    assert cal.apply(3.0) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        Scaling.two_point(1.0, 0.0, 1.0, 10.0)


def test_convert_flags_readings_outside_the_input_range() -> None:
    binding = AdcBinding("ch", FakeAnalogInput("ch"), Scaling(2.0), (0.5, 3.0), ("p",))
    assert convert(binding, 1.0) == (2.0, Quality.GOOD)
    assert convert(binding, 3.2) == (pytest.approx(6.4), Quality.OV)
    assert convert(binding, 0.4) == (pytest.approx(0.8), Quality.OV)
    assert convert(binding, float("nan")) == (0.0, Quality.IV)
    free = AdcBinding("ch", FakeAnalogInput("ch"), Scaling(), None, ("p",))
    assert convert(free, 99.0) == (99.0, Quality.GOOD)


def source_and_db() -> tuple[AdcSource, PointDatabase, FlakyInput]:
    db = PointDatabase([Point("supply", 1, PointKind.FLOAT, low=0.0, high=30.0),
                        Point("supply_pct", 2, PointKind.SCALED)])
    flaky = FlakyInput("ch0", 2.0)
    clock = iter(float(t) for t in range(100, 200))
    source = AdcSource(db, "adc:adc0", [
        AdcBinding("ch0", flaky, Scaling(12.0), (0.0, 3.3), ("supply",)),
        AdcBinding("ch1", FakeAnalogInput("ch1", 1.65), Scaling(100 / 3.3), None,
                   ("supply_pct",)),
    ], interval=1.0, wall=lambda: next(clock))
    return source, db, flaky


def test_readings_reach_the_points_with_scaling_and_time() -> None:
    source, db, flaky = source_and_db()
    source.initialise()
    assert db.value("supply").value == pytest.approx(24.0)
    assert db.value("supply").quality is Quality.GOOD and db.value("supply").timestamp == 100.0
    assert db.value("supply_pct").value == 50  # scaled: an integer
    flaky.value = 3.0  # 36 V: beyond the point's range (database) -> OV
    source.apply(source.read_all())
    assert db.value("supply").quality is Quality.OV
    flaky.value = 3.5  # beyond the channel's input range -> OV too
    source.apply(source.read_all())
    assert db.value("supply").quality & Quality.OV


def test_read_errors_set_iv_nt_keep_the_value_and_recover(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "rtu.sources.adc.source")
    source, db, flaky = source_and_db()
    source.initialise()
    flaky.fail = True
    source.apply(source.read_all())
    source.apply(source.read_all())
    value = db.value("supply")
    assert value.quality == Quality.IV | Quality.NT and value.value == pytest.approx(24.0)
    assert db.value("supply_pct").quality is Quality.GOOD  # the other channel is fine
    flaky.fail = False
    flaky.value = 1.0
    source.apply(source.read_all())
    assert db.value("supply").value == pytest.approx(12.0)
    assert db.value("supply").quality is Quality.GOOD
    assert caplog.text.count("reading channel ch0 failed") == 1
    assert "channel ch0 readable again" in caplog.text


def test_run_polls_at_its_interval() -> None:
    db = PointDatabase([Point("v", 1, PointKind.FLOAT)])
    analog = FakeAnalogInput("ch", 1.0)
    source = AdcSource(db, "adc:x", [AdcBinding("ch", analog, Scaling(), None, ("v",))],
                       interval=0.01)

    async def main() -> None:
        task = asyncio.create_task(source.run())
        analog.value = 2.5
        for _ in range(200):
            if db.value("v").value == 2.5:
                break
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(main())
    assert db.value("v").value == 2.5


# -- from the configuration -----------------------------------------------------------------------
def iio_device(root: Path, index: int, name: str, files: dict[str, str]) -> None:
    device = root / f"iio:device{index}"
    device.mkdir(parents=True)
    (device / "name").write_text(name + "\n")
    for file, text in files.items():
        (device / file).write_text(text + "\n")


class FakeSpiDev:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def open(self, bus: int, device: int) -> None:
        self.where = (bus, device)

    def xfer2(self, data: list[int]) -> list[int]:
        self.sent.append(list(data))
        return [0x00, 0x01, 0x00]  # 256 counts

    def close(self) -> None:
        pass


class FakeSMBus:
    def __init__(self, bus: int) -> None:
        self.writes: list[tuple[int, int, list[int]]] = []

    def write_i2c_block_data(self, addr: int, register: int, data: list[int]) -> None:
        self.writes.append((addr, register, data))

    def read_i2c_block_data(self, addr: int, register: int, length: int) -> list[int]:
        return [0x80, 0x00] if register == 1 else [0x20, 0x00]  # ready; 8192 counts

    def close(self) -> None:
        pass


def test_sources_built_from_the_configuration(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    iio_device(tmp_path, 0, "mcp3008", {"in_voltage2_raw": "1000", "in_voltage_scale": "3.3"})
    spidev: Any = type(sys)("spidev")
    spidev.SpiDev = FakeSpiDev
    smbus: Any = type(sys)("smbus2")
    smbus.SMBus = FakeSMBus
    monkeypatch.setattr("hal.adc.time.sleep", lambda s: None)
    config = parse_config({
        "adc": {
            "devices": [
                {"name": "iio0", "driver": "iio", "iio_name": "mcp3008", "interval": 0.5},
                {"name": "spi0", "driver": "mcp3008", "spi_bus": 0, "spi_device": 1,
                 "vref": 3.3},
                {"name": "i2c0", "driver": "ads1115", "i2c_bus": 1, "i2c_address": 0x49,
                 "full_scale": 4.096, "data_rate": 250},
                {"name": "unused", "driver": "iio", "iio_name": "nothing"},
            ],
            "channels": [
                {"name": "a", "device": "iio0", "channel": 2, "scale": 10.0},
                {"name": "b", "device": "spi0", "channel": 7,
                 "calibration": [[0.0, -10.0], [3.3, 10.0]]},
                {"name": "c", "device": "i2c0", "channel": 3, "input_range": [0.0, 0.5]},
                {"name": "spare", "device": "spi0", "channel": 0},
            ],
        },
        "points": [
            {"name": "pa", "ioa": 1, "kind": "float", "source": "adc:a"},
            {"name": "pb", "ioa": 2, "kind": "float", "source": "adc:b"},
            {"name": "pc", "ioa": 3, "kind": "float", "source": "adc:c"},
        ],
    }, "site.toml")
    db = PointDatabase(config.points)
    sources = build_adc_sources(db, config, iio_root=tmp_path, spidev=spidev, smbus=smbus)
    assert [(s.name, s.interval, [b.channel for b in s.bindings]) for s in sources] == [
        ("adc:iio0", 0.5, ["a"]), ("adc:spi0", 1.0, ["b"]), ("adc:i2c0", 1.0, ["c"])]
    for source in sources:
        source.initialise()
    assert db.value("pa").value == pytest.approx(1000 * 3.3 / 1000 * 10.0)
    assert db.value("pb").value == pytest.approx(256 * 3.3 / 1024 * 20 / 3.3 - 10.0)
    assert db.value("pc").value == pytest.approx(8192 * 4.096 / 32768)
    assert db.value("pc").quality is Quality.OV  # 1.024 V > input_range 0.5 V
    for source in sources:
        source.close()
