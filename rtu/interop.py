"""``rtu interop``: the IEC 60870-5-101/104 interoperability list of a configuration.

The list a utility asks for at commissioning (clause 9 of IEC 60870-5-101 and -104): network
configuration, physical and link layer (101), application layer field sizes, each type
identification with the causes of transmission the outstation uses with it, the basic
application functions and the 104 parameters. It is built from the tables the code itself
runs on, so it follows the code:

* monitor types: ``MONITOR_TYPES`` of the point kinds the configuration has, the interrogation
  groups its points are in (``interrogation_cot``/``counter_cot``), and ``ORIGIN_COT`` for the
  causes of spontaneous and return-information events;
* control and system types: the outstation's dispatch table (``HANDLERS``, including
  ``COMMAND_KINDS``); the causes each handler answers with are listed here in
  :data:`ANSWER_COTS`, and tests/unit/test_interop.py sends every type with every cause to an
  outstation and checks that what it answers is exactly what the list says;
* parameters: the configuration (k, w, t0-t3, port; link and serial settings; field sizes;
  select timeout; groups).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Final

from rtu.config import AppConfig
from rtu.frozen import frozen
from rtu.iec.asdu.codec import PROFILE_104
from rtu.iec.asdu.types import (
    CP24_EQUIVALENT,
    TYPES_101_ONLY,
    Cot,
    TypeId,
    counter_cot,
    interrogation_cot,
)
from rtu.iec.outstation import COMMAND_KINDS, HANDLERS, MONITOR_TYPES
from rtu.iec.outstation.cyclic import cyclic_period
from rtu.iec.outstation.mapping import ORIGIN_COT, PROTECTION_TYPES
from rtu.iec.outstation.settings import ClockSyncMode, CommandAgeAction, OutstationConfig
from rtu.points.model import ChangeOrigin, Point, PointKind
from rtu.sources.iec61850.config import IEC61850
from rtu.sources.simulated.config import SIM_SOURCE
from rtu.sources.switchgear.config import (
    SWITCHGEAR,
    BreakerConfig,
    SwitchgearConfig,
    TapChangerConfig,
)

# The causes each control-direction handler answers with (positive and negative confirmations
# of the same cause; 44-47 mirror what cannot be served). Checked against the outstation.
_COMMAND_ANSWERS: Final = (Cot.ACTIVATION_CON, Cot.DEACTIVATION_CON, Cot.ACTIVATION_TERMINATION)
ANSWER_COTS: Final[dict[TypeId, tuple[Cot, ...]]] = {
    TypeId.C_IC_NA_1: (Cot.ACTIVATION_CON, Cot.DEACTIVATION_CON, Cot.ACTIVATION_TERMINATION),
    TypeId.C_CI_NA_1: (Cot.ACTIVATION_CON, Cot.ACTIVATION_TERMINATION),
    TypeId.C_RD_NA_1: (),  # answered with the point's own type (monitor direction), cause 5
    TypeId.C_CS_NA_1: (Cot.ACTIVATION_CON,),
    TypeId.C_TS_NA_1: (Cot.ACTIVATION_CON,),
    TypeId.C_TS_TA_1: (Cot.ACTIVATION_CON,),
    TypeId.C_RP_NA_1: (Cot.ACTIVATION_CON,),
    TypeId.C_CD_NA_1: (Cot.ACTIVATION_CON,),  # 101 only; a loaded delay (3) is not answered
    # parameter loading: a threshold is loaded (6 -> 7); P_AC_NA_1 also deactivates (8 -> 9)
    TypeId.P_ME_NA_1: (Cot.ACTIVATION_CON,),
    TypeId.P_ME_NB_1: (Cot.ACTIVATION_CON,),
    TypeId.P_ME_NC_1: (Cot.ACTIVATION_CON,),
    TypeId.P_AC_NA_1: (Cot.ACTIVATION_CON, Cot.DEACTIVATION_CON),
    **{t: _COMMAND_ANSWERS for t in COMMAND_KINDS},
}
# what the master sends with each of them
REQUEST_COTS: Final[dict[TypeId, tuple[Cot, ...]]] = {
    TypeId.C_IC_NA_1: (Cot.ACTIVATION, Cot.DEACTIVATION),
    TypeId.C_RD_NA_1: (Cot.REQUEST,),
    TypeId.C_CD_NA_1: (Cot.SPONTANEOUS, Cot.ACTIVATION),  # 3: the delay, 6: acquisition
    TypeId.P_AC_NA_1: (Cot.ACTIVATION, Cot.DEACTIVATION),
    **{t: (Cot.ACTIVATION, Cot.DEACTIVATION) for t in COMMAND_KINDS},
}
# file transfer (types 120-127, [files]; rtu/iec/outstation/files.py): each type, its
# direction and its causes. Checked against the outstation too.
FILE_TRANSFER_TYPES: Final[tuple[tuple[TypeId, str, tuple[Cot, ...]], ...]] = (
    (TypeId.F_FR_NA_1, "monitor", (Cot.FILE_TRANSFER,)),
    (TypeId.F_SR_NA_1, "monitor", (Cot.FILE_TRANSFER,)),
    (TypeId.F_SC_NA_1, "control", (Cot.REQUEST, Cot.FILE_TRANSFER)),
    (TypeId.F_LS_NA_1, "monitor", (Cot.FILE_TRANSFER,)),
    (TypeId.F_AF_NA_1, "control", (Cot.FILE_TRANSFER,)),
    (TypeId.F_SG_NA_1, "monitor", (Cot.FILE_TRANSFER,)),
    (TypeId.F_DR_TA_1, "monitor", (Cot.REQUEST,)),
    (TypeId.F_SC_NB_1, "control", (Cot.FILE_TRANSFER,)),
)
_FILE_TYPES: Final = frozenset(t for t, _, _ in FILE_TRANSFER_TYPES)
NEGATIVE_COTS: Final = (Cot.UNKNOWN_TYPE_ID, Cot.UNKNOWN_CAUSE, Cot.UNKNOWN_COMMON_ADDRESS,
                        Cot.UNKNOWN_IOA)
FORMATS: Final = ("md", "html")


@frozen
class Section:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def _cots(cots: Iterable[Cot]) -> str:
    return ", ".join(f"{int(c)} {c.name}" for c in sorted(set(cots)))


def resettable(point: Point) -> bool:
    """Can a counter interrogation with reset (FRZ 2, 3) set ``point`` back to zero? The
    simulated counters can (rtu/sources/simulated); meters' registers cannot."""
    return point.kind is PointKind.COUNTER and point.source == SIM_SOURCE


