"""`treadctl sim --drive`: a user's own map file against a real drive's behaviour."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

OLD_ABB = Path(__file__).parents[1] / "drives/old_maps/abb-acs355.toml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((line + "\n").encode())
        with s.makefile() as answer:
            return answer.readline().strip()


@pytest.mark.parametrize(("drive", "shown"), [(None, "map:my-abb"), ("abb-acs355", "abb-acs355")])
def test_a_map_file_runs_against_the_drive_it_names(
    tmp_path: Path, drive: str | None, shown: str
) -> None:
    mine = tmp_path / "my-abb.toml"
    mine.write_text(OLD_ABB.read_text().replace('name = "abb-acs355"', 'name = "my-abb"'))
    control = free_port()
    args = ["sim", "--map", str(mine), "--tcp", f"127.0.0.1:{free_port()}"]
    args += ["--control", f"127.0.0.1:{control}"]
    if drive is not None:
        args += ["--drive", drive]
    proc = subprocess.Popen(
        [sys.executable, "-m", "treadctl.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        status = json.loads(ask(control, "status"))
        assert status["drive"] == shown
        if drive is not None:  # the real drive's state machine, not the map's idea of it
            assert status["drive_state"] == "switch-on inhibited"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
