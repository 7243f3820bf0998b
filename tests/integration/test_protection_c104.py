"""Protection events on the bench profile (issue 19 items 6 and 8): `rtu sim set prot1 on`
is reported as M_EP_TD_1 at 2301 to a c104 master, with the elapsed time computed from the
signal's time stamps, and never in a GI; Wireshark decodes the frames.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import time

import pytest

from rtu.config import bench_config
from rtu.control import sim_set
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, TsharkCapture, free_tcp_port, tshark_decode_104

COT_SPONT, COT_GI, COT_REQUEST, COT_UNKNOWN_IOA = 3, 20, 5, 47
PROT1_EVENT = 2301
ES_OFF, ES_ON, EI = 1, 2, 0x08


@pytest.fixture
def rtu():
    with OutstationThread(bench_config(), free_tcp_port()) as outstation:
        yield outstation


def sep(record: dict) -> tuple[int, int, int]:
    """(ES, QDP bits, elapsed ms) of the one M_EP_TD_1 object of a parsed APDU."""
    data = bytes.fromhex(record["objects"][0]["data"])
    return data[0] & 0x03, data[0] & 0xF8, int.from_bytes(data[1:3], "little")


def test_sim_set_prot1_is_reported_as_m_ep_td_1_at_2301_never_in_gi(rtu, tmp_path) -> None:
    with TsharkCapture(rtu.port, tmp_path / "protection.pcapng") as capture, \
            C104Master(rtu.port, ca=1) as m:
        m.wait_connected(5)
        since = m.mark()
        # the operator's command, as `rtu sim set prot1 on` sends it over the control socket
        rtu.call(sim_set, rtu.sup, "prot1", "on")
        on = m.wait_for(lambda r: r.get("type") == "M_EP_TD_1", since=since, timeout=5)
        assert (on["cot"], on["ca"], on["objects"][0]["ioa"]) == (COT_SPONT, 1, PROT1_EVENT)
        assert sep(on) == (ES_ON, EI, 0)  # no start signal configured: elapsed time unknown
        time.sleep(0.3)
        since = m.mark()
        rtu.call(sim_set, rtu.sup, "prot1", "off")
        off = m.wait_for(lambda r: r.get("type") == "M_EP_TD_1", since=since, timeout=5)
        es, qdp, elapsed = sep(off)
        assert (es, qdp) == (ES_OFF, 0)
        assert off["objects"][0]["ioa"] == PROT1_EVENT
        # c104 decoded both as protection events of 2301: ES on with EI, then ES off (its
        # point callback runs after the raw one that wait_for saw: wait for it too)
        m.wait_update(lambda u: u["ioa"] == PROT1_EVENT and u["value"] == ES_OFF, 5)
        updates = [u for u in m.updates.snapshot() if u["ioa"] == PROT1_EVENT]
        assert [(u["type"], u["value"], u["quality"]) for u in updates] == [
            ("M_EP_TD_1", ES_ON, EI), ("M_EP_TD_1", ES_OFF, 0)]
        # the elapsed time is the time prot1 was on: the difference of the two time tags,
        # which are prot1's own time stamps (not the time of sending)
        tagged = (updates[1]["recorded_at"] - updates[0]["recorded_at"]).total_seconds() * 1000
        assert 300 <= elapsed < 3000
        assert abs(elapsed - tagged) <= 1
        # a station GI: the signal prot1 (1401) is in it, its protection event is not
        since = m.mark()
        assert m.interrogation(qoi=20)
        gi = m.asdus(since, cot=COT_GI)
        ioas = {o["ioa"] for r in gi for o in r["objects"]}
        assert 1401 in ioas and PROT1_EVENT not in ioas
        assert not [r for r in gi if r["type"].startswith("M_EP")]
    frames = tshark_decode_104(capture.path, rtu.port)
    assert not frames.malformed, frames.problems
    events = [f for f in frames if f["dir"] == "from_server" and f.get("type_id") == 38]
    assert [(f["cot"], f["ca"], f["ioas"]) for f in events] == [
        (COT_SPONT, 1, [PROT1_EVENT]), (COT_SPONT, 1, [PROT1_EVENT])]
