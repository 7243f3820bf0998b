from __future__ import annotations

import pytest

from rtu.points.database import PointDatabase, UnknownPointError
from rtu.points.model import ChangeOrigin, Point, PointChanged, PointKind, PointValue, Quality


def make_db() -> tuple[PointDatabase, list[PointChanged]]:
    db = PointDatabase([
        Point("sp", 1, PointKind.SINGLE),
        Point("ai", 2, PointKind.FLOAT, deadband=0.5),
        Point("pct", 3, PointKind.FLOAT, deadband_percent=1.0, low=0.0, high=200.0),
        Point("sc", 4, PointKind.SCALED, low=-100, high=100),
        Point("cnt", 5, PointKind.COUNTER),
        Point("cmd", 6, PointKind.SINGLE_COMMAND, target="r1"),
        Point("nv", 7, PointKind.NORMALIZED),
        Point("st", 8, PointKind.STEP),
    ])
    seen: list[PointChanged] = []
    db.subscribe(seen.append)
    return db, seen


def test_points_start_invalid_and_not_topical() -> None:
    db, _ = make_db()
    assert db.value("sp").quality == Quality.IV | Quality.NT
    assert db.value("cmd").quality == Quality.GOOD


def test_duplicate_name_and_ioa_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate point name 'a'"):
        PointDatabase([Point("a", 1, PointKind.SINGLE), Point("a", 2, PointKind.SINGLE)])
    with pytest.raises(ValueError, match="IOA 1 of 'b' is already used by 'a'"):
        PointDatabase([Point("a", 1, PointKind.SINGLE), Point("b", 1, PointKind.SINGLE)])


def test_update_reports_old_and_new_with_source_time_and_origin() -> None:
    db, seen = make_db()
    assert db.update("sp", True, timestamp=100.25)
    assert db.update("sp", False, timestamp=101.0, origin=ChangeOrigin.REMOTE_COMMAND)
    assert [(c.old.value, c.new.value, c.new.timestamp, c.origin) for c in seen] == [
        (False, True, 100.25, ChangeOrigin.FIELD),
        (True, False, 101.0, ChangeOrigin.REMOTE_COMMAND),
    ]
    assert db.value("sp").timestamp == 101.0


def test_same_value_is_not_reported_but_quality_change_is() -> None:
    db, seen = make_db()
    db.update("sp", True, timestamp=1.0)
    assert not db.update("sp", True, timestamp=2.0)
    assert db.update("sp", True, Quality.IV | Quality.NT, timestamp=3.0)
    assert db.set_quality("sp", Quality.GOOD, timestamp=4.0)
    assert len(seen) == 3


def test_absolute_deadband_is_measured_from_the_last_reported_value() -> None:
    db, seen = make_db()
    db.update("ai", 10.0, timestamp=1)
    assert not db.update("ai", 10.4, timestamp=2)
    assert not db.update("ai", 10.5, timestamp=3)  # |delta| must exceed the deadband
    assert db.value("ai").value == 10.5  # the current value is kept for GI and read
    assert db.update("ai", 10.6, timestamp=4)  # 0.6 from the reported 10.0
    assert [c.new.value for c in seen] == [10.0, 10.6]


def test_percent_deadband_uses_the_range() -> None:
    db, _ = make_db()
    db.update("pct", 100.0, timestamp=1)
    assert not db.update("pct", 101.9, timestamp=2)  # 1 % of 200 = 2
    assert db.update("pct", 102.1, timestamp=3)


def test_out_of_range_sets_ov_and_clamps_int16() -> None:
    db, _ = make_db()
    db.update("sc", 150, timestamp=1)
    assert db.value("sc").quality & Quality.OV
    db.update("sc", 40000, timestamp=2)
    assert db.value("sc") .value == 32767
    db.update("nv", 1.5, timestamp=3)
    assert db.value("nv").quality & Quality.OV and db.value("nv").value < 1.0
    db.update("st", -100, timestamp=4)
    assert db.value("st").value == -64 and db.value("st").quality & Quality.OV


def test_counter_wraps_with_carry() -> None:
    db, _ = make_db()
    db.update("cnt", 2**31, timestamp=1)
    v = db.value("cnt")
    assert v.value == -(2**31) and v.quality & Quality.CY


def test_command_points_store_but_never_report() -> None:
    db, seen = make_db()
    assert not db.update("cmd", True, timestamp=1)
    assert db.value("cmd").value is True
    assert seen == []


def test_unsubscribe_and_unknown_point() -> None:
    db, seen = make_db()
    extra: list[PointChanged] = []
    unsubscribe = db.subscribe(extra.append)
    db.update("sp", True, timestamp=1)
    unsubscribe()
    db.update("sp", False, timestamp=2)
    assert len(extra) == 1 and len(seen) == 2
    with pytest.raises(UnknownPointError):
        db.update("nope", 1, timestamp=1)
    assert db.by_ioa(999) is None
    assert [p.ioa for p in db.monitored()] == [1, 2, 3, 4, 5, 7, 8]


