"""Where a key is in a TOML file: key paths mapped to line numbers.

tomllib gives values, not positions. :func:`key_lines` scans the text once: table headers
(``[a.b]``), array-of-tables headers (``[[a.b]]``, counted per parent entry like the parser's
``a.b[2]``) and ``key = value`` lines, with dotted and quoted keys. Values spanning lines
(multi-line strings and arrays) are skipped over. The scan never fails: a line it cannot read
is ignored, and :func:`line_of` falls back to the nearest enclosing table.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["key_lines", "line_of"]

_BARE: Final = re.compile(r"[A-Za-z0-9_-]+")
_PATH_PART: Final = re.compile(r"\[\d+\]$")


def _split_key(text: str) -> tuple[list[str], str] | None:
    """``a."b c".d = rest`` -> (["a", "b c", "d"], rest); None if the line is not a key."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        if text[i] in "\"'":
            quote = text[i]
            end = i + 1
            chars: list[str] = []
            while end < n and text[end] != quote:
                if quote == '"' and text[end] == "\\" and end + 1 < n:
                    chars.append(text[end + 1])
                    end += 2
                    continue
                chars.append(text[end])
                end += 1
            if end >= n:
                return None
            parts.append("".join(chars))
            i = end + 1
        else:
            match = _BARE.match(text, i)
            if match is None:
                return None
            parts.append(match.group())
            i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        if i < n and text[i] == "=":
            return parts, text[i + 1:]
        return None


def _join(path: str, key: str) -> str:
    if not _BARE.fullmatch(key):
        key = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{path}.{key}" if path else key


def _depth(value: str) -> tuple[int, str | None]:
    """Brackets left open by a value, and a multi-line string it opens (its delimiter)."""
    depth = 0
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if value.startswith(('"""', "'''"), i):
            delim = value[i:i + 3]
            end = value.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if ch in "\"'":
            end = i + 1
            while end < n and value[end] != ch:
                end += 2 if ch == '"' and value[end] == "\\" else 1
            i = end + 1
            continue
        if ch == "#":
            break
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth, None


def key_lines(text: str) -> dict[str, int]:
    """Every table and key path of ``text`` (as the parser writes it) -> its 1-based line."""
    lines: dict[str, int] = {}
    last_index: dict[str, int] = {}  # array-of-tables path (with parent indices) -> last index
    table = ""
    depth = 0  # brackets a value left open on earlier lines
    open_string: str | None = None  # the delimiter of a multi-line string still open
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if open_string is not None:
            end = line.find(open_string)
            if end < 0:
                continue
            more, open_string = _depth(line[end + 3:])
            depth = max(depth + more, 0)
            continue
        if depth > 0:
            more, open_string = _depth(line)
            depth = max(depth + more, 0)
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            header = _header(line, last_index)
            if header is not None:
                table = header
                lines.setdefault(table, number)
                lines.setdefault(_PATH_PART.sub("", table), number)
            continue
        split = _split_key(line)
        if split is None:
            continue
        keys, value = split
        path = table
        for part in keys:
            path = _join(path, part)
        lines.setdefault(path, number)
        more, open_string = _depth(value)
        depth = max(more, 0)
    return lines


def _header(line: str, last_index: dict[str, int]) -> str | None:
    """The table path a ``[a.b]`` or ``[[a.b]]`` line opens; an array of tables gets its next
    index (parents are at their last entry)."""
    is_array = line.startswith("[[")
    inner = line[2:] if is_array else line[1:]
    close = inner.find("]]" if is_array else "]")
    if close < 0:
        return None
    split = _split_key(inner[:close] + "=")
    if split is None:
        return None
    parts = split[0]
    path = ""
    for i, part in enumerate(parts):
        path = _join(path, part)
        if path in last_index and not (is_array and i == len(parts) - 1):
            path = f"{path}[{last_index[path]}]"
    if is_array:
        last_index[path] = last_index.get(path, -1) + 1
        path = f"{path}[{last_index[path]}]"
    return path


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path``, else of the nearest table or key that contains it."""
    while path:
        found = lines.get(path)
        if found is not None:
            return found
        if _PATH_PART.search(path):
            path = _PATH_PART.sub("", path)
            continue
        cut = _last_dot(path)
        if cut < 0:
            return None
        path = path[:cut]
    return None


def _last_dot(path: str) -> int:
    """The index of the dot before the last key of ``path`` (outside quotes), or -1."""
    quoted = False
    last = -1
    for i, ch in enumerate(path):
        if ch == '"' and (i == 0 or path[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "." and not quoted:
            last = i
    return last
