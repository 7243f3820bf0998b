"""GPIO banks: the digital inputs and relay outputs of a board, behind one small interface.

A bank is opened once with every line it will use (:func:`open_gpio`) and then offers

* :class:`~hal.interfaces.EdgeInputs` for the inputs (levels, and edges with the time the
  hardware saw them, delivered on the event loop),
* :meth:`GpioBank.input` / :meth:`GpioBank.output`: one :class:`~hal.interfaces.DigitalInput` /
  :class:`~hal.interfaces.RelayOutput` per line, for relays and their feedback inputs.

Backends (chosen in the configuration, imported only when used):

``gpiod``  libgpiod v2 through the ``gpiod`` package (:mod:`hal.gpio_gpiod`): any Linux board,
           including the Raspberry Pi 5. Lines are found by name; edge events carry kernel
           timestamps and are read on the event loop; optional kernel debounce.
``rpi``    RPi.GPIO (:mod:`hal.gpio_rpi`): Raspberry Pi 4 and older only.
``sim``    in-memory lines (:class:`hal.fake.FakeGpio`): no hardware.

Levels are physical (True = high) on inputs; inversion is the sources' business. Outputs are
logical (True = energised): an active-low output is driven low when on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hal.gpio_lines import (
    BACKENDS,
    BIASES,
    GpioBank,
    GpioUnavailableError,
    InputLine,
    LineInput,
    LineOutput,
    OutputLine,
    bcm_number,
)

__all__ = [
    "BACKENDS",
    "BIASES",
    "GpioBank",
    "GpioUnavailableError",
    "InputLine",
    "LineInput",
    "LineOutput",
    "OutputLine",
    "bcm_number",
    "open_gpio",
]


def open_gpio(backend: str, inputs: Sequence[InputLine], outputs: Sequence[OutputLine], *,
              chip: str = "", module: Any = None) -> GpioBank:
    """Open ``backend`` with these lines; :class:`GpioUnavailableError` says why it cannot.

    ``module`` replaces the imported library (``gpiod`` / ``RPi.GPIO``) in tests.
    """
    if backend == "gpiod":
        from hal.gpio_gpiod import GpiodBank

        return GpiodBank(inputs, outputs, chip=chip, gpiod=module)
    if backend == "rpi":
        from hal.gpio_rpi import RpiGpioBank

        return RpiGpioBank(inputs, outputs, gpio=module)
    if backend == "sim":
        from hal.fake import FakeGpio

        return FakeGpio([i.name for i in inputs], [(o.name, o.initial) for o in outputs])
    raise ValueError(f"unknown GPIO backend {backend!r}; expected one of {', '.join(BACKENDS)}")
