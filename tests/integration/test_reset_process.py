"""Reset process (C_RP_NA_1) against `python -m rtu run`: obeyed only from the originators
allowed to command, and then the outstation re-initialises in place: the same process, the
connection closed after ACT_CON, and every master that connects again gets an end of
initialisation with cause 2 (remote reset) and its GI answered, however many resets in a row."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.peers import (
    COT_ACTIVATION,
    COT_ACTIVATION_CON,
    COT_ACTIVATION_TERMINATION,
    COT_INITIALISED,
    Raw104Client,
    build_asdu,
)
from tests.integration.test_event_journal import outstation
from tests.integration.test_floods import GI_ASDU, write_config

pytestmark = pytest.mark.integration

C_RP_NA_1, M_EI_NA_1, C_IC_NA_1 = 105, 70, 100
QRP_GENERAL_RESET = 1
RESETS = 7  # more than systemd's StartLimitBurst (5) in the shipped unit


def reset_asdu(oa: int, qrp: int = QRP_GENERAL_RESET) -> bytes:
    return build_asdu(C_RP_NA_1, COT_ACTIVATION, 1, [(0, bytes([qrp]))], oa=oa)


def connect(port: int, timeout: float = 10.0) -> Raw104Client:
    deadline = time.monotonic() + timeout
    while True:
        client = Raw104Client(port)
        try:
            client.__enter__()
            client.startdt()
            return client
        except (OSError, AssertionError):
            client.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def end_of_initialisation_and_gi(master: Raw104Client) -> int:
    """The first ASDU must be the end of initialisation; returns its COI; then a GI to its end."""
    first = master.recv_until(lambda a: a["format"] == "I", 5)
    assert first["type_id"] == M_EI_NA_1 and first["cot"] == COT_INITIALISED, first
    coi = int(first["objects"][0]["data"], 16)
    master.send_asdu(GI_ASDU)
    master.recv_until(lambda a: a.get("type_id") == C_IC_NA_1
                      and a.get("cot") == COT_ACTIVATION_TERMINATION, 5)
    master.ack()  # nothing of this run is sent again after the next reset
    return coi


def test_reset_process_only_from_command_originators_then_in_place(tmp_path: Path) -> None:
    config, port = write_config(tmp_path)
    text = config.read_text().replace("common_address = 1",
                                      "common_address = 1\ncommand_originators = [1, 2]")
    config.write_text(text)
    with outstation(config) as proc:
        master = connect(port)
        try:
            assert end_of_initialisation_and_gi(master) == 0  # power on
            # an originator not allowed to command: negative ACT_CON, nothing else happens
            master.send_asdu(reset_asdu(oa=7))
            con = master.recv_until(lambda a: a.get("type_id") == C_RP_NA_1, 5)
            assert con["cot"] == COT_ACTIVATION_CON and con["negative"]
            master.send_asdu(GI_ASDU)  # the same connection still serves
            master.recv_until(lambda a: a.get("type_id") == C_IC_NA_1
                              and a.get("cot") == COT_ACTIVATION_TERMINATION, 5)
        finally:
            master.close()
        for _ in range(RESETS):
            master = connect(port)
            try:
                master.send_asdu(reset_asdu(oa=2))
                con = master.recv_until(lambda a: a.get("type_id") == C_RP_NA_1, 5)
                assert con["cot"] == COT_ACTIVATION_CON and not con["negative"]
                while master.recv(5) is not None:  # closed by the re-initialisation
                    pass
                assert master.closed
            finally:
                master.close()
            master = connect(port)
            try:
                assert end_of_initialisation_and_gi(master) == 2  # remote reset
            finally:
                master.close()
        assert proc.poll() is None, "the process ended"
    log = (tmp_path / "rtu.log").read_text()
    assert "reset process (QRP 1) from 104:127.0.0.1:" in log
    assert "is not in command_originators" in log
    assert log.count("reset of process: re-initialised in") == RESETS
