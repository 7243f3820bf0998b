"""Section declarations: each key of the file once, with its type, default and range.

A section module declares its table as a :class:`Table` of :class:`Key` entries. The same
declaration gives the parser its list of allowed keys (for "unknown key, did you mean"), the
default of an absent key and the bounds it checks (:meth:`Key.read`), the runtime dataclass
its defaults (:meth:`Table.default`, or the other way round with :func:`default_of` when the
settings class belongs to a protocol core that knows nothing of files), and
:func:`json_schema` a JSON Schema (draft 2020-12) of the whole file for editors.

Checks that involve several keys (``t2 < t1``, a point named by a read exists) stay in the
section's parser: a JSON Schema only says what each key may hold on its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

from rtu.config.reader import MISSING, Reader, one_of
from rtu.frozen import frozen

__all__ = [
    "JSON_SCHEMA_DIALECT",
    "Key",
    "Table",
    "array",
    "boolean",
    "choice",
    "default_of",
    "integer",
    "json_schema",
    "number",
    "seconds",
    "string",
    "table",
    "tables",
]

JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPES: Final = ("integer", "number", "boolean", "string", "array", "object")


@frozen
class Key:
    """One key of a table: what it holds, its default (MISSING: none) and its bounds."""

    name: str
    types: tuple[str, ...]  # JSON types of the value ("number" takes integers too)
    default: Any = MISSING
    required: bool = False
    minimum: float | None = None  # value >= minimum
    maximum: float | None = None  # value <= maximum
    above: float | None = None  # value > above
    choices: tuple[Any, ...] = ()
    items: tuple[str, ...] = ()  # arrays of scalars: the items' JSON types
    table: Table | None = None  # a sub-table (types "object") or an array of tables ("array")
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.types or any(t not in _JSON_TYPES for t in self.types):
            raise ValueError(f"{self.name}: JSON types expected, got {self.types!r}")

    def value(self, tbl: Mapping[Any, Any]) -> Any:
        """The key's value in ``tbl``, else its default (MISSING when it has none)."""
        return tbl.get(self.name, self.default)

    def read(self, p: Reader, tbl: Mapping[Any, Any], at: str) -> Any:
        """Check the value (or default) of a scalar key against this declaration; None if it
        was wrong (reported), MISSING if it is absent without a default."""
        path = f"{at}.{self.name}" if at else self.name
        value = self.value(tbl)
        if value is MISSING:
            if self.required:
                p.missing(path, self.expectation())
            return MISSING
        if self.choices:
            return p.choice(value, path, tuple(str(c) for c in self.choices))
        if self.types == ("boolean",):
            return p.boolean(value, path)
        if self.types == ("string",):
            return p.string(value, path, self.doc or "a string")
        if self.types == ("integer",):
            lo = None if self.minimum is None else int(self.minimum)
            hi = None if self.maximum is None else int(self.maximum)
            return p.integer(value, path, lo, hi, self.doc)
        if self.types == ("number",):
            if self.above == 0.0 and self.minimum is None and self.maximum is None \
                    and not self.doc:
                return p.seconds(value, path)
            return p.number(value, path, self.expectation(), above=self.above,
                            at_least=self.minimum, at_most=self.maximum)
        raise TypeError(f"{path}: {self.types} is not read by Key.read")  # our own misuse

    def expectation(self) -> str:
        """What the key takes, in the words of an error message."""
        if self.doc:
            return self.doc
        if self.choices:
            return one_of([str(c) for c in self.choices])
        if self.types == ("number",) and self.above == 0.0:
            return "a number of seconds > 0"
        if self.types == ("integer",):
            if self.minimum is not None and self.maximum is not None:
                return f"an integer {self.minimum:g}..{self.maximum:g}"
            if self.minimum is not None:
                return f"an integer >= {self.minimum:g}"
            return "an integer"
        if self.types == ("boolean",):
            return "true or false"
        return "a " + " or ".join(self.types)

    def schema(self) -> dict[str, Any]:
        """This key as a JSON Schema."""
        out: dict[str, Any] = {}
        if self.table is not None:
            sub = self.table.schema()
            out = sub if self.types == ("object",) else {"type": "array", "items": sub}
        else:
            out["type"] = self.types[0] if len(self.types) == 1 else list(self.types)
            if self.items:
                out["items"] = {"type": self.items[0] if len(self.items) == 1
                                else list(self.items)}
        if self.choices:
            out["enum"] = list(self.choices)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.above is not None:
            out["exclusiveMinimum"] = self.above
        if self.default is not MISSING and not isinstance(self.default, tuple | frozenset):
            out["default"] = self.default
        if self.doc:
            out["description"] = self.doc
        return out


