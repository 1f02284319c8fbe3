"""Clinic records over MQTT under load: N synthetic treadmills at 10 Hz, one mosquitto, the
ingester (`treadctl records serve`) and PostgreSQL, all real, on this machine.

    .venv/bin/python bench/clinic_load.py                        # 200 treadmills, 30 s
    .venv/bin/python bench/clinic_load.py --sweep 50,100,200,300,400,600
    .venv/bin/python bench/clinic_load.py --treadmills 20 --duration 10

Each synthetic treadmill (not a full controller: one asyncio task and one MQTT client per
treadmill, its own broker user under the ACL of examples/clinic/acl) makes a sample every
0.1 s and ships, as the shipper does, every second (or as soon as the previous batch was
answered, if later) all the samples not yet answered, in the wire format, QoS 1, waiting
for the ingester's answer after its commit. Ingest lag: answer received minus the sample's
creation, over every sample answered in the measured window. CPU per component from
/proc/<pid>/stat (utime + stime; PostgreSQL: the postmaster and all its children). A
sweep runs each fleet size on a fresh broker, ingester and database and reports the
largest with ingest lag p99 under --max-lag-s. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/clinic"))
sys.path.insert(0, str(ROOT / "tests/mqtt"))

from fleet_kit import SITE, make_broker  # type: ignore[import-not-found]  # noqa: E402
from pg import PgServer  # type: ignore[import-not-found]  # noqa: E402

from treadctl.clinic.ship import Batch  # noqa: E402
from treadctl.clinic.wire import (  # noqa: E402
    ack_topic,
    decode_ack,
    encode_batch,
    new_batch_id,
    records_topic,
)
from treadctl.store.timeutil import utc_iso  # noqa: E402

RATE_HZ = 10.0
SHIP_PERIOD_S = 1.0
ACK_TIMEOUT_S = 30.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def children(pid: int) -> list[int]:
    out = [pid]
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def postmaster_pid(pg: PgServer) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


@dataclass
class Figures:
    lags_s: list[float] = field(default_factory=list)
    rows: int = 0
    batches: int = 0
    timeouts: int = 0


def session_row(name: str, started: float) -> dict[str, object]:
    now = utc_iso(started)
    return {
        "uuid": uuid.uuid4().hex, "id": 1, "version": 1, "patient_json": None, "kind": "run",
        "profile_name": "bench", "profile_sha256": None, "profile_text": None,
        "machine_name": name, "started": now, "ended": None, "status": "running",
        "outcome": None, "planned_s": 3600.0, "summary_json": None, "host": name, "pid": 1,
        "heartbeat": now, "prescription_json": None, "standstill_kmh": None, "rpe": None,
        "rpe_scale": None, "rpe_recorded": None, "simulated": 1, "moved": None,
    }  # fmt: skip


async def treadmill(
    name: str, port: int, password: str, until: float, window: tuple[float, float], fig: Figures
) -> None:
    started = time.time()
    session = session_row(name, started)
    patient = {
        "pseudonym": f"B-{name}", "comfortable_forward_kmh": 3.0, "max_forward_kmh": None,
        "max_backward_kmh": None, "created": utc_iso(started), "updated": utc_iso(started),
    }  # fmt: skip
    made = 0  # samples made so far
    shipped = 0  # samples answered
    async with aiomqtt.Client(
        "127.0.0.1",
        port,
        username=name,
        password=password,
        identifier=f"bench-{name}",
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=30,
    ) as client:
        await client.subscribe(ack_topic(SITE, name), qos=1)
        messages = aiter(client.messages)
        while time.time() < until:
            now = time.time()
            made = int((now - started) * RATE_HZ)
            if made > shipped:
                rows = [
                    (seq + 1, seq / RATE_HZ, 2.0, 2.0, 1.9, "backward", None, 0, 0, None,
                     "normal", None)
                    for seq in range(shipped, made)
                ]  # fmt: skip
                batch = Batch(session, patient, [], rows, [], True)
                bid = new_batch_id()
                await client.publish(
                    records_topic(SITE, name), encode_batch(batch, name, bid, now), qos=1
                )
                try:
                    async with asyncio.timeout(ACK_TIMEOUT_S):
                        while True:
                            msg = await anext(messages)
                            ack = decode_ack(bytes(msg.payload))  # type: ignore[arg-type]
                            if ack.batch == bid:
                                break
                except TimeoutError:
                    fig.timeouts += 1
                    continue
                answered = time.time()
                if ack.ok:
                    if window[0] <= answered <= window[1]:
                        fig.lags_s += [answered - (started + r[1]) for r in rows]
                        fig.rows += len(rows)
                        fig.batches += 1
                    shipped = made
            nxt = max(time.time(), now + SHIP_PERIOD_S)
            await asyncio.sleep(nxt - time.time())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def fleet(n: int, port: int, passwords: dict[str, str], duration_s: float) -> Figures:
    fig = Figures()
    warmup_s = 5.0
    t0 = time.time()
    window = (t0 + warmup_s, t0 + warmup_s + duration_s)
    names = [f"tm-{i:03d}" for i in range(n)]
    await asyncio.gather(
        *(treadmill(nm, port, passwords[nm], window[1], window, fig) for nm in names)
    )
    return fig


def run_one(n: int, duration_s: float) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="clinic-load-"))
    names = [f"tm-{i:03d}" for i in range(n)]
    broker = make_broker(work / "broker", names)
    broker.start()
    pg = PgServer()
    pg.start()
    url = pg.create_database()
    pw = broker.password_file("ingester")
    cfg = work / "ingester.toml"
    cfg.write_text(
        f'[records]\nurl = "{url}"\nsite = "{SITE}"\n\n[broker]\nhost = "{broker.host}"\n'
        f'port = {broker.port}\nusername = "ingester"\npassword_file = "{pw}"\n'
    )
    with (work / "ingester.log").open("ab") as log:
        ingester = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/clinic/records_cli.py"), "records", "serve",
             "--clinic", str(cfg)],
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        time.sleep(3.0)
        pgs = children(postmaster_pid(pg))
        pids = {"ingester": [ingester.pid], "mosquitto": [broker.pid()], "postgres": pgs}
        before = {k: cpu_s(v) for k, v in pids.items()} | {"publishers": cpu_s([os.getpid()])}
        wall0 = time.monotonic()
        fig = asyncio.run(fleet(n, broker.port, broker.users, duration_s))
        wall = time.monotonic() - wall0
        pids["postgres"] = children(postmaster_pid(pg))
        after = {k: cpu_s(v) for k, v in pids.items()} | {"publishers": cpu_s([os.getpid()])}
        cpu = {k: 100.0 * (after[k] - before[k]) / wall for k in after}
        return {
            "treadmills": n,
            "rows_per_s": fig.rows / duration_s,
            "expected_rows_per_s": n * RATE_HZ,
            "batches": fig.batches,
            "timeouts": fig.timeouts,
            "lag_p50_s": pct(fig.lags_s, 0.50),
            "lag_p99_s": pct(fig.lags_s, 0.99),
            "lag_max_s": max(fig.lags_s) if fig.lags_s else float("nan"),
            **{f"cpu_{k}_pct": v for k, v in cpu.items()},
        }
    finally:
        ingester.terminate()
        try:
            ingester.wait(30)
        except subprocess.TimeoutExpired:
            ingester.kill()
        broker.stop()
        pg.close()


def show(r: dict[str, float]) -> None:
    print(
        f"{int(r['treadmills']):5d} treadmills: {r['rows_per_s']:8.0f} rows/s "
        f"(of {r['expected_rows_per_s']:.0f}), lag p50 {r['lag_p50_s']:.2f} s "
        f"p99 {r['lag_p99_s']:.2f} s max {r['lag_max_s']:.2f} s, timeouts {int(r['timeouts'])}; "
        f"CPU % ingester {r['cpu_ingester_pct']:.0f}, mosquitto {r['cpu_mosquitto_pct']:.0f}, "
        f"postgres {r['cpu_postgres_pct']:.0f}, publishers {r['cpu_publishers_pct']:.0f}",
        flush=True,
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--treadmills", type=int, default=200)
    ap.add_argument("--duration", type=float, default=30.0, help="measured seconds per size")
    ap.add_argument("--sweep", help="fleet sizes, e.g. 50,100,200,400 (stops past the limit)")
    ap.add_argument("--max-lag-s", type=float, default=5.0)
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}", flush=True)
    sizes = [int(x) for x in args.sweep.split(",")] if args.sweep else [args.treadmills]
    best = 0
    for n in sizes:
        r = run_one(n, args.duration)
        show(r)
        if r["lag_p99_s"] < args.max_lag_s and r["rows_per_s"] > 0.9 * r["expected_rows_per_s"]:
            best = n
        else:
            break
    if args.sweep:
        print(f"largest fleet with ingest lag p99 < {args.max_lag_s:g} s: {best} treadmills")
    return 0


if __name__ == "__main__":
    sys.exit(main())
