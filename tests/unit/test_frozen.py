"""``@frozen`` (rtu/frozen.py) behaves as ``@dataclass(frozen=True, slots=True)`` does, save
for the run-time error on assignment (mypy's job), and costs less to create."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

from rtu.frozen import frozen


@frozen
class Cheap:
    name: str
    value: float = 0.0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)
    secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    value: float = 0.0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False)
    secret: str = field(default="", repr=False)


@frozen
class OwnEquality:
    a: int
    b: int

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OwnEquality) and self.a == other.a

    def __hash__(self) -> int:
        return hash(self.a)


@frozen
class One:
    x: float


@frozen
class Node:
    child: object = None


def test_equality_hash_and_repr_are_those_of_a_frozen_dataclass() -> None:
    for args, kwargs in [(("a",), {}), (("a", 1.5, ("x", "y")), {"note": "n", "secret": "s"})]:
        cheap, plain = Cheap(*args, **kwargs), Plain(*args, **kwargs)  # type: ignore[arg-type]
        assert repr(cheap) == repr(plain).replace("Plain", "Cheap")
        assert cheap == Cheap(*args, **kwargs)  # type: ignore[arg-type]
        assert hash(cheap) == hash(Cheap(*args, **kwargs))  # type: ignore[arg-type]
    assert Cheap("a", note="x") == Cheap("a", note="y")  # compare=False: not compared
    assert hash(Cheap("a", note="x")) == hash(Cheap("a", note="y"))
    assert Cheap("a", 1.0) != Cheap("a", 2.0) and Cheap("a") != Cheap("b")
    assert Cheap("a") != Plain("a")  # type: ignore[comparison-overlap]  # another class
    assert Cheap("a").__eq__(("a",)) is NotImplemented
    assert "secret" not in repr(Cheap("a", secret="s"))
    assert len({Cheap("a"), Cheap("a"), Cheap("b")}) == 2
    nan = math.nan  # the same object compares equal inside a tuple, as a dataclass's does
    assert One(nan) == One(nan) and One(1.0) != One(2.0)


def test_still_a_dataclass_with_slots() -> None:
    cheap = Cheap("a", 1.0)
    assert dataclasses.is_dataclass(cheap)
    assert [f.name for f in dataclasses.fields(cheap)] == ["name", "value", "tags", "note",
                                                            "secret"]
    assert dataclasses.replace(cheap, value=2.0) == Cheap("a", 2.0)
    assert dataclasses.asdict(cheap)["value"] == 1.0
    assert not hasattr(cheap, "__dict__")
    assert Cheap.__match_args__ == ("name", "value", "tags", "note", "secret")
    match cheap:
        case Cheap("a", value):
            assert value == 1.0
        case _:
            raise AssertionError("no match")


def test_methods_the_class_defines_are_kept() -> None:
    assert OwnEquality(1, 2) == OwnEquality(1, 3)
    assert hash(OwnEquality(1, 2)) == hash(1)
    assert repr(OwnEquality(1, 2)) == "OwnEquality(a=1, b=2)"


def test_a_record_that_holds_itself_is_shown() -> None:
    node = Node()
    object.__setattr__(node, "child", node)
    assert repr(node) == "Node(child=...)"


def test_cheaper_to_create_than_a_frozen_dataclass() -> None:
    def made_in(decorator: object, count: int = 40) -> float:
        start = time.perf_counter()
        for i in range(count):
            cls = type(f"R{i}", (), {"__annotations__": {"a": "int", "b": "str", "c": "float"},
                                     "c": 0.0})
            decorator(cls)  # type: ignore[operator]
        return time.perf_counter() - start

    best_cheap = min(made_in(frozen) for _ in range(3))
    best_plain = min(made_in(dataclass(frozen=True, slots=True)) for _ in range(3))
    assert best_cheap < best_plain * 0.7, (best_cheap, best_plain)


def test_equality_and_hashing_are_compiled_on_first_use() -> None:
    @frozen
    class Lazy:
        a: int
        b: str

    stubs = Lazy.__dict__["__eq__"], Lazy.__dict__["__hash__"]
    assert Lazy(1, "x") == Lazy(1, "x") and Lazy(1, "x") != Lazy(2, "x")
    assert hash(Lazy(1, "x")) == hash((1, "x"))  # what a dataclass hashes: the field tuple
    compiled = Lazy.__dict__["__eq__"], Lazy.__dict__["__hash__"]
    assert compiled[0] is not stubs[0] and compiled[1] is not stubs[1]
    assert compiled[0].__qualname__.endswith("Lazy.__eq__")
    assert Lazy(1, "x") == Lazy(1, "x") and len({Lazy(1, "x"), Lazy(1, "x")}) == 1
