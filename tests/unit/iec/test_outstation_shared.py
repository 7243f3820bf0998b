"""Event ASDUs encoded once per profile and shared by the sessions that send them (issue 21
item 3): the same octets object for the same batch, never for another batch or profile, and
every master still receives exactly its events. Sans-I/O, fake clock."""

from __future__ import annotations

import pytest

from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, decode_asdu
from rtu.iec.asdu.objects import SinglePoint
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session, shared
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind

T0 = 1_700_000_000.0
PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2)


class FakeClock:
    def monotonic(self) -> float:
        return 1000.0

    def wall(self) -> float:
        return T0


class NoExecutor:
    def execute(self, request: object, done: object) -> None:
        raise AssertionError("no command expected")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    shared.clear()


def station(points: int = 30) -> tuple[Outstation, PointDatabase]:
    db = PointDatabase([Point(f"sp{i}", 100 + i, PointKind.SINGLE) for i in range(points)])
    for i in range(points):
        db.update(f"sp{i}", False, timestamp=T0)
    return Outstation(db, OutstationConfig(event_queue_size=1000), FakeClock(), NoExecutor()), db


def started(outstation: Outstation, name: str, profile: AsduProfile = PROFILE_104,
            group: str = "g") -> Session:
    session = outstation.open_session(name, profile, group, lambda: None)
    session.activate()
    drain(session)  # the end of initialisation
    return session


def drain(session: Session) -> list[bytes]:
    out = []
    while (o := session.next_output()) is not None:
        out.append(o.asdu)
    return out


def change(db: PointDatabase, first: int, n: int) -> None:
    for i in range(first, first + n):
        db.update(f"sp{i}", True, timestamp=T0 + i)


def test_sessions_of_a_group_share_the_octets_of_one_batch() -> None:
    outstation, db = station()
    sessions = [started(outstation, f"m{k}") for k in range(4)]
    before = dict(shared.stats)
    change(db, 0, 5)
    sent = [drain(s) for s in sessions]
    assert all(len(s) == 1 for s in sent)
    assert all(s[0] is sent[0][0] for s in sent)  # one bytes object, not four equal ones
    assert shared.stats["encoded"] - before["encoded"] == 1
    assert shared.stats["shared"] - before["shared"] == 3
    asdu = decode_asdu(sent[0][0], PROFILE_104)
    assert (asdu.type_id, asdu.cot, asdu.common_address) == (TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 1)
    assert [(o.ioa, o.value) for o in asdu.objects if isinstance(o, SinglePoint)] == \
        [(100 + i, True) for i in range(5)]


def test_a_session_that_cut_another_batch_gets_its_own_octets() -> None:
    outstation, db = station()
    a = started(outstation, "a")
    b = started(outstation, "b")
    change(db, 0, 2)
    first_a = drain(a)  # a sends events 0-1 now; b waits and gets 0-3 in one ASDU
    change(db, 2, 2)
    rest_a = drain(a)
    all_b = drain(b)
    assert len(first_a) == len(rest_a) == len(all_b) == 1
    ioas = [[o.ioa for o in decode_asdu(x, PROFILE_104).objects] for x in (*first_a, *rest_a, *all_b)]
    assert ioas == [[100, 101], [102, 103], [100, 101, 102, 103]]


def test_another_profile_is_encoded_for_itself() -> None:
    outstation, db = station()
    s104 = started(outstation, "104")
    s101 = started(outstation, "101", PROFILE_101)
    change(db, 0, 3)
    (a,) = drain(s104)
    (b,) = drain(s101)
    assert a != b
    assert decode_asdu(a, PROFILE_104).objects == decode_asdu(b, PROFILE_101).objects


def test_the_cache_is_bounded() -> None:
    outstation, db = station(points=shared.MAX_SHARED * 2 + 10)
    session = started(outstation, "m")
    for i in range(shared.MAX_SHARED * 2):
        change(db, i, 1)
        assert len(drain(session)) == 1
    assert shared.size() <= shared.MAX_SHARED
