"""The incline row and the visible beat in a real terminal at 80x24 and 120x40 (issue 14).

Real processes in tmux (as tests/tui/test_tmux_layout.py): `treadctl serve` on the
simulator with a powered lift (sim-incline), `treadctl dashboard` driven with send-keys,
the rows read with capture-pane: the incline's target and actual, the beat lighting and
going dark at the segment's cadence, and the key bar on one row, compared exactly.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest
from tui_term import DEADLINE_S, Served, Term, wait


def standstill(top: str) -> bool:
    return "at standstill" in top and "not at standstill" not in top


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]

SLOPE = """
name = "tmux slope"
[[blocks]]
name = ""
  [[blocks.segments]]
  direction = "backward"
  duration_s = 600
  speed_kmh = 1.0
  incline_pct = 3.0
  cadence_spm = 100
"""

KEYS = {
    (80, 24): {
        # at rest with a powered incline that may go home: h, and units makes room
        "idle": "SPACE STOP s start p pause +/- speed r reset h home q quit │e estop k key",
        "running": "SPACE STOP s start p pause +/- speed r reset u units q quit │e estop k key",
    },
    (120, 40): {
        "idle": "SPACE STOP s start p pause +/- speed r reset h home u units q quit │e estop k key",
        "running": " SPACE  STOP   s  start   p  pause   +/-  speed   r  reset   u  km/h|mph   "
        "q  quit  │ e  estop   k  key",
    },
}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tmi-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pace_row(screen: str) -> str:
    rows = [r for r in screen.splitlines() if "INCLINE" in r]
    return rows[0] if rows else ""


def fits(term: Term, size: tuple[int, int], state: str) -> str:
    width, height = size
    screen = term.screen()
    rows = screen.splitlines()
    assert len(rows) == height, screen
    assert all(len(r) <= width for r in rows), screen
    assert rows[-1].rstrip() == KEYS[size][state], f"{state}:\n{screen}"
    return screen


def wait_keys(term: Term, size: tuple[int, int], state: str) -> None:
    try:
        wait(lambda: term.screen().splitlines()[-1].rstrip() == KEYS[size][state], state)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{term.screen()}") from None


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_incline_row_and_beat_fit_with_the_key_bar_on_one_row(
    short_dir: Path, size: tuple[int, int]
) -> None:
    profile = short_dir / "slope.toml"
    profile.write_text(SLOPE, encoding="utf-8")
    served = Served(short_dir, ROOT / "src/treadctl/samples/machines/sim-incline.toml", profile)
    term = Term(short_dir)
    try:
        term.start_dashboard(served.socket, *size)
        term.see("RESET REQUIRED", "INCLINE target 3.0 %  actual 0.0 %  halted")
        # a reset is refused until the power-on standstill is verified: wait for it, as
        # test_tmux.py does (on a busy machine the dashboard can be up before it)
        wait(lambda: standstill(term.top_line()), "the power-on standstill")
        term.keys("r")
        term.see("✓ reset")
        wait_keys(term, size, "idle")
        fits(term, size, "idle")
        term.keys("s")
        term.see("START THE BELT?")
        term.keys("Enter")
        term.see("RUNNING", "BEAT")
        wait_keys(term, size, "running")
        screen = fits(term, size, "running")
        assert "100/min" in pace_row(screen), screen
        # the beat lights and goes dark while the incline goes to its target (moving up
        # for 3 s only: a loaded machine may paint it holding already)
        seen: set[str] = set()
        actuals: list[float] = []
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and not ({"●", "○"} <= seen and len(actuals) > 5):
            row = pace_row(term.screen())
            seen |= {c for c in "●○" if c in row}
            words = row.split()
            if "actual" in words:
                actuals.append(float(words[words.index("actual") + 1]))
            time.sleep(0.03)
        assert {"●", "○"} <= seen, f"the beat never {'lit' if '●' not in seen else 'went dark'}"
        # up toward the target, never down (one display step of sensor noise allowed)
        assert all(b >= a - 0.1 for a, b in pairwise(actuals)), actuals
        assert all(0.0 <= a <= 3.2 for a in actuals), actuals
        # from 0.0 % at rest to its target: holding within the tolerance (0.2 %)
        wait(lambda: "holding" in pace_row(term.screen()), "the incline holding")
        words = pace_row(term.screen()).split()
        assert abs(float(words[words.index("actual") + 1]) - 3.0) <= 0.2
        fits(term, size, "running")
        term.keys("Space")
        term.see("SESSION ENDED")
        assert "BEAT" not in term.screen()
        term.keys("q")
        wait(term.dead, "the dashboard to exit")
    finally:
        term.close()
        served.close()
