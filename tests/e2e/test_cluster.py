"""The cluster soak test: three ``softone-sync serve`` processes on one PostgreSQL database.

50 integrations on 6-field schedules (every 3 s, staggered) run for ``SOAK_SECONDS`` (default 120)
against the simulated ERP. One process is SIGKILLed while it is in the middle of a run. Then, from
the database alone:

* no two runs of one integration overlap in time;
* every slot has a final outcome (nothing left ``queued``), and every slot of every schedule has a row;
* no slot ran twice;
* the killed process's run ended ``failed`` with the lease-expired error, and its slot says so;
* slots after the kill ran, including the killed run's integration.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from softone_sync.db.engine import Database, open_database
from softone_sync.db.leases import EXPIRED_LEASE_ERROR
from softone_sync.db.models import SlotLog, SyncRun, utcnow
from softone_sync.softone.simulator import RunningSimulator
from tests.fixtures.cli_process import CLI
from tests.fixtures.simulator import MakeSimulator
from tests.sync.helpers import CUSTOMERS_DDL, SECRET_KEY, customers_config, make_connection, make_integration

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

INTEGRATIONS = 50
PROCESSES = 3
LEASE_TTL = 6.0
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
STAMP_BEFORE_LEASE_TOLERANCE = 1.0  # seconds; see the overlap check
FINAL_OUTCOMES = {"ran", "skipped-running", "coalesced", "missed", "paused", "failed"}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def _start_replicas(database_url: str, tmp_path: Path) -> list[Replica]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "CRON_SECRET": "soak-cron-secret-0123456789",
        "ADMIN_TOKEN": "soak-admin-token-0123456789",
        "LEASE_TTL_SECONDS": str(LEASE_TTL),
        "MAX_CONCURRENT_RUNS": "16",
        "EXECUTOR": "inline",
    }
    replicas = []
    for number in range(PROCESSES):
        port = _free_port()
        log = tmp_path / f"serve-{number}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*CLI, "serve", "--port", str(port)],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        replicas.append(Replica(process, port, log))
    deadline = time.monotonic() + 60
    for replica in replicas:
        while True:
            assert replica.process.poll() is None, replica.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{replica.port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, replica.log.read_text()
            time.sleep(0.1)
    return replicas


def _stop(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.process.poll() is None:
            # SIGINT: uvicorn re-raises SIGTERM after its graceful shutdown (exit -15); SIGINT exits 0.
            replica.process.send_signal(signal.SIGINT)
    for replica in replicas:
        try:
            replica.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            replica.process.kill()
            replica.process.wait()


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    _stop(started)


async def _setup(db: Database, sim: RunningSimulator) -> list[str]:
    connection = await make_connection(db, sim)
    ids = []
    async with db.engine.begin() as conn:
        for number in range(INTEGRATIONS):
            await conn.exec_driver_sql(CUSTOMERS_DDL.replace('"CustomerMaster"', f'"cm_{number:02d}"'))
    for number in range(INTEGRATIONS):
        config = customers_config(
            target={"table": f"cm_{number:02d}"},
            # Staggered: a third of the integrations fire at each second of a 3 s cycle.
            schedule={"cronExpression": f"{number % 3}-59/3 * * * * *", "timezone": "UTC"},
        )
        ids.append(await make_integration(db, connection, config, name=f"soak-{number:02d}"))
    return ids


async def _running_run_of(db: Database, pid: int) -> tuple[str, str] | None:
    """(run id, integration id) of a run the process ``pid`` is in the middle of, if any."""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(SyncRun.id, SyncRun.integration_id)
                .where(SyncRun.status == "running", SyncRun.owner.like(f"%:{pid}:%"))
                .limit(1)
            )
        ).first()
    return (row[0], row[1]) if row else None


async def _queued_by(db: Database, pid: int) -> int:
    async with db.connect() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(SlotLog)
                    .where(SlotLog.outcome == "queued", SlotLog.detail.like(f"claimed by %:{pid}:%"))
                )
            ).scalar_one()
        )


@pytest.mark.parametrize("db_dialect", ["postgresql"], indirect=True)
async def test_three_replicas_soak_with_one_killed_mid_run(
    database_url: str, make_simulator: MakeSimulator, replicas: list[Replica], tmp_path: Path
) -> None:
    sim = make_simulator(customers=50)
    # Every run spends ~0.3 s in the ERP: runs overlap with each other and a kill lands mid-run.
    sim.simulator.faults.add("latency", "getBrowserData", seconds=0.3, times=None)
    db = await open_database(database_url)
    try:
        integration_ids = await _setup(db, sim)
        replicas += await asyncio.to_thread(_start_replicas, database_url, tmp_path)
        started = utcnow()
        victim = replicas[0]
        kill_after = min(30.0, SOAK_SECONDS / 4)
        killed: tuple[str, str] | None = None
        killed_at: datetime | None = None
        loop = asyncio.get_running_loop()
        end = loop.time() + SOAK_SECONDS
        while loop.time() < end:
            if killed is None and (utcnow() - started).total_seconds() >= kill_after:
                killed = await _running_run_of(db, victim.pid)
                if killed is not None:
                    victim.process.send_signal(signal.SIGKILL)
                    killed_at = utcnow()
                    await asyncio.to_thread(victim.process.wait, 10)
                    continue
                await asyncio.sleep(0.01)
                continue
            for replica in replicas:
                if replica is not victim:
                    assert replica.process.poll() is None, replica.log.read_text()[-3000:]
            await asyncio.sleep(0.5)
        assert killed is not None and killed_at is not None, "the victim never ran anything"
        # Settle: the survivors' repair pass gives the dead process's queued slots an outcome once
        # their heartbeat is stale (30 s); with the default duration that happened long ago.
        async with asyncio.timeout(60):
            while await _queued_by(db, victim.pid):  # noqa: ASYNC110 - other processes write it
                await asyncio.sleep(0.5)
        stopped = utcnow()
        await asyncio.to_thread(_stop, replicas)
        for replica in replicas[1:]:
            assert replica.process.returncode == 0, replica.log.read_text()[-3000:]
            assert "Traceback" not in replica.log.read_text(), replica.log.read_text()[-5000:]
        await _assert_cluster_invariants(db, integration_ids, killed, killed_at, started, stopped)
    finally:
        await db.dispose()


async def _assert_cluster_invariants(
    db: Database,
    integration_ids: list[str],
    killed: tuple[str, str],
    killed_at: datetime,
    started: datetime,
    stopped: datetime,
) -> None:
    killed_run, killed_integration = killed
    async with db.connect() as conn:
        slot_rows = (
            await conn.execute(
                sa.select(
                    SlotLog.integration_id, SlotLog.slot_at, SlotLog.outcome, SlotLog.run_id, SlotLog.detail
                )
            )
        ).all()
        run_rows = (
            await conn.execute(
                sa.select(
                    SyncRun.id,
                    SyncRun.integration_id,
                    SyncRun.status,
                    SyncRun.started_at,
                    SyncRun.finished_at,
                    SyncRun.slot_at,
                    SyncRun.error,
                    SyncRun.trigger,
                    SyncRun.owner,
                    SyncRun.heartbeat_at,
                )
            )
        ).all()

    outcomes = Counter(row.outcome for row in slot_rows)
    print(f"\nsoak: {len(slot_rows)} slots {dict(outcomes)}, {len(run_rows)} runs, killed {killed_run}")

    # Every slot has a final outcome.
    leftover = [row for row in slot_rows if row.outcome not in FINAL_OUTCOMES]
    assert not leftover, leftover[:10]
    running = [row for row in run_rows if row.status == "running"]
    assert not running, (f"left running (killed {killed_run} at {killed_at})", running)

    # Every slot of every schedule has its row: consecutive slots 3 s apart, no gaps.
    by_integration: dict[str, list[datetime]] = defaultdict(list)
    for row in slot_rows:
        by_integration[row.integration_id].append(row.slot_at)
    assert set(by_integration) == set(integration_ids)
    for integration_id, times in by_integration.items():
        times.sort()
        gaps = [(a, b) for a, b in pairwise(times) if b - a != timedelta(seconds=3)]
        assert not gaps, (integration_id, gaps[:5])
        # ... from the start of the soak to its end.
        assert times[0] <= started + timedelta(seconds=5), (integration_id, times[0], started)
        assert times[-1] >= stopped - timedelta(seconds=5), (integration_id, times[-1], stopped)

    # No slot ran twice: one scheduled run per (integration, slot), one slot per run.
    scheduled = [row for row in run_rows if row.trigger in ("schedule", "catchup")]
    per_slot = Counter((row.integration_id, row.slot_at) for row in scheduled)
    assert [key for key, count in per_slot.items() if count > 1] == []
    ran_run_ids = [row.run_id for row in slot_rows if row.outcome == "ran"]
    assert len(ran_run_ids) == len(set(ran_run_ids))
    runs_by_id = {row.id: row for row in run_rows}
    for row in slot_rows:
        if row.outcome == "ran":
            run = runs_by_id[row.run_id]
            assert (run.integration_id, run.slot_at) == (row.integration_id, row.slot_at)

    # No two runs of one integration overlap in time. A run of the killed process stopped when the
    # process died: its recorded finished_at is when a peer reaped it (the lease had expired), which
    # the run taking over stamps inside itself, after its own started_at.
    runs_of: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in run_rows:
        end = min(row.finished_at, killed_at) if row.error == EXPIRED_LEASE_ERROR else row.finished_at
        runs_of[row.integration_id].append((row.started_at, end))
    overlaps = []
    for integration_id, intervals in runs_of.items():
        intervals.sort()
        for (start_a, end_a), (start_b, _end_b) in pairwise(intervals):
            if start_b < end_a:
                overlaps.append((integration_id, start_a, end_a, start_b, (end_a - start_b).total_seconds()))
    largest = max((o[4] for o in overlaps), default=0.0)
    print(f"soak: {len(overlaps)} run(s) stamped started before the previous ended, by up to {largest:.3f} s")
    # run_integration stamps started_at before it reaps and takes the lease (two statements), so the
    # next run's started_at may precede the previous run's finished_at by those statements' latency
    # plus the event loop's (0.34 s measured on 2 busy cores). Anything longer would be two lease
    # holders at once. Stamping started_at after the lease is taken would make this exact.
    assert [o for o in overlaps if o[4] > STAMP_BEFORE_LEASE_TOLERANCE] == [], overlaps[:10]

    # The killed process's run: failed by the lease reaper, and its slot says so.
    killed_row = runs_by_id[killed_run]
    assert (killed_row.status, killed_row.error) == ("failed", EXPIRED_LEASE_ERROR)
    killed_slot = next(row for row in slot_rows if row.run_id == killed_run)
    assert killed_slot.outcome == "failed" and killed_slot.detail == EXPIRED_LEASE_ERROR

    # The lease held the integration until it expired: nobody took over a few seconds early. (The
    # dead holder's last renewal was at most TTL/3 before the kill.)
    takeovers = [
        row.started_at
        for row in run_rows
        if row.integration_id == killed_integration and row.started_at > killed_at
    ]
    assert takeovers and min(takeovers) >= killed_at + timedelta(seconds=LEASE_TTL * 2 / 3 - 0.5)

    # Later slots ran: across the cluster, and for the killed run's own integration once its lease expired.
    after = killed_at + timedelta(seconds=LEASE_TTL + 2)
    later = [row for row in slot_rows if row.slot_at > after and row.outcome == "ran"]
    assert len(later) >= INTEGRATIONS, len(later)
    assert [row for row in later if row.integration_id == killed_integration], killed_integration
    assert outcomes["ran"] >= 0.5 * len(slot_rows), outcomes
