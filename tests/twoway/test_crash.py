"""SIGKILL a two-way run at random points, rerun: both sides converge, no duplicates, no lost change."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from tests.sync.helpers import SECRET_KEY
from tests.sync.test_crash import RUNNER, wait_for_running
from tests.twoway.helpers import TwoWaySetup, code_of

ROOT = Path(__file__).resolve().parents[2]
LEASE_TTL = 1.0


@pytest.mark.slow
async def test_sigkill_mid_two_way_run_then_rerun_converges(two_way: TwoWaySetup, database_url: str) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    sim = two_way.sim
    for key in range(1, 21):
        await two_way.sql(
            """UPDATE "Customers" SET phone = :p WHERE code = :c""", {"p": f"21{key:08d}", "c": code_of(key)}
        )
    for n in range(5):
        await two_way.sql(
            """INSERT INTO "Customers" (code, name) VALUES (:c, :n)""", {"c": f"NEW-{n}", "n": f"Νέος {n}"}
        )
    # Slow ERP writes, so kills land between a setData and the transaction that records it.
    sim.faults.add("latency", "setData", times=None, seconds=0.05)
    env = {**os.environ, "SECRET_KEY": SECRET_KEY, "PYTHONPATH": str(ROOT / "src")}
    rng = random.Random(11)
    killed = 0
    for attempt in range(3):
        proc = await asyncio.create_subprocess_exec(
            *[sys.executable, "-c", RUNNER, database_url, two_way.integration_id, str(LEASE_TTL)],
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await wait_for_running(two_way.db, two_way.integration_id, attempt + 1, proc)
        await asyncio.sleep(rng.uniform(0.1, 0.5))
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        await asyncio.wait_for(proc.communicate(), timeout=60)
        await asyncio.sleep(LEASE_TTL + 0.2)
    assert killed >= 1
    sim.faults.clear()
    final = await two_way.run(lease_ttl=LEASE_TTL)
    assert final.status == "succeeded", final.error
    settled = await two_way.run(lease_ttl=LEASE_TTL)
    assert (settled.pushed, settled.updated, settled.created) == (0, 0, 0)

    for key in range(1, 21):
        assert sim.get_record("CUSTOMER", key)["PHONE01"] == f"21{key:08d}"  # no local change lost
    for n in range(5):
        keys = two_way.erp_keys_with_code(f"NEW-{n}")
        assert len(keys) == 1, f"NEW-{n} created {len(keys)} times"
        assert (await two_way.local(f"NEW-{n}"))["erp_id"] == keys[0]
    assert await two_way.outbox() == 0
