"""Shipping over a real mosquitto (password_file + acl_file) to a real ingester process and
a real PostgreSQL: exactly once through a partition and a kill -9, the ACL and the
treadmill check, pseudonym only on the wire."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
from clinic_kit import clinic_rows  # type: ignore[import-not-found]
from fleet_kit import (  # type: ignore[import-not-found]
    SECRET_NOTE,
    SITE,
    Treadmill,
    make_broker,
    shipper_for,
)
from paho.mqtt.enums import CallbackAPIVersion
from pg import PgServer  # type: ignore[import-not-found]

from treadctl.clinic.wire import ack_topic, records_topic

HERE = Path(__file__).resolve().parent
WAIT_S = 120.0
PARTITION_S = float(os.environ.get("TREADCTL_PARTITION_S", "10"))
FLEET = int(os.environ.get("TREADCTL_PARTITION_FLEET", "10"))


def wait_for(what: str, check: object, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def start_ingester(tmp: Path, broker: object, url: str) -> subprocess.Popen[bytes]:
    b = broker
    pw = b.password_file("ingester")  # type: ignore[attr-defined]
    cfg = tmp / "ingester.toml"
    cfg.write_text(
        f'[records]\nurl = "{url}"\nsite = "{SITE}"\n\n[broker]\nhost = "{b.host}"\n'  # type: ignore[attr-defined]
        f'port = {b.port}\nusername = "ingester"\npassword_file = "{pw}"\n'  # type: ignore[attr-defined]
    )
    with (tmp / "ingester.log").open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                str(HERE / "records_cli.py"),
                "records",
                "serve",
                "--clinic",
                str(cfg),
            ],
            stdout=log,
            stderr=log,
            cwd=HERE,
        )


@contextlib.contextmanager
def tap(broker: object, user: str = "desk") -> Iterator[list[tuple[str, bytes]]]:
    """Everything under treadctl/# as the desk sees it."""
    got: list[tuple[str, bytes]] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, broker.users[user])  # type: ignore[attr-defined]
    ready = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe("treadctl/#", qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    client.connect(broker.host, broker.port)  # type: ignore[attr-defined]
    client.loop_start()
    assert ready.wait(15)
    try:
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


def totals(url: str) -> dict[str, tuple[int, int, int]]:
    """Per treadmill: (sessions, samples, distinct sample seqs); {} before the schema."""
    if not clinic_rows(url, "SELECT to_regclass('samples') IS NOT NULL")[0][0]:
        return {}
    rows = clinic_rows(
        url,
        "SELECT s.treadmill_id, count(DISTINCT s.id), count(x.seq), "
        "count(DISTINCT (x.session_id, x.seq)) "
        "FROM sessions s LEFT JOIN samples x ON x.session_id = s.id GROUP BY s.treadmill_id",
    )
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


def stopped(url: str) -> list[str]:
    if not totals(url):
        return []
    return [r[0] for r in clinic_rows(url, "SELECT status FROM sessions")]


def test_partition_and_kill_9_lose_and_double_nothing(tmp_path: Path, own_pg: PgServer) -> None:
    names = [f"tm-{i:02d}" for i in range(1, FLEET + 1)]
    broker = make_broker(tmp_path / "broker", names)
    broker.start()
    url = own_pg.create_database()
    ingester = start_ingester(tmp_path, broker, url)
    fleet = [Treadmill(n, tmp_path / f"{n}.sqlite", i) for i, n in enumerate(names)]
    shippers = [shipper_for(t, broker) for t in fleet]
    try:
        with tap(broker) as seen:
            for t in fleet:
                t.begin()
            for s in shippers:
                s.start()
            wait_for("every treadmill shipping", lambda: len(totals(url)) == FLEET)
            broker.stop()  # the partition: broker and records both gone
            own_pg.stop()
            time.sleep(PARTITION_S)
            own_pg.start()
            broker.start()
            restored = time.monotonic()
            wait_for(
                "catch-up",
                lambda: all(totals(url).get(t.name, (0, 0, 0))[1] >= t.written - 20 for t in fleet),
            )
            catch_up_s = time.monotonic() - restored
            ingester.send_signal(signal.SIGKILL)  # mid-stream
            ingester.wait(30)
            time.sleep(2.0)
            ingester = start_ingester(tmp_path, broker, url)
            time.sleep(2.0)
            for t in fleet:
                t.end()
            wait_for(
                "every sample and the end of every session",
                lambda: (
                    all(totals(url).get(t.name) == (1, t.written, t.written) for t in fleet)
                    and stopped(url) == ["completed"] * FLEET
                ),
            )
        print(
            f"\npartition {PARTITION_S:g} s on {FLEET} treadmills: catch-up {catch_up_s:.1f} s; "
            f"{sum(t.written for t in fleet)} samples, 0 lost, 0 duplicated"
        )
        for t in fleet:
            assert totals(url)[t.name] == (1, t.written, t.written)
        # nothing about the patient but the pseudonym (and the numbers) crossed the wire
        assert seen, "the tap saw nothing"
        assert not any(SECRET_NOTE.encode() in p or b'"notes"' in p for _t, p in seen)
    finally:
        for s in shippers:
            s.stop()
        for t in fleet:
            t.end()
        with contextlib.suppress(ProcessLookupError):
            ingester.kill()
        ingester.wait(30)
        broker.stop()


def _publish_as(broker: object, user: str, topic: str, payload: bytes) -> int:
    """Publish QoS 1 as `user`; the PUBACK's reason code value."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, broker.users[user])  # type: ignore[attr-defined]
    codes: list[int] = []
    client.on_publish = lambda _c, _u, _mid, rc, _p: codes.append(rc.value)
    client.connect(broker.host, broker.port)  # type: ignore[attr-defined]
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(15)
        wait_for("the PUBACK", lambda: codes, 15)
        return codes[0]
    finally:
        client.disconnect()
        client.loop_stop()


def test_acl_treadmill_check_and_hostile_batches(tmp_path: Path, clinic_url: str) -> None:
    broker = make_broker(tmp_path / "broker", ["tm-01", "tm-02"])
    broker.start()
    ingester = start_ingester(tmp_path, broker, clinic_url)
    t = Treadmill("tm-01", tmp_path / "tm-01.sqlite", 0)
    shipper = shipper_for(t, broker)
    try:
        with tap(broker) as seen:
            t.begin()
            shipper.start()
            wait_for("tm-01 shipping", lambda: totals(clinic_url).get("tm-01", (0, 0, 0))[1] > 0)
            batch = next(p for topic, p in seen if topic == records_topic(SITE, "tm-01"))
            # the ACL: tm-01 may not write tm-02's topic (the broker says so, drops it)
            assert _publish_as(broker, "tm-01", records_topic(SITE, "tm-02"), batch) == 135
            # tm-01's own topic, claiming to be tm-02: the ingester refuses and says why
            forged = batch.replace(b'"treadmill":"tm-01"', b'"treadmill":"tm-02"')
            assert forged != batch
            assert _publish_as(broker, "tm-01", records_topic(SITE, "tm-01"), forged) == 0
            wait_for(
                "the refusal",
                lambda: any(
                    b"did not send this" in p for tp, p in seen if tp == ack_topic(SITE, "tm-01")
                ),
            )
            # hostile: a non-finite number, too deep, too large: refused before storing
            for bad in (
                batch.replace(b'"sent":', b'"sent":NaN,"x":', 1),
                b"[" * 100_000,
                b"x" * (9 * 1024 * 1024),
            ):
                _publish_as(broker, "tm-01", records_topic(SITE, "tm-01"), bad)
            t.end()
            wait_for(
                "the whole session, once",
                lambda: totals(clinic_url).get("tm-01") == (1, t.written, t.written),
            )
        assert "tm-02" not in totals(clinic_url)
        assert ingester.poll() is None, "the ingester died on hostile input"
        assert not any(SECRET_NOTE.encode() in p for _t, p in seen)
    finally:
        shipper.stop()
        t.end()
        ingester.kill()
        ingester.wait(30)
        broker.stop()


def test_records_ship_over_mqtt_from_a_clinic_file(tmp_path: Path, clinic_url: str) -> None:
    """`records ship --clinic FILE` with a [broker] and no url: one pass over MQTT, through
    the ingester; the password file relative to the clinic file's folder."""
    broker = make_broker(tmp_path / "broker", ["tm-01"])
    broker.start()
    ingester = start_ingester(tmp_path, broker, clinic_url)
    t = Treadmill("tm-01", tmp_path / "tm-01.sqlite", 0)
    try:
        t.begin()
        time.sleep(1.0)
        t.end()
        (tmp_path / "tm-01.password").write_text(broker.users["tm-01"] + "\n")
        clinic = tmp_path / "tm-01.toml"
        clinic.write_text(
            f'[records]\ntreadmill_id = "tm-01"\nsite = "{SITE}"\n\n[broker]\n'
            f'host = "{broker.host}"\nport = {broker.port}\nusername = "tm-01"\n'
            'password_file = "tm-01.password"\n'
        )
        argv = ["records", "ship", "--clinic", str(clinic), "--db", str(t.db)]
        log = tmp_path / "ingester.log"
        wait_for("the ingester's subscription", lambda: "subscribed" in log.read_text())
        done = subprocess.run(
            [sys.executable, str(HERE / "records_cli.py"), *argv],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            cwd=HERE,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"shipped 1 sessions ({t.written} samples" in done.stdout
        assert totals(clinic_url)["tm-01"] == (1, t.written, t.written)
    finally:
        t.end()
        ingester.kill()
        ingester.wait(30)
        broker.stop()
