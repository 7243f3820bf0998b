"""The files [files] offers (rtu/files/__init__.py): the directory's and the
sequence-of-events export, and the component's ``build``."""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rtu.components import Parts
from rtu.files.config import FilesConfig
from rtu.iec.outstation.files import (
    NOF_SEQUENCES_OF_EVENTS,
    FileService,
    FileSettings,
    FileUnavailable,
    StoredFile,
)

if TYPE_CHECKING:
    from rtu.components import Field
    from rtu.config import AppConfig

log = logging.getLogger(__name__)

__all__ = ["DirectoryStore", "build", "directory_nof", "soe_log_file"]

SOE_EXPORT_NAME: Final = "soe.csv"
SOE_EXPORT_ROWS: Final = 5_000  # the newest events an export holds at most
EXPORT_REUSE: Final = 10.0  # seconds a directory reuses the export's length
_NOF_BASE: Final = 0x8000


def directory_nof(name: str) -> int:
    """The NOF of a file called ``name`` in the directory (before any collision)."""
    return _NOF_BASE | (zlib.crc32(name.encode("utf-8", "surrogateescape")) & 0x7FFF)


class DirectoryStore:
    """The files [files] offers: the directory's and the sequence-of-events export."""

    def __init__(self, config: FilesConfig, soe_log: Path | None) -> None:
        self.config = config
        self.root = Path(config.directory).resolve() if config.directory else None
        self.soe_log = soe_log  # the log file (rtu/soe.py) the export is made from, if any
        self._warned: set[str] = set()
        self._last_export: tuple[float, int] | None = None  # (monotonic time, length)

    # -- the directory -----------------------------------------------------------------------
    def _listed(self) -> dict[int, tuple[str, Path, os.stat_result]]:
        found: dict[int, tuple[str, Path, os.stat_result]] = {}
        if self.root is None:
            return found
        try:
            names = sorted(e.name for e in os.scandir(self.root))
        except OSError as exc:
            self._warn("dir", "file directory %s cannot be read: %s", self.root, exc)
            return found
        for name in names:
            if name.startswith("."):
                continue
            path = self._inside(name)
            if path is None:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_file() or st.st_size > self.config.max_file_size:
                continue
            if len(found) >= self.config.max_files:
                self._warn("many", "file directory %s holds more than %d files: the others"
                           " are not listed", self.root, self.config.max_files)
                break
            nof = directory_nof(name)
            while nof in found:
                self._warn(f"nof:{name}", "files %s and %s share NOF %d: %s takes the next"
                           " free number", found[nof][0], name, directory_nof(name), name)
                nof = _NOF_BASE if nof == 0xFFFF else nof + 1
            found[nof] = (name, path, st)
        return found

    def _inside(self, name: str) -> Path | None:
        """The real path of ``name`` if it is inside the directory (no way out by links)."""
        assert self.root is not None
        try:
            real = (self.root / name).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self.root):
            self._warn(f"out:{name}", "file %s/%s leads outside the directory: not offered",
                       self.root, name)
            return None
        return real

    def _warn(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def directory(self) -> Sequence[StoredFile]:
        files: list[StoredFile] = []
        if self.config.soe_export:
            when, size = self._soe_stat()
            files.append(StoredFile(NOF_SEQUENCES_OF_EVENTS, SOE_EXPORT_NAME, size, when))
        files.extend(StoredFile(nof, name, st.st_size, st.st_mtime)
                     for nof, (name, _path, st) in sorted(self._listed().items()))
        return files

    def _soe_stat(self) -> tuple[float, int]:
        """When the log last changed and the export's size (a snapshot, as at select)."""
        try:
            when = self.soe_log.stat().st_mtime if self.soe_log is not None else 0.0
        except OSError:
            when = 0.0
        try:
            size = self.export_size(time.monotonic())
        except FileUnavailable:
            size = 0
        return when, size

    def read(self, nof: int) -> bytes:
        if nof == NOF_SEQUENCES_OF_EVENTS and self.config.soe_export:
            return self._export(None, None)
        entry = self._listed().get(nof)
        if entry is None:
            raise FileUnavailable(f"no file has NOF {nof}")
        name, path, _st = entry
        limit = self.config.max_file_size
        try:
            with path.open("rb") as stream:
                data = stream.read(limit + 1)
        except OSError as exc:
            raise FileUnavailable(f"{name}: {exc.strerror}") from None
        if len(data) > limit:
            raise FileUnavailable(f"{name} grew over max_file_size {limit}")
        return data

    def log_range(self, start: float, stop: float) -> bytes:
        return self._export(start, stop)

    # -- the sequence-of-events export --------------------------------------------------------
    def _export(self, since: float | None, until: float | None) -> bytes:
        """The log's newest SOE_EXPORT_ROWS events in [since, until] as CSV, cut to the newest
        that fit max_file_size. Runs on the event loop: bounded by SOE_EXPORT_ROWS (about
        15 ms per 1000 rows on a desktop; see docs/files.md)."""
        from rtu.soe import SoeError, read_file, render

        rows: list[dict[str, Any]] = []
        if self.soe_log is not None and self.soe_log.exists():
            try:
                rows = read_file(self.soe_log, since=since, until=until, limit=SOE_EXPORT_ROWS)
            except SoeError as exc:
                raise FileUnavailable(str(exc)) from None
        text = render(rows, "csv").encode("utf-8") + b"\n"
        limit = self.config.max_file_size
        if len(text) <= limit:
            return text
        header, _, lines = text.partition(b"\n")
        cut = lines.find(b"\n", len(lines) - (limit - len(header) - 1) - 1) + 1
        if len(header) + 1 > limit:
            raise FileUnavailable("max_file_size is too small for the export's header")
        return header + b"\n" + lines[cut:] if cut > 0 else header + b"\n"

    def export_size(self, now: float) -> int:
        """The export's length for the directory: made again at most every EXPORT_REUSE s."""
        if self._last_export is None or now - self._last_export[0] >= EXPORT_REUSE:
            self._last_export = (now, len(self._export(None, None)))
        return self._last_export[1]


def soe_log_file(config: AppConfig, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where [soe]'s log is (None when it is off), as rtu/soe.py's open_configured decides."""
    from rtu.soe import soe_path
    from rtu.statedir import state_directory_path

    env = os.environ if environ is None else environ
    settings = config.soe
    enabled = settings.enabled
    if enabled is None:
        enabled = bool(env.get("STATE_DIRECTORY") or config.service.state_directory)
    if not enabled:
        return None
    return soe_path(settings.path, state_directory_path(config.service.state_directory, env))


def build(field: Field) -> Parts:
    config = field.config.section("files")
    assert isinstance(config, FilesConfig)
    store = DirectoryStore(config, soe_log_file(field.config))
    service = FileService(store, FileSettings(ioa=config.ioa, max_file_size=config.max_file_size,
                                              timeout=config.timeout))
    return Parts(provides=(service,))
