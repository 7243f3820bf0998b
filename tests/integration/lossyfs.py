"""A FUSE file system that loses, on command, every write not yet fsynced: a power cut for the
files below it (the technique of Jepsen's LazyFS, in a few lines on mfusepy, ISC).

    python lossyfs.py BACKING MOUNTPOINT

passes everything through to the directory BACKING and remembers, per file, its contents as of
its last fsync (its *durable* contents). A line ``cut`` on standard input is the power cut:
every file goes back to its durable contents (a file never fsynced is left empty), and ``ok``
is printed; ``stats`` prints the fsyncs and the octets written so far. Meant for a process that
is already dead (its files closed): the mount is single-threaded and uses direct I/O, so no
page cache hides the cut from the next process.

What it does not model: directory operations (create, rename, unlink) are durable at once (as
on a file system that journals metadata), and a write is never torn within itself. SQLite in
WAL mode relies on fsync of the file contents, which is what this loses.
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from typing import Any

import mfusepy  # type: ignore[import-not-found, import-untyped, unused-ignore]


class LossyFS(mfusepy.Operations):  # type: ignore[misc]
    use_ns = True
    lock = None  # POSIX locks (SQLite's) are then kept by the kernel, as on a local disk

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self.mutex = threading.Lock()
        self.durable: dict[str, bytearray] = {}  # relative path -> contents at the last fsync
        self.dirty: dict[str, list[tuple[int, int]]] = {}  # writes since then: (offset, size)
        self.fsyncs = 0
        self.written = 0
        for root, _, files in os.walk(self.backing):  # what is there is durable to begin with
            for name in files:
                full = os.path.join(root, name)
                with open(full, "rb") as f:
                    self.durable["/" + os.path.relpath(full, self.backing)] = bytearray(f.read())

    def _full(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    # -- the power cut ------------------------------------------------------------------------
    def cut(self) -> None:
        with self.mutex:
            for path, contents in self.durable.items():
                with open(self._full(path), "r+b") as f:
                    f.write(contents)
                    f.truncate(len(contents))
            self.dirty.clear()

    # -- metadata -----------------------------------------------------------------------------
    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        st = os.lstat(self._full(path))
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns",
                "st_mtime_ns", "st_ctime_ns")
        out = {k.replace("_ns", ""): getattr(st, k) for k in keys}
        return out

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", *os.listdir(self._full(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._full(path), amode):
            raise mfusepy.FuseOSError(errno.EACCES)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._full(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._full(path))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._full(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._full(path), uid, gid)
        return 0

    def utimens(self, path: str, times: Any = None) -> int:
        os.utime(self._full(path), ns=times)
        return 0

    def unlink(self, path: str) -> int:
        with self.mutex:
            os.unlink(self._full(path))
            self.durable.pop(path, None)
            self.dirty.pop(path, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        with self.mutex:
            os.rename(self._full(old), self._full(new))
            for table in (self.durable, self.dirty):
                if old in table:
                    table[new] = table.pop(old)  # type: ignore[assignment]
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._full(path))
        return {k: getattr(st, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                            "f_favail", "f_ffree", "f_files", "f_flag",
                                            "f_frsize", "f_namemax")}

    # -- files --------------------------------------------------------------------------------
    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self.mutex:
            fd = os.open(self._full(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
            self.durable[path] = bytearray()  # the name is durable, the contents not yet
            self.dirty[path] = []
        return fd

    def open(self, path: str, flags: int) -> int:
        return os.open(self._full(path), flags & ~(os.O_CREAT | os.O_EXCL))

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return os.pread(fh, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self.mutex:
            n = os.pwrite(fh, data, offset)
            self.dirty.setdefault(path, []).append((offset, n))
            self.written += n
        return n

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        with self.mutex:
            os.truncate(self._full(path), length)
            self.dirty.setdefault(path, [])
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        with self.mutex:
            self.fsyncs += 1
            durable = self.durable.setdefault(path, bytearray())
            size = os.fstat(fh).st_size
            for offset, n in self.dirty.pop(path, []):
                if offset >= size:
                    continue
                chunk = os.pread(fh, min(n, size - offset), offset)
                if len(durable) < offset:
                    durable.extend(bytes(offset - len(durable)))
                durable[offset:offset + len(chunk)] = chunk
            del durable[size:]
            if len(durable) < size:  # grown by a truncate: zeros, as the file reads
                durable.extend(bytes(size - len(durable)))
            os.fsync(fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0

    def fsyncdir(self, path: str, datasync: int, fh: Any) -> int:
        return 0  # directory operations are durable at once (see the module's docstring)


def _commands(fs: LossyFS) -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == "cut":
            fs.cut()
            print("ok", flush=True)
        elif command == "stats":
            print(f"fsyncs {fs.fsyncs} written {fs.written}", flush=True)


def main() -> None:
    backing, mountpoint = sys.argv[1], sys.argv[2]
    fs = LossyFS(backing)
    threading.Thread(target=_commands, args=(fs,), daemon=True).start()
    mfusepy.FUSE(fs, mountpoint, foreground=True, nothreads=True, direct_io=True)


if __name__ == "__main__":
    main()
