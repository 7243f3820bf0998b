"""The ``[files]`` section (rtu/files/__init__.py says what it offers)."""

from __future__ import annotations

import os
from typing import Any, Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, boolean, integer, number, string, table
from rtu.config.station import FieldSizes
from rtu.frozen import frozen

__all__ = ["SECTION", "FilesConfig", "check_files_sizes", "parse_files"]

_LOF_MAX: Final = 0xFF_FFFF

TABLE: Final = Table("[files]", (
    string("directory", "", doc="a directory whose files a master may fetch (disturbance "
                                "records...); relative to the configuration file's directory"),
    boolean("soe_export", True),
    integer("max_file_size", 1 << 20, 1, _LOF_MAX, doc="octets; larger files are not listed"),
    integer("max_files", 100, 1, 1000, doc="files listed in the directory at most"),
    integer("ioa", 0, 0, 0xFF_FFFF, doc="the IOA files are addressed with (with their NOF)"),
    number("timeout", 60.0, above=0.0, doc="seconds a transfer waits for the master"),
), doc="file transfer (F_DR_TA_1 directory, F_SC_NA_1 select/call, F_SC_NB_1 query log)")
SECTION: Final = table("files", TABLE)


@frozen
class FilesConfig:
    directory: str = ""  # absolute, or "" for none
    soe_export: bool = True
    max_file_size: int = 1 << 20
    max_files: int = 100
    ioa: int = 0
    timeout: float = 60.0


def parse_files(p: Reader, value: object, points: object, raw_points: object
                ) -> FilesConfig | None:
    """[files] (None when absent)."""
    if value is MISSING:
        return None
    tbl = TABLE.open(p, value, "files")
    read: dict[str, Any] = {key.name: key.read(p, tbl, "files") for key in TABLE.keys}
    default = FilesConfig()
    values = {name: getattr(default, name) if v is None or v is MISSING else v
              for name, v in read.items()}
    directory = str(values["directory"])
    if directory:  # relative: to the configuration file's directory
        directory = os.path.join(os.path.dirname(p.source), os.path.expanduser(directory))
    return FilesConfig(directory, bool(values["soe_export"]), int(values["max_file_size"]),
                       int(values["max_files"]), int(values["ioa"]), float(values["timeout"]))


def check_files_sizes(p: Reader, section: object, sizes: FieldSizes) -> None:
    """``ioa`` must fit the IOA field of the 101 link ([station] ioa_size), as the points'
    IOAs do: a master could not address the files with it (they would be answered COT 47)."""
    assert isinstance(section, FilesConfig)
    ioa_max = (1 << 8 * sizes.ioa_size) - 1
    if section.ioa > ioa_max:
        p.error("files.ioa", f"expected an IOA 0..{ioa_max} (station.ioa_size "
                f"{sizes.ioa_size}), got {section.ioa}: no master could address the files "
                "with it; choose a smaller ioa or a larger station.ioa_size")
