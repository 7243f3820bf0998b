"""rtu.sources.protection: the [protection] section, and protection events through the point
database to a master: spontaneous only, never in an interrogation, a read answered negatively."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, decode_asdu, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand, ProtectionEvent, ReadCommand
from rtu.iec.asdu.types import Cot, Qdp, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig, Session
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointChanged, PointKind, Quality
from rtu.sources.protection.config import ENTRY, ProtectionPoint
from rtu.sources.protection.source import ProtectionEvents
from tests.unit.iec.test_outstation import T0, FakeClock, ManualExecutor, act


def doc(*entries: dict[str, Any], extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "iec104": {"enabled": False},
        "points": [
            {"name": "prot1", "ioa": 1401, "kind": "single", "source": "sim"},
            {"name": "pickup", "ioa": 1402, "kind": "single", "source": "sim"},
            {"name": "ia", "ioa": 3001, "kind": "float", "source": "sim"},
            {"name": "prot1_ev", "ioa": 2301, "kind": "protection", "source": "protection"},
            {"name": "ptoc_str", "ioa": 2302, "kind": "protection_start",
             "source": "protection"},
            *(extra or []),
        ],
        "protection": {"events": list(entries)},
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_section_is_read() -> None:
    config = parse_config(doc({"point": "prot1_ev", "signal": "prot1", "start": "pickup"},
                              {"point": "ptoc_str", "general": "pickup", "l1": "prot1"}),
                          "t.toml")
    assert config.section("protection").points == (  # type: ignore[attr-defined]
        ProtectionPoint("prot1_ev", {"prot1": "signal"}, "pickup"),
        ProtectionPoint("ptoc_str", {"pickup": "general", "prot1": "l1"}))


def test_rtu_check_names_every_mistake() -> None:
    found = errors(doc(
        {"point": "prot1_ev", "signal": "ia", "general": "prot1"},
        {"point": "ptoc_str", "start": "pickup"},
        {"point": "prot1", "signal": "pickup"},
        {"point": "prot1_ev", "signal": "prot1"},
        extra=[{"name": "lonely", "ioa": 2303, "kind": "protection_trip",
                "source": "protection"},
               {"name": "bad", "ioa": 2304, "kind": "protection_trip",
                "source": "protection", "groups": [1], "cyclic": 5.0}]))
    text = "\n".join(found)
    for expected in (
        ("protection.events[0].signal: expected the name of a single or double point, "
        "got 'ia' (it is a float point)"),
        ("protection.events[0].general: expected no general on a protection point "
        "(it takes signal, start)"),
        "protection.events[1].start: expected no start on a protection_start point",
        "protection.events[1]: expected at least one of general, l1, l2, l3, ie, srd",
        "protection.events[2].point: expected the name of a point with kind = \"protection\"",
        ("protection.events[3].point: expected a point fed by one entry only, got 'prot1_ev' "
        "(already fed by protection.events[0])"),
        "points[5].source: expected a [[protection.events]] entry with point = 'lonely'",
        "points[6].groups: expected no groups on a protection_trip point",
        "points[6].cyclic: expected no cyclic on a protection_trip point",
    ):
        assert expected in text, (expected, found)


def test_example_documents_every_key_of_an_entry() -> None:
    text = resources.files("rtu.examples").joinpath("example.toml").read_text(encoding="utf-8")
    entries = tomllib.loads(text)["protection"]["events"]
    assert set().union(*(set(e) for e in entries)) == set(ENTRY.names)
    parse_config(tomllib.loads(text), "example.toml")  # and they are valid


class Rig:
    def __init__(self, profile: AsduProfile = PROFILE_104) -> None:
        self.profile = profile
        self.db = PointDatabase([
            Point("prot1", 1401, PointKind.SINGLE),
            Point("pickup", 1402, PointKind.SINGLE),
            Point("prot1_ev", 2301, PointKind.PROTECTION, source="protection"),
        ])
        for name in ("prot1", "pickup"):
            self.db.update(name, False, timestamp=T0 - 10)
        self.events = ProtectionEvents(self.db, [
            ProtectionPoint("prot1_ev", {"prot1": "signal"}, "pickup")])
        self.events.initialise()
        self.outstation = Outstation(self.db, OutstationConfig(common_address=1), FakeClock(),
                                     ManualExecutor())
        self.outstation.set_system_clock_state(True)  # time tags without IV
        self.session: Session = self.outstation.open_session("m", profile, "g", lambda: None)
        self.session.activate()
        self.drain()

    def raw(self) -> list[bytes]:
        out = []
        while (o := self.session.next_output()) is not None:
            out.append(o.asdu)
        self.session.acknowledged(len(out))
        return out

    def drain(self) -> list[Asdu]:
        return [decode_asdu(b, self.profile) for b in self.raw()]

    def send(self, asdu: Asdu) -> list[Asdu]:
        self.session.receive(encode_asdu(asdu, self.profile))
        return self.drain()


def test_event_carries_the_inputs_time_and_elapsed_time_golden_bytes() -> None:
    rig = Rig()
    rig.db.update("pickup", True, timestamp=T0 - 0.040)
    rig.db.update("prot1", True, timestamp=T0)  # 40 ms after the start
    raw = rig.raw()
    # the inputs' own M_SP_TB_1 events, then the protection event: 38, SQ 0 / 1 object,
    # COT 3, CA 1, IOA 2301, SEP ES = on (2), CP16 40 ms, CP56 of T0 (2023-11-14 22:13:20.000)
    assert raw[-1] == bytes.fromhex("26 01 0300 0100 fd0800 02 2800 204e 0d 16 0e 0b 17")
    asdu = decode_asdu(raw[-1], PROFILE_104)
    assert asdu.type_id is TypeId.M_EP_TD_1 and asdu.cot is Cot.SPONTANEOUS
    obj = asdu.objects[0]
    assert isinstance(obj, ProtectionEvent)
    assert (obj.state, obj.elapsed_ms, obj.quality) == (2, 40, Qdp(0))
    rig.db.update("prot1", False, Quality.NT, timestamp=T0 + 1.5)
    off = rig.drain()[-1].objects[0]
    assert isinstance(off, ProtectionEvent)
    assert (off.state, off.elapsed_ms, off.quality) == (1, 1500, Qdp.NT)


def test_a_cp24_101_line_sends_the_same_event_as_m_ep_ta_1() -> None:
    """On a 101 line with time_tag = "cp24" the protection event goes out as type 17 (CP16
    elapsed time + CP24Time2a), made by the same table as the monitor types."""
    rig = Rig(AsduProfile(cot_size=1, ca_size=1, ioa_size=2, cp24=True))
    rig.db.update("pickup", True, timestamp=T0 - 0.040)
    rig.db.update("prot1", True, timestamp=T0)
    raw = rig.raw()
    # 17, SQ 0 / 1 object, COT 3, CA 1, IOA 2301, SEP ES = on, CP16 40 ms, CP24 of T0 (mm:ss.ms
    # 13:20.000 -> 20000 ms = 20 4e, minute 13 = 0d)
    assert raw[-1] == bytes.fromhex("11 01 03 01 fd08 02 2800 204e 0d")
    asdu = decode_asdu(raw[-1], rig.profile)
    assert asdu.type_id is TypeId.M_EP_TA_1
    obj = asdu.objects[0]
    assert isinstance(obj, ProtectionEvent) and (obj.state, obj.elapsed_ms) == (2, 40)


def test_never_in_an_interrogation_and_a_read_is_refused() -> None:
    rig = Rig()
    rig.db.update("prot1", True, timestamp=T0)
    rig.drain()
    out = rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20)))
    ioas = [o.ioa for a in out[1:-1] for o in a.objects]
    assert sorted(ioas) == [1401, 1402]
    assert all(a.type_id is not TypeId.M_EP_TD_1 for a in out)
    out = rig.send(Asdu(TypeId.C_RD_NA_1, Cot.REQUEST, 1, (ReadCommand(2301),)))
    assert [(a.type_id, a.cot, a.negative) for a in out] == [
        (TypeId.C_RD_NA_1, Cot.UNKNOWN_IOA, True)]


def test_a_protection_value_out_of_its_kind_is_refused() -> None:
    rig = Rig()
    with pytest.raises(ValueError, match="protection event is bits 0..3"):
        rig.db.update("prot1_ev", 0x04, timestamp=T0)


def test_journalled_and_logged_like_other_events() -> None:
    """The journal (rtu/eventstore.py) keeps a protection event as it was sent, and the
    sequence-of-events log shows its state, time and EI."""
    from rtu.eventstore import decode_event, encode_event
    from rtu.iec.asdu.objects import Cp56Time2a, ProtectionOutputCircuit, ProtectionStartEvents
    from rtu.iec.outstation import EventRecord
    from rtu.soe import event_row

    time = Cp56Time2a.from_timestamp(T0)
    records = [
        EventRecord(TypeId.M_EP_TD_1, Cot.SPONTANEOUS, ProtectionEvent(2301, 2, 0, Qdp.EI, time),
                    seq=7),
        EventRecord(TypeId.M_EP_TE_1, Cot.SPONTANEOUS,
                    ProtectionStartEvents(2302, 0x03, 40, Qdp(0), time), seq=8),
        EventRecord(TypeId.M_EP_TF_1, Cot.SPONTANEOUS,
                    ProtectionOutputCircuit(2303, 0x01, 110, Qdp.NT | Qdp.EI, time), seq=9),
    ]
    for record in records:
        back = decode_event(record.seq, encode_event(record))
        assert (back, back.seq) == (record, record.seq)
    rows = [event_row(r, {2301: "prot1_event"}) for r in records]
    assert [(row[3], row[4], row[5], row[6], row[7]) for row in rows] == [
        ("prot1_event", 2301, "M_EP_TD_1", "on 0 ms", "EI"),
        ("", 2302, "M_EP_TE_1", "GS|SL1 40 ms", "ok"),
        ("", 2303, "M_EP_TF_1", "GC 110 ms", "NT|EI"),
    ]


def test_an_operator_cannot_block_or_substitute_a_protection_event() -> None:
    rig = Rig()
    with pytest.raises(ValueError, match="cannot be blocked; block the points that feed it"):
        rig.db.block("prot1_ev", timestamp=T0)
    with pytest.raises(ValueError, match="cannot be substituted"):
        rig.db.substitute("prot1_ev", 2, timestamp=T0)
    assert not rig.db.overridden("prot1_ev") and rig.drain() == []


def test_the_web_page_shows_a_protection_event_as_text() -> None:
    from rtu.web.feeds import change_row

    rig = Rig()
    seen: list[PointChanged] = []
    rig.db.subscribe(seen.append)
    rig.db.update("pickup", True, timestamp=T0 - 0.040)
    rig.db.update("prot1", True, timestamp=T0)
    rows = [change_row(c) for c in seen if c.point.name == "prot1_ev"]
    assert [(r["value"], r["quality"]) for r in rows] == [("on 40 ms", "ok")]
