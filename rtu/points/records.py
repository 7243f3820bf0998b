"""``@event_record``: the records made for every point change, immutable by type, cheap to make.

A frozen dataclass sets each field through ``object.__setattr__`` in ``__init__`` (its own
``__setattr__`` refuses): about 0.5 µs for a record of four fields, against 0.14 µs for the
same slotted dataclass that is not frozen. The event path makes four such records per change
(the point's value, the change, the information object, the event record), so this module
gives them the plain slotted dataclass at run time and the frozen one to the type checker:
mypy --strict (which the suite runs) refuses any assignment to a field, as it does for a frozen
dataclass; equality, hashing (by the compared fields), ``repr``, ``dataclasses.replace`` and
pattern matching are those of a frozen dataclass. What is given up is only the run-time error
for code that assigns anyway, which the type check already reports.
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeVar

from rtu.frozen import frozen

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def event_record(cls: type[_T]) -> type[_T]:
        """A frozen, slotted dataclass, for the type checker."""
else:
    def event_record(cls: type[Any]) -> type[Any]:
        """A slotted dataclass, compared and hashed by value as a frozen one is (rtu/frozen.py:
        its methods but ``__init__`` are compiled on first use, not at import)."""
        return frozen(cls)
