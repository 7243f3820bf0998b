"""The links' frames as the web page's frame monitor (a ``FrameFeed``).

The 104 and 101 drivers report their octets to :data:`rtu.tap.TAP` only while it has a
watcher (``if TAP.watchers:``). :class:`TapFrames` adds one watcher while at least one frames
view is open and removes it when the last one closes: with nobody watching, the links run the
tap's fast path (one attribute test per chunk). While watched, one task takes the watcher's
chunks (bounded by the tap: :data:`rtu.tap.QUEUE_FRAMES`, beyond which chunks are dropped
and counted), cuts them into frames and decodes them with the monitor's own decoder
(:class:`rtu.monitor.FrameSplitter`), and hands each row to the views, whose outboxes are
bounded in turn. The last :data:`RECENT_FRAMES` rows are kept for the page's first view.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from rtu.decode import object_texts
from rtu.monitor import FrameSplitter, Seen, Sizes101, parse_type
from rtu.tap import TAP, FrameTap, Watcher
from rtu.web.feeds import Row, Unsubscribe, time_text

log = logging.getLogger(__name__)

RECENT_FRAMES: Final = 200  # decoded frames kept for a view's first snapshot
CHUNKS_PER_TURN: Final = 64  # chunks decoded before the task lets the loop run
MAX_HEX: Final = 255  # octets of a frame shown in hex (a 104 APDU or FT1.2 frame fits)
FRAME_FILTERS: Final = ("link", "direction", "type", "ioa")


def frame_row(seen: Seen, lost: int = 0) -> dict[str, Any]:
    """One frame as the page shows it: the link part, then its ASDU in columns."""
    asdu = seen.asdu
    row: dict[str, Any] = {
        "time": time_text(seen.time), "link": seen.link, "direction": seen.direction,
        "frame": seen.head or seen.text, "type": "-", "cot": "-", "ca": "-", "objects": "",
        "text": seen.text, "hex": seen.raw[:MAX_HEX].hex(" "),
        "type_id": seen.type_id, "ioas": list(seen.ioas), "lost": lost,
    }
    if asdu is not None:
        cot = asdu.cot.name + (" negative" if asdu.negative else "") + \
            (" TEST" if asdu.test else "")
        row.update(type=asdu.type_id.name, cot=cot, ca=asdu.common_address,
                   objects="; ".join(object_texts(asdu)))
    elif seen.type_id is not None or seen.head != seen.text:  # an ASDU that did not decode
        row["objects"] = seen.text[len(seen.head):].lstrip(" |")
    return row


def frame_filter(filters: Mapping[str, str]) -> Callable[[Row], bool]:
    """A predicate on frame rows: ``link`` a glob, ``direction`` rx or tx, ``type`` a type
    identification (name or number), ``ioa`` a number the frame carries. ValueError names a
    bad filter."""
    link = filters.get("link", "").strip()
    direction = filters.get("direction", "").strip().lower()
    if direction not in ("", "rx", "tx"):
        raise ValueError("direction: rx or tx")
    type_text = filters.get("type", "").strip()
    type_id = parse_type(type_text) if type_text else None
    ioa_text = filters.get("ioa", "").strip()
    if ioa_text and not ioa_text.isdigit():
        raise ValueError(f"ioa: {ioa_text!r} is not a number")
    ioa = int(ioa_text) if ioa_text else None

    def keep(row: Row) -> bool:
        if link and not fnmatch.fnmatchcase(str(row.get("link", "")), link):
            return False
        if direction and row.get("direction") != direction:
            return False
        if type_id is not None and row.get("type_id") != type_id:
            return False
        return ioa is None or ioa in row.get("ioas", ())

    return keep


class TapFrames:
    """Decoded frames of every link, taken from the frame tap only while watched."""

    def __init__(self, sizes101: Sizes101 | None = None, tap: FrameTap = TAP) -> None:
        self.tap = tap
        self.sizes = sizes101 or Sizes101()
        self._ring: deque[Row] = deque(maxlen=RECENT_FRAMES)
        self._watchers: list[Callable[[Row], None]] = []
        self._watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None
        self.lost = 0  # chunks the tap dropped for this page (its queue was full)
        self.frames = 0  # frames decoded

    @property
    def watching(self) -> bool:
        return self._watcher is not None

    def recent(self, limit: int) -> list[Row]:
        if limit <= 0:
            return []
        return list(self._ring)[-limit:]

    def subscribe(self, callback: Callable[[Row], None]) -> Unsubscribe:
        self._watchers.append(callback)
        if self._watcher is None:
            watcher = Watcher()
            self._watcher = watcher
            self.tap.watchers.append(watcher)
            self._task = asyncio.get_running_loop().create_task(self._drain(watcher))

        def unsubscribe() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)
            if not self._watchers:
                self._stop()

        return unsubscribe

    def _stop(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            with contextlib.suppress(ValueError):
                self.tap.watchers.remove(watcher)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def rebind(self, sizes101: Sizes101) -> None:
        """The 101 line's field sizes changed (a reload): decode with the new ones."""
        self.sizes = sizes101

    def close(self) -> None:
        self._watchers.clear()
        self._stop()

    async def _drain(self, watcher: Watcher) -> None:
        splitter = FrameSplitter(self.sizes)  # a fresh one per watch: no stale partial frames
        while True:
            await watcher.wake.wait()
            watcher.wake.clear()
            turn = 0
            while watcher.queue:
                chunk = watcher.queue.popleft()
                self.lost += watcher.dropped
                watcher.dropped = 0
                try:
                    seen = splitter.feed(chunk)
                except Exception:  # a decoding bug: said, and the monitor goes on
                    log.exception("web page: frame monitor: cannot decode %s", chunk.get("hex"))
                    continue
                for item in seen:
                    self._publish(frame_row(item, self.lost))
                turn += 1
                if turn % CHUNKS_PER_TURN == 0:
                    await asyncio.sleep(0)  # a burst does not hold the loop

    def _publish(self, row: dict[str, Any]) -> None:
        self.frames += 1
        self._ring.append(row)
        for callback in self._watchers[:]:
            callback(row)
