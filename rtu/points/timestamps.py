"""POSIX seconds <-> datetimes by calendar arithmetic, independent of the platform's ``time_t``.

``datetime.fromtimestamp`` and ``datetime.timestamp`` go through the C library's ``time_t``: on a
32-bit board (Raspberry Pi OS armhf) they raise OverflowError after 2038-01-19T03:14:07Z, well
inside the years 2000-2099 a CP56Time2a can carry. Every conversion between time tags, time
stamps and datetimes in this program goes through these two functions instead, which only add
a ``timedelta`` to 1970-01-01 UTC (or subtract it), for any year datetime supports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND = timedelta(seconds=1)
_MICROSECONDS = timedelta(microseconds=1)


def utc_datetime(seconds: float) -> datetime:
    """The aware UTC datetime of POSIX ``seconds`` (OverflowError only outside years 1..9999)."""
    return EPOCH + timedelta(seconds=seconds)


def posix_seconds(moment: datetime) -> float:
    """POSIX seconds of ``moment``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    # whole seconds exactly, then the microseconds: no float rounding of large counts
    return delta // _ONE_SECOND + (delta % _ONE_SECOND) / _MICROSECONDS / 1e6
