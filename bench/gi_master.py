"""``python -m bench.gi_master --port P``: a master in a process of its own that connects,
asks for a station GI, and prints ``{"sent_ns": ..., "con_ns": ..., "term_ns": ...,
"objects": ...}`` (monotonic ns: request sent, ACT_CON and ACT_TERM received).

The scaling table measures another master's event latency while this GI runs: with both
masters' receive threads in the bench process, the GIL (switch interval 5 ms) would stamp the
measuring master's frames late, so the GI's master lives here instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.master import (
    C_IC_NA_1,
    COT_ACTIVATION_CON,
    COT_ACTIVATION_TERMINATION,
    COT_INTERROGATED,
    Master,
    interrogation_asdu,
)
from bench.plan import COMMON_ADDRESS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gi_master")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    with Master(args.host, args.port) as m:
        m.connect(timeout=60)
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()  # go
        sent = time.monotonic_ns()
        m.send_asdu(interrogation_asdu(COMMON_ADDRESS))
        con = m.wait_asdu(lambda a: a.type_id == C_IC_NA_1 and a.cot == COT_ACTIVATION_CON,
                          0, 60)
        term = m.wait_asdu(lambda a: a.type_id == C_IC_NA_1
                           and a.cot == COT_ACTIVATION_TERMINATION, 0, 120)
        objects = sum(a.count for a in m.asdus if a.cot == COT_INTERROGATED)
        print(json.dumps({"sent_ns": sent, "con_ns": con.t_ns, "term_ns": term.t_ns,
                          "objects": objects}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
