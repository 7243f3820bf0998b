"""File transfer in the monitor direction (IEC 60870-5-101/104 types 120-127): the outstation
serves its directory and sends files to a master, one transfer per session.

The sequence (master left, outstation right; every file ASDU with COT 13 but the directory)::

    F_SC_NA_1 COT 5, SCQ 0 (call directory)  ->  F_DR_TA_1 COT 5 (entries; LFD on the last)
    F_SC_NA_1 SCQ 1 (select file NOF)        ->  F_FR_NA_1 (LOF; FRQ bit 7 = refused)
      or F_SC_NB_1 (query log, start..stop)  ->  F_FR_NA_1 (the log of that range as a file)
    F_SC_NA_1 SCQ 2 (call file)              ->  F_SR_NA_1 (section 1 ready, its LOF)
    F_SC_NA_1 SCQ 6 (call section NOS)       ->  F_SG_NA_1 ... (segments sized to the link's
                                                 longest ASDU), F_LS_NA_1 LSQ 3 + section CHS
    F_AF_NA_1 AFQ 3 (section received)       ->  F_SR_NA_1 (next section), or after the last:
                                                 F_LS_NA_1 LSQ 1 + file CHS
    F_AF_NA_1 AFQ 1 (file received)          ->  (transfer done)

A negative section acknowledgement (AFQ 4: the master's checksum did not match) announces the
section again (F_SR_NA_1) for another call, at most ``max_retries`` times; then, as after a
negative file acknowledgement (AFQ 2), the transfer ends (F_LS_NA_1 LSQ 2 "with deactivation"
for the former). SCQ 3 (deactivate file) ends a transfer without an answer.

Once a file is selected, the master may pick any of its sections: F_SC_NA_1 SCQ 5 (select
section NOS) is answered with F_SR_NA_1 for that section, which it then calls (SCQ 6); after
its positive acknowledgement the sequence goes on with the section after it (or the file's
end). SCQ 7 (deactivate section NOS) abandons the current section, before its call or after
its segments: it is answered with F_LS_NA_1 LSQ 4 ("section transfer with deactivation", CHS
0), and the master then selects a section or deactivates the file. The file's checksum (LSQ 1)
is always that of the whole file, whatever order the sections were fetched in. SCQ 4 (delete
file) is refused (error 3): a master cannot delete our files.

What does not fit the sequence is answered with the F_SC_NA_1 / F_AF_NA_1 mirrored negatively
with the standard's error code in bits 4-7 (3 unexpected service, 4 unexpected name of file,
5 unexpected name of section); an unknown or too large file is a negative F_FR_NA_1; a cause
other than 13 (5 for the directory) COT 45; another IOA than the files' COT 47; the types only
an outstation sends (F_FR, F_SR, F_SG, F_LS, F_DR) COT 44: a master cannot send us files.

Bounds: one transfer per session (a new select replaces it); the file is read once, at select
time, and at most ``max_file_size`` octets; at most 255 sections (a section grows past
``section_size`` for larger files), so a call section queues at most one section's segments;
a transfer without a file ASDU from the master for ``timeout`` seconds is dropped (checked with
the monotonic time passed in: at the next file ASDU, and by :meth:`FileService.expire`, which
the outstation's ``on_timer`` calls; the supervisor calls that at least once a second).

Sans-I/O: the files come from a :class:`FileStore` the driver injects (rtu/files/); nothing
here reads a clock, a file or a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from rtu.frozen import frozen
from rtu.iec.asdu.codec import AsduProfile, object_size
from rtu.iec.asdu.codec_file import LOF_MAX, checksum, segment_room
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

log = logging.getLogger(__name__)

# SCQ (select and call qualifier), bits 0-3
SCQ_DEFAULT = 0  # with COT 5: call directory
SCQ_SELECT_FILE = 1
SCQ_CALL_FILE = 2
SCQ_DEACTIVATE_FILE = 3
SCQ_DELETE_FILE = 4
SCQ_SELECT_SECTION = 5
SCQ_CALL_SECTION = 6
SCQ_DEACTIVATE_SECTION = 7
# LSQ (last section or segment qualifier)
LSQ_FILE = 1  # file transfer without deactivation
LSQ_FILE_ABORTED = 2  # file transfer with deactivation
LSQ_SECTION = 3  # section transfer without deactivation
LSQ_SECTION_ABORTED = 4
# AFQ (acknowledge file or section qualifier), bits 0-3
AFQ_FILE_OK = 1
AFQ_FILE_BAD = 2
AFQ_SECTION_OK = 3
AFQ_SECTION_BAD = 4
# error codes of SCQ and AFQ, bits 4-7
ERR_NO_MEMORY = 1
ERR_CHECKSUM = 2
ERR_UNEXPECTED_SERVICE = 3
ERR_UNEXPECTED_FILE = 4
ERR_UNEXPECTED_SECTION = 5
NOS_MAX = 255
# NOF the standard suggests for a log of events (F_SC_NB_1 asks for it by name)
NOF_SEQUENCES_OF_EVENTS = 3
_OUTSTATION_ONLY = frozenset({TypeId.F_FR_NA_1, TypeId.F_SR_NA_1, TypeId.F_LS_NA_1,
                              TypeId.F_SG_NA_1, TypeId.F_DR_TA_1})


@frozen
class StoredFile:
    """One file of the directory: its NOF, a name for the log, length and time of change."""

    nof: int
    name: str
    length: int
    time: float  # POSIX seconds


class FileUnavailable(Exception):
    """The store cannot give that file (no such NOF, too large, unreadable): why, for the log."""


class FileStore(Protocol):
    """Where files come from (rtu/files/; tests use an in-memory one)."""

    def directory(self) -> Sequence[StoredFile]: ...

    def read(self, nof: int) -> bytes:
        """The file's octets now (raises FileUnavailable)."""
        ...

    def log_range(self, start: float, stop: float) -> bytes:
        """The sequence-of-events log from ``start`` to ``stop`` (POSIX seconds) as a file
        (raises FileUnavailable)."""
        ...


