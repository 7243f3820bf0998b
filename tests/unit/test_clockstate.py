"""rtu/clockstate.py: the system clock's state, the kept clock offset, the time zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtu import clockstate
from rtu.clockstate import ClockOffsetStore, system_clock_synchronised, system_time_zone


def test_timesyncd_flag_file_means_synchronised(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clockstate, "kernel_clock_synchronised", lambda: None)
    flag = tmp_path / "synchronized"
    assert system_clock_synchronised(flag) is False  # no flag, kernel not readable
    flag.touch()
    assert system_clock_synchronised(flag) is True


def test_the_kernel_state_counts_without_the_flag_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clockstate, "kernel_clock_synchronised", lambda: True)
    assert system_clock_synchronised(tmp_path / "absent") is True


def test_the_kernel_state_is_read_without_changing_anything() -> None:
    assert clockstate.kernel_clock_synchronised() in (True, False, None)


def test_offset_store_round_trip_and_damage(tmp_path: Path) -> None:
    store = ClockOffsetStore(tmp_path / "clock-offset.json")
    assert store.load() is None
    store.save(-12.5, 4_000_000_000.0)  # a sync after 2038
    assert store.load() == (-12.5, 4_000_000_000.0)
    assert "2096-10-02" in (tmp_path / "clock-offset.json").read_text()
    (tmp_path / "clock-offset.json").write_text('{"offset": "NaN", "synced_at": 1}')
    assert store.load() is None
    (tmp_path / "clock-offset.json").write_text("{not json")
    assert store.load() is None


def test_offset_store_that_cannot_write_does_not_raise(tmp_path: Path) -> None:
    store = ClockOffsetStore(tmp_path / "missing-dir" / "clock-offset.json")
    store.save(1.0, 2.0)
    assert store.load() is None


def test_time_zone_from_tz() -> None:
    zone = system_time_zone({"TZ": "Europe/Berlin"})
    assert zone is not None and str(zone) == "Europe/Berlin"
    assert system_time_zone({"TZ": "No/Such_Zone"}) is None


def test_clock_calls_only_without_a_seccomp_filter_or_when_allowed(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nSeccomp:\t2\nSeccomp_filters:\t3\n")
    assert not clockstate.clock_calls_allowed({}, status)  # systemd's filter would kill us
    assert clockstate.clock_calls_allowed({"RTU_CLOCK_CALLS": "set"}, status, setting=True)
    assert clockstate.clock_calls_allowed({"RTU_CLOCK_CALLS": "read"}, status)
    assert not clockstate.clock_calls_allowed({"RTU_CLOCK_CALLS": "read"}, status, setting=True)
    status.write_text("Name:\tpython\nSeccomp:\t0\n")
    assert clockstate.clock_calls_allowed({}, status)
    assert not clockstate.clock_calls_allowed({}, tmp_path / "absent")


def test_setting_the_clock_under_a_filter_is_refused_not_attempted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clockstate, "clock_calls_allowed", lambda **_: False)
    assert "clock-sync.conf" in str(clockstate.set_system_clock(2_000_000_000.0))
    assert clockstate.kernel_clock_synchronised() is None
