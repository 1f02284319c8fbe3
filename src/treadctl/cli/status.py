"""`treadctl status`, `treadctl stop` and `treadctl dashboard`: clients of a running controller."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from treadctl.api.client import ApiError, ControllerClient
from treadctl.api.messages import Action, InclineStatus, Role, Status
from treadctl.store.timeline import segment_number

EXIT_OK = 0
EXIT_REFUSED = 4
EXIT_UNREACHABLE = 3


def status_lines(status: Status, profile: str, total_segments: int | None = None) -> list[str]:
    actual = "-" if status.actual_kmh is None else f"{status.actual_kmh:.2f}"
    seg = status.segment
    lines = [
        f"{profile}: {status.mode.upper()} {status.direction.upper()}"
        + (" (session ended)" if status.ended else ""),
        f"  belt {actual} km/h, target {status.target_kmh:.2f} km/h, "
        f"command {status.setpoint_kmh:.2f} km/h, cap {status.cap_kmh:.2f} km/h",
        f"  segment {segment_number(seg.index, total_segments)}: {seg.label} ({seg.kind}), "
        f"{status.segment_remaining_s:.0f} s left"
        if seg is not None
        else "  segment: none (end of profile)",
        f"  session: {status.session_elapsed_s:.0f} s done, "
        f"{status.session_remaining_s:.0f} s left",
    ]
    if status.incline is not None:
        lines.append("  " + incline_summary(status.incline))
    if status.turn_pending:
        facing = "AWAY from the console" if status.direction == "backward" else "the console"
        lines.append(f"  walker to turn round to face {facing}, then confirm the turn (t)")
    if status.reasons:
        latched = "LATCHED: " if status.latched else ""
        detail = f" ({status.detail})" if status.detail else ""
        lines.append(f"  {latched}{'; '.join(status.reasons)}{detail}")
    for ind in status.indicators:
        lines.append(f"  [{ind.level.value:>5}] {ind.label:<13} {ind.text}")
    lines += [f"  notice: {w}" for w in status.warnings]
    return lines


def incline_summary(inc: InclineStatus) -> str:
    """The powered incline in one line: target, actual, what it does, its fault."""
    actual = "-" if inc.actual_pct is None else f"{inc.actual_pct:.1f}"
    text = f"incline: target {inc.target_pct:.1f} %, actual {actual} %, {inc.mode}"
    if inc.goal_pct is not None and abs(inc.goal_pct - inc.target_pct) > 1e-6:
        text += f" (limited to {inc.goal_pct:.1f} %)"
    if inc.faults:
        text += " · FAULT: " + "; ".join(inc.faults) + " (reset: r)"
    return text


async def _status(path: Path, as_json: bool) -> int:
    client = ControllerClient(path, Role.OBSERVER, "treadctl-status")
    try:
        welcome = await client.connect()
        async with asyncio.timeout(5.0):
            async for msg in client.messages():
                if isinstance(msg, Status):
                    if as_json:
                        print(msg.model_dump_json())
                    else:
                        lines = status_lines(
                            msg, welcome.session.profile, len(welcome.session.segments)
                        )
                        print("\n".join(lines))
                    return EXIT_OK
    finally:
        await client.close()
    print(f"treadctl status: {path}: no status received", file=sys.stderr)
    return EXIT_UNREACHABLE


async def _stop(path: Path) -> int:
    client = ControllerClient(path, Role.OBSERVER, "treadctl-stop")
    try:
        await client.connect()
        reply = await client.command(Action.STOP)
    finally:
        await client.close()
    print(f"stop: {'accepted' if reply.accepted else 'REFUSED'}: {reply.text}")
    return EXIT_OK if reply.accepted else EXIT_REFUSED


def status_main(path: Path, as_json: bool) -> int:
    try:
        return asyncio.run(_status(path, as_json))
    except (ApiError, TimeoutError) as exc:
        print(f"treadctl status: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def stop_main(path: Path) -> int:
    try:
        return asyncio.run(_stop(path))
    except (ApiError, TimeoutError) as exc:
        print(f"treadctl stop: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
