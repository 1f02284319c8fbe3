"""check, plan and profiles list: the verbs that read a session's files and move nothing
(their parsers are in cli/session.py)."""

from __future__ import annotations

import argparse
import sys

from treadctl.app import load_session
from treadctl.cli.common import EXIT_CONNECT, EXIT_OK
from treadctl.config.machine import MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.drives.reach import reach
from treadctl.protocol.checklist import checklist
from treadctl.protocol.energy import estimate_for_patient
from treadctl.protocol.plan import Plan
from treadctl.samples import profile_lines
from treadctl.store.timeline import segment_number


def check_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    plan = files.plan
    print(f"ok: {plan.profile.name}: {len(plan.segments)} segments, {plan.total_s / 60:.1f} min")
    return EXIT_OK if args.offline else _check_links(files.machine)


def _check_links(machine: MachineConfig) -> int:
    """`check` without --offline: each link the controller would open, and whether it
    can be opened now (nothing is sent); exit 3 with the reason if one cannot."""
    code = EXIT_OK
    for link in reach(machine):
        print(link.line)
        if link.problem is not None:
            print(f"treadctl check: {link.what} link: {link.problem}", file=sys.stderr)
            code = EXIT_CONNECT
    return code


def plan_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    print("\n".join(plan_lines(files.plan, files.patient, files.machine)))
    return EXIT_OK


def profiles_verb(_args: argparse.Namespace) -> int:
    print("\n".join(profile_lines()))
    return EXIT_OK


def plan_lines(plan: Plan, patient: PatientConfig | None, machine: MachineConfig) -> list[str]:
    total = len(plan.segments)
    out = [f"{plan.profile.name}: {total} segments, {plan.total_s / 60:.1f} min"]
    if machine.walker_turns:
        out.append(
            f"{machine.name}: backward walking by turning round (the belt always runs "
            "forward; the walker faces away from the console)"
        )
    else:
        out.append(f"{machine.name}: backward walking on a reversing belt")
    out.append("each segment, then its pre-start checklist (confirmed before its start):")
    for seg in plan.segments:
        extra = f", incline {seg.incline_pct:g} %" if seg.incline_pct else ""
        extra += f", cue {seg.cadence_spm:g} steps/min" if seg.cadence_spm else ""
        speed = f"{seg.target_kmh:5.2f} km/h" if seg.kind is not SegmentKind.REST else " " * 10
        number = segment_number(seg.index, total)
        out.append(
            f"  {number:>5} {seg.label:<32} {seg.kind.value:<8} {speed} "
            f"{seg.duration_s / 60:5.1f} min  rails {seg.rail_policy.value}{extra}"
        )
        box = "[ ]" if seg.kind is not SegmentKind.REST else " · "
        out += [f"        {box} {item}" for item in checklist(machine, plan, seg.index)]
    energy = estimate_for_patient(plan, patient)
    out += (
        energy.lines() if energy else ["energy: no estimate (no body_mass_kg in the patient file)"]
    )
    return out
