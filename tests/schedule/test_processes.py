"""Several OS processes on one PostgreSQL: exactly-once slots, and a SIGKILLed scheduler mid-run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.db.models import SyncRun
from tests.schedule.conftest import manager, scheduled, slots
from tests.schedule.fake_runs import FakeRuns

ROOT = Path(__file__).resolve().parents[2]


def spawn(url: str, seconds: float, duration: float, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.schedule.scheduler_process",
            url,
            str(seconds),
            str(duration),
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def recorded(paths: list[Path]) -> list[list[str]]:
    return [json.loads(line) for path in paths if path.exists() for line in path.read_text().splitlines()]


async def test_three_processes_claim_every_slot_exactly_once(db: Database, tmp_path: Path) -> None:
    if db.dialect != "postgresql":
        pytest.skip("several OS processes are the PostgreSQL deployment")
    ids = [await scheduled(db, "* * * * * *", name=f"p{n}") for n in range(2)]
    outs = [tmp_path / f"runs-{n}.jsonl" for n in range(3)]
    processes = [spawn(db.url, 7, 0.3, out) for out in outs]
    for process in processes:
        assert await asyncio.to_thread(process.wait, 60) == 0
    runs = recorded(outs)
    assert len(runs) >= 8
    keys = [(integration, slot) for integration, slot, _ in runs]
    assert len(keys) == len(set(keys)), "a slot ran twice"
    assert len({tuple(path.read_text().splitlines()) for path in outs if path.exists()}) >= 1
    for integration in ids:
        rows = await slots(db, integration)
        assert {r[2] for r in rows} <= {"ran", "skipped-running"}
        times = [r[1] for r in rows]
        assert {(b - a).total_seconds() for a, b in pairwise(times)} == {1.0}
        assert Counter(r[2] for r in rows)["ran"] == sum(1 for i, _, _ in runs if i == integration)


async def test_killed_scheduler_lease_expires_run_failed_later_slots_run(
    db: Database, tmp_path: Path
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("kills an OS process sharing the PostgreSQL database")
    integration = await scheduled(db, "* * * * * *")
    out = tmp_path / "runs.jsonl"
    process = spawn(db.url, 60, 30, out)  # each run would take 30 s
    try:
        for _ in range(200):
            if recorded([out]):
                break
            await asyncio.sleep(0.1)
        killed_run = recorded([out])[0][2]
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)
    runs = FakeRuns(duration=0.2)
    survivor = manager(db, runs, reap_interval=0.5)
    await survivor.start()
    try:
        for _ in range(100):  # lease TTL is 2 s
            if runs.runs:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
    finally:
        await survivor.stop(grace=5)
    async with db.connect() as conn:
        status, error = (
            await conn.execute(sa.select(SyncRun.status, SyncRun.error).where(SyncRun.id == killed_run))
        ).one()
    assert status == "failed" and error is not None and "lease expired" in error, (
        await slots(db, integration),
        runs.runs,
        killed_run,
    )
    rows = await slots(db, integration)
    killed_slot = next(r for r in rows if r[3] == killed_run)
    assert killed_slot[2] == "failed"
    assert Counter(r[2] for r in rows)["ran"] >= 1 and runs.runs
