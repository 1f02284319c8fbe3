"""Event records as one line of text each: the live echo and the simulate timeline."""

from __future__ import annotations

from typing import Any


def _mmss(t: float) -> str:
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m):02d}:{s:04.1f}"


def segment_number(index: int, total: int | None) -> str:
    """Segments are numbered from 1 for people, everywhere: "2/3" (or "2" without a total)."""
    return f"{index + 1}/{total}" if total else f"{index + 1}"


def format_event(r: dict[str, Any], total: int | None = None) -> str | None:
    """One record as a line; `total`: the plan's segment count, for "segment 2/3" (a
    record's own "of" field wins)."""
    kind = r["kind"]
    t = _mmss(float(r["t_s"]))
    if kind == "segment":
        if r.get("index") is None:
            return f"{t}  segment   end of profile"
        index, of = r["index"], r.get("of")
        number = (
            segment_number(index, of if isinstance(of, int) else total)
            if isinstance(index, int)
            else str(index)
        )
        line = (
            f"{t}  segment   {number} {r['label']}: {r['segment_kind']} "
            f"{r['target_kmh']:.2f} km/h for {_mmss(r['duration_s'])}"
        )
        if "cadence_spm" in r:
            line += f"; metronome cue {r['cadence_spm']:g} steps/min"
        if "incline_pct" in r and r.get("incline_driven") is True:
            line += f"; incline driven to {r['incline_pct']:g} %"
        elif "incline_pct" in r:
            # no actuator drives this machine's incline: the operator must, and must be told
            line += f"; INCLINE {r['incline_pct']:g} %: set it by hand (treadctl does not drive it)"
        return line
    if kind == "incline_fault":
        stops = "; the belt stops" if r.get("belt_stops") else ""
        actual = r.get("actual_pct")
        at = f"; position {actual:.1f} %" if isinstance(actual, int | float) else ""
        detail = f" ({r['detail']})" if r.get("detail") else ""
        return f"{t}  incline   FAULT {r['reason']}{detail}{at}; relays off, reset first{stops}"
    if kind == "transition":
        why = ", ".join(r["reasons"]) or "-"
        detail = f" ({r['detail']})" if r.get("detail") else ""
        arrow = f"{r['old']} -> {r['new']}" if r["old"] != r["new"] else f"{r['new']} (+reason)"
        return f"{t}  interlock {arrow}: {why}{detail}"
    if kind == "command":
        verdict = "accepted" if r["accepted"] else "REFUSED"
        arg = ""
        if "speed_kmh" in r:
            arg = f" {r['speed_kmh']:.2f} km/h"
        if "direction" in r:
            arg = f" {r['direction']}"
        detail = f": {r['detail']}" if r.get("detail") else ""
        return f"{t}  command   {r['command']}{arg} from {r['source']}: {verdict}{detail}"
    if kind in ("read_failed", "write_failed"):
        return f"{t}  comms     {kind.replace('_', ' ')}: {r['reason']}"
    if kind == "read_recovered":
        return f"{t}  comms     {r['source']} answering again"
    if kind == "warnings":
        return f"{t}  notice    {'; '.join(r['warnings']) or 'cleared'}"
    if kind == "warning":
        return f"{t}  WARNING   {r['text']}"
    if kind == "drive_fault":
        return f"{t}  drive     fault {r['code']}: {r['text']}"
    if kind == "drive_warning":
        if not r["code"]:
            return f"{t}  drive     warning cleared"
        return f"{t}  drive     WARNING {r['code']}: {r['text']}"
    if kind == "drive_fault_reset":
        return f"{t}  drive     fault reset pulsed (code {r['code']}) on {r['source']}'s reset"
    if kind == "controller_error":
        return f"{t}  ERROR     controller error: {r['error']}"
    if kind == "fault_injected":
        return f"{t}  SIM       injected {r['action']}"
    if kind == "connect":
        return (
            f"{t}  connect   {r['drive']}, {r['inputs']}; drive comm-loss watchdog "
            f"{r['watchdog_s']} s ({r['watchdog_action']})"
        )
    if kind == "session_start":
        return (
            f"{t}  session   {r['profile']} for {r['patient']}: {r['segments']} segments, "
            f"{_mmss(r['planned_s'])} planned, loop {r['loop_hz']:g} Hz"
        )
    if kind == "session_end":
        return f"{t}  session   ended: {r['outcome']}"
    if kind == "operator_attached":
        return f"{t}  operator  console {r['client']} attached"
    if kind == "operator_detached":
        return f"{t}  operator  console {r['client']} detached"
    if kind == "sim_input":
        return f"{t}  SIM       {r['input']} set to {r['value']:g} by {r['client']}"
    if kind == "remote_request":
        speed = f" {r['speed_kmh']:.2f} km/h" if r.get("speed_kmh") is not None else ""
        return (
            f"{t}  remote    {r['action']}{speed} from {r['origin']}: waiting for the local "
            f"operator's confirmation (request {r['ref']})"
        )
    if kind == "broker_connected":
        drops = r.get("dropped_telemetry", 0)
        extra = f"; {drops} telemetry messages dropped meanwhile" if drops else ""
        return f"{t}  mqtt      connected to {r['host']}:{r['port']}{extra}"
    if kind == "broker_lost":
        return f"{t}  mqtt      broker lost ({r['reason']}): retrying; the belt is unaffected"
    if kind == "broker_unreachable":
        where = f"{r['host']}:{r['port']}"
        return f"{t}  mqtt      broker {where} unreachable ({r['reason']}): retrying"
    if kind == "remote_refused":
        return f"{t}  mqtt      remote {r.get('action') or '?'} refused: {r['reason']}"
    return None
