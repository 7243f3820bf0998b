"""Single and double points' events made as octets (EventRecord.wire) and their time tag, the
information object only when read (issue 21 item 3): the object is the one the event had
before, every profile's ASDU is the codec's, and the journal stores the same octets.
Sans-I/O, fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.eventstore import decode_event, encode_event
from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, encode_asdu
from rtu.iec.asdu.objects import Asdu, Cp56Time2a, DoublePoint, SinglePoint
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.errors import LocalProtocolError
from rtu.iec.outstation import EventRecord, Outstation, OutstationConfig, shared
from rtu.iec.outstation.mapping import monitor_object
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointChanged, PointKind, Quality
from tests.unit.iec.test_outstation import T0, FakeClock
from tests.unit.iec.test_outstation_shared import NoExecutor

PROFILES = [
    PROFILE_104,
    AsduProfile(cot_size=1, ca_size=1, ioa_size=2),
    AsduProfile(cot_size=1, ca_size=1, ioa_size=1),
    AsduProfile(cot_size=2, ca_size=2, ioa_size=3, cp24=True),
    AsduProfile(cot_size=1, ca_size=2, ioa_size=2, cp24=True),
]
QUALITIES = [Quality.GOOD, Quality.IV, Quality.NT, Quality.SB, Quality.BL,
             Quality.IV | Quality.NT | Quality.SB | Quality.BL, Quality.OV, Quality.IV | Quality.OV,
             Quality.CY | Quality.SB, Quality.TRANSIENT]


class Journal:
    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def append(self, record: EventRecord) -> None:
        self.records.append(record)

    def before_send(self) -> None:
        pass


def station(events_lost_ioa: int = 0) -> tuple[Outstation, PointDatabase, Journal]:
    db = PointDatabase([Point("sp", 0xABCDE, PointKind.SINGLE),
                        Point("dp", 200, PointKind.DOUBLE),
                        Point("sp1", 7, PointKind.SINGLE)])
    for name in ("sp", "dp", "sp1"):
        db.update(name, 0, Quality.IV, timestamp=T0)
    outstation = Outstation(db, OutstationConfig(event_queue_size=1000,
                                                 events_lost_ioa=events_lost_ioa),
                            FakeClock(), NoExecutor())
    journal = Journal()
    outstation.attach_journal(journal)
    return outstation, db, journal


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sp", "dp", "sp1"]), st.integers(0, 3),
                          st.sampled_from(QUALITIES), st.floats(-1.0, 5.0)),
                min_size=1, max_size=40),
       st.sampled_from(PROFILES))
def test_objects_and_octets_are_those_of_the_object_path(
        changes: list[tuple[str, int, Quality, float]], profile: AsduProfile) -> None:
    shared.clear()
    outstation, db, journal = station()
    reported: list[PointChanged] = []
    db.subscribe(reported.append)
    for name, value, quality, dt in changes:
        db.update(name, value if name == "dp" else value & 1, quality, timestamp=T0 + 10 + dt)
    assert len(journal.records) == len(reported)  # one event per change reported
    for record, change in zip(journal.records, reported, strict=True):
        assert record.wire, "single and double points are made as octets"
        tag = outstation.time_tag(change.new.timestamp)
        assert record.tag == tag
        # the object read from the record is the one the object path makes
        assert record.obj == monitor_object(change.point, change.new, tag)
        assert record.ioa == change.point.ioa
    # every record's ASDU, in every profile, is the codec's for the same objects
    records = journal.records
    for record in records:
        asdu = Asdu(record.type_id, record.cot, 1, (record.obj,))
        if record.ioa >= 1 << 8 * profile.ioa_size:  # the same error as the codec's
            with pytest.raises(LocalProtocolError, match="does not fit"):
                encode_asdu(asdu, profile)
            with pytest.raises(LocalProtocolError, match="does not fit"):
                shared.event_asdu([record], 1, profile)
        else:
            assert shared.event_asdu([record], 1, profile) == encode_asdu(asdu, profile)
        # the journal stores the codec's octets, and reads back an equal record
        stored = encode_event(record)
        assert stored == encode_asdu(Asdu(record.type_id, record.cot, 1, (record.obj,)),
                                     PROFILE_104)
        assert decode_event(record.seq, stored) == record


def _fields(record: EventRecord) -> tuple[object, ...]:
    return (record.seq, record.type_id, record.cot, record.ca, record.protected, record.wire,
            record.tag, record.obj)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sp", "dp", "sp1"]), st.integers(0, 3),
                          st.sampled_from(QUALITIES),
                          # the same millisecond (the cached tag's) as often as new ones
                          st.one_of(st.floats(-1.0, 5.0), st.sampled_from([0.0, 1e-4, 3e-4])),
                          st.sampled_from(list(ChangeOrigin)), st.booleans()),
                min_size=1, max_size=40))
def test_a_single_points_event_on_its_own_path_is_the_general_paths(
        changes: list[tuple[str, int, Quality, float, ChangeOrigin, bool]]) -> None:
    """While the outstation is the database's only subscriber, a single point's change goes to
    its own handler (``_on_single_changed``): every record is the one the general path
    (``_on_point_changed``, which a second subscriber makes every change take) makes, with
    the "events lost" point's events protected (sp1 here)."""
    shared.clear()
    alone, alone_db, alone_journal = station(events_lost_ioa=7)
    _, general_db, general_journal = station(events_lost_ioa=7)
    general_db.subscribe(lambda change: None)
    assert alone_db._only_single == alone._on_single_changed
    assert general_db._only_single is None
    for name, value, quality, dt, origin, device_time in changes:
        for db in (alone_db, general_db):
            db.update(name, value if name == "dp" else value & 1, quality,
                      timestamp=T0 + 10 + dt, origin=origin, device_time=device_time)
    assert [_fields(r) for r in alone_journal.records] == [
        _fields(r) for r in general_journal.records]


