"""Event ASDUs encoded once and shared by every session that sends them (issue 21 item 3).

Every started session of an event group receives the same events in the same order, and the
sessions of a 104 server are flushed in the same loop turn: each of them cuts the same batch
of events off its queue and would encode the same octets again (eight masters: eight times).
:func:`event_asdu` encodes a batch once per field-size profile and hands the same ``bytes`` to
the next session that sends that batch; each session then only puts its own APCI (sequence
numbers) or link frame around it.

A batch is looked up by the identity of its first record, common address and profile object,
and a hit must hold the same records in the same order (compared by identity, which tuple
equality tries first; records equal in value encode to the same octets anyway). The cache holds the
batch it encoded, so no record of it can be freed (and its id reused) while it is cached. It is
bounded (:data:`MAX_SHARED`, the oldest entry is dropped); a miss only costs the encoding that
would have been done anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.codec_prebuilt import encode_events, encode_prebuilt
from rtu.iec.outstation.events import WIRE_IOA_SIZE, EventRecord

_WIRE = attrgetter("wire")  # a record's octets (a C call per record, no frame)

#: batches kept; sessions flushed in one loop turn ask for the same few batches in a row
MAX_SHARED = 64

# (id of the first record, common address, id of the profile) -> (profile, batch, octets)
_Entry = tuple[AsduProfile, tuple[EventRecord, ...], bytes]
_shared: dict[tuple[int, int, int], _Entry] = {}
# how many batches were encoded and how many were taken from the cache (tests, profiling)
stats = {"encoded": 0, "shared": 0}


def event_asdu(batch: Sequence[EventRecord], ca: int, profile: AsduProfile) -> bytes:
    """The octets of one ASDU carrying ``batch`` (events of one type and cause, in order) with
    common address ``ca`` in ``profile``: from the cache if another session sent that same
    batch, else encoded (and kept for the next one)."""
    records = tuple(batch)
    first = records[0]
    key = (id(first), ca, id(profile))
    hit = _shared.get(key)
    # tuple equality compares identity first: equal for the same records in the same order
    # (and for records equal in value, whose octets are the same too)
    if hit is not None and hit[0] is profile and hit[1] == records:
        stats["shared"] += 1
        return hit[2]
    # the objects' octets made with the events (EventRecord.wire: PROFILE_104's IOA size and
    # CP56Time2a): a header and a join; otherwise (another profile, a record made with its
    # object) the objects are encoded
    body = list(map(_WIRE, records)) if first.wire and not profile.cp24 \
        and profile.ioa_size == WIRE_IOA_SIZE else None
    if body is not None and all(body):
        data = encode_prebuilt(first.type_id, first.cot, ca, len(body), body, profile)
    else:
        data = encode_events(first.type_id, first.cot, ca, [r.obj for r in records], profile)
    stats["encoded"] += 1
    if hit is None and len(_shared) >= MAX_SHARED:
        del _shared[next(iter(_shared))]
    _shared[key] = (profile, records, data)
    return data


def size() -> int:
    """Batches cached now."""
    return len(_shared)


def clear() -> None:
    """Forget every shared batch (tests; a reload needs nothing: entries age out)."""
    _shared.clear()
