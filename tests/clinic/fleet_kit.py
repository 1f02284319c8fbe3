"""Synthetic treadmills for the MQTT records tests and bench: a real local SQLite store per
treadmill, written at 10 Hz by a writer thread (not a full controller), shipped by a real
Shipper over a real mosquitto to a real ingester and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mqtt"))

from mqtt_broker import ACL, Broker  # type: ignore[import-not-found]

from treadctl.clinic.mqtt_ship import MqttSink
from treadctl.clinic.ship import Shipper, ShipperThread
from treadctl.config.mqtt import BrokerConfig
from treadctl.store.db import open_db
from treadctl.store.timeutil import utc_iso

ROOT = Path(__file__).resolve().parents[2]
CLINIC_ACL = (ROOT / "examples/clinic/acl").read_text()
SITE = "clinic-a"
RATE_HZ = 10.0
PSEUDONYM_OF = "P-{i:03d}"
SECRET_NOTE = "Jane Example, born 1950"  # must never cross the wire


def make_broker(workdir: Path, treadmills: list[str]) -> Broker:
    users = {t: f"{t}-secret" for t in treadmills} | {"ingester": "ingester-secret"}
    users |= {"desk": "desk-secret"}
    return Broker(workdir, users=users, acl=ACL + "\n" + CLINIC_ACL)


def broker_config(broker: Broker, user: str, timeout_s: float = 5.0) -> BrokerConfig:
    return BrokerConfig(
        host=broker.host,
        port=broker.port,
        username=user,
        password_file=str(broker.password_file(user)),
        timeout_s=timeout_s,
        client_id=f"{user}-{uuid.uuid4().hex[:8]}",
    )


@dataclass
class Treadmill:
    """One local store with one running session, its samples written at 10 Hz."""

    name: str
    db: Path
    index: int
    written: int = 0
    session_id: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def begin(self) -> None:
        conn = open_db(self.db)
        now = utc_iso(time.time())
        pseudonym = PSEUDONYM_OF.format(i=self.index % 5)
        conn.execute(
            "INSERT INTO patients (pseudonym, comfortable_forward_kmh, notes, created, updated) "
            "VALUES (?, 3.0, ?, ?, ?)",
            (pseudonym, SECRET_NOTE, now, now),
        )
        pj = json.dumps(
            {"pseudonym": pseudonym, "comfortable_forward_kmh": 3.0, "notes": SECRET_NOTE}
        )
        cur = conn.execute(
            "INSERT INTO sessions (patient_id, patient_json, kind, profile_name, machine_name, "
            "started, status, planned_s, host, pid, heartbeat) VALUES "
            "(1, ?, 'run', 'synthetic', 'synthetic', ?, 'running', 600, ?, ?, ?)",
            (pj, now, socket.gethostname(), os.getpid(), now),
        )
        self.session_id = int(cur.lastrowid or 0)
        conn.close()
        self._thread = threading.Thread(target=self._write, name=f"writer-{self.name}", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        conn = open_db(self.db)
        t0 = time.monotonic()
        try:
            while not self._stop.is_set():
                t_s = self.written / RATE_HZ
                conn.execute(
                    "INSERT INTO samples (session_id, t_s, target_kmh, setpoint_kmh, actual_kmh, "
                    "direction, rail_left, rail_right, mode) VALUES (?, ?, 2.0, 2.0, 1.9, "
                    "'backward', 0, 0, 'normal')",
                    (self.session_id, t_s),
                )
                self.written += 1
                if self.written % 10 == 0:
                    conn.execute(
                        "UPDATE sessions SET heartbeat = ? WHERE id = ?",
                        (utc_iso(time.time()), self.session_id),
                    )
                self._stop.wait(max(0.0, t0 + self.written / RATE_HZ - time.monotonic()))
            conn.execute(
                "UPDATE sessions SET status = 'completed', ended = ?, heartbeat = ? WHERE id = ?",
                (utc_iso(time.time()), utc_iso(time.time()), self.session_id),
            )
        finally:
            conn.close()

    def end(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)


def shipper_for(
    t: Treadmill, broker: Broker, *, retry_max_s: float = 2.0, ack_timeout_s: float = 5.0
) -> ShipperThread:
    sink = MqttSink(broker_config(broker, t.name), SITE, t.name, ack_timeout_s=ack_timeout_s)
    shipper = Shipper(t.db, "", t.name, sink=sink, batch_rows=2000)
    return ShipperThread(shipper, period_s=0.5, retry_min_s=0.5, retry_max_s=retry_max_s)