def monitor_causes(config: AppConfig) -> dict[TypeId, set[Cot]]:
    """The monitor-direction types this configuration reports, each with its causes."""
    points = [p for p in config.points if not p.kind.is_command]
    feedback = {p.feedback for p in config.points if p.feedback}
    group_periods = dict(config.station.cyclic_groups)
    background = config.station.background_scan > 0
    causes: dict[TypeId, set[Cot]] = {TypeId.M_EI_NA_1: {Cot.INITIALIZED}}
    for point in points:
        if point.kind.is_protection:  # events only: never interrogated, read or cyclic
            causes.setdefault(PROTECTION_TYPES[point.kind], set()).add(
                ORIGIN_COT[ChangeOrigin.FIELD])
            continue
        plain, tagged = MONITOR_TYPES[point.kind]
        answers = causes.setdefault(plain, set())
        answers.add(Cot.REQUEST)  # C_RD_NA_1
        if point.kind is PointKind.COUNTER:
            answers.add(counter_cot(5))
            answers.update(counter_cot(g) for g in point.groups if 1 <= g <= 4)
        else:
            answers.add(interrogation_cot(20))
            answers.update(interrogation_cot(20 + g) for g in point.groups)
            if cyclic_period(point, group_periods) > 0:
                answers.add(Cot.PERIODIC)
            if background:
                answers.add(Cot.BACKGROUND)
        events = causes.setdefault(tagged, set())
        events.add(ORIGIN_COT[ChangeOrigin.FIELD])
        if point.name in feedback or resettable(point):  # a reset is return information
            events.add(ORIGIN_COT[ChangeOrigin.REMOTE_COMMAND])
    return causes


