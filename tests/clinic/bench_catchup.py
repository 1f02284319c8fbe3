"""Catch-up after a week offline: how fast one treadmill's backlog ships to PostgreSQL.

    python tests/clinic/bench_catchup.py [SESSIONS] [MINUTES]

A real PostgreSQL (tests/clinic/pg.py), a treadmill file holding SESSIONS sessions (21: three
a day for a week) of MINUTES minutes at 10 Hz (30), then one shipping pass, then a second
(nothing to do). Prints figures; asserts only that everything arrived once.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from pg import PgServer  # type: ignore[import-not-found]

from treadctl.clinic.ship import Shipper
from treadctl.store.db import open_db

SAMPLE_HZ = 10


def fill(db: Path, sessions: int, minutes: float) -> int:
    conn = open_db(db)
    n = int(minutes * 60 * SAMPLE_HZ)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO patients (pseudonym, comfortable_forward_kmh, created, updated) "
        "VALUES ('BENCH-1', 3.0, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')"
    )
    for k in range(sessions):
        cur = conn.execute(
            "INSERT INTO sessions (patient_id, kind, profile_name, machine_name, started, ended, "
            "status, planned_s, host, pid, heartbeat, simulated, moved) VALUES (1, 'run', "
            "'bench', 'm', ?, ?, 'completed', ?, 'h', 1, ?, 0, 1)",
            (f"2025-01-0{1 + k // 3}T0{k % 3}:00:00.000+00:00",) * 2
            + (n / SAMPLE_HZ, f"2025-01-0{1 + k // 3}T0{k % 3}:30:00.000+00:00"),
        )
        sid = cur.lastrowid
        conn.executemany(
            "INSERT INTO samples (session_id, t_s, target_kmh, setpoint_kmh, actual_kmh, "
            "direction, rail_left, rail_right, heart_rate_bpm, mode) "
            "VALUES (?, ?, 1.2, 1.2, 1.19, 'backward', 0, 0, 100, 'running')",
            ((sid, i / SAMPLE_HZ) for i in range(n)),
        )
    conn.execute("COMMIT")
    conn.close()
    return sessions * n


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 30.0
    server = PgServer()
    try:
        server.start()
        url = server.create_database()
        with TemporaryDirectory() as tmp:
            db = Path(tmp) / f"{uuid.uuid4().hex}.sqlite"
            samples = fill(db, sessions, minutes)
            shipper = Shipper(db, url, "bench-tm")
            try:
                t0 = time.perf_counter()
                report = shipper.ship_once()
                t1 = time.perf_counter()
                again = shipper.ship_once()
                t2 = time.perf_counter()
            finally:
                shipper.close()
        assert (report.sessions, report.samples) == (sessions, samples)
        assert again.sessions == 0
        print(
            f"catch-up: {sessions} sessions, {samples} samples in {t1 - t0:.1f} s "
            f"({samples / (t1 - t0):,.0f} samples/s); a pass with nothing to ship: "
            f"{(t2 - t1) * 1000:.1f} ms"
        )
    finally:
        server.close()


if __name__ == "__main__":
    main()