@frozen
class FileSettings:
    """[files]: what bounds a transfer (rtu/files/ reads them)."""

    ioa: int = 0  # the IOA the files are addressed with (with their NOF)
    max_file_size: int = 1 << 20
    section_size: int = 4096  # grows for files of more than 255 sections
    timeout: float = 60.0  # seconds without a file ASDU from the master
    max_retries: int = 3  # negative section acknowledgements per section

    def __post_init__(self) -> None:
        if not 0 < self.max_file_size <= LOF_MAX:
            raise ValueError(f"max_file_size must be 1..{LOF_MAX}, got {self.max_file_size}")
        if not 1 <= self.section_size <= LOF_MAX:
            raise ValueError(f"section_size must be 1..{LOF_MAX}, got {self.section_size}")
        if self.timeout <= 0 or self.max_retries < 0:
            raise ValueError("timeout must be > 0 and max_retries >= 0")


class State(Enum):
    IDLE = "idle"
    SELECTED = "selected"  # F_FR_NA_1 sent: waiting for the call of the file
    SECTION_READY = "section ready"  # F_SR_NA_1 sent: waiting for the call of the section
    SECTION_SENT = "section sent"  # segments and F_LS_NA_1 sent: waiting for the section ack
    FILE_SENT = "file sent"  # last section F_LS_NA_1 sent: waiting for the file ack
    # a section deactivated by the master (LSQ 4 sent): waiting for a select section
    SECTION_DEACTIVATED = "section deactivated"


@dataclass(slots=True)
class FileCounters:
    """Per outstation, for `rtu status`: what became of the transfers."""

    completed: int = 0
    failed: int = 0  # negative file acknowledgement, or retries exhausted
    resent_sections: int = 0  # after a negative section acknowledgement (corrupted transfer)
    timeouts: int = 0
    refused: int = 0  # selects of unknown or too large files, out-of-sequence requests


@dataclass(slots=True)
class _Transfer:
    request: Asdu  # the select (or query log): CA, originator and test bit of the answers
    nof: int
    name: str
    content: bytes
    sections: list[tuple[int, int]]  # (offset, length) of section 1, 2, ...
    section: int = 0  # NOS of the current section (1-based; 0 before the call of the file)
    retries: int = 0
    last_activity: float = 0.0


