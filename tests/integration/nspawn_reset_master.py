"""A stdlib-only 104 master run inside the nspawn container (its venv has no test tools):
``python nspawn_reset_master.py PORT CA RESETS`` sends RESETS general resets (C_RP_NA_1, QRP 1),
each on its own connection; after each, it connects again and expects an end of
initialisation with COI 2 first and a GI answered to ACT_TERM. Prints one line per reset;
exits 1 with the reason on the first failure."""

from __future__ import annotations

import socket
import sys
import time

STARTDT_ACT = bytes.fromhex("680407000000")


def gi(ca: int) -> bytes:
    return bytes([100, 1, 6, 0, ca & 0xFF, ca >> 8, 0, 0, 0, 20])


def reset(ca: int) -> bytes:
    return bytes([105, 1, 6, 0, ca & 0xFF, ca >> 8, 0, 0, 0, 1])  # QRP 1: general reset


class Link:
    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b""
        self.ns = self.nr = 0
        self.sock.sendall(STARTDT_ACT)
        while self.apdu()[2] != 0x0B:
            pass

    def apdu(self) -> bytes:
        """The next APDU; b"" when the outstation closed the connection."""
        while len(self.buf) < 2 or len(self.buf) < 2 + self.buf[1]:
            chunk = self.sock.recv(4096)
            if not chunk:
                return b""
            self.buf += chunk
        n = 2 + self.buf[1]
        frame, self.buf = self.buf[:n], self.buf[n:]
        if frame[2] & 1 == 0:
            self.nr = ((frame[2] | frame[3] << 8) >> 1) + 1
            self.sock.sendall(bytes([0x68, 4, 1, 0, (self.nr << 1) & 0xFE, self.nr >> 7]))
        return frame

    def asdu(self) -> bytes:
        while True:
            frame = self.apdu()
            if not frame or frame[2] & 1 == 0:
                return frame[6:] if frame else b""

    def send(self, asdu: bytes) -> None:
        self.sock.sendall(bytes([0x68, len(asdu) + 4, (self.ns << 1) & 0xFE, self.ns >> 7,
                                 (self.nr << 1) & 0xFE, self.nr >> 7]) + asdu)
        self.ns += 1


def main(port: int, ca: int, resets: int) -> int:
    for n in range(1, resets + 1):
        link = Link(port)
        link.send(reset(ca))
        while (asdu := link.asdu()) and asdu[0] != 105:
            pass
        if not asdu or asdu[2] & 0x7F != 7:
            print(f"reset {n}: no positive ACT_CON: {asdu.hex(' ')}")
            return 1
        while link.apdu():  # the re-initialisation closes the connection
            pass
        link.sock.close()
        link = Link(port)
        first = link.asdu()
        if first[:1] != b"\x46" or first[-1] != 2:
            print(f"reset {n}: first ASDU is not an end of initialisation, COI 2: {first.hex(' ')}")
            return 1
        started = time.monotonic()
        link.send(gi(ca))
        while (asdu := link.asdu()) and not (asdu[0] == 100 and asdu[2] & 0x3F == 10):
            pass
        if not asdu:
            print(f"reset {n}: the GI was not terminated")
            return 1
        print(f"reset {n}: end of initialisation COI 2, GI answered in "
              f"{(time.monotonic() - started) * 1e3:.1f} ms")
        link.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
