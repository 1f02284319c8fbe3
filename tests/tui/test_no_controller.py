"""NO CONTROLLER says why (issue 13): a machine file whose serial port does not exist.

`treadctl run` used to show "NO CONTROLLER ... Retrying every second" forever with no
reason, and left with exit 1 after q. Now the screen names the cause (no socket, refused,
or the controller process exited with its code and last words plus what the link check
finds), stops retrying once the controller has exited, and `run` leaves with the
controller's exit code: 3 for a link that cannot be opened (README's exit table).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_rig import screen, until
from tui_term import ENV, TREADCTL, Term, wait

from treadctl.launch import EXIT_CONNECT, ControllerChild
from treadctl.tui.app import DashboardApp

ROOT = Path(__file__).resolve().parents[2]
SIM_MACHINE = ROOT / "src/treadctl/samples/machines/sim.toml"


def missing_port_machine(directory: Path) -> tuple[Path, str]:
    """The simulator's machine file with a Modbus RTU drive on a port that does not exist
    (as tests/cli/test_check_link.py builds them); (file, port)."""
    port = str(directory / "ttyUSB9")
    text = SIM_MACHINE.read_text(encoding="utf-8")
    drive = (
        '[drive]\nkind = "modbus"\nmap = "generic"\nkmh_per_hz = 0.1\n'
        f'[drive.link]\nkind = "rtu"\nport = "{port}"\nbaudrate = 115200\nparity = "N"\n'
        '[safety_inputs]\nkind = "modbus"\nlink = "drive"\n\n'
    )
    text = text[: text.index("[drive]")] + drive + text[text.index("[loop]") :]
    path = directory / "machine.toml"
    path.write_text(text, encoding="utf-8")
    return path, port


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="nc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def exited_controller(directory: Path) -> tuple[ControllerChild, Path, str]:
    """A real `treadctl serve` on the missing port, run until it has exited."""
    machine, port = missing_port_machine(directory)
    log = directory / "controller.log"
    socket = directory / "c.sock"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "treadctl.cli", "serve", "--machine", str(machine),
             "--profile", "demo-short", "--socket", str(socket)],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=ENV,
        )  # fmt: skip
    assert proc.wait(60) == EXIT_CONNECT, log.read_text(encoding="utf-8")
    return ControllerChild(proc, log, machine), socket, port


async def test_the_screen_says_the_controller_exited_and_why_and_q_gives_its_code(
    short_dir: Path,
) -> None:
    child, socket, port = exited_controller(short_dir)
    app = DashboardApp(socket, controller=child)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "Not retrying" in screen(app), "the controller's exit shown")
        text = screen(app)
        rows = text.splitlines()
        assert rows[0].startswith(" NO CONTROLLER ")
        assert rows[1].strip() == "THE CONTROLLER HAS EXITED: this screen is not current"
        # the reason wraps at 80 columns rather than being cut: read it without spaces
        end = next(i for i, r in enumerate(rows) if "Not retrying" in r)
        assert rows[end].strip().startswith("Not retrying. q: exit.")
        banner = "".join("".join(rows[2:end]).split())
        for said in ("the controller exited with code 3:", f"serial port {port} does not exist"):
            assert "".join(said.split()) in banner
        assert all(len(r) <= 80 for r in rows)
        assert "Retrying every second" not in text
        # no retry after the exit: the link worker is gone
        assert not [w for w in app.workers if w.group == "link" and not w.is_finished]
        await pilot.press("q")
    assert app.return_value == EXIT_CONNECT


async def test_no_socket_is_said_in_words(short_dir: Path) -> None:
    """A dashboard with no controller at all (no child to watch): why, and it retries."""
    app = DashboardApp(short_dir / "none.sock")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "Retrying" in screen(app), "the first failed connect")
        rows = screen(app).splitlines()
        assert rows[0].startswith(" NO CONTROLLER ")
        assert rows[1].strip() == "NO CONTROLLER ANSWERS: this screen is not current"
        assert rows[2].strip().startswith(f"no socket at {short_dir}/none.sock: the controller")
        assert rows[3].strip().startswith("Retrying every second.")


async def test_a_refusing_socket_is_said_in_words(short_dir: Path) -> None:
    """A socket file nobody listens on: what a controller that died leaves behind."""
    import socket as sk  # noqa: PLC0415

    path = short_dir / "dead.sock"
    s = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays; connecting is refused
    app = DashboardApp(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "Retrying" in screen(app), "the first failed connect")
        assert app.link_text == f"{path} refuses connections: its controller has exited"
        assert app.link_text in screen(app)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_run_with_a_missing_serial_port_exits_3_with_the_reason(
    short_dir: Path, size: tuple[int, int]
) -> None:
    """`treadctl run` in a tmux terminal, as an operator starts it."""
    machine, port = missing_port_machine(short_dir)
    term = Term(short_dir)
    status = short_dir / "exit"
    try:
        term.tmux(
            "new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), "-s", "dash",
            "-c", str(short_dir),
            f"{TREADCTL} run --machine {machine} --profile demo-short "
            f"--socket {short_dir}/c.sock; echo $? > {status}; sleep 600",
        )  # fmt: skip

        # the controller may exit before the dashboard starts (run prints the reason
        # and leaves) or after (the dashboard shows it and waits for q): both say why
        def settled() -> bool:
            return status.exists() or "THE CONTROLLER HAS EXITED" in term.screen()

        wait(settled, "the controller's exit, on the screen or in the shell", 60)
        if not status.exists():
            rows = term.screen().splitlines()
            assert rows[0].startswith(" NO CONTROLLER ")
            assert "Retrying every second" not in term.screen()
            term.keys("q")
        wait(status.exists, "run to exit", 60)
        assert status.read_text().strip() == str(EXIT_CONNECT)
        shown = "".join(term.screen().splitlines())  # the shell wraps long lines: join
        assert f"serial port {port} does not exist" in shown
        assert "exited with code 3" in shown
    finally:
        term.close()
