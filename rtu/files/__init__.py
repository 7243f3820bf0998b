"""``[files]``: the files a master may fetch with the file transfer of IEC 60870-5-101/104
(types 120-127; the protocol side is rtu/iec/outstation/files.py).

Two kinds of file are offered, each under a name of file (NOF, 16 bits):

* the sequence-of-events export (``soe_export = true``, the default): NOF 3, the number the
  standard suggests for "sequences of events". A CSV snapshot of the sequence-of-events log
  (rtu/soe.py: time, kind, point, IOA, type, value, quality, cause, masters) taken when the
  master selects it, the newest events that fit ``max_file_size``. Without a log ([soe] off)
  it holds the header line only. F_SC_NB_1 (query log) returns the same export for the time
  range it names.
* every regular file directly in ``directory`` (disturbance records, for example): NOF
  32768 + (CRC-32 of the file name, UTF-8, modulo 32768), so a file keeps its number while it
  is there and a master may keep it in its list. Two names on one number (rare): the name that
  sorts first keeps it and the other takes the next free number (counting up, 65535 wraps to
  32768), so both are fetched, and the collision is logged. Hidden files (``.name``),
  subdirectories, files whose real path (after symbolic links) is outside the directory and
  files over ``max_file_size`` are not listed; at most ``max_files`` are, by name.

Reading happens when the master selects a file; the state machine then holds its octets until
the transfer ends (one transfer per master connection). Registered as a component
(rtu/components.py): the supervisor hands the :class:`FileService` it provides to the
outstation.
"""

from __future__ import annotations

from rtu.components import Component

# config.py is imported only when the file has [files] (rtu/components.py)
COMPONENT = Component(
    "files", "files", lambda config: config.section("files") is not None,
    "rtu.files.store:build", schema="rtu.files.config:SECTION",
    parse="rtu.files.config:parse_files",
    check_sizes="rtu.files.config:check_files_sizes")