def split_sections(length: int, section_size: int) -> list[tuple[int, int]]:
    """(offset, length) of each section of a file: at most 255 sections of equal size but the
    last, each at least ``section_size`` octets unless the file is shorter."""
    size = max(section_size, -(-length // NOS_MAX))
    return [(offset, min(size, length - offset)) for offset in range(0, length, size)]


@dataclass(slots=True)
class FileTransfer:
    """The file transfer of one session: ASDUs in, answers out."""

    store: FileStore
    settings: FileSettings
    counters: FileCounters
    time_tag: Callable[[float], Cp56Time2a]  # POSIX seconds -> time tag (zone, validity)
    to_time: Callable[[Cp56Time2a], float | None]  # a master's time tag -> POSIX seconds
    name: str = "session"
    state: State = State.IDLE
    transfer: _Transfer | None = field(default=None)

    def expire(self, now: float) -> bool:
        """Drop a transfer the master has left for ``timeout`` seconds; True if one was."""
        if self.transfer is None or now - self.transfer.last_activity < self.settings.timeout:
            return False
        log.warning("%s: file transfer of %s dropped: no answer from the master for %.0f s"
                    " (%s)", self.name, self.transfer.name, self.settings.timeout,
                    self.state.value)
        self.counters.timeouts += 1
        self._end()
        return True

    def _end(self) -> None:
        self.state = State.IDLE
        self.transfer = None

    def handle(self, asdu: Asdu, now: float, profile: AsduProfile) -> list[Asdu]:
        """The answers to the file ASDU ``asdu`` received at monotonic time ``now``."""
        self.expire(now)
        if asdu.type_id in _OUTSTATION_ONLY:
            return [asdu.reply(Cot.UNKNOWN_TYPE_ID, negative=True)]
        obj = asdu.objects[0]
        directory = asdu.type_id is TypeId.F_SC_NA_1 and asdu.cot == Cot.REQUEST
        if asdu.cot != Cot.FILE_TRANSFER and not directory:
            return [asdu.reply(Cot.UNKNOWN_CAUSE, negative=True)]
        if obj.ioa != self.settings.ioa:
            return [asdu.reply(Cot.UNKNOWN_IOA, negative=True)]
        if self.transfer is not None:
            self.transfer.last_activity = now
        if isinstance(obj, QueryLog):
            return self._query_log(asdu, obj, now)
        if isinstance(obj, FileAck):
            return self._ack(asdu, obj)
        assert isinstance(obj, FileCall)
        if directory:
            if obj.scq != SCQ_DEFAULT:
                return [asdu.reply(Cot.UNKNOWN_CAUSE, negative=True)]
            return self._directory(asdu, profile)
        if obj.scq == SCQ_SELECT_FILE:
            return self._select(asdu, obj, now)
        if obj.scq == SCQ_CALL_FILE:
            return self._call_file(asdu, obj)
        if obj.scq == SCQ_CALL_SECTION:
            return self._call_section(asdu, obj, profile)
        if obj.scq == SCQ_SELECT_SECTION:
            return self._select_section(asdu, obj)
        if obj.scq == SCQ_DEACTIVATE_SECTION:
            return self._deactivate_section(asdu, obj)
        if obj.scq == SCQ_DEACTIVATE_FILE:
            return self._deactivate(asdu, obj)
        return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)  # delete file, reserved SCQs

    # -- answers -------------------------------------------------------------------------
    def _answer(self, request: Asdu, type_id: TypeId, *objects: InformationObject,
                cot: Cot = Cot.FILE_TRANSFER) -> Asdu:
        return Asdu(type_id, cot, request.common_address, objects, test=request.test,
                    originator=request.originator)

    def _refuse(self, asdu: Asdu, obj: FileCall | FileAck, error: int) -> list[Asdu]:
        self.counters.refused += 1
        log.warning("%s: %s refused (error %d) in state %s", self.name, obj, error,
                    self.state.value)
        if isinstance(obj, FileCall):
            return [asdu.reply(asdu.cot, negative=True, objects=(
                FileCall(obj.ioa, obj.nof, obj.section, obj.scq, error),))]
        return [asdu.reply(asdu.cot, negative=True, objects=(
            FileAck(obj.ioa, obj.nof, obj.section, obj.afq, error),))]

    def _directory(self, asdu: Asdu, profile: AsduProfile) -> list[Asdu]:
        files = list(self.store.directory())
        if not files:
            return [asdu.reply(Cot.REQUEST, negative=True)]
        active = self.transfer.nof if self.transfer is not None else None
        ioa = self.settings.ioa
        entries = [DirectoryEntry(ioa, f.nof, min(f.length, LOF_MAX), self.time_tag(f.time),
                                  last=i == len(files) - 1, active=f.nof == active)
                   for i, f in enumerate(files)]
        per_asdu = min(127, (profile.max_asdu_length - profile.header_length)
                       // object_size(TypeId.F_DR_TA_1, profile))
        if per_asdu < 1:  # a link whose ASDUs are too short for one entry
            return [asdu.reply(Cot.REQUEST, negative=True)]
        return [self._answer(asdu, TypeId.F_DR_TA_1, *entries[i:i + per_asdu], cot=Cot.REQUEST)
                for i in range(0, len(entries), per_asdu)]

    def _ready(self, request: Asdu, nof: int, name: str, content: bytes | None, why: str,
               now: float) -> list[Asdu]:
        ioa = self.settings.ioa
        if content is not None and len(content) > self.settings.max_file_size:
            why, content = (f"{len(content)} octets, more than max_file_size"
                            f" {self.settings.max_file_size}"), None
        if content is None:
            self.counters.refused += 1
            log.warning("%s: file NOF %d refused: %s", self.name, nof, why)
            self._end()
            return [self._answer(request, TypeId.F_FR_NA_1, FileReady(ioa, nof, 0, True))]
        if self.transfer is not None:
            log.info("%s: transfer of NOF %d replaced by a new selection", self.name,
                     self.transfer.nof)
        self.transfer = _Transfer(request, nof, name, content,
                                  split_sections(len(content), self.settings.section_size),
                                  last_activity=now)
        self.state = State.SELECTED
        log.info("%s: %s (%d octets) selected", self.name, name, len(content))
        return [self._answer(request, TypeId.F_FR_NA_1, FileReady(ioa, nof, len(content)))]

    def _select(self, asdu: Asdu, obj: FileCall, now: float) -> list[Asdu]:
        try:
            content: bytes | None = self.store.read(obj.nof)
            why = ""
        except FileUnavailable as exc:
            content, why = None, str(exc)
        return self._ready(asdu, obj.nof, f"NOF {obj.nof}", content, why, now)

    def _query_log(self, asdu: Asdu, obj: QueryLog, now: float) -> list[Asdu]:
        start, stop = self.to_time(obj.start), self.to_time(obj.stop)
        content: bytes | None = None
        if start is None or stop is None or stop < start:
            why = "the range is not a valid start..stop"
        else:
            try:
                content, why = self.store.log_range(start, stop), ""
            except FileUnavailable as exc:
                why = str(exc)
        return self._ready(asdu, obj.nof, f"the log query NOF {obj.nof}", content, why, now)

    def _section_ready(self, transfer: _Transfer) -> Asdu:
        length = transfer.sections[transfer.section - 1][1]
        self.state = State.SECTION_READY
        return self._answer(transfer.request, TypeId.F_SR_NA_1,
                            SectionReady(self.settings.ioa, transfer.nof, transfer.section,
                                         length))

    def _last_section(self, transfer: _Transfer) -> Asdu:
        self.state = State.FILE_SENT
        return self._answer(transfer.request, TypeId.F_LS_NA_1,
                            LastSegment(self.settings.ioa, transfer.nof,
                                        len(transfer.sections), LSQ_FILE,
                                        checksum(transfer.content)))

    def _call_file(self, asdu: Asdu, obj: FileCall) -> list[Asdu]:
        transfer = self.transfer
        if transfer is None or self.state is not State.SELECTED:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)
        if obj.nof != transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        if not transfer.sections:  # an empty file: no section, at once the last one
            return [self._last_section(transfer)]
        transfer.section = 1
        return [self._section_ready(transfer)]

    def _select_section(self, asdu: Asdu, obj: FileCall) -> list[Asdu]:
        """Any section of the selected file, in any state of its transfer: announced ready."""
        transfer = self.transfer
        if transfer is None:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)
        if obj.nof != transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        if not 1 <= obj.section <= len(transfer.sections):
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SECTION)
        if obj.section != transfer.section:
            transfer.retries = 0
        transfer.section = obj.section
        log.info("%s: section %d of NOF %d selected by the master", self.name, obj.section,
                 obj.nof)
        return [self._section_ready(transfer)]

    def _deactivate_section(self, asdu: Asdu, obj: FileCall) -> list[Asdu]:
        """The current section abandoned (before its call or before its acknowledgement)."""
        transfer = self.transfer
        if transfer is None:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)
        if obj.nof != transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        if self.state not in (State.SECTION_READY, State.SECTION_SENT):
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)
        if obj.section != transfer.section:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SECTION)
        log.info("%s: section %d of NOF %d deactivated by the master", self.name, obj.section,
                 obj.nof)
        transfer.retries = 0
        self.state = State.SECTION_DEACTIVATED
        return [self._answer(transfer.request, TypeId.F_LS_NA_1,
                             LastSegment(self.settings.ioa, transfer.nof, obj.section,
                                         LSQ_SECTION_ABORTED, 0))]

    def _call_section(self, asdu: Asdu, obj: FileCall, profile: AsduProfile) -> list[Asdu]:
        transfer = self.transfer
        if transfer is None or self.state is not State.SECTION_READY:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)
        if obj.nof != transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        if obj.section != transfer.section:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_SECTION)
        offset, length = transfer.sections[transfer.section - 1]
        data = transfer.content[offset:offset + length]
        room = segment_room(profile)
        ioa = self.settings.ioa
        out = [self._answer(transfer.request, TypeId.F_SG_NA_1,
                            Segment(ioa, transfer.nof, transfer.section, data[i:i + room]))
               for i in range(0, len(data), room)]
        out.append(self._answer(transfer.request, TypeId.F_LS_NA_1,
                                LastSegment(ioa, transfer.nof, transfer.section, LSQ_SECTION,
                                            checksum(data))))
        self.state = State.SECTION_SENT
        return out

    def _deactivate(self, asdu: Asdu, obj: FileCall) -> list[Asdu]:
        if self.transfer is None or obj.nof != self.transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        log.info("%s: file transfer of NOF %d deactivated by the master", self.name, obj.nof)
        self._end()
        return []

    def _ack(self, asdu: Asdu, obj: FileAck) -> list[Asdu]:
        transfer = self.transfer
        if transfer is None or obj.nof != transfer.nof:
            return self._refuse(asdu, obj, ERR_UNEXPECTED_FILE)
        if self.state is State.SECTION_SENT and obj.afq in (AFQ_SECTION_OK, AFQ_SECTION_BAD):
            if obj.section != transfer.section:
                return self._refuse(asdu, obj, ERR_UNEXPECTED_SECTION)
            if obj.afq == AFQ_SECTION_OK:
                transfer.retries = 0
                if transfer.section == len(transfer.sections):
                    return [self._last_section(transfer)]
                transfer.section += 1
                return [self._section_ready(transfer)]
            transfer.retries += 1
            log.warning("%s: section %d of NOF %d acknowledged negatively (error %d), %s",
                        self.name, obj.section, obj.nof, obj.error,
                        "sent again" if transfer.retries <= self.settings.max_retries
                        else "transfer aborted")
            if transfer.retries <= self.settings.max_retries:
                self.counters.resent_sections += 1
                return [self._section_ready(transfer)]
            self.counters.failed += 1
            self._end()
            return [self._answer(transfer.request, TypeId.F_LS_NA_1,
                                 LastSegment(self.settings.ioa, transfer.nof, obj.section,
                                             LSQ_FILE_ABORTED, 0))]
        if self.state is State.FILE_SENT and obj.afq in (AFQ_FILE_OK, AFQ_FILE_BAD):
            if obj.afq == AFQ_FILE_OK:
                self.counters.completed += 1
                log.info("%s: %s (%d octets) transferred", self.name, transfer.name,
                         len(transfer.content))
            else:
                self.counters.failed += 1
                log.warning("%s: file NOF %d acknowledged negatively (error %d)", self.name,
                            transfer.nof, obj.error)
            self._end()
            return []
        return self._refuse(asdu, obj, ERR_UNEXPECTED_SERVICE)