def test_a_single_points_events_in_one_millisecond_take_their_own_path() -> None:
    shared.clear()
    outstation, db, journal = station()
    seen: list[str] = []
    general, single = outstation._on_point_changed, outstation._on_single_changed

    def spy(handler, label):  # type: ignore[no-untyped-def]
        def call(*args):  # type: ignore[no-untyped-def]
            seen.append(label)
            handler(*args)
        return call

    # the database holds the handlers it was given; the outstation's own fallback to the
    # general path goes through its attribute
    outstation._on_point_changed = spy(general, "general")  # type: ignore[method-assign]
    db._only_single = spy(single, "single")
    assert db._only is not None
    db._only = spy(db._only, "any kind")
    db.update("sp", True, timestamp=T0 + 5.0001)  # the millisecond's first: its tag is made
    db.update("sp1", True, timestamp=T0 + 5.0002)  # the same millisecond
    db.update("dp", 2, timestamp=T0 + 5.0003)  # not a single point
    db.update("sp", False, timestamp=T0 + 5.0004, device_time=True)  # the device's clock
    assert seen == ["single", "general", "single", "any kind", "single", "general"]
    assert len(journal.records) == 4
    assert [r.tag for r in journal.records[:3]] == [journal.records[0].tag] * 3


def test_a_single_point_whose_ioa_needs_four_octets_is_made_as_its_object() -> None:
    shared.clear()
    db = PointDatabase([Point("big", 1 << 24, PointKind.SINGLE)])
    outstation = Outstation(db, OutstationConfig(event_queue_size=10), FakeClock(),
                            NoExecutor())
    journal = Journal()
    outstation.attach_journal(journal)
    db.update("big", True, timestamp=T0 + 1.0001)
    db.update("big", False, timestamp=T0 + 1.0002)  # the cached tag's millisecond
    assert [(r.wire, r.obj.ioa, r.obj.value) for r in journal.records] == [  # type: ignore[attr-defined]
        (b"", 1 << 24, True), (b"", 1 << 24, False)]


def test_a_batch_is_a_header_and_the_records_octets() -> None:
    shared.clear()
    _, db, journal = station()
    for i in range(5):
        db.update("sp1", i % 2 == 0, timestamp=T0 + 1 + i / 1000)
    batch = [r for r in journal.records]
    data = shared.event_asdu(batch, 1, PROFILE_104)
    assert data == encode_asdu(Asdu(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 1,
                                    tuple(r.obj for r in batch)), PROFILE_104)
    assert data[6:] == b"".join(r.wire for r in batch)
    # golden: IOA 7, SPI on, 2023-11-14 22:13:21.000 UTC (21,000 ms = 0x5208), IV (the
    # clock is not synchronised)
    assert batch[0].wire == bytes([7, 0, 0, 0x01, 0x08, 0x52, 0x8D, 0x16, 0x0E, 0x0B, 0x17])


def test_a_record_with_its_object_and_one_with_octets_compare_equal() -> None:
    _, db, journal = station()
    db.update("sp", True, Quality.SB, timestamp=T0 + 2)
    made = journal.records[-1]
    assert made._obj is None  # not made yet
    same = EventRecord(made.type_id, made.cot, made.obj, seq=99)
    assert made == same and hash(made) == hash(same)
    assert made.obj == SinglePoint(0xABCDE, True, Qds.SB, made.tag)
    assert made.ioa == 0xABCDE and same.ioa == 0xABCDE
    assert made != EventRecord(made.type_id, Cot.RETURN_INFO_REMOTE, made.obj)
    assert "SinglePoint" in repr(made)


def test_a_record_needs_its_object_or_octets_and_tag() -> None:
    with pytest.raises(ValueError, match="needs its object"):
        EventRecord(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, None)
    with pytest.raises(ValueError, match="needs its object"):
        EventRecord(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, None, wire=b"\x01" * 11)
    tag = Cp56Time2a.from_timestamp(T0)
    with pytest.raises(ValueError, match="needs its object"):
        EventRecord(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, None, tag=tag)


def test_a_device_time_stamp_and_a_tag_outside_the_cache_give_their_own_octets() -> None:
    _, db, journal = station()
    db.update("dp", 2, timestamp=T0 - 3600.5, device_time=True)
    db.update("dp", 1, timestamp=T0 + 0.25)
    db.update("dp", 3, timestamp=T0 - 86_400)  # older than the cached tag's millisecond
    for record in journal.records:
        asdu = Asdu(record.type_id, record.cot, 1, (record.obj,))
        assert shared.event_asdu([record], 1, PROFILE_104) == encode_asdu(asdu, PROFILE_104)
    assert [r.obj for r in journal.records] == [
        DoublePoint(200, v, Qds(0), r.tag) for v, r in zip((2, 1, 3), journal.records, strict=True)]