@frozen
class Table:
    """A table of the file (``[iec104]``) or the entries of an array of tables (``[[points]]``)."""

    header: str  # how errors name it: "[iec104]", "[[points]]"
    keys: tuple[Key, ...]
    doc: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    def key(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(f"{self.header} declares no key {name!r}")

    def default(self, name: str) -> Any:
        """The declared default of ``name`` (for the runtime dataclass built from it)."""
        value = self.key(name).default
        if value is MISSING:
            raise KeyError(f"{self.header}: {name} has no default")
        return value

    def open(self, p: Reader, value: object, path: str) -> Mapping[Any, Any]:
        """The table at ``path`` (empty if absent or not a table), unknown keys reported."""
        return p.table(value, path, self.names, self.header)

    def entries(self, p: Reader, value: object,
                at: str) -> Iterator[tuple[int, str, Mapping[Any, Any]]]:
        """The entries of the array of tables ``at`` (this declaration's ``[[...]]``): index, key
        path and table, unknown keys reported; an entry that is not a table is reported and
        skipped."""
        for i, item in enumerate(p.array_of_tables(value, at)):
            path = f"{at}[{i}]"
            if not isinstance(item, Mapping):
                p.expected(path, f"a table ({self.header})", item)
                continue
            yield i, path, self.open(p, item, path)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {key.name: key.schema() for key in self.keys},
            "additionalProperties": False,
        }
        required = [key.name for key in self.keys if key.required]
        if required:
            out["required"] = required
        if self.doc:
            out["description"] = self.doc
        return out


def json_schema(document: Table, title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole file declared by ``document``."""
    out = {"$schema": JSON_SCHEMA_DIALECT, "title": title}
    out.update(document.schema())
    return out


def default_of(cls: type[Any], name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (a settings class of a protocol
    core declares its own defaults; the file's declaration takes them from there)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            break
    raise KeyError(f"{cls.__name__}.{name} has no default")


# -- declaring keys --------------------------------------------------------------------------------
def integer(name: str, default: Any = MISSING, lo: int | None = None, hi: int | None = None, *,
            required: bool = False, doc: str = "") -> Key:
    return Key(name, ("integer",), default, required, lo, hi, doc=doc)


def number(name: str, default: Any = MISSING, *, at_least: float | None = None,
           at_most: float | None = None, above: float | None = None, required: bool = False,
           doc: str = "") -> Key:
    return Key(name, ("number",), default, required, at_least, at_most, above, doc=doc)


def seconds(name: str, default: Any = MISSING, *, required: bool = False) -> Key:
    """A number of seconds > 0."""
    return Key(name, ("number",), default, required, above=0.0)


def boolean(name: str, default: Any = MISSING, *, required: bool = False) -> Key:
    return Key(name, ("boolean",), default, required)


def string(name: str, default: Any = MISSING, *, required: bool = False, doc: str = "") -> Key:
    return Key(name, ("string",), default, required, doc=doc)


def choice(name: str, choices: Sequence[Any], default: Any = MISSING, *,
           required: bool = False) -> Key:
    types = tuple(dict.fromkeys("string" if isinstance(c, str) else "number" for c in choices))
    return Key(name, types, default, required, choices=tuple(choices))


def array(name: str, items: Sequence[str], default: Any = MISSING, *, required: bool = False,
          doc: str = "") -> Key:
    return Key(name, ("array",), default, required, items=tuple(items), doc=doc)


def table(name: str, sub: Table, *, required: bool = False) -> Key:
    return Key(name, ("object",), MISSING, required, table=sub)


def tables(name: str, sub: Table, *, required: bool = False) -> Key:
    """An array of tables (``[[name]]``)."""
    return Key(name, ("array",), MISSING, required, table=sub)


def any_of(name: str, types: Sequence[str], default: Any = MISSING, *,
           required: bool = False, doc: str = "") -> Key:
    return Key(name, tuple(types), default, required, doc=doc)
