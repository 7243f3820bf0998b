"""A simulated IEC 61850 device: libiec61850's server through pyiec61850-ng (GPL-3, test-only).

The model is built at run time (no SCL file): IED ``SIM``, logical device ``LD0`` (MMS domain
``SIMLD0``) with

* ``MMXU1.TotW`` and ``MMXU1.Hz`` (MV, FC MX): TotW is in the data set ``LLN0.Meas`` reported by
  the unbuffered block ``LLN0.urcbMeas01``; Hz is in no data set (a client has to read it);
* ``XCBR1.Pos`` (DPC, sbo-with-enhanced-security, FC ST/CO) in the data set ``LLN0.Status``
  reported by the buffered block ``LLN0.brcbStatus01``;
* ``CSWI1.Pos`` (DPC, direct-with-normal-security);
* ``GGIO1.AnOut1`` (APC, direct-with-normal-security) and ``GGIO1.AnOut2`` (APC,
  sbo-with-normal-security), ctlVal and mxVal an AnalogueValue with ``f``.
* ``PTOC1.Str`` (ACD: general, phsA/B/C, neut) and ``PTOC1.Op`` (ACT: general, phsA/B/C), FC
  ST, in the data set ``LLN0.Prot`` reported by the buffered block ``LLN0.brcbProt01``.

Commands on every control object go through a check handler (``deny``: refuse with
object-access-denied, the device's LastApplError follows; an APC also refuses a ctlVal above
:data:`APC_LIMIT` as value-invalid) and a control handler (``fail``: the execution fails, a
negative CommandTermination for enhanced security); a command that runs sets the object's
``stVal`` (on/off) or ``mxVal.f`` with a fresh time stamp, so the change is reported.

Bound to 127.0.0.1 on a free high port (IedServer_setLocalIpAddress). Updates take the data
model lock, as libiec61850 requires. Tests use :class:`DeviceProcess`: the device in a child
process (see the note above ``_serve``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyiec61850.pyiec61850 as lib

DOMAIN = "SIMLD0"
CONTROLS = ("XCBR1.Pos", "CSWI1.Pos")
ANALOGUE_CONTROLS = ("GGIO1.AnOut1", "GGIO1.AnOut2")
APC_LIMIT = 1000.0  # an APC refuses a larger ctlVal (value-invalid)
# IEC 61850-7-3 quality bits (as libiec61850 numbers them)
VALIDITY_INVALID = lib.QUALITY_VALIDITY_INVALID
VALIDITY_QUESTIONABLE = lib.QUALITY_VALIDITY_QUESTIONABLE
OLD_DATA = lib.QUALITY_DETAIL_OLD_DATA
SUBSTITUTED = lib.QUALITY_SOURCE_SUBSTITUTED
OVERFLOW = lib.QUALITY_DETAIL_OVERFLOW
DBPOS = {"intermediate": 0, "off": 1, "on": 2, "bad": 3}
_KEEP: list[Any] = []  # stopped devices, alive until the process ends (see SimDevice.destroy)


class _Check(lib.CheckHandlerForPython):  # type: ignore[misc]
    def __init__(self, device: SimDevice) -> None:
        lib.CheckHandlerForPython.__init__(self)
        self.device = device

    def trigger(self) -> None:
        self._libiec61850_check_handler_result = (
            lib.CONTROL_OBJECT_ACCESS_DENIED if self.device.deny else lib.CONTROL_ACCEPTED)


class _AnalogueCheck(_Check):
    def trigger(self) -> None:
        value = self._libiec61850_mms_value  # None for the select (an SBO read) of SBO-normal
        if value is not None and not self.device.deny \
                and lib.MmsValue_toFloat(lib.MmsValue_getElement(value, 0)) > APC_LIMIT:
            self._libiec61850_check_handler_result = lib.CONTROL_VALUE_INVALID
            return
        super().trigger()


class _Control(lib.ControlHandlerForPython):  # type: ignore[misc]
    def __init__(self, device: SimDevice, name: str) -> None:
        lib.ControlHandlerForPython.__init__(self)
        self.device = device
        self.name = name

    def trigger(self) -> None:
        if self.device.fail:
            self._libiec61850_control_handler_result = lib.CONTROL_RESULT_FAILED
            return
        value = bool(lib.MmsValue_getBoolean(self._libiec61850_mms_value))
        self.device.operated.append((self.name, value))
        self.device.set_dbpos(f"{self.name}.stVal", "on" if value else "off", locked=False)
        self._libiec61850_control_handler_result = lib.CONTROL_RESULT_OK


class _AnalogueControl(_Control):
    def trigger(self) -> None:
        if self.device.fail:
            self._libiec61850_control_handler_result = lib.CONTROL_RESULT_FAILED
            return
        value = lib.MmsValue_toFloat(lib.MmsValue_getElement(self._libiec61850_mms_value, 0))
        self.device.operated.append((self.name, value))
        self.device.set_float(f"{self.name}.mxVal.f", value, locked=False)
        self._libiec61850_control_handler_result = lib.CONTROL_RESULT_OK


class SimDevice:
    def __init__(self, port: int) -> None:
        self.port = port
        self.deny = False  # the check handler refuses commands
        self.fail = False  # the control handler fails them
        self.operated: list[tuple[str, bool | float]] = []
        self._lock = threading.Lock()
        self.model = lib.IedModel_create("SIM")
        ld = lib.LogicalDevice_create("LD0", self.model)
        lln0 = lib.LogicalNode_create("LLN0", ld)
        mmxu = lib.LogicalNode_create("MMXU1", ld)
        lib.CDC_MV_create("TotW", lib.toModelNode(mmxu), 0, False)
        lib.CDC_MV_create("Hz", lib.toModelNode(mmxu), 0, False)
        xcbr = lib.LogicalNode_create("XCBR1", ld)
        lib.CDC_DPC_create("Pos", lib.toModelNode(xcbr), 0,
                           lib.CDC_CTL_MODEL_SBO_ENHANCED | lib.CDC_CTL_MODEL_HAS_CANCEL)
        cswi = lib.LogicalNode_create("CSWI1", ld)
        lib.CDC_DPC_create("Pos", lib.toModelNode(cswi), 0, lib.CDC_CTL_MODEL_DIRECT_NORMAL)
        ggio = lib.LogicalNode_create("GGIO1", ld)
        lib.CDC_APC_create("AnOut1", lib.toModelNode(ggio), 0, lib.CDC_CTL_MODEL_DIRECT_NORMAL,
                           False)  # False: a FLOAT32 AnalogueValue
        lib.CDC_APC_create("AnOut2", lib.toModelNode(ggio), 0, lib.CDC_CTL_MODEL_SBO_NORMAL,
                           False)
        ptoc = lib.LogicalNode_create("PTOC1", ld)
        phases = lib.CDC_OPTION_PHASE_A | lib.CDC_OPTION_PHASE_B | lib.CDC_OPTION_PHASE_C
        lib.CDC_ACD_create("Str", lib.toModelNode(ptoc), phases | lib.CDC_OPTION_PHASE_NEUT)
        lib.CDC_ACT_create("Op", lib.toModelNode(ptoc), phases)
        prot = lib.DataSet_create("Prot", lln0)
        lib.DataSetEntry_create(prot, "PTOC1$ST$Str", -1, None)
        lib.DataSetEntry_create(prot, "PTOC1$ST$Op", -1, None)
        meas = lib.DataSet_create("Meas", lln0)
        lib.DataSetEntry_create(meas, "MMXU1$MX$TotW", -1, None)
        status = lib.DataSet_create("Status", lln0)
        lib.DataSetEntry_create(status, "XCBR1$ST$Pos", -1, None)
        lib.DataSetEntry_create(status, "CSWI1$ST$Pos", -1, None)
        trg = (lib.TRG_OPT_DATA_CHANGED | lib.TRG_OPT_QUALITY_CHANGED | lib.TRG_OPT_INTEGRITY
               | lib.TRG_OPT_GI)
        opt = (lib.RPT_OPT_SEQ_NUM | lib.RPT_OPT_TIME_STAMP | lib.RPT_OPT_REASON_FOR_INCLUSION
               | lib.RPT_OPT_DATA_SET | lib.RPT_OPT_ENTRY_ID | lib.RPT_OPT_CONF_REV)
        lib.ReportControlBlock_create("urcbMeas01", lln0, "SIM_MEAS", False, "Meas", 1, trg, opt,
                                      50, 0)
        lib.ReportControlBlock_create("brcbStatus01", lln0, "SIM_STATUS", True, "Status", 1, trg,
                                      opt, 50, 0)
        lib.ReportControlBlock_create("brcbProt01", lln0, "SIM_PROT", True, "Prot", 1, trg, opt,
                                      50, 0)
        self.server: Any = None
        self._handlers: list[Any] = []  # keep the SWIG directors alive
        self._initialised = False

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (again: a server stopped is started anew on the same port)."""
        if self.server is not None:
            lib.IedServer_start(self.server, self.port)
            if not lib.IedServer_isRunning(self.server):
                raise RuntimeError(f"the test device cannot listen again on port {self.port}")
            return
        self.server = lib.IedServer_create(self.model)
        lib.IedServer_setLocalIpAddress(self.server, "127.0.0.1")
        for name in CONTROLS + ANALOGUE_CONTROLS:
            node = lib.IedModel_getModelNodeByObjectReference(self.model, f"{DOMAIN}/{name}")
            subscriber = lib.ControlSubscriberForPython()
            subscriber.setIedServer(self.server)
            subscriber.setControlObject(lib.toDataObject(node))
            analogue = name in ANALOGUE_CONTROLS
            check = _AnalogueCheck(self) if analogue else _Check(self)
            control = _AnalogueControl(self, name) if analogue else _Control(self, name)
            subscriber.setCheckHandler(check)
            subscriber.setControlHandler(control)
            subscriber.subscribe()
            self._handlers += [subscriber, check, control]
        lib.IedServer_start(self.server, self.port)
        if not lib.IedServer_isRunning(self.server):
            raise RuntimeError(f"the IEC 61850 test device cannot listen on 127.0.0.1:{self.port}")
        if not self._initialised:
            self._initialised = True
            self.set_float("MMXU1.TotW.mag.f", 12.5)
            self.set_float("MMXU1.Hz.mag.f", 50.0)
            self.set_dbpos("XCBR1.Pos.stVal", "off")
            self.set_dbpos("CSWI1.Pos.stVal", "off")

    def stop(self) -> None:
        """Stop listening and drop every association (the device disappears)."""
        if self.server is not None:
            lib.IedServer_stop(self.server)

    def destroy(self) -> None:
        """Stop for good. The server and its handlers are kept, never freed: libiec61850 and
        the SWIG directors crash when they are torn down after a stop/start cycle (seen with
        pyiec61850-ng 1.6.1.10), and the process ends soon after the tests anyway."""
        if self.server is not None:
            lib.IedServer_stop(self.server)
            _KEEP.append((self.server, self.model, list(self._handlers)))

    # -- values --------------------------------------------------------------------------------
    def _attr(self, reference: str) -> Any:
        node = lib.IedModel_getModelNodeByObjectReference(self.model, f"{DOMAIN}/{reference}")
        if not node:
            raise KeyError(reference)
        return lib.toDataAttribute(node)

    def _update(self, locked: bool, fn: Any, *args: Any) -> None:
        if self.server is None:
            raise RuntimeError("the test device is not running")
        if locked:
            lib.IedServer_lockDataModel(self.server)
        try:
            fn(self.server, *args)
        finally:
            if locked:
                lib.IedServer_unlockDataModel(self.server)

    def set_float(self, reference: str, value: float, *, quality: int = 0,
                  when: dt.datetime | None = None, locked: bool = True) -> None:
        """Set ``LN.DO.mag.f`` (or an APC's ``LN.DO.mxVal.f``) and its DO's ``q`` and ``t``
        (``when``: now)."""
        leaf = "mxVal.f" if reference.endswith(".mxVal.f") else "mag.f"
        do = reference.rsplit(f".{leaf}", 1)[0]
        self._set(do, leaf, lambda srv, da: _float(srv, da, value), quality, when, locked)

    def set_dbpos(self, reference: str, state: str, *, quality: int = 0,
                  when: dt.datetime | None = None, locked: bool = True) -> None:
        do = reference.rsplit(".stVal", 1)[0]
        self._set(do, "stVal", lambda srv, da: _dbpos(srv, da, DBPOS[state]), quality, when,
                  locked)

    def set_bool(self, reference: str, value: bool, *, quality: int = 0,
                 when: dt.datetime | None = None, locked: bool = True) -> None:
        """Set a boolean ``LN.DO.DA`` (``PTOC1.Str.general``) and its DO's ``q`` and ``t``."""
        do, _, leaf = reference.rpartition(".")
        self._set(do, leaf, lambda srv, da: lib.IedServer_updateBooleanAttributeValue(
            srv, da, value), quality, when, locked)

    def _set(self, do: str, leaf: str, setter: Any, quality: int, when: dt.datetime | None,
             locked: bool) -> None:
        stamp = when or dt.datetime.now(dt.UTC)
        ms = int(stamp.timestamp() * 1000)
        value_da, q_da, t_da = (self._attr(f"{do}.{leaf}"), self._attr(f"{do}.q"),
                                self._attr(f"{do}.t"))

        def apply(srv: Any) -> None:
            ts = lib.Timestamp_create()
            lib.Timestamp_setTimeInMilliseconds(ts, ms)
            lib.IedServer_updateTimestampAttributeValue(srv, t_da, ts)
            lib.IedServer_updateQuality(srv, q_da, quality)
            setter(srv, value_da)
            lib.Timestamp_destroy(ts)

        with self._lock:
            self._update(locked, apply)


