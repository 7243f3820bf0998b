"""The last-known-good configuration: a copy of what the outstation last ran successfully.

Each configuration the outstation has started with or reloaded is copied into the state
directory (``$STATE_DIRECTORY/config/``: ``/var/lib/rtu/config`` under systemd) with every
file it includes (``points_file``), and ``manifest.json`` with its hash, its original paths
and when it was saved. Secrets (TLS keys, DLMS credentials) are not copied: the copy names
them by path, as the file does, and reads them from there.

At start-up an invalid configuration file makes ``rtu run`` run on this copy instead of
exiting (:func:`load_last_good`), loaded as if from its original place (relative paths mean
the same), with the error in the log, ``rtu status`` and systemd's ``STATUS=``. A later
``rtu reload`` of a corrected file ends the fallback. Without a copy ``rtu run`` exits 2.

The copy is replaced whole: the new files are written (and fsynced) under names of their own
(``HASH-0-main.toml``, ``HASH-1-points_file.csv``), then ``manifest.json`` is replaced by one
rename of one file; the old copies are removed after. A power cut leaves the old manifest and
its files or the new ones, never a mixture (and no directory renames, which not every file
system makes atomic).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from rtu.config import AppConfig, ConfigError, load_config
from rtu.config.document import ConfigOrigin
from rtu.statedir import state_directory

__all__ = ["DIRECTORY", "LastGood", "load_last_good", "save_last_good", "startup_state_directory"]

log = logging.getLogger(__name__)

DIRECTORY: Final = "config"
MANIFEST: Final = "manifest.json"
MAX_FILE: Final = 64 * 1024 * 1024  # octets: a copy larger than this is not trusted


class LastGood:
    """What the manifest says about the copy."""

    def __init__(self, directory: Path, manifest: Mapping[str, object]) -> None:
        self.directory = directory
        self.source = str(manifest["source"])
        self.digest = str(manifest["hash"])  # of the main file (AppConfig.digest)
        self.fingerprint = str(manifest.get("fingerprint", ""))  # of every file
        self.saved_at = float(manifest["saved_at"])  # type: ignore[arg-type]
        files = manifest["files"]
        if not isinstance(files, list) or not all(
                isinstance(f, dict) and isinstance(f.get("path"), str)
                and isinstance(f.get("copy"), str) and "/" not in f["copy"] for f in files):
            raise TypeError("files: expected a list of {path, copy}")
        self.files: list[dict[str, str]] = files


def save_last_good(config: AppConfig, state_dir: Path) -> Path | None:
    """Copy ``config``'s files into ``state_dir``/config; the manifest last. Returns the
    directory, or None when ``config`` was not read from files. OSError on failure."""
    origin = config.origin
    if origin is None or origin.fallback is not None:
        return None
    target = state_dir / DIRECTORY
    current = _read_manifest(target)
    if current is not None and current.fingerprint == origin.fingerprint \
            and current.source == config.source:
        return target  # already kept
    target.mkdir(mode=0o700, exist_ok=True)
    entries = []
    for i, f in enumerate(origin.files):
        # named after the hash: the copies of the running manifest are never overwritten
        name = f"{origin.fingerprint[:16]}-{i}-{f.role}{Path(f.path).suffix}"
        _write(target / name, f.data)
        entries.append({"path": f.path, "role": f.role, "copy": name})
    manifest = {"source": config.source, "hash": origin.digest, "fingerprint": origin.fingerprint,
                "saved_at": time.time(),
                "loaded_at": origin.loaded_at, "files": entries}
    scratch = target / (MANIFEST + ".new")
    _write(scratch, json.dumps(manifest, indent=2).encode())
    os.replace(scratch, target / MANIFEST)  # the switch: one rename of one file
    _fsync_dir(target)
    keep = {MANIFEST, *(e["copy"] for e in entries)}
    for old in target.iterdir():
        if old.name not in keep:
            old.unlink(missing_ok=True)
    log.info("configuration %s (hash %.12s) kept as the last-known-good in %s", config.source,
             origin.digest, target)
    return target


def load_last_good(state_dir: Path, error: str, source: str) -> AppConfig | None:
    """The last-known-good copy of configuration file ``source`` (its origin says ``fallback
    = error``), or None when there is none (or the copy is of another file); ConfigError when
    the copy itself is damaged or no longer valid."""
    directory = state_dir / DIRECTORY
    kept = _read_manifest(directory)
    if kept is None:
        return None
    if os.path.abspath(kept.source) != os.path.abspath(source):
        log.warning("the last-known-good copy in %s is of %s, not %s: not used", directory,
                    kept.source, source)
        return None
    files: dict[str, bytes] = {}
    for entry in kept.files:
        copy = directory / entry["copy"]
        try:
            if copy.stat().st_size > MAX_FILE:
                raise ConfigError([f"{copy}: last-known-good copy larger than {MAX_FILE} octets"])
            files[entry["path"]] = copy.read_bytes()
        except OSError as exc:
            raise ConfigError([(f"{copy}: cannot read the last-known-good copy: "
                               f"{exc.strerror or exc}")]) from None
    config = load_config(kept.source, files=files)
    assert config.origin is not None
    if config.origin.fingerprint != kept.fingerprint:
        raise ConfigError([(f"{directory}: the last-known-good copy does not match its "
                           f"fingerprint {kept.fingerprint[:12]}: not used")])
    origin = ConfigOrigin(config.origin.files, config.origin.loaded_at, fallback=error)
    return _with_origin(config, origin)


def _with_origin(config: AppConfig, origin: ConfigOrigin) -> AppConfig:
    return dataclasses.replace(config, origin=origin)


def startup_state_directory(config_path: str) -> Path:
    """The state directory before a valid configuration is known: ``$STATE_DIRECTORY``, or
    ``[service] state_directory`` if the (possibly invalid) file still says it, else the
    default. StateDirectoryError if it cannot be used."""
    import tomllib  # only when the file is refused

    configured = ""
    try:
        with open(config_path, "rb") as fh:
            data = tomllib.loads(fh.read(MAX_FILE).decode("utf-8-sig"))
        service = data.get("service")
        if isinstance(service, dict) and isinstance(service.get("state_directory"), str):
            configured = service["state_directory"]
    except (OSError, ValueError, RecursionError):
        pass  # the file is what is broken: the default place
    return state_directory(configured)


def _read_manifest(directory: Path) -> LastGood | None:
    path = directory / MANIFEST
    try:
        if path.stat().st_size > MAX_FILE:
            log.warning("%s: too large; ignored", path)
            return None
        data = json.loads(path.read_bytes())
        return LastGood(directory, data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable last-known-good manifest (%s); ignored", path, exc)
        return None


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