def control_types(config: AppConfig) -> list[TypeId]:
    """The control-direction types the outstation serves for this configuration: every
    system command, and the commands of the command kinds it has points of."""
    kinds = {p.kind for p in config.points if p.kind.is_command}
    return sorted(t for t in HANDLERS if t not in _FILE_TYPES  # their own section
                  and (t not in COMMAND_KINDS or COMMAND_KINDS[t] in kinds)
                  and (t not in TYPES_101_ONLY or config.iec101 is not None))


def cp24_rows(config: AppConfig, monitor: dict[TypeId, set[Cot]]) -> list[tuple[str, str]]:
    """A 101 line with time_tag = "cp24": the CP24Time2a types its events go out as, and the
    spontaneous clock synchronisation at each change of the hour."""
    i101 = config.iec101
    if i101 is None or i101.time_tag != "cp24":
        return []
    rows = [(f"{int(CP24_EQUIVALENT[t])} {CP24_EQUIVALENT[t].name} (101; {t.name} on 104)",
             _cots(c)) for t, c in sorted(monitor.items()) if t in CP24_EQUIVALENT]
    rows.append((f"{int(TypeId.C_CS_NA_1)} C_CS_NA_1 (101)",
                 ("3 SPONTANEOUS: the full time at each change of the hour and when the link "
                  "comes up (CP24 hour reference)")))
    return rows


