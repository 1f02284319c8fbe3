"""check, plan and profiles list: the verbs that read a session's files and move nothing
(their parsers are in cli/session.py)."""

from __future__ import annotations

import argparse
import sys

from treadctl.app import load_session
from treadctl.cli.common import EXIT_CONNECT, EXIT_OK
from treadctl.config.machine import FtmsDriveConfig, MachineConfig
from treadctl.config.patient import PatientConfig
from treadctl.config.profile import SegmentKind
from treadctl.drives.reach import LinkReach, reach
from treadctl.protocol.checklist import checklist
from treadctl.protocol.energy import estimate_for_patient
from treadctl.protocol.plan import Plan
from treadctl.samples import profile_lines
from treadctl.store.timeline import segment_number

FTMS_SCAN_MAX_S = 5.0  # how long `check` listens for the treadmill's advertising at most


def check_verb(args: argparse.Namespace) -> int:
    files = load_session(args.machine, args.profile, args.patient)
    plan = files.plan
    print(f"ok: {plan.profile.name}: {len(plan.segments)} segments, {plan.total_s / 60:.1f} min")
    return EXIT_OK if args.offline else _check_links(files.machine)


def _check_links(machine: MachineConfig) -> int:
    """`check` without --offline: each link the controller would open, and whether it
    can be opened now (nothing is sent); exit 3 with the reason if one cannot."""
    code = EXIT_OK
    links = reach(machine)
    if isinstance(machine.drive, FtmsDriveConfig):
        links.append(_ftms_reach(machine.drive))
    for link in links:
        print(link.line)
        if link.problem is not None:
            print(f"treadctl check: {link.what} link: {link.problem}", file=sys.stderr)
            code = EXIT_CONNECT
    return code


def _ftms_reach(drive: FtmsDriveConfig) -> LinkReach:
    """An FTMS treadmill's link: its Bluetooth controller opened and the treadmill heard
    advertising (nothing is connected or written). Listens for its connect timeout, at
    most FTMS_SCAN_MAX_S."""
    import asyncio  # noqa: PLC0415

    from treadctl.drives.ble_link import LinkError, TransportLink  # noqa: PLC0415 - bumble
    from treadctl.heartrate.scan import scan  # noqa: PLC0415

    where = f"Bluetooth FTMS {drive.address} through {drive.transport}"
    listen_s = min(drive.connect_timeout_s, FTMS_SCAN_MAX_S)
    link = TransportLink(drive.transport, drive.own_address, drive.connect_timeout_s)
    try:
        found = asyncio.run(scan(link, listen_s, all_devices=True))
    except LinkError as exc:
        return LinkReach("drive", where, f"cannot open the Bluetooth controller: {exc}")
    except (OSError, TimeoutError) as exc:
        return LinkReach("drive", where, f"Bluetooth scan failed: {type(exc).__name__}: {exc}")
    wanted = drive.address.upper()
    if any(f.address.upper() == wanted for f in found):
        return LinkReach("drive", where, None)
    return LinkReach(
        "drive",
        where,
        f"{drive.address} not heard advertising in {listen_s:g} s (is the treadmill on, in "
        "range, and not connected to another app? treadctl hr scan --all lists what is heard)",
    )


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
