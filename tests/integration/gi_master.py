"""A raw-socket IEC 60870-5-104 master that asks for a station interrogation and counts what
comes back; standard library only, so it runs with the Python of an emulated board (no rtu,
no c104 there). Written from the standard's frame layout, not from the outstation's code.

    python3 gi_master.py HOST PORT COMMON_ADDRESS [TIMEOUT]

Prints one JSON object: {"startdt": bool, "actcon": bool, "actterm": bool, "objects": N,
"types": {type id: objects}} where objects are those with cause 20 (interrogated by station).
Retries the connection until TIMEOUT (the outstation may still be starting).
"""

from __future__ import annotations

import json
import socket
import sys
import time

STARTDT_ACT, STARTDT_CON = 0x07, 0x0B
C_IC_NA_1 = 100
COT_ACTCON, COT_ACTTERM, COT_INROGEN = 7, 10, 20


def read_apdu(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 2:
        chunk = sock.recv(2 - len(head))
        if not chunk:
            raise ConnectionError("closed by the outstation")
        head += chunk
    if head[0] != 0x68:
        raise ValueError(f"not an APDU start: {head.hex()}")
    body = b""
    while len(body) < head[1]:
        chunk = sock.recv(head[1] - len(body))
        if not chunk:
            raise ConnectionError("closed by the outstation")
        body += chunk
    return body


def main() -> int:
    host, port, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    deadline = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    result: dict[str, object] = {"startdt": False, "actcon": False, "actterm": False,
                                 "objects": 0, "types": {}}
    types: dict[str, int] = {}
    received = 0
    sock.settimeout(max(1.0, deadline - time.monotonic()))
    with sock:
        sock.sendall(bytes([0x68, 4, STARTDT_ACT, 0, 0, 0]))
        while not result["startdt"]:
            apdu = read_apdu(sock)
            result["startdt"] = apdu[0] == STARTDT_CON
        # I-frame, send 0 / receive 0; ASDU: C_IC_NA_1, 1 object, COT act (6), CA, IOA 0, QOI 20
        asdu = bytes([C_IC_NA_1, 1, 6, 0, ca & 0xFF, ca >> 8, 0, 0, 0, 20])
        sock.sendall(bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu)
        while not result["actterm"]:
            apdu = read_apdu(sock)
            if apdu[0] & 0x01:  # S- or U-frame
                if apdu[0] == 0x43:  # TESTFR act
                    sock.sendall(bytes([0x68, 4, 0x83, 0, 0, 0]))
                continue
            received += 1
            type_id, vsq, cot = apdu[4], apdu[5], apdu[6] & 0x3F
            if type_id == C_IC_NA_1:
                result["actcon"] = result["actcon"] or cot == COT_ACTCON
                result["actterm"] = cot == COT_ACTTERM
            elif cot == COT_INROGEN:
                types[str(type_id)] = types.get(str(type_id), 0) + (vsq & 0x7F)
            if received % 4 == 0:  # acknowledge well within k = 12
                seq = (received % 32768) << 1
                sock.sendall(bytes([0x68, 4, 0x01, 0, seq & 0xFF, seq >> 8]))
    result["types"] = types
    result["objects"] = sum(types.values())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