def sections(config: AppConfig) -> list[Section]:
    out: list[Section] = []
    station = config.station
    i104, i101 = config.iec104, config.iec101
    # -- network and link ------------------------------------------------------------------
    network = []
    if i104 is not None:
        network.append(("IEC 60870-5-104", f"TCP, listening on {i104.host}:{i104.port}, at most "
                        f"{i104.max_connections} connections"
                        + (", TLS (IEC 62351-3)" if i104.tls else "")
                        + (f", {len(i104.redundancy_groups)} redundancy groups"
                           if i104.redundancy_groups else "")))
    if i101 is not None:
        network.append(("IEC 60870-5-101", f"serial line {i101.serial.device}, "
                        f"{i101.link.mode.value} transmission"
                        + (" (point-to-point)" if i101.link.mode.value == "balanced" else "")))
    out.append(Section("Network configuration", ("protocol", "configuration"), tuple(network)))
    if i101 is not None:
        s, link = i101.serial, i101.link
        out.append(Section("Physical layer (101)", ("parameter", "value"), (
            ("transmission speed", f"{s.baudrate} bit/s"),
            ("character", f"{s.bytesize} data bits, parity {s.parity}, {s.stopbits:g} stop bits"),
            ("RS-485 mode", "kernel RS-485" if s.rs485 else "as the adapter does it"),
        )))
        out.append(Section("Link layer (101)", ("parameter", "value"), (
            ("transmission procedure", link.mode.value),
            ("frame format", "FT1.2: single character E5, fixed and variable length frames"),
            ("address field of the link", f"{link.address_size} octet(s)"
             + (f", address {link.address}" if link.address_size else " (not present)")),
            ("master's link address (balanced)", str(link.remote_address)),
            ("single character E5 as ACK/NACK", "yes" if link.single_char_ack else "no"),
            ("maximum frame length L", "255 octets"),
            ("repeat timeout / repeats", f"{link.repeat_timeout:g} s / {link.max_repeats}"),
            ("link test interval", f"{link.test_interval:g} s"),
        )))
    # -- application layer -------------------------------------------------------------------
    sizes = []
    if i104 is not None:
        sizes.append(("104", "2 octets (originator address)", "2 octets", "3 octets",
                      str(PROFILE_104.max_asdu_length)))
    if i101 is not None:
        profile = i101.profile()
        sizes.append(("101", f"{i101.cot_size} octet(s)"
                      + (" (originator address)" if i101.cot_size == 2 else ""),
                      f"{i101.ca_size} octet(s)", f"{i101.ioa_size} octet(s)",
                      str(profile.max_asdu_length)))
    out.append(Section("Application layer", ("link", "cause of transmission", "common address",
                                             "information object address",
                                             "maximum ASDU length"), tuple(sizes),
                       f"common address of this station: {station.common_address}"
                       + _other_stations(config) + "; the "
                       "broadcast address is accepted for interrogation, counter interrogation, "
                       "clock synchronisation and reset process"))
    monitor = monitor_causes(config)
    out.append(Section("Process and system information in monitor direction",
                       ("type", "causes of transmission"),
                       tuple((f"{int(t)} {t.name}", _cots(c)) for t, c in sorted(monitor.items()))
                       + tuple(cp24_rows(config, monitor))))
    control = control_types(config)
    out.append(Section("Control and system information in control direction",
                       ("type", "causes received", "causes answered"),
                       tuple((f"{int(t)} {t.name}",
                              _cots(REQUEST_COTS.get(t, (Cot.ACTIVATION,))),
                              _cots(ANSWER_COTS[t]) or "the point's value in its monitor "
                              "type, 5 REQUEST") for t in control),
                       "every control-direction ASDU that cannot be served is answered with its "
                       "cause mirrored negatively or with " + _cots(NEGATIVE_COTS)
                       + "; a command type not listed (no point of its kind) is answered "
                       "47 UNKNOWN_IOA, any other type 44 UNKNOWN_TYPE_ID"))
    if config.section("files") is not None:
        out.append(Section("File transfer", ("type", "direction", "causes of transmission"),
                           tuple((f"{int(t)} {t.name}", direction, _cots(cots))
                                 for t, direction, cots in FILE_TRANSFER_TYPES),
                           "call directory: F_SC_NA_1 with cause 5, SCQ 0 (IOA of [files] ioa, "
                           "NOF 0); select section (SCQ 5) and deactivate section (SCQ 7, "
                           "answered F_LS_NA_1 LSQ 4) offered; delete file (SCQ 4) refused "
                           "(error 3); out-of-sequence calls and acknowledgements are mirrored "
                           "negatively with the error code in SCQ/AFQ bits 4-7"))
    # -- basic application functions ---------------------------------------------------------
    groups = sorted({g for p in config.points if not p.kind.is_command
                     and p.kind is not PointKind.COUNTER for g in p.groups})
    counter_groups = sorted({g for p in config.points if p.kind is PointKind.COUNTER
                             for g in p.groups})
    select_required = any(p.select_required for p in config.points)
    functions = [
        ("station initialisation", (f"M_EI_NA_1 after start-up, COI "
                                    f"{station.initialisation_cause} (0: local power on); "
                                    "remote initialisation: no")),
        ("cyclic data transmission", _cyclic_text(config)),
        ("read procedure", "yes (C_RD_NA_1 on any monitored point but a protection event, "
                           + "which answers 47 UNKNOWN_IOA)"),
        ("spontaneous transmission", "yes, with CP56Time2a time tags"
         + ("; on 101 CP24Time2a (types 2-19, time_tag = cp24)"
            if i101 is not None and i101.time_tag == "cp24" else "")),
        ("events lost indication", _events_lost_text(config)),
        ("general interrogation", "station (QOI 20) and groups "
         + (", ".join(map(str, groups)) if groups else "1-16 (none configured)")),
        ("clock synchronisation", _clock_text(station)),
        ("command transmission", "direct execute and select-before-operate"
         + (" (required on some points)" if select_required else "")
         + f"; select timeout {station.select_timeout:g} s; "
         + command_age_text(station) + "; QU: short/long pulse, persistent"),
        ("negative ACT_TERM (an extension of the standard's P/N use that many masters accept)",
         negative_termination_text(config)),
        ("transmission of integrated totals", "mode C: freeze (FRZ 1, without reset) and read "
         "(FRZ 0) by counter interrogation C_CI_NA_1, general" + (", groups " + ", ".join(
             map(str, counter_groups)) if counter_groups else "")
         + "; changes also reported spontaneously (M_IT_TB_1); freeze with reset (FRZ 2) and "
         "reset (FRZ 3): " + (", ".join(p.name for p in config.points if resettable(p))
                              + " are reset (a reset is reported with cause 11), other "
                              "counters are frozen and read without reset"
                              if any(resettable(p) for p in config.points)
                              else "no counter here can be reset (answered negatively)")),
        ("parameter loading", ("P_ME_NA_1, P_ME_NB_1, P_ME_NC_1: threshold (KPA 1), smoothing "
                               "factor as a filter time constant in seconds (KPA 2), low and "
                               "high limit for transmission (KPA 3, 4: every crossing is "
                               "reported) of measured values, in operation at once unless POP; "
                               "kept across restarts; " + (
                                   "reported on interrogation (COT 20-36, after the monitored "
                                   "data)" if station.parameters_in_gi else
                                   "not reported on interrogation (parameters_in_gi)"))),
        ("parameter activation", ("P_AC_NA_1: QPA 1 (all) and 2 (one object) activate (6) or "
                                  "deactivate (8) a point's loaded parameters; deactivated, the "
                                  "configured deadband applies, without smoothing or limits")),
        ("test procedure", "yes (C_TS_NA_1, C_TS_TA_1)"),
        ("file transfer", "in monitor direction: directory, the sequence-of-events export "
         "(NOF 3), the files of [files] directory, query log (F_SC_NB_1); sections and "
         "segments with checksums; no file from the master"
         if config.section("files") is not None else "no"),
        ("acquisition of transmission delay", "101: C_CD_NA_1 activation answered with the send "
         "time plus the time spent in the outstation; a delay sent spontaneously (3) is added "
         "to the next clock synchronisation on that line; 104: no (44)"
         if i101 is not None else "no"),
        ("reset process", ("C_RP_NA_1: QRP 1 (general reset: the service restarts), QRP 2 "
                           "(reset of the time-tagged event buffer)")),
    ]
    if station.command_originators:
        functions.append(("command originators", "commands, parameter loading and counter "
                          "resets accepted only from originator "
                          "addresses " + ", ".join(map(str, sorted(station.command_originators)))))
    out.append(Section("Basic application functions", ("function", "supported"),
                       tuple(functions)))
    if i104 is not None:
        a = i104.apci
        out.append(Section("IEC 60870-5-104 parameters", ("parameter", "value"), (
            ("k (maximum unacknowledged I-frames sent)", str(a.k)),
            ("w (latest acknowledge after receiving w I-frames)", str(a.w)),
            ("t0 (connection establishment)", f"{a.t0:g} s"),
            ("t1 (send or test APDUs)", f"{a.t1:g} s"),
            ("t2 (acknowledge without data)", f"{a.t2:g} s"),
            ("t3 (test frames in idle state)", f"{a.t3:g} s"),
            ("send coalescing (send_delay_ms)",
             f"events held up to {i104.send_delay_ms:g} ms after a write (answers and GI "
             "are not)" if i104.send_delay_ms else "off: events sent in the loop turn that "
             "made them"),
            ("port", str(i104.port)),
        )))
    return out


