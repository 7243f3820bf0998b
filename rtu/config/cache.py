"""The validated-configuration cache: what `rtu run` starts from when nothing changed.

Reading and checking a TOML file costs about 30 µs a point (3 s with 100,000 points, on every
restart a watchdog makes). After a start from the file, the validated :class:`AppConfig` is
written to ``config.cache`` in the state directory; the next start loads it instead when the
key still matches. The key is the SHA-256 over the cache format, the Python version, the
program (size and modification time of every module of the ``rtu`` package: an upgrade or an
edit changes it) and the content of the main file and of every file it includes (``points_file``).
A changed byte anywhere misses the cache, and the file is read and checked in full as always.
`rtu check` and a reload never use it.

The stored form is plain data only: dataclasses and enums become tuples naming their class in
a table (module, name, field names), everything else is None, bool, int, float, str, bytes,
tuple, list, dict, set or frozenset, written with pickle and read back with an unpickler that
refuses every global. So loading a damaged or altered file cannot run code: the classes it may
name are dataclasses and enums of the ``rtu`` package whose fields are exactly the stored ones,
and each is built through its constructor (``__post_init__`` checks run again). A SHA-256 of
the payload catches damage (a power cut mid-write); a damaged or unusable cache is logged,
ignored and rebuilt. What is not defended against: someone who can write the state directory
(root-owned, mode 0700 under systemd) replacing it with a cache of different, well-formed
values, exactly as that someone could edit the configuration file itself.

Where: ``$STATE_DIRECTORY`` (systemd's StateDirectory=, the product case), else the per-user
default state directory (``$XDG_STATE_HOME/rtu``), as the last-known-good copy; a
configuration whose ``[service] state_directory`` names another place is not cached (the place
must be known before the file is read). One entry: a new configuration replaces it.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import importlib
import io
import logging
import math
import os
import pickle
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from rtu.config.document import AppConfig, ConfigFile, ConfigOrigin, load_config
from rtu.startup import sha256
from rtu.statedir import state_directory_path

__all__ = ["CACHE_FILE", "CacheError", "cache_directory", "decode", "encode", "load_cached",
           "save_cache"]

log = logging.getLogger(__name__)

CACHE_FILE: Final = "config.cache"
_MAGIC: Final = b"rtu-config-cache 2\n"
_MAX_FILE: Final = 512 * 1024 * 1024  # octets: a larger cache is not read
# rtu and its modules, none whose name starts with "_" (rtu.__main__ runs the program)
_MODULE: Final = re.compile(r"rtu(\.[a-z][a-z0-9_]*)+")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# tags of the stored form: a tuple whose first item is one of these; any other value is a
# scalar stored as itself
_TUPLE, _LIST, _DICT, _FROZENSET, _SET, _DATACLASS, _ENUM, _ROWS = range(8)
# a tuple of at least this many dataclasses of one class (the points) is stored by columns:
# (_ROWS, class, nested, floats, column, column...), each column a plain tuple of one field's
# values; bit i of ``nested`` says column i holds stored tuples (enums, frozensets...) to
# decode, bit i of ``floats`` that it holds floats (shared when read). Reading it makes each
# field's values together and the records after them, instead of one temporary tuple per record
# among the records (far less memory left fragmented after the load), and leaves the other
# columns (names, addresses, strings) as they were unpickled, without a pass over them.
_ROWS_MIN: Final = 16


class CacheError(ValueError):
    """The cache cannot be used (damaged, from another program, or not plain data)."""


# -- the stored form -------------------------------------------------------------------------
def encode(obj: object) -> tuple[list[tuple[str, str, tuple[str, ...] | None]], object]:
    """``obj`` as plain data, and the class table its tuples refer to. CacheError names what
    cannot be stored (the configuration is then not cached)."""
    classes: list[tuple[str, str, tuple[str, ...] | None]] = []
    index: dict[type, int] = {}
    # equal enums and frozensets share one stored tuple (pickle writes it once; the reader
    # builds it once and the points share the object)
    shared: dict[object, tuple[object, ...]] = {}

    def class_of(cls: type, fields: tuple[str, ...] | None) -> int:
        found = index.get(cls)
        if found is None:
            if not _MODULE.fullmatch(cls.__module__) or not _NAME.fullmatch(cls.__qualname__):
                raise CacheError(f"{cls.__module__}.{cls.__qualname__}: not an rtu class")
            found = index[cls] = len(classes)
            classes.append((cls.__module__, cls.__qualname__, fields))
        return found

    def by_columns(items: tuple[object, ...]) -> tuple[object, ...] | None:
        cls = type(items[0])
        if not dataclasses.is_dataclass(cls) or any(type(x) is not cls for x in items):
            return None
        first = enc(items[0])  # checks the class and registers it
        assert isinstance(first, tuple)
        names = classes[first[1]][2]
        assert names is not None
        columns = [tuple(enc(getattr(x, n)) for x in items) for n in names]
        nested = floats = 0
        for i, column in enumerate(columns):
            kinds = set(map(type, column))
            nested |= (tuple in kinds) << i
            floats |= (float in kinds) << i
        return (_ROWS, first[1], nested, floats, *columns)

    def enc(o: object) -> object:
        t = type(o)
        if o is None or t is bool or t is int or t is float or t is str or t is bytes:
            return o
        if t is tuple:
            if len(o) >= _ROWS_MIN:  # type: ignore[arg-type]
                rows = by_columns(o)  # type: ignore[arg-type]
                if rows is not None:
                    return rows
            return (_TUPLE, *[enc(x) for x in o])  # type: ignore[attr-defined]
        if t is list:
            return (_LIST, *[enc(x) for x in o])  # type: ignore[attr-defined]
        if t is dict:
            out: list[object] = [_DICT]
            for k, v in o.items():  # type: ignore[attr-defined]
                out += (enc(k), enc(v))
            return tuple(out)
        if t is frozenset:
            key = (t, o)
            found = shared.get(key)
            if found is None:
                found = shared[key] = (_FROZENSET, *[enc(x) for x in o])  # type: ignore[attr-defined]
            return found
        if t is set:
            return (_SET, *[enc(x) for x in o])  # type: ignore[attr-defined]
        if isinstance(o, enum.Enum):
            found = shared.get(o)
            if found is None:
                found = shared[o] = (_ENUM, class_of(t, None), o.value)
            return found
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            fields = dataclasses.fields(o)
            if not all(f.init and not f.kw_only for f in fields):
                raise CacheError(f"{t.__qualname__}: a field its constructor does not take")
            names = tuple(f.name for f in fields)
            return (_DATACLASS, class_of(t, names), *[enc(getattr(o, n)) for n in names])
        raise CacheError(f"{t.__module__}.{t.__qualname__}: not plain data")

    return classes, enc(obj)


def _resolve(entry: object) -> type:
    """A class of the table: an rtu dataclass whose fields are the stored ones, or an rtu
    enum. Only modules of the rtu package are imported."""
    if not (isinstance(entry, tuple) and len(entry) == 3 and isinstance(entry[0], str)
            and isinstance(entry[1], str)):
        raise CacheError("a class table entry is not (module, name, fields)")
    module, name, fields = entry
    if not _MODULE.fullmatch(module) or not _NAME.fullmatch(name):
        raise CacheError(f"{module}.{name}: not an rtu class")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise CacheError(f"{module}.{name}: {exc}") from None
    if not isinstance(cls, type):
        raise CacheError(f"{module}.{name}: not a class")
    if fields is None:
        if not issubclass(cls, enum.Enum):
            raise CacheError(f"{module}.{name}: not an enum")
        return cls
    if not dataclasses.is_dataclass(cls) or \
            tuple(f.name for f in dataclasses.fields(cls)) != fields:
        raise CacheError(f"{module}.{name}: its fields changed")
    return cls


def decode(classes: object, data: object) -> object:
    """The object :func:`encode` stored. CacheError when the data does not make sense."""
    if not isinstance(classes, list):
        raise CacheError("no class table")
    table = [_resolve(entry) for entry in classes]
    enums = [cls._value2member_map_ if issubclass(cls, enum.Enum) else None for cls in table]
    built: dict[int, object] = {}  # id of a shared stored tuple -> what it was decoded to

    def dec(o: tuple[Any, ...]) -> object:
        tag = o[0]
        if tag == _FROZENSET or tag == _ENUM:
            found = built.get(id(o))
            if found is None:
                found = built[id(o)] = dec_new(o, tag)
            return found
        return dec_new(o, tag)

    def dec_new(o: tuple[Any, ...], tag: object) -> object:
        if tag == _ROWS:
            return rows(o)
        items = [dec(x) if type(x) is tuple else x for x in o[1:]] if tag != _ENUM else []
        if tag == _DATACLASS:
            number: Any = items[0]  # IndexError/TypeError when it is no class's
            cls = table[number]
            if enums[number] is not None:
                raise CacheError(f"{cls.__qualname__}: stored as a dataclass")
            return cls(*items[1:])
        if tag == _ENUM:
            members = enums[o[1]]
            if members is None:
                raise CacheError(f"{table[o[1]].__qualname__}: stored as an enum")
            return members[o[2]]
        if tag == _TUPLE:
            return tuple(items)
        if tag == _LIST:
            return items
        if tag == _DICT:
            return dict(zip(items[0::2], items[1::2], strict=True))
        if tag == _FROZENSET:
            return frozenset(items)
        if tag == _SET:
            return set(items)
        raise CacheError(f"unknown tag {tag!r}")

    if type(data) is not tuple:
        raise CacheError("not a stored object")
    def rows(o: tuple[Any, ...]) -> tuple[object, ...]:
        number: Any = o[1]
        cls = table[number]
        fields = classes[number][2]
        nested, floats = o[2], o[3]
        if enums[number] is not None or len(o) != 4 + len(fields) \
                or type(nested) is not int or type(floats) is not int:
            raise CacheError(f"{cls.__qualname__}: not stored by its columns")
        columns: list[Sequence[object]] = []
        for i, stored in enumerate(o[4:]):
            if type(stored) is not tuple:
                raise CacheError(f"{cls.__qualname__}: a column is not a tuple")
            column: Sequence[object] = stored
            if nested >> i & 1:
                column = [dec(x) if type(x) is tuple else x for x in stored]
            if floats >> i & 1:
                column = list(column)
                _share_floats(column)
            columns.append(column)
        return tuple(cls(*values) for values in zip(*columns, strict=True))

    try:
        with _no_collection():
            return dec(data)
    except CacheError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
        raise CacheError(f"not a stored configuration: {type(exc).__name__}: {exc}") from None


def _share_floats(column: list[object]) -> None:
    """Equal floats of a column become one object (pickle writes each anew: 24 octets a
    point for every 0.0 default otherwise). The sign of a zero is kept apart."""
    seen: dict[tuple[float, float], object] = {}
    for i, x in enumerate(column):
        if type(x) is float:
            column[i] = seen.setdefault((x, math.copysign(1.0, x)), x)


@contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: the many new objects are none of them garbage,
    and the collector's passes over a growing heap would cost more than the work itself."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class _PlainUnpickler(pickle.Unpickler):
    """Plain data only: every global (class, function) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise CacheError(f"refused {module}.{name}: the cache holds plain data only")