def utc_time(tag: Cp56Time2a) -> float | None:
    """POSIX seconds of a master's UTC time tag; None for an impossible date."""
    try:
        return tag.to_timestamp()
    except ValueError:
        return None


class FileService:
    """The file transfers of every session of an outstation (one each), and their counters."""

    def __init__(self, store: FileStore, settings: FileSettings,
                 time_tag: Callable[[float], Cp56Time2a] = Cp56Time2a.from_timestamp,
                 to_time: Callable[[Cp56Time2a], float | None] = utc_time) -> None:
        """``time_tag`` and ``to_time`` (UTC by default): the outstation sets its own
        (station time zone and clock validity) in :meth:`Outstation.attach_files`."""
        self.store = store
        self.settings = settings
        self.counters = FileCounters()
        self.time_tag = time_tag
        self.to_time = to_time
        self._transfers: dict[object, FileTransfer] = {}

    def handle(self, session: object, name: str, asdu: Asdu, now: float,
               profile: AsduProfile) -> list[Asdu]:
        """The answers to the file ASDU ``asdu`` from ``session`` (called ``name``)."""
        transfer = self._transfers.get(session)
        if transfer is None:
            transfer = FileTransfer(self.store, self.settings, self.counters, self.time_tag,
                                    self.to_time, name)
            self._transfers[session] = transfer
        return transfer.handle(asdu, now, profile)

    def release(self, session: object) -> None:
        """``session`` ended: its transfer (if any) with it."""
        self._transfers.pop(session, None)

    def expire(self, now: float) -> None:
        for transfer in self._transfers.values():
            transfer.expire(now)

    def status(self) -> dict[str, object]:
        c = self.counters
        return {"completed": c.completed, "failed": c.failed,
                "resent_sections": c.resent_sections, "timeouts": c.timeouts,
                "refused": c.refused,
                "active": sum(t.transfer is not None for t in self._transfers.values())}
