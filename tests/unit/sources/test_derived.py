"""rtu.sources.derived: the input index and the change follower that the calculated and the
protection sources share."""

from __future__ import annotations

from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointChanged, PointKind
from rtu.sources.derived import ChangeFollower, readers_of


def test_readers_of_inverts_inputs_in_order() -> None:
    readers = readers_of({"c1": ("a", "b"), "c2": ("b",), "c3": ()})
    assert readers == {"a": ["c1"], "b": ["c1", "c2"]}


def test_follower_subscribes_once_after_other_subscribers_and_closes() -> None:
    db = PointDatabase([Point("a", 1, PointKind.SINGLE)])
    told: list[str] = []

    def derived(change: PointChanged) -> None:
        told.append(f"derived {change.new.value}")

    follower = ChangeFollower(db, derived)
    follower.follow()
    follower.follow()  # again: still one subscription
    db.subscribe(lambda change: told.append(f"other {change.new.value}"))
    db.update("a", True, timestamp=1.0)
    assert told == ["other True", "derived True"]
    follower.close()
    follower.close()
    db.update("a", False, timestamp=2.0)
    assert told == ["other True", "derived True", "other False"]