# -- the key ---------------------------------------------------------------------------------
def program_stamp() -> bytes:
    """Size and modification time of every module of the rtu package: changes with the
    program (an upgrade, an edit), unlike its version number during development."""
    root = Path(__file__).resolve().parent.parent
    parts: list[str] = []
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as entries:
            for e in sorted(entries, key=lambda e: e.name):
                if e.is_dir(follow_symlinks=False) and e.name != "__pycache__":
                    stack.append(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat()
                    parts.append(f"{e.path}\0{st.st_size}\0{st.st_mtime_ns}")
    return "\n".join(parts).encode()


def _key(stamp: bytes, files: tuple[ConfigFile, ...]) -> bytes:
    h = sha256(_MAGIC)
    h.update(sys.version.encode() + b"\0")
    h.update(sha256(stamp).digest())
    for f in files:
        h.update(f"{f.role}\0{f.path}\0{len(f.data)}\0".encode())
        h.update(f.data)
    return h.digest()


# -- the file --------------------------------------------------------------------------------
def cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where the cache is: the state directory as known before the file is read."""
    return state_directory_path("", environ)


def save_cache(config: AppConfig, directory: Path, stamp: bytes | None = None) -> Path | None:
    """Write ``config`` (read from its files) into ``directory``/config.cache; None when it is
    not cacheable (built in code, a fallback copy, another state directory, not plain data:
    logged). OSError when it cannot be written."""
    origin = config.origin
    if origin is None or origin.fallback is not None:
        return None
    configured = config.service.state_directory
    if configured and "STATE_DIRECTORY" not in os.environ and \
            os.path.realpath(configured) != os.path.realpath(directory):
        return None  # its state lives elsewhere: not known before the file is read
    try:
        with _no_collection():
            classes, data = encode(dataclasses.replace(config, origin=None))
            paths = [(f.role, f.path) for f in origin.files]
            payload = pickle.dumps((paths, classes, data), protocol=pickle.HIGHEST_PROTOCOL)
            del data
    except CacheError as exc:
        log.info("configuration not cached: %s", exc)
        return None
    key = _key(program_stamp() if stamp is None else stamp, origin.files)
    path = directory / CACHE_FILE
    tmp = directory / f".{CACHE_FILE}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as fh:
            fh.write(_MAGIC + key + sha256(payload).digest() + payload)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_cached(source: str, directory: Path | None = None,
                stamp: bytes | None = None) -> tuple[AppConfig, bool]:
    """The configuration of the file ``source``: from the cache when its key matches (True),
    else read and checked in full (False; ConfigError as load_config). A damaged or stale
    cache is logged and ignored."""
    where = cache_directory() if directory is None else directory
    cached = _from_cache(source, where / CACHE_FILE, stamp)
    if cached is not None:
        return cached, True
    return load_config(source), False


def _from_cache(source: str, path: Path, stamp: bytes | None) -> AppConfig | None:
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > _MAX_FILE:
                log.warning("%s: larger than %d octets; ignored", path, _MAX_FILE)
                return None
            blob = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("%s: cannot read the configuration cache (%s); reading %s", path,
                    exc.strerror or exc, source)
        return None
    try:
        return _decode_file(source, blob, stamp)
    except CacheError as exc:
        log.warning("%s: configuration cache not used (%s); reading %s in full", path, exc,
                    source)
        return None
    except OSError:
        return None  # a file it names cannot be read: load_config says why


def _decode_file(source: str, blob: bytes, stamp: bytes | None) -> AppConfig | None:
    head = len(_MAGIC) + 64
    if len(blob) < head or not blob.startswith(_MAGIC):
        raise CacheError("not a configuration cache")
    key, digest, payload = blob[len(_MAGIC):head - 32], blob[head - 32:head], blob[head:]
    if sha256(payload).digest() != digest:
        raise CacheError("damaged: its checksum does not match")
    try:
        with _no_collection():
            stored = _PlainUnpickler(io.BytesIO(payload)).load()
    except CacheError:
        raise
    except Exception as exc:  # noqa: BLE001 (whatever a damaged pickle raises)
        raise CacheError(f"damaged: {type(exc).__name__}") from None
    if not (isinstance(stored, tuple) and len(stored) == 3 and isinstance(stored[0], list)):
        raise CacheError("not a configuration cache")
    paths, classes, data = stored
    if not paths or paths[0] != ("main", source):
        return None  # another configuration's: a miss, not a fault
    files = []
    for entry in paths:
        if not (isinstance(entry, tuple) and len(entry) == 2
                and all(isinstance(x, str) for x in entry)):
            raise CacheError("a file entry is not (role, path)")
        role, name = entry
        files.append(ConfigFile(name, role, Path(name).read_bytes()))
    if _key(program_stamp() if stamp is None else stamp, tuple(files)) != key:
        return None  # the files or the program changed: a miss
    config = decode(classes, data)
    if not isinstance(config, AppConfig) or config.source != source:
        raise CacheError("does not hold a configuration of this file")
    return dataclasses.replace(config, origin=ConfigOrigin(tuple(files), time.time()))


def cache_after_ready(config: AppConfig, directory: Path,
                      done: Callable[[Path | None], None] | None = None) -> None:
    """Write the cache, logging a failure (never fatal): run in a thread after READY=1."""
    try:
        path = save_cache(config, directory)
    except OSError as exc:
        log.warning("configuration cache not written: %s", exc)
        path = None
    if path is not None:
        log.debug("configuration cached in %s", path)
    if done is not None:
        done(path)
