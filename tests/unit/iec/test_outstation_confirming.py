"""Commands whose confirmations come from a device (ConfirmingExecutor): the select's ACT_CON,
the execute's ACT_CON and its ACT_TERM wait for the executor's answers."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtu.iec.asdu.objects import DoubleCommand, SingleCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import CommandRequest, ConfirmingExecutor, Done
from rtu.points.model import Point
from tests.unit.iec.test_outstation import Rig, act, summary


@dataclass
class DeviceExecutor:
    """Confirms the commands of ``forwarded`` points itself; records what it was asked."""

    forwarded: frozenset[str] = frozenset({"sbo", "dcmd"})
    selects: list[tuple[CommandRequest, Done]] = field(default_factory=list)
    operates: list[tuple[CommandRequest, Done, Done]] = field(default_factory=list)
    cancels: list[CommandRequest] = field(default_factory=list)
    executes: list[tuple[CommandRequest, Done]] = field(default_factory=list)

    def confirms(self, point: Point) -> bool:
        return point.name in self.forwarded

    def execute(self, request: CommandRequest, done: Done) -> None:
        self.executes.append((request, done))

    def select(self, request: CommandRequest, done: Done) -> None:
        self.selects.append((request, done))

    def cancel(self, request: CommandRequest) -> None:
        self.cancels.append(request)

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        self.operates.append((request, confirmed, done))


def rig() -> tuple[Rig, DeviceExecutor]:
    r = Rig(select_timeout=5.0)
    device = DeviceExecutor()
    assert isinstance(device, ConfirmingExecutor)
    r.outstation.executor = device
    r.session.activate()
    r.drain()
    return r, device


def test_select_waits_for_the_device_then_execute_follows_its_answers() -> None:
    r, device = rig()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    assert r.drain() == []  # no ACT_CON before the device selected
    (request, selected), = device.selects
    assert (request.point.name, request.value, request.selected) == ("sbo", True, False)
    selected(True)
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert r.drain() == []  # ACT_CON is the device's answer to the operate
    (request, confirmed, done), = device.operates
    assert request.selected
    confirmed(True)
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    done(True)
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_TERMINATION, False)]
    assert device.executes == []


def test_refused_select_and_refused_operate_are_negative_confirmations() -> None:
    r, device = rig()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    device.selects[0][1](False)
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    # no selection held: the execute of a select_required point is refused locally
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True)))
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    assert device.operates == []
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))  # direct
    (request, confirmed, done), = device.operates
    assert not request.selected
    confirmed(False)
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True)]
    done(False)  # a late answer after a refusal is ignored
    assert r.drain() == []


def test_negative_termination_and_busy_point() -> None:
    r, device = rig()
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2)))
    _, confirmed, done = device.operates[0]
    confirmed(True)
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 1)))  # still running on the device
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False),
                                  (TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, True)]
    done(False)
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_TERMINATION, True)]


def test_deactivation_cancels_the_device_selection() -> None:
    r, device = rig()
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True)))
    device.selects[0][1](True)
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(501, True, select=True), cot=Cot.DEACTIVATION))
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False),
                                  (TypeId.C_SC_NA_1, Cot.DEACTIVATION_CON, False)]
    (cancelled,) = device.cancels
    assert (cancelled.point.name, cancelled.value, cancelled.selected) == ("sbo", True, True)


def test_test_bit_and_other_points_stay_local() -> None:
    r, device = rig()
    r.send(act(TypeId.C_DC_NA_1, DoubleCommand(502, 2), test=True))
    assert summary(r.drain()) == [(TypeId.C_DC_NA_1, Cot.ACTIVATION_CON, False),
                                  (TypeId.C_DC_NA_1, Cot.ACTIVATION_TERMINATION, False)]
    r.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))  # a relay point
    assert summary(r.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    assert device.operates == [] and len(device.executes) == 1
