"""The file-transfer state machine (rtu/iec/outstation/files.py) through the outstation and a
session, with an in-memory file store and a fake clock: whole transfers, corruption detected
by the master's checksum, bad names, oversize files, timeouts and out-of-sequence requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.codec_file import FILE_TYPES, checksum, segment_room
from rtu.iec.asdu.objects import (
    Asdu,
    Cp56Time2a,
    DirectoryEntry,
    FileAck,
    FileCall,
    FileReady,
    InformationObject,
    LastSegment,
    QueryLog,
    SectionReady,
    Segment,
)
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation.files import (
    AFQ_FILE_OK,
    AFQ_SECTION_BAD,
    AFQ_SECTION_OK,
    ERR_CHECKSUM,
    ERR_UNEXPECTED_FILE,
    ERR_UNEXPECTED_SECTION,
    ERR_UNEXPECTED_SERVICE,
    LSQ_FILE,
    LSQ_FILE_ABORTED,
    LSQ_SECTION,
    LSQ_SECTION_ABORTED,
    SCQ_CALL_FILE,
    SCQ_CALL_SECTION,
    SCQ_DEACTIVATE_FILE,
    SCQ_DEACTIVATE_SECTION,
    SCQ_DELETE_FILE,
    SCQ_SELECT_FILE,
    SCQ_SELECT_SECTION,
    FileService,
    FileSettings,
    FileUnavailable,
    StoredFile,
    split_sections,
)
from tests.unit.iec.test_outstation import T0, Rig

F = TypeId
FT = Cot.FILE_TRANSFER


@dataclass
class MemoryStore:
    files: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    log: bytes = b"time,point\n"
    ranges: list[tuple[float, float]] = field(default_factory=list)
    reads: int = 0

    def directory(self) -> Sequence[StoredFile]:
        return [StoredFile(nof, name, len(data), T0) for nof, (name, data) in
                sorted(self.files.items())]

    def read(self, nof: int) -> bytes:
        self.reads += 1
        if nof not in self.files:
            raise FileUnavailable("gone")
        return self.files[nof][1]

    def log_range(self, start: float, stop: float) -> bytes:
        self.ranges.append((start, stop))
        return self.log


def rig(store: MemoryStore, profile: AsduProfile | None = None, **settings: object) -> Rig:
    r = Rig(profile) if profile is not None else Rig()
    o = r.outstation
    o.attach_files(FileService(store, FileSettings(**settings)))  # type: ignore[arg-type]
    r.session.activate()
    r.drain()
    return r


def f(type_id: TypeId, obj: InformationObject, cot: Cot = FT) -> Asdu:
    return Asdu(type_id, cot, 1, (obj,), originator=7)


def ask(r: Rig, type_id: TypeId, obj: InformationObject, cot: Cot = FT) -> list[Asdu]:
    r.send(f(type_id, obj, cot))
    return r.drain()


@dataclass
class Master:
    """The master's side of the sequence: checks each section's and the file's checksum and
    acknowledges negatively when one does not match (``corrupt``: damage a segment once)."""

    r: Rig
    corrupt: set[int] = field(default_factory=set)  # sections whose first segment is damaged
    negative_acks: int = 0

    def fetch(self, nof: int) -> bytes:
        ready = ask(self.r, F.F_SC_NA_1, FileCall(0, nof, 0, SCQ_SELECT_FILE))
        assert [a.type_id for a in ready] == [F.F_FR_NA_1]
        fr = ready[0].objects[0]
        assert isinstance(fr, FileReady) and not fr.negative and ready[0].cot == FT
        assert ready[0].originator == 7
        return self.receive(nof, fr.length)

    def receive(self, nof: int, length: int) -> bytes:
        answers = ask(self.r, F.F_SC_NA_1, FileCall(0, nof, 0, SCQ_CALL_FILE))
        content = b""
        while True:
            assert len(answers) == 1, answers
            obj = answers[0].objects[0]
            if isinstance(obj, LastSegment):  # the last section: the whole file's checksum
                assert obj.lsq == LSQ_FILE
                assert obj.checksum == checksum(content) and len(content) == length
                assert ask(self.r, F.F_AF_NA_1, FileAck(0, nof, obj.section, AFQ_FILE_OK)) == []
                return content
            assert isinstance(obj, SectionReady) and not obj.not_ready
            nos = obj.section
            out = ask(self.r, F.F_SC_NA_1, FileCall(0, nof, nos, SCQ_CALL_SECTION))
            *segments, last = out
            assert all(a.type_id is F.F_SG_NA_1 and a.cot == FT for a in segments)
            data = b"".join(s.objects[0].data for s in segments)  # type: ignore[union-attr]
            if nos in self.corrupt:
                self.corrupt.discard(nos)
                data = bytes([data[0] ^ 0x01]) + data[1:]
            assert len(data) == obj.length
            ls = last.objects[0]
            assert isinstance(ls, LastSegment) and ls.lsq == LSQ_SECTION and ls.section == nos
            if checksum(data) != ls.checksum:  # the corruption is detected here
                self.negative_acks += 1
                answers = ask(self.r, F.F_AF_NA_1,
                              FileAck(0, nof, nos, AFQ_SECTION_BAD, ERR_CHECKSUM))
                continue
            content += data
            answers = ask(self.r, F.F_AF_NA_1, FileAck(0, nof, nos, AFQ_SECTION_OK))


def test_directory_call_is_answered_with_f_dr_ta_1_cot_5_lfd_on_the_last_entry() -> None:
    store = MemoryStore({3: ("soe.csv", b"x" * 10), 0x8001: ("fault.cfg", b"y" * 70000)})
    r = rig(store)
    answers = ask(r, F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)
    assert [(a.type_id, a.cot, a.negative) for a in answers] == [(F.F_DR_TA_1, Cot.REQUEST,
                                                                  False)]
    entries = answers[0].objects
    assert [(e.nof, e.length, e.last) for e in entries  # type: ignore[union-attr]
            ] == [(3, 10, False), (0x8001, 70000, True)]
    assert entries[0].time == Cp56Time2a.from_timestamp(T0)  # type: ignore[union-attr]


def test_a_long_directory_takes_several_asdus_with_one_lfd() -> None:
    store = MemoryStore({n: (f"f{n}", b"z") for n in range(1, 41)})
    r = rig(store)
    answers = ask(r, F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)
    entries = [e for a in answers for e in a.objects]
    assert len(answers) == 3 and len(entries) == 40  # 15 entries of 16 octets in 243
    assert [e.last for e in entries].count(True) == 1  # type: ignore[union-attr]
    assert entries[-1].last  # type: ignore[union-attr]


def test_an_empty_directory_is_a_negative_answer() -> None:
    answers = ask(rig(MemoryStore()), F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)
    assert [(a.type_id, a.cot, a.negative) for a in answers] == [(F.F_SC_NA_1, Cot.REQUEST,
                                                                  True)]


@pytest.mark.parametrize("length", [0, 1, 236, 237, 4096, 4097, 20_000, 1_100_000])
def test_whole_transfer_delivers_the_file_exactly(length: int) -> None:
    content = bytes((i * 7 + 3) % 256 for i in range(length))
    store = MemoryStore({3: ("soe.csv", content)})
    r = rig(store, max_file_size=2_000_000)
    assert Master(r).fetch(3) == content
    assert r.outstation.files is not None
    assert r.outstation.files.counters.completed == 1
    assert r.outstation.files.status()["active"] == 0


def test_segments_fill_the_longest_asdu_of_the_link() -> None:
    store = MemoryStore({3: ("a", bytes(1000))})
    r = rig(store)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))
    out = ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
    sizes = [len(a.objects[0].data) for a in out[:-1]]  # type: ignore[union-attr]
    room = segment_room(r.profile)
    assert sizes == [room] * (1000 // room) + [1000 % room]


def test_a_small_101_link_gets_small_segments() -> None:
    profile = AsduProfile(cot_size=2, ca_size=1, ioa_size=2, max_asdu_length=60)
    content = bytes(range(256)) * 3
    store = MemoryStore({3: ("a", content)})
    r = rig(store, profile, section_size=300)
    assert Master(r).fetch(3) == content


def test_a_corrupted_section_is_detected_acknowledged_negatively_and_sent_again() -> None:
    content = bytes(range(256)) * 40  # three sections of 4096, 4096, 2048
    store = MemoryStore({3: ("dist.dat", content)})
    r = rig(store)
    master = Master(r, corrupt={2})
    assert master.fetch(3) == content
    assert master.negative_acks == 1
    assert r.outstation.files is not None
    assert r.outstation.files.counters.resent_sections == 1
    assert r.outstation.files.counters.completed == 1


def test_retries_are_bounded_then_the_transfer_is_aborted() -> None:
    store = MemoryStore({3: ("a", b"abc")})
    r = rig(store, max_retries=2)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))
    for _ in range(2):
        ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
        again = ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_BAD, ERR_CHECKSUM))
        assert [a.type_id for a in again] == [F.F_SR_NA_1]
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
    end = ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_BAD, ERR_CHECKSUM))
    ls = end[0].objects[0]
    assert isinstance(ls, LastSegment) and ls.lsq == LSQ_FILE_ABORTED
    assert r.outstation.files is not None and r.outstation.files.counters.failed == 1
    late = ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
    assert late[0].negative


def test_unknown_nof_is_a_negative_file_ready() -> None:
    r = rig(MemoryStore({3: ("a", b"abc")}))
    out = ask(r, F.F_SC_NA_1, FileCall(0, 9, 0, SCQ_SELECT_FILE))
    assert out == [Asdu(F.F_FR_NA_1, FT, 1, (FileReady(0, 9, 0, True),), originator=7)]


def test_a_file_over_max_file_size_is_refused_at_select() -> None:
    r = rig(MemoryStore({3: ("big", bytes(2000))}), max_file_size=1000)
    out = ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    fr = out[0].objects[0]
    assert isinstance(fr, FileReady) and fr.negative and fr.length == 0
    assert ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))[0].negative


def test_a_file_that_vanished_between_directory_and_select_is_refused() -> None:
    store = MemoryStore({3: ("a", b"abc")})
    r = rig(store)
    del store.files[3]  # deleted after the directory was read
    fr = ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))[0].objects[0]
    assert isinstance(fr, FileReady) and fr.negative


def _error(answers: list[Asdu]) -> tuple[bool, int]:
    obj = answers[0].objects[0]
    assert isinstance(obj, FileCall | FileAck)
    return answers[0].negative, obj.error


def test_out_of_sequence_requests_get_the_standards_error_codes() -> None:
    r = rig(MemoryStore({3: ("a", b"abc" * 3000)}))
    # a call without a select; a call of a section before the file's
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))) == (
        True, ERR_UNEXPECTED_SERVICE)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)
    # another file's name; then the wrong section
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 4, 0, SCQ_CALL_FILE))) == (
        True, ERR_UNEXPECTED_FILE)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_CALL_SECTION))) == (
        True, ERR_UNEXPECTED_SECTION)
    # an ack before anything was sent; deleting is not offered
    assert _error(ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_OK))) == (
        True, ERR_UNEXPECTED_SERVICE)
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_DELETE_FILE))) == (
        True, ERR_UNEXPECTED_SERVICE)
    # the transfer still goes on from where it was
    out = ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
    assert out[-1].type_id is F.F_LS_NA_1


def test_deactivate_file_ends_the_transfer_without_an_answer() -> None:
    r = rig(MemoryStore({3: ("a", b"abc")}))
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    assert ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_DEACTIVATE_FILE)) == []
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE)))[0]


def test_wrong_cause_ioa_and_outstation_only_types() -> None:
    r = rig(MemoryStore({3: ("a", b"abc")}))
    out = ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE), Cot.ACTIVATION)
    assert (out[0].cot, out[0].negative) == (Cot.UNKNOWN_CAUSE, True)
    out = ask(r, F.F_SC_NA_1, FileCall(5, 3, 0, SCQ_SELECT_FILE))
    assert (out[0].cot, out[0].negative) == (Cot.UNKNOWN_IOA, True)
    out = ask(r, F.F_SG_NA_1, Segment(0, 3, 1, b"a"))  # a master sending us a file
    assert (out[0].type_id, out[0].cot, out[0].negative) == (F.F_SG_NA_1, Cot.UNKNOWN_TYPE_ID,
                                                             True)


def test_without_files_configured_the_types_are_unknown() -> None:
    r = Rig()
    r.session.activate()
    r.drain()
    out = ask(r, F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)
    assert (out[0].cot, out[0].negative) == (Cot.UNKNOWN_TYPE_ID, True)


def test_a_transfer_left_by_the_master_times_out_on_the_monotonic_clock() -> None:
    r = rig(MemoryStore({3: ("a", b"abc")}), timeout=30.0)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    r.clock.system += 3600  # the wall clock is not what counts
    r.clock.mono += 29
    assert ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))[0].type_id is F.F_SR_NA_1
    r.clock.mono += 31
    late = ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))
    assert _error(late) == (True, ERR_UNEXPECTED_SERVICE)
    assert r.outstation.files is not None and r.outstation.files.counters.timeouts == 1


def test_one_transfer_per_session_a_new_select_replaces_it_and_sessions_are_apart() -> None:
    store = MemoryStore({3: ("a", b"abc"), 4: ("b", b"defg")})
    r = rig(store)
    other = r.open("m2")
    other.activate()
    r.drain(other)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    r.send(f(F.F_SC_NA_1, FileCall(0, 4, 0, SCQ_SELECT_FILE)), other)
    assert r.drain(other)[0].objects[0] == FileReady(0, 4, 4)
    ask(r, F.F_SC_NA_1, FileCall(0, 4, 0, SCQ_SELECT_FILE))  # replaces NOF 3
    assert Master(r).receive(4, 4) == b"defg"
    assert r.outstation.files is not None and r.outstation.files.status()["active"] == 1
    other.close()  # its transfer goes with it
    assert r.outstation.files.status()["active"] == 0


def test_query_log_returns_the_log_of_the_range_as_a_file() -> None:
    store = MemoryStore(log=b"time,point,value\n2026-12-05T10:00:00Z,sp1,on\n")
    r = rig(store)
    start = Cp56Time2a.from_timestamp(T0 - 3600)
    stop = Cp56Time2a.from_timestamp(T0)
    ready = ask(r, F.F_SC_NB_1, QueryLog(0, 3, start, stop))
    fr = ready[0].objects[0]
    assert isinstance(fr, FileReady) and not fr.negative and fr.length == len(store.log)
    assert store.ranges == [(pytest.approx(T0 - 3600), pytest.approx(T0))]
    assert Master(r).receive(3, fr.length) == store.log


def test_query_log_with_stop_before_start_is_refused() -> None:
    r = rig(MemoryStore())
    out = ask(r, F.F_SC_NB_1, QueryLog(0, 3, Cp56Time2a.from_timestamp(T0),
                                        Cp56Time2a.from_timestamp(T0 - 1)))
    fr = out[0].objects[0]
    assert isinstance(fr, FileReady) and fr.negative


def test_sections_are_at_most_255() -> None:
    assert split_sections(0, 4096) == []
    assert split_sections(10, 4096) == [(0, 10)]
    parts = split_sections(16_000_000, 4096)
    assert len(parts) <= 255 and sum(n for _, n in parts) == 16_000_000
    assert all(o == i * parts[0][1] for i, (o, _) in enumerate(parts))


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="max_file_size"):
        FileSettings(max_file_size=1 << 24)
    with pytest.raises(ValueError):
        FileSettings(timeout=0)


def test_directory_marks_the_file_being_transferred() -> None:
    r = rig(MemoryStore({3: ("a", b"abc"), 4: ("b", b"d")}))
    ask(r, F.F_SC_NA_1, FileCall(0, 4, 0, SCQ_SELECT_FILE))
    entries = ask(r, F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)[0].objects
    assert [e.active for e in entries if isinstance(e, DirectoryEntry)] == [False, True]


def test_random_file_asdus_never_raise_and_every_answer_encodes() -> None:
    import random

    rnd = random.Random(1907)
    r = rig(MemoryStore({3: ("a", bytes(5000)), 4: ("b", b"")}), max_retries=1)
    makers = [
        lambda: FileCall(0, rnd.choice([0, 3, 4, 9]), rnd.randint(0, 3), rnd.randint(0, 15),
                         rnd.randint(0, 15)),
        lambda: FileAck(0, rnd.choice([3, 4]), rnd.randint(0, 3), rnd.randint(0, 15)),
    ]
    types = [F.F_SC_NA_1, F.F_AF_NA_1]
    answered = 0
    for _ in range(3000):
        which = rnd.randint(0, 1)
        cot = rnd.choice([FT, FT, FT, Cot.REQUEST, Cot.ACTIVATION])
        r.send(Asdu(types[which], cot, 1, (makers[which](),)))
        r.clock.mono += rnd.choice([0.1, 0.1, 100])
        for answer in r.drain():  # each decodes
            assert answer.type_id in FILE_TYPES
            assert answer.negative or answer.cot in (FT, Cot.REQUEST)
            answered += 1
    assert answered > 1000


def test_a_link_too_short_for_a_directory_entry_refuses_the_directory_but_sends_files() -> None:
    profile = AsduProfile(cot_size=2, ca_size=2, ioa_size=3, max_asdu_length=21)  # the least
    content = b"0123456789" * 5
    r = rig(MemoryStore({3: ("a", content)}), profile)
    out = ask(r, F.F_SC_NA_1, FileCall(0, 0, 0, 0), Cot.REQUEST)
    assert [(a.type_id, a.negative) for a in out] == [(F.F_SC_NA_1, True)]
    assert Master(r).fetch(3) == content  # in segments of 8 octets


def test_the_outstation_timer_drops_a_transfer_left_by_its_master() -> None:
    r = rig(MemoryStore({3: ("a", b"abc")}), timeout=30.0)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    files = r.outstation.files
    assert files is not None and files.status()["active"] == 1
    r.outstation.on_timer(r.clock.mono + 29)
    assert files.status()["active"] == 1
    r.outstation.on_timer(r.clock.mono + 30)
    assert files.status()["active"] == 0 and files.counters.timeouts == 1
    assert r.drain() == []  # nothing is sent for it


def _section(r: Rig, nof: int, nos: int) -> bytes:
    """Call section ``nos`` (announced ready): its octets, checked against its CHS."""
    *segments, last = ask(r, F.F_SC_NA_1, FileCall(0, nof, nos, SCQ_CALL_SECTION))
    assert all(a.type_id is F.F_SG_NA_1 for a in segments)
    data = b"".join(a.objects[0].data for a in segments)  # type: ignore[union-attr]
    ls = last.objects[0]
    assert isinstance(ls, LastSegment) and (ls.section, ls.lsq) == (nos, LSQ_SECTION)
    assert ls.checksum == checksum(data)
    return data


def _ready(answers: list[Asdu]) -> SectionReady:
    assert [a.type_id for a in answers] == [F.F_SR_NA_1]
    assert answers[0].cot == FT and not answers[0].negative
    obj = answers[0].objects[0]
    assert isinstance(obj, SectionReady) and not obj.not_ready
    return obj


def test_select_section_fetches_any_section_in_any_order() -> None:
    content = bytes((i * 13 + 5) % 256 for i in range(2500))  # sections of 1000, 1000, 500
    r = rig(MemoryStore({3: ("dist.dat", content)}), section_size=1000)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    assert _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))).section == 1
    # section 1 is ready, but the master wants the last one first
    sr = _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 3, SCQ_SELECT_SECTION)))
    assert (sr.nof, sr.section, sr.length) == (3, 3, 500)
    assert _section(r, 3, 3) == content[2000:]
    # the last section acknowledged: the file's end, with the whole file's checksum
    end = ask(r, F.F_AF_NA_1, FileAck(0, 3, 3, AFQ_SECTION_OK))
    ls = end[0].objects[0]
    assert isinstance(ls, LastSegment) and ls.lsq == LSQ_FILE
    assert ls.checksum == checksum(content)
    # after the file's end it may still go back to a section; the sequence goes on from it
    assert _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_SELECT_SECTION))).length == 1000
    got = _section(r, 3, 1)
    assert _ready(ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_OK))).section == 2
    got += _section(r, 3, 2)
    assert _ready(ask(r, F.F_AF_NA_1, FileAck(0, 3, 2, AFQ_SECTION_OK))).section == 3
    got += _section(r, 3, 3)
    end = ask(r, F.F_AF_NA_1, FileAck(0, 3, 3, AFQ_SECTION_OK))
    ls = end[0].objects[0]
    assert isinstance(ls, LastSegment) and ls.lsq == LSQ_FILE
    assert ls.checksum == checksum(content)  # section 3 fetched twice: counted once
    assert got == content
    assert ask(r, F.F_AF_NA_1, FileAck(0, 3, 3, AFQ_FILE_OK)) == []
    assert r.outstation.files is not None and r.outstation.files.counters.completed == 1


def test_select_section_right_after_file_ready_and_its_errors() -> None:
    content = bytes(range(200)) * 10  # sections of 1000, 1000
    r = rig(MemoryStore({3: ("a", content), 4: ("b", b"x")}), section_size=1000)
    # no file selected: unexpected service
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_SELECT_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    # another file; a section the file does not have (0, 3)
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 4, 1, SCQ_SELECT_SECTION))) == (
        True, ERR_UNEXPECTED_FILE)
    for nos in (0, 3, 255):
        assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, nos, SCQ_SELECT_SECTION))) == (
            True, ERR_UNEXPECTED_SECTION)
    # a section of the file ready (no call file needed), then only that one may be called
    assert _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_SELECT_SECTION))).section == 2
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))) == (
        True, ERR_UNEXPECTED_SECTION)
    assert _section(r, 3, 2) == content[1000:]
    assert r.outstation.files is not None and r.outstation.files.counters.refused == 6


def test_deactivate_section_abandons_it_with_lsq_4_and_another_may_be_selected() -> None:
    content = bytes((i * 31) % 256 for i in range(3000))  # sections of 1000 each
    r = rig(MemoryStore({3: ("a", content)}), section_size=1000)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    # before the section is called: only the current section may be deactivated
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_DEACTIVATE_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)  # selected, no section ready yet
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_DEACTIVATE_SECTION))) == (
        True, ERR_UNEXPECTED_SECTION)
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 5, 1, SCQ_DEACTIVATE_SECTION))) == (
        True, ERR_UNEXPECTED_FILE)
    out = ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_DEACTIVATE_SECTION))
    assert [(a.type_id, a.cot, a.negative) for a in out] == [(F.F_LS_NA_1, FT, False)]
    ls = out[0].objects[0]
    assert isinstance(ls, LastSegment)
    assert (ls.nof, ls.section, ls.lsq, ls.checksum) == (3, 1, LSQ_SECTION_ABORTED, 0)
    # the abandoned section cannot be called nor acknowledged; a second deactivation is late
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_CALL_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)
    assert _error(ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_OK))) == (
        True, ERR_UNEXPECTED_SERVICE)
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 1, SCQ_DEACTIVATE_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)
    # after its segments (before the acknowledgement) too
    assert _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_SELECT_SECTION))).section == 2
    assert _section(r, 3, 2) == content[1000:2000]
    ls = ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_DEACTIVATE_SECTION))[0].objects[0]
    assert isinstance(ls, LastSegment) and (ls.section, ls.lsq) == (2, LSQ_SECTION_ABORTED)
    # the master takes section 3 and leaves the file
    assert _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 3, SCQ_SELECT_SECTION))).section == 3
    assert _section(r, 3, 3) == content[2000:]
    assert ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_DEACTIVATE_FILE)) == []
    assert r.outstation.files is not None and r.outstation.files.status()["active"] == 0
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 3, SCQ_SELECT_SECTION))) == (
        True, ERR_UNEXPECTED_SERVICE)


def test_retries_start_anew_for_a_selected_section() -> None:
    r = rig(MemoryStore({3: ("a", bytes(2000))}), section_size=1000, max_retries=1)
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_SELECT_FILE))
    ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_CALL_FILE))
    _section(r, 3, 1)
    assert _ready(ask(r, F.F_AF_NA_1, FileAck(0, 3, 1, AFQ_SECTION_BAD, ERR_CHECKSUM))
                  ).section == 1  # the one retry of section 1 used
    _ready(ask(r, F.F_SC_NA_1, FileCall(0, 3, 2, SCQ_SELECT_SECTION)))
    _section(r, 3, 2)
    assert _ready(ask(r, F.F_AF_NA_1, FileAck(0, 3, 2, AFQ_SECTION_BAD, ERR_CHECKSUM))
                  ).section == 2  # section 2 has its own retry


def test_delete_file_stays_refused_and_the_file_stays() -> None:
    store = MemoryStore({3: ("a", b"abc")})
    r = rig(store)
    assert _error(ask(r, F.F_SC_NA_1, FileCall(0, 3, 0, SCQ_DELETE_FILE))) == (
        True, ERR_UNEXPECTED_SERVICE)
    assert 3 in store.files
    assert Master(r).fetch(3) == b"abc"
