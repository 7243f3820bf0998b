"""How the registry builds the relay outputs: the end of the command path.

Relays on GPIO lines are the board's outputs (``gpio`` is built first and provides them);
the others are in-memory relays. ``[commands]`` (pulse lengths, what QU=0 means) is applied
while running; across a rebuild, a relay configured as before keeps its position.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from hal.fake import FakeRelay
from hal.interfaces import RelayOutput
from rtu.components import Field, Parts
from rtu.config import AppConfig
from rtu.frozen import frozen
from rtu.sources.relays.source import RelayExecutor, relay_settings

if TYPE_CHECKING:
    from rtu.sources.gpio.source import Board


@frozen
class Relays:
    """The relay outputs by name and the executor driving them."""

    outputs: dict[str, RelayOutput]
    executor: RelayExecutor


def _board(field: Field) -> Board | None:
    """The board gpio built, if it did: its module is then loaded (not imported otherwise,
    a station without GPIO does not pay for it at start-up)."""
    gpio = sys.modules.get("rtu.sources.gpio.source")
    if gpio is None:
        return None
    board: Board | None = field.get(gpio.Board)
    return board


def build(field: Field) -> Parts:
    config = field.config
    board = _board(field)
    outputs: dict[str, RelayOutput] = {
        r.name: board.bank.output(r.name) if board is not None and r.driver == "gpio"
        else FakeRelay(r.name, r.initial)
        for r in config.relays
    }
    c = config.commands
    executor = RelayExecutor(field.db, outputs, short_pulse=c.short_pulse,
                             long_pulse=c.long_pulse, default_qu=c.default_qu,
                             settings=relay_settings(config.relays),
                             inputs=board.inputs if board is not None else None)

    def live(new: AppConfig) -> None:
        c = new.commands
        executor.configure(short_pulse=c.short_pulse, long_pulse=c.long_pulse,
                           default_qu=c.default_qu)

    def keep(new: AppConfig) -> object:
        """The positions of the relays configured alike before and after."""
        same = {r.name for r in new.relays} & {r.name for r in config.relays}
        same = {n for n in same if _relay(new, n) == _relay(config, n)}
        return {name: outputs[name].get() for name in same if name in outputs}

    async def restore(kept: object) -> None:
        assert isinstance(kept, dict)
        for name, state in kept.items():
            relay = outputs.get(name)
            if relay is not None and relay.get() != state:
                await asyncio.to_thread(relay.set, state)
        executor.report_all()

    return Parts(executor=executor, initialise=[executor.report_all], close=[executor.close],
                 live_sections=("commands",), live=live, keep=keep, restore=restore,
                 provides=(Relays(outputs, executor),))


def _relay(config: AppConfig, name: str) -> object:
    return next((r for r in config.relays if r.name == name), None)