def _events_lost_text(config: AppConfig) -> str:
    """Which single point tells each station's masters that events of it were lost."""
    station = config.station
    by_ioa = {p.ioa: p for p in config.points}
    own = by_ioa.get(station.events_lost_ioa) if station.events_lost_ioa else None
    parts = [f"IOA {p.ioa} at common address {p.common_address}"
             for p in (by_ioa[i] for i in station.station_events_lost_ioas if i in by_ioa)]
    if own is None and not parts:
        return "no (no events lost point configured)"
    text = ("M_SP_TB_1 ON when an event queue dropped events of the station, OFF once every "
            "master group that lost them has been answered a station interrogation of it; ")
    if own is not None:
        text += (f"IOA {own.ioa} at common address {station.common_address}"
                 + (" (and for every station without its own)" if parts else ""))
    return text + ("; " if own is not None and parts else "") + "; ".join(parts)


def _other_stations(config: AppConfig) -> str:
    """The further logical stations (a point's own common_address), each answering for its
    own points."""
    others = sorted({p.common_address for p in config.points
                     if p.common_address and p.common_address != config.station.common_address})
    if not others:
        return ""
    return ("; further logical stations at common addresses " + ", ".join(map(str, others))
            + ", each answering interrogations, reads and commands for its own points")


def _cyclic_text(config: AppConfig) -> str:
    groups = dict(config.station.cyclic_groups)
    cyclic = [p for p in config.points if cyclic_period(p, groups) > 0]
    parts = []
    if cyclic:
        periods = sorted({cyclic_period(p, groups) for p in cyclic})
        parts.append(f"periodic (cause 1, untagged types): {len(cyclic)} points every "
                     + ", ".join(f"{t:g}" for t in periods) + " s")
    if config.station.background_scan > 0:
        parts.append(f"background scan (cause 2): every monitored point other than counters "
                     f"once in {config.station.background_scan:g} s")
    if not parts:
        return "no"
    return "; ".join(parts) + " (on unbalanced 101: class 2 data)"


