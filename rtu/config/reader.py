"""The shared machinery of the configuration: error collection and typed readers.

A :class:`Reader` collects every problem of one file before giving up; :class:`ConfigError`
then carries them, one line each, of the form ``FILE:LINE: key.path: what was expected, got
REPR``, e.g. ``site.toml:42: points[3] 'feeder3_cb'.ioa: expected an integer 1..16777215
(ioa_size 3), got 'x'``. The line (the TOML line of the offending key, else of its table) and
the point's name next to a ``[[points]]`` index are added when the file's text is known
(:func:`rtu.config.load_config`); a document parsed elsewhere (:func:`rtu.config.parse_config`)
gets ``FILE: key.path: ...``. Array indices count from 0. No input, however malformed, makes a
reader fail with anything but :class:`ConfigError`.

Each section module reads its own table with a Reader (``p``): the readers return None for a
value that was wrong (and reported), so a section builds its settings only when every key was
right. Cross-references between sections go through :meth:`Reader.context`, a typed store of
what one section makes known to another (the GPIO inputs a relay may name, for example).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

__all__ = [
    "MISSING",
    "NAME_EXPECTED",
    "ConfigError",
    "Reader",
    "close_match",
    "is_host",
    "join",
    "one_of",
    "parse_listen",
    "point_table_index",
    "show",
]

MISSING: Final[Any] = object()  # the value of a key that is absent
NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
NAME_EXPECTED: Final = "a name of letters, digits, '_', '.' or '-'"
_REPR_MAX: Final = 80
_T = TypeVar("_T")

class ConfigError(Exception):
    """The configuration is unusable: ``errors`` has one line per problem, ``str()`` all of them."""

    errors: list[str]

    def __init__(self, errors: str | Sequence[str]) -> None:
        if isinstance(errors, str):
            self.errors = errors.splitlines() or [errors]
        else:
            self.errors = list(errors)
        super().__init__("\n".join(self.errors))



def point_table_index(raw_points: object) -> dict[str, int]:
    """The position of each [[points]] table by name, also of tables with errors (which are
    reported already): a source section says which entry a point it feeds came from."""
    index: dict[str, int] = {}
    if isinstance(raw_points, list):
        for i, item in enumerate(raw_points):
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                index.setdefault(item["name"], i)
    return index


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[IPV6]:PORT"`` -> ``(host, port)``; ValueError says what is wrong.

    HOST is an IPv4 address, a host name, or an IPv6 address in brackets; PORT is 0..65535
    (0: any free port). A bare port is refused: say which interface, e.g. ``0.0.0.0:2404``.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected HOST:PORT as a string, got {show(text)}")  # noqa: TRY004
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _listen_error("unclosed '['", text)
        host, rest = text[1:close], text[close + 1:]
        if not rest.startswith(":"):
            raise _listen_error("missing ':PORT' after ']'", text)
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _listen_error(f"{host!r} in brackets is not an IPv6 address", text) from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise _listen_error("missing port (for every interface write 0.0.0.0:PORT)", text)
        if ":" in host:
            raise _listen_error("an IPv6 address must be in brackets", text)
        if not host:
            raise _listen_error(
                "missing host (0.0.0.0 for every IPv4 interface, [::] for every IPv6 one)", text
            )
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise _listen_error(f"{host!r} is not an IPv4 address", text) from None
        elif not _is_host_name(host):
            raise _listen_error(f"{host!r} is not an IP address or host name", text)
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 0xFFFF:
        raise _listen_error(f"port {port_text!r} is not a number 0..65535", text)
    return host, int(port_text)


# -- internals -------------------------------------------------------------------------------------
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _is_host_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _listen_error(reason: str, text: str) -> ValueError:
    return ValueError(
        f"{reason}: expected HOST:PORT such as 127.0.0.1:2404 or [::1]:2404, got {text!r}"
    )


def show(value: object) -> str:
    """repr() for error messages, cut short; never raises."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # absurdly deep nesting; ints beyond the str limit
        return f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_MAX else text[: _REPR_MAX - 3] + "..."