def _float(srv: Any, da: Any, value: float) -> None:
    lib.IedServer_updateFloatAttributeValue(srv, da, value)


def _dbpos(srv: Any, da: Any, state: int) -> None:
    lib.IedServer_updateDbposValue(srv, da, state)


# -- run in a child process ------------------------------------------------------------------------
# libiec61850 through SWIG directors is not safe to tear down in the test process (seen: a
# segmentation fault when the interpreter exits, heap corruption now and then), so the tests
# run the device in a child process and drive it with one JSON request per line on stdin.
def _serve(port: int) -> None:
    device = SimDevice(port)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        result: Any = None
        try:
            if op == "start":
                device.start()
            elif op == "stop":
                device.stop()
            elif op == "set_float":
                device.set_float(request["reference"], request["value"],
                                 quality=request["quality"], when=_when(request["when"]))
            elif op == "set_dbpos":
                device.set_dbpos(request["reference"], request["state"],
                                 quality=request["quality"], when=_when(request["when"]))
            elif op == "set_bool":
                device.set_bool(request["reference"], request["value"],
                                quality=request["quality"], when=_when(request["when"]))
            elif op == "flags":
                device.deny, device.fail = request["deny"], request["fail"]
            elif op == "operated":
                result = device.operated
            elif op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                os._exit(0)  # no teardown of the library (see above)
            reply = {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - reported to the test
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), flush=True)
    os._exit(0)


