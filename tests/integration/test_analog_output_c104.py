"""Set-points to an analogue output on the board: c104 (lib60870-C) as master sends C_SE_NC_1
(and C_SE_TC_1, with a time tag) to our outstation, which scales the value onto the duty cycle
of a (fake) PWM channel and terminates after the write; a value outside the channel's range is
refused with a negative ACT_CON and drives nothing.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import datetime
from pathlib import Path

import c104
import pytest

from rtu.config import load_config
from rtu.sources.aout.executor import AnalogOutputs
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

pytestmark = pytest.mark.integration

SET_POINT = 5401


def config_file(path: Path):
    path.write_text(f"""
[station]
common_address = 1

[iec104]
listen = "127.0.0.1:0"

[[points]]
name = "valve_sp"
ioa = {SET_POINT}
kind = "setpoint_float"
target = "analog_output"

[analog_outputs]
[[analog_outputs.channels]]
name = "valve"
command = "valve_sp"
driver = "sim"
range = [0.0, 50.0]
output_range = [0.2, 1.0]
""", encoding="utf-8")
    return load_config(path)


def test_c_se_nc_1_drives_the_output(tmp_path: Path) -> None:
    port = free_tcp_port()
    with OutstationThread(config_file(tmp_path / "rtu.toml"), port) as rtu, \
            C104Master(port, ca=1) as master:
        master.wait_connected(5)
        pwm = rtu.sup.provided(AnalogOutputs).channels["valve_sp"].output
        result = master._command("C_SE_NC_1", SET_POINT, c104.ShortCmd(target=25.0), False)
        assert result.act_con is not None and not result.act_con["negative"]
        term = master.wait_act_term(SET_POINT, "C_SE_NC_1", since=result.since)
        assert not term["negative"]
        assert rtu.call(lambda: list(pwm.duties)) == [pytest.approx(0.6)]
        # with a time tag
        now = datetime.datetime.now(datetime.UTC)
        tagged = master._command("C_SE_TC_1", SET_POINT,
                                 c104.ShortCmd(target=50.0, recorded_at=now), False)
        assert tagged.act_con is not None and not tagged.act_con["negative"]
        assert not master.wait_act_term(SET_POINT, "C_SE_TC_1", since=tagged.since)["negative"]
        assert rtu.call(lambda: list(pwm.duties)) == [pytest.approx(0.6), 1.0]
        # outside the range: refused before the confirmation, the output untouched
        refused = master._command("C_SE_NC_1", SET_POINT, c104.ShortCmd(target=60.0), False)
        assert refused.act_con is not None and refused.act_con["negative"]
        assert rtu.call(lambda: len(pwm.duties)) == 2
