"""``@frozen``: an immutable record (a frozen, slotted dataclass to the type checker) that is
cheap to create at import.

``@dataclass(frozen=True, slots=True)`` writes the source of five or six methods per class
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``) and
compiles each with ``exec``: about 0.5 ms per class, some 60 ms of every start-up for the
hundred-odd classes the outstation's modules define. ``@frozen`` lets
:func:`dataclasses.dataclass` write ``__init__`` only (0.15 ms); equality and hashing (by the
compared fields, in order, as a dataclass compares its field tuples) are written and compiled
on their first use (most records are never compared or hashed), and ``repr`` is one shared
function of the fields. The class is still a dataclass (``fields``, ``replace``, ``asdict``,
``__match_args__``) with ``__slots__``.

As with ``@event_record`` (rtu/points/records.py), what is given up is the run-time error for
code that assigns to a field: mypy --strict (which the suite runs) refuses such an assignment
as it does for a frozen dataclass. A field with ``compare=False`` is left out of equality and
hashing, and one with ``repr=False`` out of the ``repr``, as dataclasses do.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from reprlib import recursive_repr
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["frozen"]

_T = TypeVar("_T")

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def frozen(cls: type[_T]) -> type[_T]:
        """A frozen, slotted dataclass, for the type checker."""
else:
    def frozen(cls: type[Any]) -> type[Any]:
        """A slotted dataclass whose ``__init__`` alone is generated; compared, hashed and
        shown as a frozen dataclass is."""
        own = dict(cls.__dict__)  # what the class body defines itself is kept, as dataclass does
        made = dataclass(slots=True, eq=False, repr=False)(cls)
        fields = dataclasses.fields(made)
        compared = tuple(f.name for f in fields if f.compare)
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        shown = tuple(f.name for f in fields if f.repr)
        def __eq__(self: Any, other: object) -> bool:
            return _compile(made, "__eq__", compared)(self, other)  # type: ignore[no-any-return]

        def __hash__(self: Any) -> int:
            return _compile(made, "__hash__", hashed)(self)  # type: ignore[no-any-return]

        @recursive_repr()
        def __repr__(self: Any) -> str:
            return f"{self.__class__.__qualname__}(" + ", ".join(
                f"{name}={getattr(self, name)!r}" for name in shown) + ")"

        explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
        for method in (__eq__, __hash__, __repr__):
            name = method.__name__
            if name in own and (name != "__hash__" or explicit_hash):
                continue
            method.__qualname__ = f"{made.__qualname__}.{name}"
            setattr(made, name, method)
        return made


def _compile(cls: type[Any], name: str, fields: tuple[str, ...]) -> Any:
    """``cls.__eq__`` or ``cls.__hash__`` as dataclasses writes it (a tuple of the fields
    compared, or hashed), compiled on the first call and put in place of the one-line stub
    that called this: a class that is never compared or hashed never pays for it, and one
    that is (the event path's records) runs the same code a dataclass would."""
    mine = "(" + "".join(f"self.{field_name}," for field_name in fields) + ")"
    if name == "__eq__":
        theirs = "(" + "".join(f"other.{field_name}," for field_name in fields) + ")"
        source = (f"def __eq__(self, other):\n"
                  f"    if other.__class__ is self.__class__:\n"
                  f"        return {mine} == {theirs}\n"
                  f"    return NotImplemented\n")
    else:
        source = f"def __hash__(self):\n    return hash({mine})\n"
    made: dict[str, Any] = {}
    exec(source, {}, made)  # noqa: S102  (field names: identifiers, as dataclasses writes them)
    method = made[name]
    method.__qualname__ = f"{cls.__qualname__}.{name}"
    setattr(cls, name, method)
    return method