_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def join(path: str, key: object) -> str:
    """A TOML key path: ``iec104.k``; keys that are not bare keys are quoted."""
    name = key if isinstance(key, str) else show(key)
    if not _BARE_KEY.fullmatch(name):
        name = '"' + "".join(_escape(ch) for ch in name) + '"'
    return f"{path}.{name}" if path else name


def _escape(ch: str) -> str:
    """One character of a TOML basic string; keeps every error message on one line."""
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def one_of(choices: Sequence[str], *, quote: bool = True) -> str:
    quoted = [repr(c) if quote else c for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def close_match(word: str, choices: Sequence[str]) -> str | None:
    """The choice ``word`` is probably a typo of, if any."""
    if len(word) > 2 * max(len(c) for c in choices):  # difflib is quadratic: skip hopeless cases
        return None
    import difflib  # only when a name is wrong

    matches = difflib.get_close_matches(word, choices, n=1)
    return matches[0] if matches else None


def _int_range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"an integer {lo}..{hi}"
    if lo is not None:
        return f"an integer >= {lo}"
    return "an integer"



def is_host(text: str) -> bool:
    """An IPv4/IPv6 address or a host name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(text) and not re.fullmatch(r"[0-9.]+", text) and _is_host_name(text)
    return True


class Reader:
    """Collects the errors of one document and reads typed values out of it."""

    def __init__(self, source: str, annotate: Callable[[str], str] | None = None) -> None:
        self.source = source
        self.errors: list[str] = []
        # key path -> "LINE: path as shown" (a file's line and the point's name), when known
        self._annotate = annotate
        self._contexts: dict[type[Any], Any] = {}

    def context(self, kind: type[_T]) -> _T:
        """The one ``kind()`` of this document: what a section tells later ones."""
        found = self._contexts.get(kind)
        if found is None:
            found = self._contexts[kind] = kind()
        assert isinstance(found, kind)
        return found

    # -- reporting -------------------------------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        if not path:
            self.errors.append(f"{self.source}: {message}")
        elif self._annotate is not None:
            self.errors.append(f"{self.source}:{self._annotate(path)}: {message}")
        else:
            self.errors.append(f"{self.source}: {path}: {message}")

    def expected(self, path: str, expectation: str, value: object, note: str = "") -> None:
        """``path: expected EXPECTATION, got REPR (NOTE)``."""
        suffix = f" ({note})" if note else ""
        self.error(path, f"expected {expectation}, got {show(value)}{suffix}")

    def missing(self, path: str, expectation: str) -> None:
        self.error(path, f"required key missing: expected {expectation}")

    # -- structure -------------------------------------------------------------------------------
    def table(self, value: object, path: str, allowed: Sequence[str],
              header: str) -> Mapping[Any, Any]:
        """The table at ``path`` (empty if absent or not a table), with unknown keys reported."""
        if value is MISSING:
            return {}
        if not isinstance(value, Mapping):
            self.expected(path, f"a table ({header})", value)
            return {}
        for key in value:
            if not isinstance(key, str):
                self.expected(join(path, key), "a string key", key)
            elif key not in allowed:
                hint = close_match(key, allowed)
                suggestion = f" (did you mean {hint!r}?)" if hint else ""
                self.error(
                    join(path, key),
                    f"unknown key{suggestion}; expected one of {', '.join(allowed)}",
                )
        return value

    def array_of_tables(self, value: object, path: str) -> list[Any]:
        if value is MISSING:
            return []
        if not isinstance(value, list):
            self.expected(path, f"an array of tables ([[{path}]])", value)
            return []
        return value

    # -- scalars (None: the value was wrong and has been reported) ---------------------------------
    def integer(self, value: object, path: str, lo: int | None = None, hi: int | None = None,
                expectation: str = "") -> int | None:
        expectation = expectation or _int_range(lo, hi)
        if (isinstance(value, bool) or not isinstance(value, int)
                or (lo is not None and value < lo) or (hi is not None and value > hi)):
            self.expected(path, expectation, value)
            return None
        return value

    def number(self, value: object, path: str, expectation: str, *, above: float | None = None,
               at_least: float | None = None, at_most: float | None = None) -> float | None:
        """A finite float (an integer is fine) within the given bounds."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.expected(path, expectation, value)
            return None
        try:
            number = float(value)
        except OverflowError:
            self.expected(path, expectation, value)
            return None
        if (not math.isfinite(number) or (above is not None and not number > above)
                or (at_least is not None and not number >= at_least)
                or (at_most is not None and not number <= at_most)):
            self.expected(path, expectation, value)
            return None
        return number

    def seconds(self, value: object, path: str) -> float | None:
        return self.number(value, path, "a number of seconds > 0", above=0.0)

    def boolean(self, value: object, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.expected(path, "true or false", value)
            return None
        return value

    def string(self, value: object, path: str, expectation: str = "a string") -> str | None:
        if not isinstance(value, str):
            self.expected(path, expectation, value)
            return None
        return value

    def choice(self, value: object, path: str, choices: Sequence[str], *,
               fold_case: bool = False) -> str | None:
        text = value.upper() if fold_case and isinstance(value, str) else value
        if not isinstance(text, str) or text not in choices:
            hint = close_match(text, choices) if isinstance(text, str) and text else None
            self.expected(path, one_of(choices), value, f"did you mean {hint!r}?" if hint else "")
            return None
        return text

    def reconnect_delays(self, tbl: Mapping[Any, Any], path: str, default: float,
                         default_max: float) -> tuple[float | None, float | None]:
        """``reconnect_delay`` and ``reconnect_delay_max`` (not below the first) of ``path``."""
        delay = self.seconds(tbl.get("reconnect_delay", default), f"{path}.reconnect_delay")
        delay_max_value = tbl.get("reconnect_delay_max", default_max)
        if delay is None:
            return None, self.seconds(delay_max_value, f"{path}.reconnect_delay_max")
        return delay, self.number(delay_max_value, f"{path}.reconnect_delay_max",
                                  f"a number of seconds >= reconnect_delay ({delay:g})",
                                  at_least=delay)

    def unique_name(self, tbl: Mapping[Any, Any], path: str, index: int,
                    first: dict[str, int], what: str, array: str) -> str | None:
        """``tbl``'s name, unless missing, malformed or already used by an earlier entry of
        ``array`` (reported); ``first`` maps each name to the entry that has it."""
        name = self.name(tbl.get("name", MISSING), f"{path}.name")
        if name is None:
            return None
        if name in first:
            self.expected(f"{path}.name", f"a unique {what} name", name,
                          f"already used by {array}[{first[name]}]")
            return None
        first[name] = index
        return name

    def name(self, value: object, path: str) -> str | None:
        if value is MISSING:
            self.missing(path, NAME_EXPECTED)
            return None
        if not isinstance(value, str) or not NAME_RE.fullmatch(value):
            self.expected(path, NAME_EXPECTED, value)
            return None
        return value

    # -- the document ----------------------------------------------------------------------------

    def pair(self, value: object, path: str) -> tuple[float, float] | None:
        """``[low, high]``: two finite numbers with low < high."""
        expectation = "[low, high]: two finite numbers with low < high"
        if not isinstance(value, list) or len(value) != 2:
            self.expected(path, expectation, value)
            return None
        errors_before = len(self.errors)
        low = self.number(value[0], f"{path}[0]", "a finite number (low)")
        high = self.number(value[1], f"{path}[1]", "a finite number (high)")
        if low is None or high is None:
            return None
        if not low < high:
            self.expected(path, expectation, value)
        return (low, high) if len(self.errors) == errors_before else None

    def addresses(self, value: object, path: str) -> tuple[str, ...] | None:
        """An array of IP addresses or CIDR networks."""
        if not isinstance(value, list):
            self.expected(path, "an array of IP addresses or CIDR networks", value)
            return None
        entries: list[str] = []
        ok = True
        for i, entry in enumerate(value):
            entry_path = f"{path}[{i}]"
            expectation = "an IP address or CIDR network such as 192.168.1.10 or 10.0.0.0/24"
            if not isinstance(entry, str):
                self.expected(entry_path, expectation, entry)
                ok = False
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                self.expected(entry_path, expectation, entry)
                ok = False
                continue
            entries.append(entry)
        return tuple(entries) if ok else None
