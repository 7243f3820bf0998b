"""The thresholds masters loaded (P_ME), kept in the state directory across restarts.

One small JSON file, ``parameters.json``: point name -> threshold, whether it is in
operation, and the configured deadband it replaced. Written whole (temporary file, fsync,
rename) at each change; a file that cannot be read is reported and ignored (the configured
deadbands then hold), never fatal.
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
            if not (isinstance(threshold, int | float) and isinstance(active, bool)
                    and isinstance(configured, int | float)) or isinstance(threshold, bool) \
                    or not math.isfinite(threshold) or threshold < 0:
                raise TypeError("wrong types")
        except (KeyError, TypeError) as exc:
            log.error("%s: entry %r ignored (%s)", path, name, exc)
            continue
        out[str(name)] = LoadedThreshold(float(threshold), active, float(configured))
    return out


def save_parameters(path: Path, loaded: Mapping[str, LoadedThreshold]) -> None:
    """Write ``loaded`` to ``path`` atomically."""
    data = {name: {"threshold": e.threshold, "active": e.active, "configured": e.configured}
            for name, e in sorted(loaded.items())}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
