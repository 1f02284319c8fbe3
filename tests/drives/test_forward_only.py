"""A drive on a turn-round machine never receives a reverse command, on any map: every
frame written is decoded (by the spec-only decoder) and none asks for reverse."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from golden_decode import decode_rtu, decode_tcp  # type: ignore[import-not-found]
from rigs import Rig, make_rig  # type: ignore[import-not-found]

from treadctl.drives.base import DriveCommand, DriveError
from treadctl.drives.regmap import BUILTIN_MAPS, load_map
from treadctl.safety.types import Direction

FWD, BWD = Direction.FORWARD, Direction.BACKWARD


async def _rig(transport: str, name: str, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    pty = request.getfixturevalue("pty_pair") if transport == "rtu" else None
    async for r in make_rig(transport, name, pty):
        yield r


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
@pytest.mark.parametrize("name", BUILTIN_MAPS)
async def test_no_reverse_frame_ever_leaves(
    name: str, transport: str, request: pytest.FixtureRequest
) -> None:
    m = load_map(name)
    async with contextlib.aclosing(_rig(transport, name, request)) as rigs:
        async for rig in rigs:
            assert rig.link is not None
            rig.drive.reverse_allowed = False
            frames: list[bytes] = []
            rig.link.sent_frames = frames
            await rig.drive.connect(0.5)
            await rig.drive.write_command(DriveCommand(True, FWD, 2.0))
            with pytest.raises(DriveError, match="reverse command refused"):
                await rig.drive.write_command(DriveCommand(True, BWD, 1.2))
            await rig.drive.write_command(DriveCommand(False, BWD, 0.0, quick_stop=True))
            await rig.drive.write_command(DriveCommand(False, BWD, 0.0))
            await rig.drive.reset_fault()
            assert rig.belt.direction is FWD
            assert rig.belt.commanded_direction is FWD
            decoded = [decode_tcp(f)[1] if transport == "tcp" else decode_rtu(f) for f in frames]
            writes = [f for f in decoded if f.function in (6, 16)]
            assert writes
            for f in writes:
                for offset, value in enumerate(f.values):
                    address = f.address + offset
                    c = m.control
                    if address == c.address and c.run_reverse != c.run_forward:
                        assert value != c.run_reverse, f
                    if address == m.reference.address and m.reference.signed_reverse:
                        assert value < 0x8000, f"a negative (reverse) reference: {f}"