def _when(ms: float | None) -> dt.datetime | None:
    return None if ms is None else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


class DeviceProcess:
    """The simulated device in a child process, with SimDevice's interface for the tests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._deny = self._fail = False
        root = Path(__file__).resolve().parents[2]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.iec61850_device", str(port)], cwd=root,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def _call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the device process ended (exit {self.proc.wait(5)})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply.get("result")

    def start(self) -> None:
        self._call("start")

    def stop(self) -> None:
        self._call("stop")

    def destroy(self) -> None:
        if self.proc.poll() is None:
            try:
                self._call("quit")
            except (RuntimeError, OSError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def set_float(self, reference: str, value: float, *, quality: int = 0,
                  when: dt.datetime | None = None) -> None:
        self._call("set_float", reference=reference, value=value, quality=quality,
                   when=None if when is None else when.timestamp() * 1000)

    def set_dbpos(self, reference: str, state: str, *, quality: int = 0,
                  when: dt.datetime | None = None) -> None:
        self._call("set_dbpos", reference=reference, state=state, quality=quality,
                   when=None if when is None else when.timestamp() * 1000)

    def set_bool(self, reference: str, value: bool, *, quality: int = 0,
                 when: dt.datetime | None = None) -> None:
        self._call("set_bool", reference=reference, value=value, quality=quality,
                   when=None if when is None else when.timestamp() * 1000)

    @property
    def deny(self) -> bool:
        return self._deny

    @deny.setter
    def deny(self, value: bool) -> None:
        self._deny = value
        self._call("flags", deny=self._deny, fail=self._fail)

    @property
    def fail(self) -> bool:
        return self._fail

    @fail.setter
    def fail(self, value: bool) -> None:
        self._fail = value
        self._call("flags", deny=self._deny, fail=self._fail)

    @property
    def operated(self) -> list[tuple[str, bool | float]]:
        return [(name, value) for name, value in self._call("operated")]


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
