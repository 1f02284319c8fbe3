"""The dashboard at 80x24 and 120x40, in every state that changes the key bar (issue 13):
the key bar is one row (it used to wrap at 80 with `t turned`), the SIM tag is whole on
the top line, and the event log's lines wrap instead of being cut at the chart.

Real processes in tmux (as tests/tui/test_tmux.py): `treadctl serve` on the built-in
simulator of a turn-round machine, `treadctl dashboard` driven with send-keys; the rows
are read with capture-pane and compared exactly.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_term import Served, Term, wait

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]
ROOT = Path(__file__).resolve().parents[2]

TURN = """
name = "tmux turnaround"
[[blocks]]
name = ""
  [[blocks.segments]]
  direction = "forward"
  duration_s = 3
  speed_kmh = 2.0
  [[blocks.segments]]
  direction = "backward"
  duration_s = 60
  speed_kmh = 1.0
"""

# the key bar's row, exactly, per state and terminal size
ALL_80 = "SPACE STOP s start p pause +/- speed r reset u units q quit │e estop k key"
KEYS = {
    (80, 24): {
        "latched": ALL_80,
        "running": ALL_80,
        # t is asked for now; units is the least urgent key and makes room
        "turn": "SPACE STOP t turned s start p pause +/- speed r reset q quit │e estop k key",
        "ended": "SPACE STOP u units q exit",
    },
    (120, 40): {
        "latched": " SPACE  STOP   s  start   p  pause   +/-  speed   r  reset   u  km/h|mph   "
        "q  quit  │ e  estop   k  key",
        "running": " SPACE  STOP   s  start   p  pause   +/-  speed   r  reset   u  km/h|mph   "
        "q  quit  │ e  estop   k  key",
        # the large labels would leave a key out: the short ones keep them all
        "turn": "SPACE STOP t turned s start p pause +/- speed r reset u units q quit "
        "│e estop k key",
        "ended": " SPACE  STOP   u  km/h|mph   q  exit",
    },
}
WHO = "SIM  DEMO-001 · tmux turnaround"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tml-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def standstill(top: str) -> bool:
    return "at standstill" in top and "not at standstill" not in top


def log_text(screen: str) -> str:
    """The event pane's text, rows joined: everything left of the speed chart's legend
    column, without borders and the scrollbar; whitespace collapsed."""
    rows = screen.splitlines()
    legend = next(r for r in rows if "── target" in r)
    cut = legend.index("── target")
    start = next(i for i, r in enumerate(rows) if "── target" in r)
    pane = [r[:cut] for r in rows[start:-1]]
    text = " ".join(r.strip(" │╭╮╰╯─▁▂▃▄▅▆▇█") for r in pane)
    return " ".join(text.split())


def check(term: Term, size: tuple[int, int], state: str) -> str:
    """The rows every state must show whole; the screen."""
    width, height = size
    rows = term.screen().splitlines()
    assert len(rows) == height
    assert all(len(r) <= width for r in rows)
    assert rows[-1].rstrip() == KEYS[size][state], f"{state}:\n{term.screen()}"
    assert rows[0].rstrip().endswith(WHO) or f"{WHO} · " in rows[0], rows[0]
    return term.screen()


def wait_keys(term: Term, size: tuple[int, int], state: str) -> None:
    def shown() -> bool:
        return term.screen().splitlines()[-1].rstrip() == KEYS[size][state]

    try:
        wait(shown, f"the {state} key bar")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{term.screen()}") from None


def wait_log(term: Term, said: str) -> None:
    """Wait until the event pane shows `said` whole (a cut line never does)."""
    try:
        wait(lambda: said in log_text(term.screen()), repr(said))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{term.screen()}") from None


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_key_bar_sim_tag_and_events_fit_in_every_state(
    short_dir: Path, size: tuple[int, int]
) -> None:
    profile = short_dir / "turn.toml"
    profile.write_text(TURN, encoding="utf-8")
    served = Served(short_dir, ROOT / "src/treadctl/samples/machines/sim-turn.toml", profile)
    term = Term(short_dir)
    try:
        term.start_dashboard(served.socket, *size)
        term.see("RESET REQUIRED")
        wait(lambda: standstill(term.top_line()), "the power-on standstill")
        wait_keys(term, size, "latched")
        check(term, size, "latched")
        term.keys("r")
        term.see("✓ reset")
        term.keys("s")
        term.see("START THE BELT?")
        term.keys("Enter")
        wait(lambda: "RUNNING" in term.top_line(), "RUNNING")
        wait_keys(term, size, "running")
        check(term, size, "running")
        term.see("walker turns round to face AWAY from the console: press t when turned")
        wait_keys(term, size, "turn")
        check(term, size, "turn")
        # the controller's longest event line so far, whole (it wraps in the pane)
        said = (
            "the belt keeps running forward: the walker turns to face away from the "
            "console, then the operator confirms the turn"
        )
        wait_log(term, said)
        term.keys("Space")
        term.see("SESSION ENDED")
        wait_keys(term, size, "ended")
        check(term, size, "ended")
        wait_log(term, "session ended: stopped by dashboard@")
        term.keys("q")
        wait(term.dead, "the dashboard to exit")
    finally:
        term.close()
        served.close()