def test_subscribers_told_last_come_after_the_others() -> None:
    db = PointDatabase([Point("a", 1, PointKind.SINGLE)])
    told: list[str] = []

    def named(name: str):  # type: ignore[no-untyped-def]
        def callback(change: PointChanged) -> None:
            told.append(name)
        return callback

    unsubscribe_late = db.subscribe(named("late"), last=True)
    db.subscribe(named("first"))
    db.subscribe(named("second"))
    db.update("a", True, timestamp=1.0)
    assert told == ["first", "second", "late"]
    unsubscribe_late()
    db.update("a", False, timestamp=2.0)
    assert told[3:] == ["first", "second"]


def test_value_subscribers_are_told_in_order_alone_or_with_others() -> None:
    db = PointDatabase([Point("a", 1, PointKind.SINGLE), Point("f", 2, PointKind.FLOAT)])
    told: list[tuple[str, str, object, ChangeOrigin]] = []

    def direct(point: Point, new: PointValue, origin: ChangeOrigin) -> None:
        told.append(("direct", point.name, new.value, origin))

    def record(change: PointChanged) -> None:
        told.append(("record", change.point.name, change.new.value, change.origin))

    unsubscribe = db.subscribe_values(direct)
    assert db._only is direct  # alone: called without a PointChanged
    db.update("a", True, timestamp=1.0)
    db.update("f", 2.5, timestamp=1.0, origin=ChangeOrigin.REMOTE_COMMAND)
    assert not db.update("a", True, timestamp=2.0)  # no change: nobody is told
    assert told == [("direct", "a", True, ChangeOrigin.FIELD),
                    ("direct", "f", 2.5, ChangeOrigin.REMOTE_COMMAND)]
    unsubscribe_record = db.subscribe(record, last=True)
    assert db._only is None
    db.update("a", False, timestamp=3.0)
    assert told[2:] == [("direct", "a", False, ChangeOrigin.FIELD),
                        ("record", "a", False, ChangeOrigin.FIELD)]
    unsubscribe()
    db.update("a", True, timestamp=4.0)
    assert told[4:] == [("record", "a", True, ChangeOrigin.FIELD)]
    unsubscribe_record()
    db.update("a", False, timestamp=5.0)
    assert len(told) == 5 and db._direct == {} and db._only is None


def test_a_value_subscriber_may_take_single_points_on_a_handler_of_their_own() -> None:
    db = PointDatabase([Point("a", 1, PointKind.SINGLE), Point("f", 2, PointKind.FLOAT)])
    told: list[tuple[str, str, object]] = []

    def general(point: Point, new: PointValue, origin: ChangeOrigin) -> None:
        told.append(("general", point.name, new.value))

    def single(point: Point, new: PointValue, origin: ChangeOrigin) -> None:
        told.append(("single", point.name, new.value))

    unsubscribe = db.subscribe_values(general, single=single)
    db.update("a", 1, timestamp=1.0)  # a single point's value is a bool
    db.update("f", 2.5, timestamp=1.0)
    release = db.attribute("a", ChangeOrigin.LOCAL_COMMAND)
    db.update("a", False, timestamp=2.0)  # attributed: through _report, the general handler
    release()
    assert told == [("single", "a", True), ("general", "f", 2.5), ("general", "a", False)]
    unsubscribe_other = db.subscribe(lambda change: None)
    assert db._only_single is None  # not alone: every change is handed out as a record
    db.update("a", True, timestamp=3.0)
    assert told[3:] == [("general", "a", True)]
    unsubscribe_other()
    db.update("a", False, timestamp=4.0)
    assert told[4:] == [("single", "a", False)]
    unsubscribe()
    db.update("a", True, timestamp=5.0)
    assert len(told) == 5 and db._singles == {} and db._only_single is None


def test_attribution_gives_field_changes_an_origin_until_released() -> None:
    db = PointDatabase([Point("pos", 1, PointKind.DOUBLE)])
    seen: list[PointChanged] = []
    db.subscribe(seen.append)
    local = db.attribute("pos", ChangeOrigin.LOCAL_COMMAND)
    remote = db.attribute("pos", ChangeOrigin.REMOTE_COMMAND)
    db.update("pos", 1, timestamp=1.0)
    remote()
    db.update("pos", 2, timestamp=2.0)
    db.update("pos", 1, timestamp=3.0, origin=ChangeOrigin.REMOTE_COMMAND)  # explicit wins
    local()
    db.update("pos", 2, timestamp=4.0)
    assert [c.origin for c in seen] == [ChangeOrigin.REMOTE_COMMAND, ChangeOrigin.LOCAL_COMMAND,
                                        ChangeOrigin.REMOTE_COMMAND, ChangeOrigin.FIELD]


def test_a_duplicate_name_or_ioa_is_named() -> None:
    a = Point("a", 1, PointKind.SINGLE)
    with pytest.raises(ValueError, match="duplicate point name 'a'"):
        PointDatabase([a, Point("a", 2, PointKind.SINGLE)])
    with pytest.raises(ValueError, match="IOA 1 of 'b' is already used by 'a'"):
        PointDatabase([a, Point("b", 1, PointKind.SINGLE)])
    db = PointDatabase([Point("c", 3, PointKind.SINGLE_COMMAND), Point("b", 2, PointKind.FLOAT), a])
    assert [p.name for p in db.monitored()] == ["a", "b"]  # IOA order, no commands
