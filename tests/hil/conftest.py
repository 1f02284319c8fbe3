from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hil"))

from runner import Hil


@pytest.fixture(params=["tcp", "rtu"])
def hil(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hil]:
    rig = Hil(str(request.param), tmp_path)
    try:
        yield rig
    finally:
        rig.close()
