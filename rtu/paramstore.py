"""The parameters masters loaded (P_ME), kept in the state directory across restarts.

One small JSON file, ``parameters.json``: point name -> threshold (null: not loaded), whether
the point's loaded parameters are in operation, the configured deadband they replaced, and the
smoothing time constant and low and high limits when loaded (older files have none of these).
Written whole (temporary file, fsync, rename) at each change; a file that cannot be read is
reported and ignored (the configured deadbands then hold), never fatal; an entry that makes no
sense is reported and skipped.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

from rtu.iec.outstation.parameters import LoadedThreshold

log = logging.getLogger(__name__)

FILE_NAME = "parameters.json"
_MAX_BYTES = 4 * 1024 * 1024  # a file larger than this is not ours: ignored


def load_parameters(path: Path) -> dict[str, LoadedThreshold]:
    """The thresholds kept in ``path``; empty when there is none or it is unreadable."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            log.error("%s: larger than %d bytes; ignored", path, _MAX_BYTES)
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("%s: cannot be read (%s); the configured deadbands hold", path, exc)
        return {}
    out: dict[str, LoadedThreshold] = {}
    if not isinstance(raw, dict):
        log.error("%s: not a JSON object; ignored", path)
        return {}
    for name, entry in raw.items():
        try:
            threshold, active, configured = (entry["threshold"], entry["active"],
                                             entry["configured"])
            smoothing, low, high = (entry.get("smoothing"), entry.get("low"), entry.get("high"))
            if not (isinstance(active, bool) and _number(configured)) \
                    or not all(v is None or _number(v) for v in (threshold, smoothing, low, high)) \
                    or any(v is not None and v < 0 for v in (threshold, smoothing)) \
                    or (low is not None and high is not None and low > high):
                raise TypeError("wrong types or values")
        except (KeyError, TypeError, AttributeError) as exc:
            log.error("%s: entry %r ignored (%s)", path, name, exc)
            continue
        out[str(name)] = LoadedThreshold(_float(threshold), active, float(configured),
                                         _float(smoothing), _float(low), _float(high))
    return out


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def save_parameters(path: Path, loaded: Mapping[str, LoadedThreshold]) -> None:
    """Write ``loaded`` to ``path`` atomically."""
    data = {name: {"threshold": e.threshold, "active": e.active, "configured": e.configured,
                   **{key: value for key, value in (("smoothing", e.smoothing), ("low", e.low),
                                                    ("high", e.high)) if value is not None}}
            for name, e in sorted(loaded.items())}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
