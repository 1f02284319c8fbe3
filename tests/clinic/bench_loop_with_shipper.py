"""Does shipping disturb the controller? `treadctl serve` wake-up lateness with and without
a `records ship --follow` process catching up a backlog from the same treadmill file.

    python tests/clinic/bench_loop_with_shipper.py [--seconds 30] [--backlog 21]

The same file for both: the recorder's writer thread and the shipper share it (WAL: the
shipper's reads never block the writer; its mark updates are one small transaction each).
Prints one line per case; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_catchup import fill  # type: ignore[import-not-found]
from pg import PgServer  # type: ignore[import-not-found]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SIM = ROOT / "src/treadctl/samples/machines/sim.toml"
PATIENT = ROOT / "src/treadctl/samples/patients/demo.toml"
PROFILE = """
name = "bench: steady walk"
supervision = "none"
[[blocks]]
  [[blocks.segments]]
  direction = "forward"
  duration_s = {seconds}
  speed_kmh = 2.0
"""
LATENESS = re.compile(
    r"cycles (\d+), overruns (\d+).*?wake-up lateness\s+p50 ([0-9.]+) ms\s+p99 ([0-9.]+) ms"
    r"\s+max ([0-9.]+) ms",
    re.S,
)


def serve_once(tmp: Path, db: Path, seconds: float, url: str | None) -> str:
    profile = tmp / "steady.toml"
    profile.write_text(PROFILE.format(seconds=seconds))
    argv = [
        sys.executable, "-m", "treadctl.cli", "serve", "--operator", "auto",
        "--machine", str(SIM), "--profile", str(profile), "--patient", str(PATIENT),
        "--socket", str(Path(tempfile.mkdtemp(prefix="tb-", dir="/tmp")) / "c.sock"),
        "--db", str(db), "--events", str(tmp / "e.jsonl"),
    ]  # fmt: skip
    shipper = None
    if url is not None:
        shipper = subprocess.Popen(
            [sys.executable, str(HERE / "records_cli.py"), "records", "ship", "--url", url,
             "--db", str(db), "--treadmill", "bench", "--follow"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds * 3 + 120, check=False
        ).stdout
    finally:
        if shipper is not None:
            shipper.terminate()
            shipper.wait(timeout=60)
    m = LATENESS.search(out)
    if m is None:
        raise RuntimeError(f"no cycle figures:\n{out[-3000:]}")
    cycles, overruns, p50, p99, worst = m.groups()
    return (
        f"cycles {cycles}, overruns {overruns}, wake-up lateness p50 {p50} ms, "
        f"p99 {p99} ms, max {worst} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--backlog", type=int, default=21, help="30-minute sessions to catch up")
    args = ap.parse_args()
    server = PgServer()
    try:
        server.start()
        with tempfile.TemporaryDirectory() as name:
            tmp = Path(name)
            quiet, busy = tmp / "quiet.sqlite", tmp / "busy.sqlite"
            fill(quiet, args.backlog, 30)
            fill(busy, args.backlog, 30)
            print("no shipper:          ", serve_once(tmp, quiet, args.seconds, None))
            url = server.create_database()
            print("shipper catching up: ", serve_once(tmp, busy, args.seconds, url))
    finally:
        server.close()


if __name__ == "__main__":
    main()
