"""PointDatabase overrides for commissioning: substitute (SB), block (BL), release."""

from __future__ import annotations

import pytest

from rtu.points.database import PointDatabase, UnknownPointError
from rtu.points.model import Point, PointChanged, PointKind, Quality


@pytest.fixture
def db() -> PointDatabase:
    points = [Point("door", 1, PointKind.SINGLE), Point("temp", 2, PointKind.FLOAT, deadband=5.0),
              Point("cmd", 3, PointKind.SINGLE_COMMAND)]
    database = PointDatabase(points)
    database.update("door", False, timestamp=1.0)
    database.update("temp", 20.0, timestamp=1.0)
    return database


def changes(db: PointDatabase) -> list[PointChanged]:
    seen: list[PointChanged] = []
    db.subscribe(seen.append)
    return seen


def test_substitute_holds_the_field_value_until_release(db: PointDatabase) -> None:
    seen = changes(db)
    pv = db.substitute("door", True, timestamp=2.0)
    assert (pv.value, pv.quality) == (True, Quality.SB) and db.overridden("door")
    assert db.update("door", False, Quality.IV, timestamp=3.0) is False  # held, not reported
    assert db.update("door", True, timestamp=4.0) is False
    assert db.value("door").value is True and db.value("door").quality == Quality.SB
    released = db.release("door", timestamp=5.0)
    assert (released.value, released.quality, released.timestamp) == (True, Quality.GOOD, 5.0)
    assert [(c.new.value, c.new.quality) for c in seen] == [(True, Quality.SB),
                                                            (True, Quality.GOOD)]
    assert not db.overridden("door")


def test_a_substitution_within_the_deadband_is_still_reported(db: PointDatabase) -> None:
    seen = changes(db)
    db.substitute("temp", 21.0, timestamp=2.0)
    db.substitute("temp", 22.0, timestamp=3.0)
    assert [c.new.value for c in seen] == [21.0, 22.0]
    db.release("temp", timestamp=4.0)
    assert (seen[-1].new.value, seen[-1].new.quality) == (20.0, Quality.GOOD)


def test_block_freezes_the_value_flagged_bl(db: PointDatabase) -> None:
    seen = changes(db)
    db.update("door", True, timestamp=2.0)
    pv = db.block("door", timestamp=3.0)
    assert (pv.value, pv.quality) == (True, Quality.BL)
    db.update("door", False, timestamp=4.0)
    assert db.value("door").value is True
    db.release("door", timestamp=5.0)
    assert [(c.new.value, c.new.quality) for c in seen] == [
        (True, Quality.GOOD), (True, Quality.BL), (False, Quality.GOOD)]


def test_blocked_command_point_and_errors(db: PointDatabase) -> None:
    assert db.block("cmd", timestamp=1.0).quality & Quality.BL  # the outstation refuses it
    db.release("cmd", timestamp=2.0)
    assert db.value("cmd").quality == Quality.GOOD
    with pytest.raises(ValueError, match="command point"):
        db.substitute("cmd", True, timestamp=1.0)
    with pytest.raises(ValueError, match="neither substituted nor blocked"):
        db.release("door", timestamp=1.0)
    with pytest.raises(UnknownPointError):
        db.block("nope", timestamp=1.0)
