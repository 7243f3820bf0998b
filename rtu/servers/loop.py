"""The event loop ``rtu run`` runs on: asyncio's selector loop, with callbacks run at the end
of a loop turn.

An event made in a loop turn (a source's poll, a GPIO edge, a command's return information)
wakes the links that must send it. With ``loop.call_soon`` their flush would run in the next
turn, after one more poll of the selector (``epoll_wait`` with no timeout) and the loop's own
bookkeeping: at 10,000 events a second in 1 ms ticks that was about 4 µs of CPU a tick on the
development VM, and each event waited for it. :meth:`TurnLoop.call_at_end_of_turn` runs a
callback once the turn's ready callbacks have run, before the selector is polled again, so
that the events of a turn leave in that turn, together.

Only the outstation's own wakes use it (:func:`call_at_end_of_turn`); on any other loop (a
test's, another runner's) they fall back to ``call_soon``, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class TurnLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop with :meth:`call_at_end_of_turn`."""

    def __init__(self) -> None:
        super().__init__()
        self._end_of_turn: list[Callable[[], object]] = []

    def call_at_end_of_turn(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` after the ready callbacks of the present turn, before the loop
        polls for I/O again (from the loop's thread only, as ``call_soon``). A callback that
        raises is reported to the loop's exception handler, as a ``call_soon`` callback's
        exception is; the others still run."""
        self._end_of_turn.append(callback)

    def _run_once(self) -> None:
        # asyncio's turn: poll (without waiting when callbacks are ready), due timers, the
        # ready callbacks. A callback registered outside a turn (none is, in practice) runs
        # before the poll, so that it does not wait for the next timer or I/O.
        if self._end_of_turn:
            self._end_turn()
        super()._run_once()  # type: ignore[misc]
        if self._end_of_turn:
            self._end_turn()

    def _end_turn(self) -> None:
        todo, self._end_of_turn = self._end_of_turn, []
        for callback in todo:
            try:
                callback()
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 (as asyncio.Handle._run reports)
                self.call_exception_handler({
                    "message": f"Exception in end-of-turn callback {callback!r}",
                    "exception": exc})
        # registered by those callbacks: the next turn's ready callbacks (no endless turn)
        again, self._end_of_turn = self._end_of_turn, []
        for callback in again:
            self.call_soon(callback)


def call_at_end_of_turn(loop: asyncio.AbstractEventLoop, callback: Callable[[], object]) -> None:
    """``callback`` at the end of the present turn on a :class:`TurnLoop`, else in the next
    turn (``loop.call_soon``)."""
    if isinstance(loop, TurnLoop):
        loop.call_at_end_of_turn(callback)
    else:
        loop.call_soon(callback)


#: whether this Python's loop turns through ``_run_once``, which TurnLoop wraps (3.4 to 3.13
#: do). Were it renamed, run_forever would never call the wrapper and no end-of-turn callback
#: would run: :func:`run` then uses asyncio's own loop, and the wakes fall back to call_soon.
HOOKABLE = callable(getattr(asyncio.BaseEventLoop, "_run_once", None))


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a :class:`TurnLoop` (on asyncio's own loop where it cannot
    hook the turn, see :data:`HOOKABLE`)."""
    with asyncio.Runner(loop_factory=TurnLoop if HOOKABLE else None) as runner:
        return runner.run(main)
