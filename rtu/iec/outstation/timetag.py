"""The time tag of the last millisecond an event was stamped with, kept so that the events of
one millisecond share it without working it out again (issue 21 item 3).

:class:`TagCache` holds one tag and the open interval of time stamps (of our clock, before a
master's offset) that get exactly that tag from :meth:`Cp56Time2a.from_timestamp`
(:func:`~rtu.iec.asdu.objects.same_tag_span`). What else a tag depends on (the clock offset,
the synchronisation states that set IV, the time zone, the settings) is declared on the
outstation with :class:`ClearsTags`: setting such an attribute empties the cache, so a hit is
always the tag that would have been made.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any, Generic, TypeVar, overload

from rtu.iec.asdu.codec_base import CP56_MS_STRUCT, encode_cp56
from rtu.iec.asdu.objects import Cp56Time2a, minute_start_of, same_tag_span, tag_in_minute

_V = TypeVar("_V")

_NO_TAG = Cp56Time2a(0, 0, 0, 1, 1, 0)  # never returned: the empty cache's interval is empty
_from_timestamp = Cp56Time2a.from_timestamp
_NO_MINUTE = -(1 << 62)  # no minute: tag_in_minute finds no time in it
_CP56_MS_SIZE = CP56_MS_STRUCT.size  # the milliseconds lead a CP56Time2a's octets


class TagCache:
    __slots__ = ("high", "low", "minute_start", "octets", "tag")

    def __init__(self) -> None:
        self.low = self.high = 0.0
        self.tag = _NO_TAG
        self.octets = encode_cp56(_NO_TAG, 0)  # ``tag``'s CP56Time2a octets (EventRecord.wire)
        # the POSIX second ``tag``'s minute starts at (:meth:`make`); _NO_MINUTE when empty
        self.minute_start = _NO_MINUTE

    def clear(self) -> None:
        self.low = self.high = 0.0
        self.minute_start = _NO_MINUTE

    def keep(self, tag: Cp56Time2a, seconds: float, offset: float) -> None:
        """``tag`` was made for ``seconds``, a time stamp of ours plus ``offset``."""
        span = same_tag_span(seconds)
        if span is None:
            self.clear()
        else:
            self.tag, self.low, self.high = tag, span[0] - offset, span[1] - offset
            self.octets = encode_cp56(tag, 0)  # a tag from_timestamp made is in range
            self.minute_start = minute_start_of(seconds)

    def make(self, timestamp: float, offset: float, invalid: bool,
             zone: tzinfo | None) -> Cp56Time2a:
        """The tag of ``timestamp`` (of our clock) shifted by ``offset``, with ``invalid`` (IV)
        and in ``zone`` (None: UTC), as :meth:`Cp56Time2a.from_timestamp` makes it, then kept.
        In the minute of the kept tag only the milliseconds (and their octets) change: the
        tag is worked out from the kept one (:func:`tag_in_minute`), not made anew."""
        seconds = timestamp + offset
        found = tag_in_minute(self.tag, self.minute_start, seconds)
        if found is None:
            tag = _from_timestamp(seconds, invalid=invalid, zone=zone)
            self.keep(tag, seconds, offset)
            return tag
        tag, low, high = found
        self.tag, self.low, self.high = tag, low - offset, high - offset
        self.octets = CP56_MS_STRUCT.pack(tag.milliseconds) + self.octets[_CP56_MS_SIZE:]
        return tag

    def octets_of(self, tag: Cp56Time2a) -> bytes:
        """The CP56Time2a octets of ``tag``: the cached ones if it is the cached tag."""
        return self.octets if tag is self.tag else encode_cp56(tag, 0)


class ClearsTags(Generic[_V]):
    """An attribute a time tag depends on: setting it empties its owner's ``_tags``
    (a :class:`TagCache`). The value is kept in ``_<name>``."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> ClearsTags[_V]: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> _V: ...

    def __get__(self, obj: object, objtype: type | None = None) -> ClearsTags[_V] | _V:
        if obj is None:
            return self
        value: _V = getattr(obj, self._slot)
        return value

    def __set__(self, obj: Any, value: _V) -> None:
        setattr(obj, self._slot, value)
        obj._tags.clear()
