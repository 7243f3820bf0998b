"""rtu/sources/dlms/: scaling, clock decoding, the counter store and a meter's poll logic
(with a scripted link: no sockets here; the simulator runs in tests/integration/test_dlms.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from hal.dlms import AttributeRef, AttributeResult, DlmsError, DlmsErrorKind
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointChanged, PointKind, Quality
from rtu.sources.dlms.config import DlmsMeterConfig, DlmsProfile, DlmsRead
from rtu.sources.dlms.source import (
    CLOCK_REF,
    COUNTER_RESERVE,
    INVALID,
    CounterFileError,
    InvocationCounterStore,
    MeterSource,
    ProfileStore,
    decode_capture_objects,
    decode_cosem_datetime,
    decode_profile_entries,
    decode_scaler_unit,
    plan,
    profile_query,
    register_value,
)

ENERGY = (1, 0, 1, 8, 0, 255)
VOLTS = (1, 0, 32, 7, 0, 255)
NOW = 1_714_557_600.0  # 2024-05-01 10:00:00 UTC


def cosem_time(year: int, month: int, day: int, hour: int, minute: int, second: int,
               deviation: int = -0x8000, status: int = 0) -> bytes:
    return struct.pack(">HBBBBBBBhB", year, month, day, 0xFF, hour, minute, second, 0,
                       deviation, status)


class TestPure:
    def test_register_value(self) -> None:
        assert register_value(2301, -1, 1.0, PointKind.FLOAT) == pytest.approx(230.1)
        assert register_value(12345678, 0, 1.0, PointKind.COUNTER) == 12345678
        assert register_value(1234, 3, 1.0, PointKind.COUNTER) == 1234000  # kWh -> Wh
        assert register_value(12345678, 0, 0.001, PointKind.COUNTER) == 12346  # Wh -> kWh
        assert register_value(523, -2, 40.0, PointKind.FLOAT) == pytest.approx(209.2)  # CT 200/5
        assert isinstance(register_value(5, 0, 1.0, PointKind.FLOAT), float)
        for bad in (b"\x01", "12", None, True, [1, 2]):
            with pytest.raises(ValueError, match="expected a number"):
                register_value(bad, 0, 1.0, PointKind.FLOAT)
        with pytest.raises(ValueError, match="not finite"):
            register_value(10**300, 127, 1.0, PointKind.FLOAT)

    def test_scaler_unit(self) -> None:
        assert decode_scaler_unit([-1, 35]) == (-1, 35)
        for bad in ([1], [1, 2, 3], "x", [1.5, 2], [200, 30]):
            with pytest.raises(ValueError):
                decode_scaler_unit(bad)

    def test_cosem_datetime(self) -> None:
        # 12:00 local with deviation -120 (CEST: UTC = local + deviation) is 10:00 UTC
        t = decode_cosem_datetime(cosem_time(2024, 5, 1, 12, 0, 0, deviation=-120))
        assert t.timestamp == NOW and t.status == 0
        assert decode_cosem_datetime(cosem_time(2024, 5, 1, 10, 0, 0)).timestamp == NOW
        assert decode_cosem_datetime(cosem_time(2024, 5, 1, 10, 0, 0, status=0xFF)).status is None
        assert decode_cosem_datetime(cosem_time(0xFFFF, 0xFF, 0xFF, 10, 0, 0)).timestamp is None
        assert decode_cosem_datetime(b"\x07\xe8").timestamp is None
        assert decode_cosem_datetime(12).timestamp is None

    def test_plan_asks_each_attribute_once(self) -> None:
        meter = DlmsMeterConfig(name="m", transport="tcp", host="h", clock_point="c", reads=(
            DlmsRead("a", ENERGY), DlmsRead("b", ENERGY, scale=0.001), DlmsRead("v", VOLTS),
            DlmsRead("d", (0, 0, 96, 1, 0, 255), class_id=1)))
        assert plan(meter) == (
            AttributeRef(3, ENERGY, 2), AttributeRef(3, ENERGY, 3), AttributeRef(3, VOLTS, 2),
            AttributeRef(3, VOLTS, 3), AttributeRef(1, (0, 0, 96, 1, 0, 255), 2), CLOCK_REF)


class TestCounterStore:
    def test_reserves_blocks_and_restarts_above_them(self, tmp_path: Path) -> None:
        store = InvocationCounterStore(tmp_path, "m1")
        assert store.load() == 0 and not store.path.exists()
        store.reserve(0, 10)
        assert json.loads(store.path.read_text()) == {"reserved": COUNTER_RESERVE}
        assert store.path.stat().st_mode & 0o777 == 0o600
        mtime = store.path.stat().st_mtime_ns
        store.reserve(500, 10)  # within the block: no write
        assert store.path.stat().st_mtime_ns == mtime
        store.reserve(COUNTER_RESERVE - 5, 10)
        assert store.reserved == 2 * COUNTER_RESERVE - 5
        assert InvocationCounterStore(tmp_path, "m1").load() == 2 * COUNTER_RESERVE - 5

    @pytest.mark.parametrize("text", ["", "{}", '{"reserved": -1}', '{"reserved": "7"}', "[1]"])
    def test_corrupt_file_is_an_error(self, tmp_path: Path, text: str) -> None:
        store = InvocationCounterStore(tmp_path, "m1")
        store.path.parent.mkdir()
        store.path.write_text(text)
        with pytest.raises(CounterFileError, match="corrupt"):
            store.load()


class ScriptedLink:
    """Answers from a table of attribute values; or fails as told."""

    def __init__(self, values: dict[AttributeRef, object]) -> None:
        self.values = values
        self.fail: DlmsError | None = None
        self.counters: list[int] = []
        self.asked: list[tuple[AttributeRef, ...]] = []
        self.aborted = 0

    def read(self, refs: Sequence[AttributeRef],
             invocation_counter: int) -> tuple[list[AttributeResult], int]:
        self.counters.append(invocation_counter)
        self.asked.append(tuple(refs))
        if self.fail is not None:
            raise self.fail
        results = []
        for r in refs:
            # a buffer read with a range selection: this meter answers with the whole buffer
            plain = dataclasses.replace(r, selection=None)
            results.append(AttributeResult(r, value=self.values[plain], selected=False)
                           if plain in self.values
                           else AttributeResult(r, error="OBJECT_UNDEFINED"))
        return results, invocation_counter + len(refs) + 3

    def abort(self) -> None:
        self.aborted += 1


def meter_db() -> PointDatabase:
    return PointDatabase([
        Point(name="energy", ioa=1, kind=PointKind.COUNTER, source="dlms"),
        Point(name="volts", ioa=2, kind=PointKind.FLOAT, source="dlms"),
        Point(name="drift", ioa=3, kind=PointKind.SINGLE, source="dlms"),
    ])


METER = DlmsMeterConfig(name="m1", transport="tcp", host="h", clock_point="drift",
                        clock_max_drift=10.0, reads=(
                            DlmsRead("energy", ENERGY, unit=30),
                            DlmsRead("volts", VOLTS, scale=2.0)))


def values(clock: bytes) -> dict[AttributeRef, object]:
    return {AttributeRef(3, ENERGY, 2): 12345678, AttributeRef(3, ENERGY, 3): [0, 30],
            AttributeRef(3, VOLTS, 2): 2301, AttributeRef(3, VOLTS, 3): [-1, 35],
            CLOCK_REF: clock}


def source(link: ScriptedLink, db: PointDatabase, store: InvocationCounterStore | None = None
           ) -> MeterSource:
    return MeterSource(METER, db, link, store, wall=lambda: NOW)


class TestMeterSource:
    def test_values_scaled_clock_and_quality(self) -> None:
        db = meter_db()
        link = ScriptedLink(values(cosem_time(2024, 5, 1, 10, 0, 5)))  # 5 s ahead
        src = source(link, db)
        asyncio.run(src.poll())
        assert db.value("energy").value == 12345678 and db.value("energy").quality == Quality.GOOD
        assert db.value("volts").value == pytest.approx(460.2)  # 2301 * 10^-1 * 2
        assert db.value("drift").value is False and db.value("drift").quality == Quality.GOOD
        assert db.value("volts").timestamp == NOW
        assert src.clock_drift == pytest.approx(5.0) and src.up is True
        link.values[CLOCK_REF] = cosem_time(2024, 5, 1, 9, 59, 0)  # 60 s behind
        asyncio.run(src.poll())
        assert db.value("drift").value is True and src.clock_drift == pytest.approx(-60.0)
        link.values[CLOCK_REF] = cosem_time(2024, 5, 1, 10, 0, 0, status=0x01)  # invalid clock
        asyncio.run(src.poll())
        assert db.value("drift").quality == INVALID

    def test_unit_mismatch_and_missing_object_invalidate_one_point(self) -> None:
        db = meter_db()
        link = ScriptedLink(values(cosem_time(2024, 5, 1, 10, 0, 0)))
        link.values[AttributeRef(3, ENERGY, 3)] = [3, 32]  # varh, not Wh
        del link.values[AttributeRef(3, VOLTS, 2)]
        src = source(link, db)
        asyncio.run(src.poll())
        assert db.value("energy").quality == INVALID
        assert db.value("volts").quality == INVALID
        assert db.value("drift").quality == Quality.GOOD and src.up is True

    def test_a_meter_that_stops_answering_and_returns(self) -> None:
        db = meter_db()
        link = ScriptedLink(values(cosem_time(2024, 5, 1, 10, 0, 0)))
        src = source(link, db)
        asyncio.run(src.poll())
        link.fail = DlmsError(DlmsErrorKind.TIMEOUT, "no answer within 1 s")
        asyncio.run(src.poll())
        for name in ("energy", "volts", "drift"):
            assert db.value(name).quality == INVALID
        assert db.value("energy").value == 12345678  # kept
        assert src.up is False and "NOT ANSWERING: no answer" in src.health
        link.fail = None
        asyncio.run(src.poll())
        assert all(db.value(n).quality == Quality.GOOD for n in ("energy", "volts", "drift"))
        assert src.health.startswith("answering (3 polls, 1 failed")

    def test_counter_goes_on_across_failures_and_restarts(self, tmp_path: Path) -> None:
        db = meter_db()
        link = ScriptedLink(values(cosem_time(2024, 5, 1, 10, 0, 0)))
        src = source(link, db, InvocationCounterStore(tmp_path, "m1"))
        asyncio.run(src.poll())
        asyncio.run(src.poll())
        link.fail = DlmsError(DlmsErrorKind.REFUSED, "refused", next_counter=5000)
        asyncio.run(src.poll())
        link.fail = None
        asyncio.run(src.poll())
        assert link.counters == [0, 8, 16, 5000]
        assert src.counter == 5008
        # a restart goes on above everything this run may have used
        again = ScriptedLink(link.values)
        asyncio.run(source(again, db, InvocationCounterStore(tmp_path, "m1")).poll())
        assert again.counters[0] >= 5008

    def test_unreadable_counter_file_stops_the_meter(self, tmp_path: Path) -> None:
        db = meter_db()
        store = InvocationCounterStore(tmp_path, "m1")
        store.path.parent.mkdir()
        store.path.write_text("garbage")
        link = ScriptedLink(values(cosem_time(2024, 5, 1, 10, 0, 0)))
        src = source(link, db, store)
        asyncio.run(src.poll())
        assert link.counters == [] and "corrupt" in src.last_error
        assert db.value("energy").quality == INVALID


class GatedLink(ScriptedLink):
    """A ScriptedLink whose read waits until the test opens the gate."""

    def __init__(self, values: dict[AttributeRef, object]) -> None:
        super().__init__(values)
        self.gate = threading.Event()

    def read(self, refs: Sequence[AttributeRef],
             invocation_counter: int) -> tuple[list[AttributeResult], int]:
        assert self.gate.wait(5.0)
        return super().read(refs, invocation_counter)


class TestStopping:
    def test_a_stop_as_a_session_ends_stops_the_source(self) -> None:
        """A cancel that lands while a finished session's result is on its way back to the
        loop ends run() (Python 3.11's asyncio.wait_for returned the result instead and
        forgot the cancel, CPython gh-86296: the source polled on and the supervisor's stop
        waited for ever)."""
        db = meter_db()
        link = GatedLink(values(cosem_time(2024, 5, 1, 10, 0, 0)))
        src = source(link, db)

        async def main() -> None:
            task = asyncio.create_task(src.run())
            while src._worker is None:
                await asyncio.sleep(0)
            # the cancel comes right after the session thread's result is in, before the
            # poll has looked at it: the narrowest window
            src._worker.add_done_callback(lambda _: task.cancel())
            link.gate.set()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=2.0)
            assert done and task.cancelled(), "the source went on polling after its cancel"
            assert link.aborted >= 1  # run() closed the line on its way out

        asyncio.run(main())


# -- load profiles ---------------------------------------------------------------------------------
LP = (1, 0, 99, 1, 0, 255)
CLOCK_OBIS = (0, 0, 1, 0, 0, 255)
CAPTURE = [[8, bytes(CLOCK_OBIS), 2, 0], [3, bytes(ENERGY), 2, 0], [3, bytes(VOLTS), 2, 0]]


def stamp(posix: float, deviation: int = 0) -> bytes:
    """A COSEM date-time for ``posix`` seconds, written in local time at ``deviation``."""
    local = dt.datetime.fromtimestamp(posix - deviation * 60, dt.UTC)
    return cosem_time(local.year, local.month, local.day, local.hour, local.minute,
                      local.second, deviation=deviation)


class TestProfilePure:
    def test_capture_objects(self) -> None:
        assert decode_capture_objects(CAPTURE) == [(8, CLOCK_OBIS, 2), (3, ENERGY, 2),
                                                   (3, VOLTS, 2)]
        for bad in ("x", [[8, b"\x00", 2, 0]], [[8, bytes(CLOCK_OBIS), 2]], [None]):
            with pytest.raises(ValueError, match="capture_objects"):
                decode_capture_objects(bad)

    def test_entries_in_time_order_with_compressed_clock(self) -> None:
        rows = [[stamp(NOW - 900, deviation=-120), 10, 2300],  # written in CEST
                [None, 11, 2301],  # null clock: the previous entry + the capture period
                [stamp(NOW - 1800), 9, 2299]]  # out of order (a LIFO profile)
        entries, problems = decode_profile_entries(rows, 3, 0, 900)
        assert [(e.timestamp, e.values[1]) for e in entries] == [
            (NOW - 1800, 9), (NOW - 900, 10), (NOW, 11)]
        assert problems == []

    def test_bad_entries_are_left_out_and_named(self) -> None:
        rows = [[stamp(NOW), 1, 2], [b"\xff" * 12, 1, 2], [None, 1, 2], [stamp(NOW), 1], 5]
        entries, problems = decode_profile_entries(rows, 3, 0, 900)
        assert [e.timestamp for e in entries] == [NOW]
        assert [p.split(":")[0] for p in problems] == ["entry 1", "entry 2", "entry 3",
                                                        "entry 4"]
        with pytest.raises(ValueError, match="expected an array of entries"):
            decode_profile_entries(b"\x01", 3, 0, 900)

    def test_query_asks_a_range_after_the_last_entry(self) -> None:
        profile = DlmsProfile(capture_period=900, columns=(
            DlmsRead("a", ENERGY), DlmsRead("b", VOLTS), DlmsRead("c", (0, 0, 96, 1, 0, 255),
                                                                   class_id=1)))
        query = profile_query(profile, NOW - 900.5, NOW)
        assert query.capture_objects == AttributeRef(7, LP, 3)
        assert query.buffer.obis == LP and query.buffer.attribute == 2
        selection = query.buffer.selection
        assert selection is not None
        assert (selection.restricting_class, selection.restricting_obis,
                selection.restricting_attribute) == (8, CLOCK_OBIS, 2)
        assert selection.start == NOW - 900 and selection.end > NOW
        assert query.scalers == (AttributeRef(3, ENERGY, 3), AttributeRef(3, VOLTS, 3))


PROFILE_METER = DlmsMeterConfig(
    name="m1", transport="tcp", host="h", reads=(DlmsRead("volts", VOLTS),),
    profile=DlmsProfile(capture_period=900, backfill=7200.0, columns=(
        DlmsRead("energy", ENERGY, unit=30),)))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def profile_values(rows: list[list[object]]) -> dict[AttributeRef, object]:
    return {AttributeRef(3, ENERGY, 3): [3, 30], AttributeRef(3, VOLTS, 2): 2301,
            AttributeRef(3, VOLTS, 3): [-1, 35], AttributeRef(7, LP, 3): CAPTURE,
            AttributeRef(7, LP, 2): rows}


class TestProfileSource:
    def test_new_entries_time_tagged_in_order_and_remembered(self, tmp_path: Path) -> None:
        db = meter_db()
        changes: list[PointChanged] = []
        db.subscribe(changes.append)
        rows: list[list[object]] = [[stamp(NOW - 10800 + 900 * i), 100 + i, 2300]
                                    for i in range(12)]  # 3 h of 15-minute entries
        link = ScriptedLink(profile_values(rows))
        clock = Clock(NOW - 100)
        store = ProfileStore(tmp_path, "m1")
        src = MeterSource(PROFILE_METER, db, link, None, profile_store=store, wall=clock)
        asyncio.run(src.poll())
        # the first read goes back `backfill` (2 h): the entries after NOW - 7300, oldest
        # first, each with its own capture time; the kWh scaler (3) applied
        energy = [(c.new.timestamp, c.new.value) for c in changes if c.point.name == "energy"]
        assert energy == [(NOW - 10800 + 900 * i, (100 + i) * 1000) for i in range(4, 12)]
        assert db.value("volts").value == pytest.approx(230.1)
        assert src.profile_last == NOW - 900
        assert json.loads(store.path.read_text())["last"] == NOW - 900
        assert store.path.stat().st_mode & 0o777 == 0o600
        assert "load profile up to" in src.health
        # the next entry is not due before NOW: the profile is not asked
        clock.now = NOW - 50
        asyncio.run(src.poll())
        assert AttributeRef(7, LP, 3) not in link.asked[-1] and len(link.asked) == 2
        # it is due: only the new entry (a null clock: the previous one + 900 s)
        rows.append([None, 112, 2300])
        clock.now = NOW + 30
        changes.clear()
        asyncio.run(src.poll())
        assert [(c.new.timestamp, c.new.value) for c in changes
                if c.point.name == "energy"] == [(NOW, 112000)]
        assert src.profile_last == NOW
        # due again, nothing new yet: asked, nothing reported, nothing forgotten
        clock.now = NOW + 960
        changes.clear()
        asyncio.run(src.poll())
        assert AttributeRef(7, LP, 3) in link.asked[-1]
        assert [c for c in changes if c.point.name == "energy"] == []
        assert src.profile_last == NOW
        # a restart goes on after the last entry reported: nothing twice
        again = MeterSource(PROFILE_METER, db, ScriptedLink(link.values), None,
                            profile_store=ProfileStore(tmp_path, "m1"), wall=Clock(NOW + 990))
        asyncio.run(again.poll())
        assert again.profile_last == NOW
        assert [c for c in changes if c.point.name == "energy"] == []

    def test_a_profile_without_the_column_or_the_clock(self, tmp_path: Path) -> None:
        db = meter_db()
        values = profile_values([])
        values[AttributeRef(7, LP, 3)] = [CAPTURE[0], CAPTURE[2]]  # no energy column
        values[AttributeRef(7, LP, 2)] = [[stamp(NOW - 900), 2300]]
        clock = Clock(NOW)
        src = MeterSource(PROFILE_METER, db, ScriptedLink(values), None, wall=clock)
        asyncio.run(src.poll())
        # a mapping mistake: the point is invalid, the meter answers, the entry is consumed
        assert db.value("energy").quality == INVALID
        assert src.up is True and db.value("volts").quality == Quality.GOOD
        assert src.profile_last == NOW - 900
        values[AttributeRef(7, LP, 3)] = CAPTURE[1:]  # no clock column: no time
        values[AttributeRef(7, LP, 2)] = [[100, 2300], [101, 2300]]
        clock.now = NOW + 30
        asyncio.run(src.poll())
        assert db.value("energy").quality == INVALID and src.profile_last == NOW - 900
        values[AttributeRef(7, LP, 3)] = CAPTURE  # mended
        values[AttributeRef(7, LP, 2)] = [[stamp(NOW - 900), 100, 2300], [stamp(NOW), 101, 2300]]
        asyncio.run(src.poll())
        assert db.value("energy").quality == Quality.GOOD
        assert db.value("energy").value == 101000 and db.value("energy").timestamp == NOW
        assert src.profile_last == NOW

    def test_corrupt_profile_file_starts_from_the_backfill(self, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
        store = ProfileStore(tmp_path, "m1")
        store.path.parent.mkdir(parents=True)
        store.path.write_text('{"last": "yesterday"}')
        assert store.load() is None
        assert "corrupt" in caplog.text
        store.save(NOW)
        assert store.load() == NOW
