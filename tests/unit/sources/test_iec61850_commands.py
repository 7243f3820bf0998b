"""Set-points through the IEC 61850 source with a scripted MMS client (no sockets): the ctlVal
written, and the negative answers (the device's refusal, a timeout, an object that is not an
analogue control), each with a log line naming the device and the object reference."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from open61850.data import FloatData, IECData, IntData, StructureData
from open61850.mms import DataAccessError, ObjectName
from open61850.mms.types import MmsType, PrimitiveType, StructureType

from rtu.points.commands import CommandRequest
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.sources.iec61850.config import Iec61850Control, Iec61850DeviceConfig
from rtu.sources.iec61850.source import Iec61850DeviceSource

ANALOGUE = StructureType([("f", PrimitiveType("float", 32))])


class Client:
    """Answers like a device with one control object of ``ctl_type`` and ``model``."""

    def __init__(self, ctl_type: MmsType, model: int = 1,
                 write_error: BaseException | None = None) -> None:
        self.oper_type = StructureType([("ctlVal", ctl_type), ("ctlNum", PrimitiveType(
            "unsigned", 8))])
        self.model = model
        self.write_error = write_error
        self.writes: list[tuple[ObjectName, IECData]] = []

    def add_report_listener(self, listener: Any) -> None:
        pass

    def remove_report_listener(self, listener: Any) -> None:
        pass

    def get_type(self, name: ObjectName) -> MmsType:
        assert name == ObjectName("GGIO1$CO$AnOut1$Oper", "LD0")
        return self.oper_type

    def read(self, name: ObjectName) -> IECData:
        assert name == ObjectName("GGIO1$CF$AnOut1$ctlModel", "LD0")
        return IntData(self.model)

    def write(self, name: ObjectName, value: IECData) -> None:
        if self.write_error is not None:
            raise self.write_error
        self.writes.append((name, value))


def operate(client: Client, value: float) -> tuple[list[bool], list[bool]]:
    point = Point("sp", 10, PointKind.SETPOINT_FLOAT, target="iec61850")
    db = PointDatabase([point])
    source = Iec61850DeviceSource(Iec61850DeviceConfig(
        name="relay7", host="127.0.0.1",
        controls=(Iec61850Control("sp", "LD0/GGIO1.AnOut1", scale=2.0, offset=1.0),)), db)
    source.client = client  # type: ignore[assignment]
    confirmed: list[bool] = []
    done: list[bool] = []

    async def run() -> None:
        source.operate(CommandRequest(point, value), confirmed.append, done.append)
        for _ in range(200):
            if done or confirmed == [False]:
                return
            await asyncio.sleep(0.01)

    asyncio.run(run())
    return confirmed, done


def test_a_set_point_writes_oper_with_the_scaled_analogue_value() -> None:
    client = Client(ANALOGUE)
    assert operate(client, 21.0) == ([True], [True])
    ((name, oper),) = client.writes
    assert name == ObjectName("GGIO1$CO$AnOut1$Oper", "LD0")
    assert isinstance(oper, StructureData)
    assert oper.members[0] == StructureData([FloatData(10.0)])  # (21 - 1) / 2


@pytest.mark.parametrize(("client", "why"), [
    (Client(ANALOGUE, write_error=DataAccessError(11)), "Oper refused (data access error 11"),
    (Client(ANALOGUE, write_error=TimeoutError("no answer within 5 s")), "no answer within 5 s"),
    (Client(PrimitiveType("boolean")), "not an analogue control (APC, ctlVal an AnalogueValue)"),
    (Client(ANALOGUE, model=0), "LD0/GGIO1$CO$AnOut1 cannot be operated (ctlModel 0)"),
])
def test_refusals_and_timeouts_are_negative_with_a_log_line(
        client: Client, why: str, caplog: pytest.LogCaptureFixture) -> None:
    assert operate(client, 5.0) == ([False], [])
    assert client.writes == []
    assert f"command sp on LD0/GGIO1.AnOut1 (device relay7): {why}" in caplog.text
