"""Scheduler benchmark: 10,000 active integrations on PostgreSQL.

Measures (1) start-up initialisation time, (2) scheduler CPU while idle, (3) firing lateness
p50/p99 with two scheduler processes and a no-op run function. Prints a table.

    .venv/bin/python bench/scheduler_bench.py [--integrations 10000] [--idle-seconds 60] [--fire-seconds 60]

Needs PostgreSQL at 127.0.0.1:5432 (user postgres); creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from softone_sync.config import load_settings
from softone_sync.db import migrate, open_database
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneConnection, SoftOneIntegration, new_id, utcnow
from softone_sync.schedule.executors import InlineExecutor
from softone_sync.schedule.manager import CronManager

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


class NoOpRun:
    """Records when each slot fired; takes no lease (measures the scheduler, not the run engine)."""

    def __init__(self) -> None:
        self.lateness: list[float] = []
        self.measure_from: datetime | None = None

    async def __call__(self, db: Database, integration_id: str, **kwargs: Any) -> Any:
        slot_at: datetime = kwargs["slot_at"]
        # Steady state only: slots that fell due while the process was still starting are catch-up.
        if self.measure_from is not None and slot_at >= self.measure_from:
            self.lateness.append((utcnow() - slot_at).total_seconds())

        class _Result:
            run_id = kwargs["run_id"]
            status = "succeeded"
            error = None

        return _Result()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _seed(url: str, count: int) -> None:
    db = await open_database(url)
    async with db.engine.begin() as conn:
        connection_id = new_id()
        await conn.execute(
            sa.insert(SoftOneConnection).values(
                id=connection_id,
                name="bench",
                baseUrl="http://127.0.0.1:1/s1services",
                username="demo",
                passwordEncrypted="x",
                appId="1001",
            )
        )
        rows = [
            {
                "id": new_id(),
                "name": f"integration-{n:05d}",
                "connectionId": connection_id,
                "isActive": True,
                "configJson": {"schedule": {"cronExpression": "0 3 * * *", "timezone": "Europe/Athens"}},
            }
            for n in range(count)
        ]
        await conn.execute(sa.insert(SoftOneIntegration), rows)
    await db.dispose()


async def _set_schedules(url: str, per_minute: bool) -> None:
    db = await open_database(url)
    async with db.engine.begin() as conn:
        ids = list((await conn.execute(sa.select(SoftOneIntegration.id))).scalars())
        rng = random.Random(1)
        await conn.execute(
            sa.update(SoftOneIntegration)
            .where(SoftOneIntegration.id == sa.bindparam("b_id"))
            .values(configJson=sa.bindparam("b_config"), nextRunAt=None),
            [
                {"b_id": i, "b_config": {"schedule": {"cronExpression": f"{rng.randrange(60)} * * * * *"}}}
                if per_minute
                else {"b_id": i, "b_config": {"schedule": {"cronExpression": "0 3 * * *"}}}
                for i in ids
            ],
        )
    await db.dispose()


async def _manager(url: str, runs: NoOpRun) -> tuple[Database, CronManager]:
    db = await open_database(url, pool_size=5)
    settings = load_settings(database_url=url, max_concurrent_runs=64)
    return db, CronManager(db, settings, executor=InlineExecutor(db, settings, run_fn=runs))


async def worker(url: str, seconds: float, out: str, initialize: bool) -> None:
    runs = NoOpRun()
    db, manager = await _manager(url, runs)
    started = time.perf_counter()
    await manager.start(initialize=initialize)
    init_seconds = time.perf_counter() - started
    await asyncio.sleep(2)  # settle: the first change check and reap pass
    runs.measure_from = utcnow()
    cpu_before, wall_before = _cpu(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu, wall = _cpu() - cpu_before, time.perf_counter() - wall_before
    await manager.stop(grace=10)
    await db.dispose()
    Path(out).write_text(  # noqa: ASYNC240 - once, at the end
        json.dumps({"cpu": cpu, "wall": wall, "init": init_seconds, "lateness": runs.lateness})
    )


def _spawn(url: str, seconds: float, out: Path, initialize: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, __file__, "--worker", "--url", url, "--seconds", str(seconds), "--out", str(out)]
    if initialize:
        args.append("--initialize")
    return subprocess.Popen(args)


async def _initialize_once(url: str) -> float:
    db, manager = await _manager(url, NoOpRun())
    started = time.perf_counter()
    await manager.initialize()
    elapsed = time.perf_counter() - started
    await db.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--integrations", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--fire-seconds", type=float, default=60)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--initialize", action="store_true")
    parser.add_argument("--url")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args.url, args.seconds, args.out, args.initialize))
        return

    name = f"softone_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    tmp = Path("var") / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        migrate.upgrade(url)
        asyncio.run(_seed(url, args.integrations))
        init_cold = asyncio.run(_initialize_once(url))
        init_warm = asyncio.run(_initialize_once(url))

        idle_out = tmp / "idle.json"
        _spawn(url, args.idle_seconds, idle_out, initialize=True).wait()
        idle = json.loads(idle_out.read_text())

        asyncio.run(_set_schedules(url, per_minute=True))
        asyncio.run(_initialize_once(url))
        outs = [tmp / f"fire-{n}.json" for n in range(2)]
        processes = [_spawn(url, args.fire_seconds, out, initialize=False) for out in outs]
        for process in processes:
            process.wait()
        results = [json.loads(out.read_text()) for out in outs]
        lateness = sorted(value for result in results for value in result["lateness"])
        fire_cpu = sum(result["cpu"] for result in results) / sum(result["wall"] for result in results) * 100
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def pct(p: float) -> float:
        return lateness[min(len(lateness) - 1, int(p * len(lateness)))] if lateness else float("nan")

    table = Table(title=f"Scheduler, {args.integrations} active integrations, PostgreSQL")
    for column in ("metric", "value", "target"):
        table.add_column(column)
    table.add_row("initialize(), cold (all nextRunAt computed + written)", f"{init_cold:.2f} s", "< 2 s")
    table.add_row("initialize(), warm (second process, nothing to write)", f"{init_warm:.2f} s", "< 2 s")
    idle_cpu = idle["cpu"] / idle["wall"] * 100
    table.add_row(
        f"idle CPU, 1 scheduler over {idle['wall']:.0f} s", f"{idle_cpu:.2f} % of one core", "< 2 %"
    )
    table.add_row(f"slots fired, 2 processes over {args.fire_seconds:.0f} s", str(len(lateness)), "")
    table.add_row(
        "firing lateness p50", f"{statistics.median(lateness) * 1000:.0f} ms" if lateness else "-", ""
    )
    table.add_row("firing lateness p99", f"{pct(0.99) * 1000:.0f} ms", "< 1000 ms")
    table.add_row("firing lateness max", f"{lateness[-1] * 1000:.0f} ms" if lateness else "-", "")
    table.add_row("CPU per scheduler while firing", f"{fire_cpu:.1f} % of one core", "")
    Console().print(table)


if __name__ == "__main__":
    main()
