"""Kill -9 a run at random points, several times, then rerun: the table converges to the ERP."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from softone_sync.sync.run import run_integration
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    SECRET_KEY,
    customers_config,
    execute,
    fetch_rows,
    make_connection,
    make_integration,
    sync_settings,
)

ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = 1.0
CUSTOMERS = 1500

RUNNER = """
import asyncio, sys
from softone_sync.config import load_settings
from softone_sync.db.engine import open_database
from softone_sync.sync.run import run_integration

async def main():
    db = await open_database(sys.argv[1])
    settings = load_settings(database_url=sys.argv[1])
    ttl = float(sys.argv[3])
    result = await run_integration(db, sys.argv[2], trigger="cli", lease_ttl=ttl, settings=settings)
    print(result.status, result.error)
    await db.dispose()

asyncio.run(main())
"""


async def wait_for_running(db, integration_id: str, known: int, proc: asyncio.subprocess.Process) -> None:
    """Until the subprocess has recorded its run (it is past start-up and inside the run)."""
    for _ in range(400):
        rows = await fetch_rows(
            db, f"SELECT count(*) FROM sync_runs WHERE integration_id = '{integration_id}'"
        )
        if rows[0][0] > known or proc.returncode is not None:
            return
        await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_sigkill_mid_run_then_rerun_converges(db, make_simulator, database_url):
    running = make_simulator(customers=CUSTOMERS)
    sim = running.simulator
    # Slow pages so that a kill lands inside the page loop, not before or after it.
    sim.faults.add("latency", "getBrowserData", times=None, seconds=0.04)
    await execute(db, CUSTOMERS_DDL)
    connection_id = await make_connection(db, running)
    integration_id = await make_integration(
        db, connection_id, customers_config(source={"object": "CUSTOMER", "pageSize": 100}, deletions="hard")
    )
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "PYTHONPATH": str(ROOT / "src")}
    rng = random.Random(7)
    killed = 0
    for attempt in range(3):
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-c", RUNNER, database_url, integration_id, str(LEASE_TTL)],
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await wait_for_running(db, integration_id, attempt, proc)
        await asyncio.sleep(rng.uniform(0.05, 0.6))
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        await asyncio.wait_for(proc.communicate(), timeout=60)
        # The ERP keeps changing between attempts.
        sim.update_record("CUSTOMER", 100 + attempt, {"NAME": f"edit {attempt}"})
        await asyncio.sleep(LEASE_TTL + 0.2)  # the dead process's lease expires
    assert killed >= 2
    sim.delete_record("CUSTOMER", 42)
    sim.faults.clear()

    final = await run_integration(
        db, integration_id, settings=sync_settings(database_url), lease_ttl=LEASE_TTL
    )
    assert final.status == "succeeded", final.error

    rows = await fetch_rows(db, 'SELECT "order", "code", "name" FROM "CustomerMaster" ORDER BY "order"')
    expected = []
    for key in range(1, CUSTOMERS + 1):
        record = sim.get_record("CUSTOMER", key)
        if record is not None:
            expected.append((key, record["CODE"], record["NAME"]))
    assert rows == expected  # every ERP row once, current values, the deleted one gone
    statuses = await fetch_rows(
        db,
        f"SELECT status, count(*) FROM sync_runs WHERE integration_id = '{integration_id}' GROUP BY status",
    )
    assert dict(statuses).get("running", 0) == 0  # killed runs were reaped, not left "running"
    assert dict(statuses)["failed"] >= killed
    lease = await fetch_rows(
        db, f"""SELECT "leaseOwner" FROM softone_integrations WHERE id = '{integration_id}'"""
    )
    assert lease == [(None,)]
