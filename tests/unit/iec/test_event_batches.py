"""EventQueue.take_batch, the one way events are cut into ASDUs (issue 21 item 3): by type,
cause, common address (several logical stations) and, on a CP24 line, the hour, at most
``limit`` a batch, in order, the rest left queued."""

from __future__ import annotations

from collections.abc import Callable

from rtu.iec.asdu.objects import Cp56Time2a, EndOfInitialization, MeasuredFloat, SinglePoint
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.outstation.events import EventQueue, EventRecord

T0 = 1_700_000_000.0  # 22:13:20 UTC
SP, ME = TypeId.M_SP_TB_1, TypeId.M_ME_TF_1
STATION_OF_IOA = {1: 1, 2: 1, 3: 2, 4: 2}


def sp(ioa: int, seq: int, at: float = T0, cot: Cot = Cot.SPONTANEOUS) -> EventRecord:
    return EventRecord(SP, cot, SinglePoint(ioa, True, Qds(0), Cp56Time2a.from_timestamp(at)),
                       seq)


def me(ioa: int, seq: int) -> EventRecord:
    return EventRecord(ME, Cot.SPONTANEOUS,
                       MeasuredFloat(ioa, 1.0, Qds(0), Cp56Time2a.from_timestamp(T0)), seq)


def station_of(record: EventRecord) -> int:
    return record.ca or STATION_OF_IOA[record.obj.ioa]


def other_hour(first: EventRecord, nxt: EventRecord) -> bool:
    return first.obj.time.hour != nxt.obj.time.hour  # type: ignore[union-attr]


def queue_of(*records: EventRecord) -> EventQueue:
    queue = EventQueue("q", 100)
    for record in records:
        queue.append(record)
    return queue


def seqs(batch: tuple[EventRecord, ...]) -> list[int]:
    return [r.seq for r in batch]


def cut(queue: EventQueue, limit: int = 127,
        station_of: Callable[[EventRecord], int] | None = None,
        split: Callable[[EventRecord, EventRecord], bool] | None = None) -> list[list[int]]:
    out = []
    while queue:
        out.append(seqs(queue.take_batch(limit, station_of, split)))
    return out


def test_type_and_cause_cut_and_everything_else_stays_together() -> None:
    queue = queue_of(sp(1, 1), sp(3, 2), me(2, 3), me(4, 4), sp(1, 5, cot=Cot.RETURN_INFO_REMOTE),
                     sp(1, 6))
    assert cut(queue) == [[1, 2], [3, 4], [5], [6]]
    assert queue.removed == 6 and queue.added == 6


def test_several_stations_never_share_an_asdu() -> None:
    queue = queue_of(sp(1, 1), sp(2, 2), sp(3, 3), sp(4, 4), sp(1, 5))
    assert cut(queue, station_of=station_of) == [[1, 2], [3, 4], [5]]


def test_the_limit_leaves_the_rest_queued_in_order() -> None:
    queue = queue_of(*(sp(1, n) for n in range(1, 8)))
    batch = queue.take_batch(3, None, None)
    assert seqs(batch) == [1, 2, 3]
    assert [r.seq for r in queue.snapshot()] == [4, 5, 6, 7] and queue.removed == 3
    assert cut(queue, 3) == [[4, 5, 6], [7]]


def test_a_cp24_line_cuts_at_the_change_of_the_hour() -> None:
    hour = 2800.0  # 23:00:00
    queue = queue_of(sp(1, 1, T0 + hour - 1), sp(1, 2, T0 + hour - 0.5), sp(1, 3, T0 + hour),
                     sp(1, 4, T0 + hour + 1))
    assert cut(queue, split=other_hour) == [[1, 2], [3, 4]]


def test_ends_of_initialisation_go_by_station() -> None:
    ei = [EventRecord(TypeId.M_EI_NA_1, Cot.INITIALIZED, EndOfInitialization(0, 0), ca=ca)
          for ca in (1, 2)]
    queue = queue_of(*ei, sp(1, 3))
    batches = []
    while queue:
        batches.append(queue.take_batch(127, station_of, None))
    assert [[r.ca for r in b] for b in batches] == [[1], [2], [0]]