def command_age_text(station: OutstationConfig) -> str:
    """The maximum delay of a time-tagged command ([station] max_command_age), as the list
    states it."""
    if not station.max_command_age:
        return "maximum command age (C_xx_TA_1): not checked (max_command_age 0)"
    answer = ("negative ACT_CON" if station.command_age_action is CommandAgeAction.REFUSE
              else "not answered")
    unsynchronised = ("checked against our clock also while it is not synchronised"
                      if station.check_age_unsynchronised
                      else "not checked while our clock is not synchronised")
    return (f"maximum command age (C_xx_TA_1, select and execute): {station.max_command_age:g} s "
            f"against station time, either way; an older, future or IV-tagged command is not "
            f"executed ({answer}); {unsynchronised}")


def negative_termination_text(config: AppConfig) -> str:
    """Which commands may end with a negative ACT_TERM (after a positive ACT_CON), and why: the
    standard's P/N bit confirms or refuses an activation; a negative termination is an
    extension. Where it is configurable (switchgear's ``negative_termination``) the list says
    for which points it is on and off."""
    commands = [p for p in config.points if p.kind.is_command]
    relay_names = {r.name for r in config.relays}
    switchgear = config.section(SWITCHGEAR)
    devices: list[BreakerConfig | TapChangerConfig] = (
        [*switchgear.breakers, *switchgear.tap_changers]
        if isinstance(switchgear, SwitchgearConfig) else [])
    parts = []
    on = [d.command for d in devices if d.negative_termination]
    off = [d.command for d in devices if not d.negative_termination]
    if devices:
        answers = []
        if on:
            answers.append(f"negative for {', '.join(on)}")
        if off:
            answers.append(f"positive for {', '.join(off)} (negative_termination = false: "
                           "the position tells)")
        parts.append("end state (breaker) or step (tap changer) not reached within its "
                     "supervision time: " + "; ".join(answers))
    relays = [p.name for p in commands if p.target in relay_names]
    if relays:
        parts.append("a relay output that does not execute (driver fault, local control, "
                     "feedback input not confirming in time): negative for " + ", ".join(relays))
    coils = [d.command for d in devices]
    if coils:
        parts.append("a coil driver fault: negative for " + ", ".join(coils))
    forwarded = [p.name for p in commands if p.target == IEC61850]
    if forwarded:
        parts.append("a negative or missing CommandTermination of an IEC 61850 control "
                     "(enhanced security): negative for " + ", ".join(forwarded))
    if not parts:
        return "never (no command here ends with a negative ACT_TERM)"
    return "; ".join(parts) + ("; every other refusal or failure is a negative ACT_CON")


def _clock_text(station: OutstationConfig) -> str:
    mode = ("steps the system clock (originators " + ", ".join(
        map(str, sorted(station.command_originators))) + ")"
        if station.clock_sync is ClockSyncMode.SYSTEM
        else "an offset on the time tags the outstation creates, not on device time stamps")
    zone = "local time with SU" if station.local_time else "UTC"
    iv = ("; IV on our time tags while neither the system clock (NTP) nor a master has "
          "synchronised the clock" if station.invalid_time_until_synced else "")
    return f"yes (C_CS_NA_1): {mode}; time tags in {zone}{iv}"


def render(config: AppConfig, fmt: str = "md") -> str:
    parts = sections(config)
    title = f"IEC 60870-5-101/104 interoperability list: {config.source}"
    if fmt == "html":
        body = [f"<h1>{html.escape(title)}</h1>"]
        for s in parts:
            body.append(f"<h2>{html.escape(s.title)}</h2>")
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in s.columns)
                        + "</tr>")
            body.extend("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>"
                        for row in s.rows)
            body.append("</table>")
            if s.note:
                body.append(f"<p>{html.escape(s.note)}</p>")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
                + html.escape(title) + "</title></head><body>\n" + "\n".join(body)
                + "\n</body></html>")
    lines = [f"# {title}", ""]
    for s in parts:
        lines += [f"## {s.title}", "", "| " + " | ".join(s.columns) + " |",
                  "|" + "---|" * len(s.columns)]
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in s.rows]
        if s.note:
            lines += ["", s.note]
        lines.append("")
    return "\n".join(lines)
