"""Issue 15 items 1 and 2: IV while the clock is not synchronised, the master's clock offset
(own time tags only, kept, expiring), clock_sync = "system", local time tags."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from rtu.iec.asdu.objects import ClockSyncCommand, Cp56Time2a
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation.settings import ClockSyncMode
from rtu.points.timestamps import posix_seconds
from tests.unit.iec.test_outstation import T0, Rig, act, summary


def _event_tag(rig: Rig, *, device_time: bool = False, at: float = T0) -> Cp56Time2a:
    value = not rig.db.value("sp0").value
    rig.db.update("sp0", value, timestamp=at, device_time=device_time)
    (asdu,) = rig.drain()
    assert asdu.type_id is TypeId.M_SP_TB_1
    tag = asdu.objects[0].time  # type: ignore[union-attr]
    assert isinstance(tag, Cp56Time2a)
    return tag


def _started(**config: object) -> Rig:
    rig = Rig(**config)
    rig.outstation.system_clock_synchronised = False  # a board that booted without NTP
    rig.session.activate()
    rig.drain()
    return rig


def _sync(rig: Rig, master_time: float, originator: int = 0) -> list[tuple[TypeId, Cot, bool]]:
    rig.send(act(TypeId.C_CS_NA_1, ClockSyncCommand(0, Cp56Time2a.from_timestamp(master_time)),
                 originator=originator))
    return summary(rig.drain())


def test_iv_by_default_until_the_system_clock_or_a_master_synchronises_it() -> None:
    rig = _started()
    assert rig.outstation.config.invalid_time_until_synced
    assert _event_tag(rig).invalid
    rig.outstation.set_system_clock_state(True)
    assert not _event_tag(rig).invalid
    rig.outstation.set_system_clock_state(False)
    assert _event_tag(rig).invalid
    assert _sync(rig, T0 + 5) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, False)]
    assert not _event_tag(rig).invalid
    assert rig.outstation.time_valid


def test_iv_can_be_switched_off() -> None:
    rig = _started(invalid_time_until_synced=False)
    assert not _event_tag(rig).invalid


def test_a_clock_at_1970_is_clamped_and_invalid_even_when_marked_synchronised() -> None:
    rig = _started()
    rig.outstation.set_system_clock_state(True)
    tag = _event_tag(rig, at=12.0)
    assert tag.invalid and (tag.year, tag.month, tag.day) == (0, 1, 1)


def test_the_offset_shifts_our_time_tags_but_never_a_device_time_stamp() -> None:
    rig = _started()
    _sync(rig, T0 + 3600)  # the master says it is an hour later
    own = _event_tag(rig)
    device = _event_tag(rig, device_time=True)
    assert own.to_timestamp() == T0 + 3600
    assert device.to_timestamp() == T0  # the device's own clock: as it said
    assert not device.invalid


def test_the_offset_expires_after_its_lifetime() -> None:
    rig = _started(clock_offset_lifetime=600.0)
    _sync(rig, T0 + 60)
    rig.clock.mono += 599
    rig.outstation.set_system_clock_state(False)
    assert rig.outstation.clock_offset == 60 and rig.outstation.clock_synchronised
    rig.clock.mono += 1
    rig.outstation.set_system_clock_state(False)
    assert rig.outstation.clock_offset == 0.0 and not rig.outstation.clock_synchronised
    assert _event_tag(rig).invalid


def test_the_offset_is_reported_for_keeping_and_restored_after_a_restart() -> None:
    rig = _started(clock_offset_lifetime=600.0)
    kept: list[tuple[float, float]] = []
    rig.outstation.on_clock_sync = lambda offset, at: kept.append((offset, at))
    _sync(rig, T0 + 42)
    assert kept == [(42.0, T0)]
    # a new process 100 s later: the offset is taken back, with 500 s left to live
    again = _started(clock_offset_lifetime=600.0)
    again.clock.system = T0 + 100
    assert again.outstation.restore_clock_offset(*kept[0])
    assert again.outstation.clock_synchronised and again.outstation.clock_offset == 42.0
    assert _event_tag(again, at=T0 + 100).to_timestamp() == T0 + 142
    again.clock.mono += 500
    assert again.outstation.expire_clock_offset()
    # one that has lived longer than its lifetime is not restored
    late = _started(clock_offset_lifetime=600.0)
    late.clock.system = T0 + 601
    assert not late.outstation.restore_clock_offset(*kept[0])
    assert late.outstation.clock_offset == 0.0


def test_system_clock_sync_steps_the_clock_for_allowed_originators_only() -> None:
    rig = _started(clock_sync=ClockSyncMode.SYSTEM, command_originators=frozenset({7}))
    steps: list[float] = []

    def step(seconds: float) -> str | None:
        steps.append(seconds)
        rig.clock.system = seconds
        return None

    rig.outstation.step_clock = step
    assert _sync(rig, T0 + 30, originator=3) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, True)]
    assert steps == [] and not rig.outstation.clock_synchronised
    assert _sync(rig, T0 + 30, originator=7) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, False)]
    assert steps == [T0 + 30] and rig.outstation.clock_offset == 0.0
    assert rig.outstation.clock_synchronised
    tag = _event_tag(rig, at=T0 + 30)
    assert tag.to_timestamp() == T0 + 30 and not tag.invalid


def test_system_clock_sync_that_fails_is_refused() -> None:
    rig = _started(clock_sync=ClockSyncMode.SYSTEM, command_originators=frozenset({7}))
    rig.outstation.step_clock = lambda seconds: "not permitted"
    assert _sync(rig, T0 + 30, originator=7) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, True)]
    assert not rig.outstation.clock_synchronised


def test_a_clock_sync_to_2050_works_and_tags_events_in_2050() -> None:
    rig = _started()
    year_2050 = posix_seconds(datetime(2050, 6, 1, 12, 0))
    assert _sync(rig, year_2050) == [(TypeId.C_CS_NA_1, Cot.ACTIVATION_CON, False)]
    tag = _event_tag(rig)
    assert (tag.year, tag.month, tag.day) == (50, 6, 1) and not tag.invalid


def test_local_time_tags_carry_su_in_summer() -> None:
    try:
        zone = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:  # pragma: no cover - no time zone data
        pytest.skip("no time zone data")
    rig = _started(local_time=True)
    rig.outstation.time_zone = zone
    summer = posix_seconds(datetime(2026, 7, 1, 10, 0))
    tag = _event_tag(rig, at=summer)
    assert (tag.hour, tag.summer_time) == (12, True)
    winter = posix_seconds(datetime(2026, 1, 1, 10, 0))
    tag = _event_tag(rig, at=winter)
    assert (tag.hour, tag.summer_time) == (11, False)
    # a clock sync in local time is read in local time
    rig.clock.system = summer
    local_tag = Cp56Time2a.from_timestamp(summer + 10, zone=zone)
    rig.send(act(TypeId.C_CS_NA_1, ClockSyncCommand(0, local_tag)))
    rig.drain()
    assert rig.outstation.clock_offset == pytest.approx(10.0)
