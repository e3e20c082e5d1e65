"""Benchmark: the full one-way pipeline, SoftOne simulator over loopback HTTP -> run_integration -> table.

Measures the product, not a part of it: login, paging, cp1253 decoding, conversion, the set-based
page writer, run bookkeeping. The simulator runs in its own process; every scenario runs in a fresh
child process so that its peak RSS is its own.

    .venv/bin/python bench/pipeline_bench.py                       # 100k and 1M rows, PostgreSQL + SQLite
    .venv/bin/python bench/pipeline_bench.py --rows 100000 --dialects postgresql

Scenarios per (dialect, rows):
  initial          full run into the empty table
  resync-same      full run, nothing changed in the ERP (must write zero rows)
  resync-1%        full run after 1 % of the ERP rows changed and 0.1 % were added
  incr-after-1%    incremental run (UPDDATE cursor, 1-day lookback) after another 1 % changed:
                   its time must follow the change, not the table

Targets (issue "One-way sync engine"): initial load of 1,000,000 rows into PostgreSQL >= 30,000
rows/s; peak RSS <= 200 MB; peak RSS at 1M within 20 % of that at 100k. RSS is the child's own
peak (VmHWM); the run's split into fetch / map / write time is in sync_runs.stats_json.timings.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan_customers import simulator_process
from softone_sync.config import load_settings
from softone_sync.crypto import encrypt_secret
from softone_sync.db.engine import Database, open_database
from softone_sync.db.models import SoftOneConnection, SoftOneIntegration

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
OUT = Path(__file__).resolve().parent / "out"
SECRET_KEY = Fernet.generate_key().decode()

TARGET_DDL = """
CREATE TABLE customers (
    code VARCHAR(25) PRIMARY KEY,
    erp_id INTEGER NOT NULL,
    name VARCHAR(200) NOT NULL,
    afm VARCHAR(20),
    email VARCHAR(200),
    phone VARCHAR(40),
    address VARCHAR(200),
    city VARCHAR(100),
    zip VARCHAR(10),
    is_active BOOLEAN,
    discount NUMERIC(8, 2),
    remarks TEXT,
    erp_updated_at TIMESTAMP WITH TIME ZONE
)
"""

MAPPINGS = [
    {"erpField": "$key", "column": "erp_id", "convert": "int"},
    {"erpField": "CODE", "column": "code", "required": True},
    {"erpField": "NAME", "column": "name"},
    {"erpField": "AFM", "column": "afm"},
    {"erpField": "EMAIL", "column": "email"},
    {"erpField": "PHONE01", "column": "phone"},
    {"erpField": "ADDRESS", "column": "address"},
    {"erpField": "CITY", "column": "city"},
    {"erpField": "ZIP", "column": "zip"},
    {"erpField": "ISACTIVE", "column": "is_active", "convert": "bool"},
    {"erpField": "DISCOUNT", "column": "discount", "convert": "decimal"},
    {"erpField": "REMARKS", "column": "remarks"},
    {"erpField": "UPDDATE", "column": "erp_updated_at", "convert": "datetime"},
]


def integration_config(page_size: int, incremental: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "source": {"object": "CUSTOMER", "list": "monitor", "pageSize": page_size},
        "mappings": MAPPINGS,
        "uniqueIdentifiers": ["CODE"],
        "target": {"table": "customers"},
        "mode": "full",
    }
    if incremental:
        config["mode"] = "incremental"
        config["cursorField"] = "UPDDATE"
        config["lookback"] = "1d"
    return config


# ------------------------------------------------------------------------------------------ set-up


def fresh_database(dialect: str, name: str) -> str:
    """An empty database for one (dialect, rows) series; returns its SQLAlchemy URL."""
    if dialect == "sqlite":
        OUT.mkdir(exist_ok=True)
        path = OUT / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{path}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


async def prepare(url: str, sim_url: str, page_size: int) -> tuple[str, str]:
    """Migrate, create the application table, one connection and two integrations (full, incremental)."""
    db = await open_database(url, upgrade=True)
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(TARGET_DDL)
        async with db.session() as session, session.begin():
            connection = SoftOneConnection(
                name="bench",
                baseUrl=sim_url,
                username="demo",
                passwordEncrypted=encrypt_secret("demo", SECRET_KEY),
                appId="1001",
                company="1000",
                branch="1000",
                module="0",
                refid="500",
                timeoutSeconds=120.0,
            )
            session.add(connection)
            await session.flush()
            full = SoftOneIntegration(
                name="customers-full",
                connectionId=connection.id,
                configJson=integration_config(page_size, False),
            )
            incremental = SoftOneIntegration(
                name="customers-incr",
                connectionId=connection.id,
                configJson=integration_config(page_size, True),
            )
            session.add_all([full, incremental])
        return full.id, incremental.id
    finally:
        await db.dispose()


def change_erp(sim_url: str, rows: int, changed: float, added: float, seed: int) -> None:
    """Act as ERP users: edit ``changed`` of the rows and insert ``added`` new ones (control surface)."""
    base = sim_url.rsplit("/s1services", 1)[0] + "/_sim"
    rng = random.Random(seed)
    keys = rng.sample(range(1, rows + 1), int(rows * changed))
    new = int(rows * added)

    async def go() -> None:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
            sem = asyncio.Semaphore(16)

            async def patch(key: int) -> None:
                async with sem:
                    r = await http.patch(f"/records/CUSTOMER/{key}", json={"NAME": f"Αλλαγή {seed}-{key}"})
                    r.raise_for_status()

            async def insert(i: int) -> None:
                async with sem:
                    body = {"CODE": f"N{seed:02d}{i:07d}", "NAME": f"Νέος πελάτης {i}", "CITY": "Αθήνα"}
                    r = await http.post("/records/CUSTOMER", json=body)
                    r.raise_for_status()

            await asyncio.gather(*(patch(k) for k in keys), *(insert(i) for i in range(new)))

    asyncio.run(go())


# ------------------------------------------------------------------------------------------ child


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM), not ``ru_maxrss``.

    ``ru_maxrss`` survives ``exec``: a child started from the (growing) bench process reports at
    least the parent's RSS at fork time, which hid the run's own growth. VmHWM belongs to the
    address space that ``exec`` created.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (the benchmark measures RSS on Linux)")


async def child_run(url: str, integration_id: str) -> dict[str, Any]:
    from softone_sync.sync.run import run_integration

    settings = load_settings(database_url=url, secret_key=SECRET_KEY)
    db: Database = await open_database(url)
    try:
        started = time.perf_counter()
        result = await run_integration(db, integration_id, trigger="cli", settings=settings, lease_ttl=300)
        seconds = time.perf_counter() - started
        async with db.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM customers"))).scalar_one()
    finally:
        await db.dispose()
    return {
        "status": result.status,
        "error": result.error,
        "seconds": seconds,
        "fetched": result.fetched,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "failed": result.failed,
        "table_rows": count,
        "rss_mb": own_peak_rss_mb(),
    }


def run_child(url: str, integration_id: str) -> dict[str, Any]:
    env = {**os.environ, "SECRET_KEY": SECRET_KEY}
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, integration_id, "--secret", SECRET_KEY],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------ main


def series(dialect: str, rows: int, page_size: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with simulator_process(rows) as (sim_url, _pid):
        url = fresh_database(dialect, f"ss_bench_{dialect}_{rows}")
        full_id, incr_id = asyncio.run(prepare(url, sim_url, page_size))

        def measure(scenario: str, integration_id: str) -> None:
            r = run_child(url, integration_id)
            r.update(dialect=dialect, rows=rows, scenario=scenario)
            results.append(r)
            print_row(r)

        measure("initial", full_id)
        measure("resync-same", full_id)
        change_erp(sim_url, rows, changed=0.01, added=0.001, seed=1)
        measure("resync-1%", full_id)
        # The incremental integration needs its cursor: its first run reads everything (not measured
        # as a scenario of its own; it equals resync-same), then another 1 % changes.
        run_child(url, incr_id)
        change_erp(sim_url, rows, changed=0.01, added=0.0, seed=2)
        measure("incr-after-1%", incr_id)
    return results


HEADER = (
    f"{'dialect':<11}{'rows':>10} {'scenario':<15}{'seconds':>9}{'rows/s':>11}"
    f"{'created':>11}{'updated':>9}{'unchanged':>11}{'failed':>7}{'RSS MB':>8}  status"
)


def print_row(r: dict[str, Any]) -> None:
    rate = r["fetched"] / r["seconds"] if r["seconds"] else 0.0
    print(
        f"{r['dialect']:<11}{r['rows']:>10,} {r['scenario']:<15}{r['seconds']:>9.2f}{rate:>11,.0f}"
        f"{r['created']:>11,}{r['updated']:>9,}{r['unchanged']:>11,}{r['failed']:>7,}{r['rss_mb']:>8.1f}  "
        f"{r['status']}{' ' + r['error'] if r['error'] else ''}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dialects", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "INTEGRATION"), help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        global SECRET_KEY
        SECRET_KEY = args.secret
        print(json.dumps(asyncio.run(child_run(*args.child))))
        return

    print(HEADER)
    all_results: list[dict[str, Any]] = []
    for dialect in args.dialects:
        for rows in args.rows:
            all_results.extend(series(dialect, rows, args.page_size))

    print("\nchecks")
    for dialect in args.dialects:
        by = {(r["rows"], r["scenario"]): r for r in all_results if r["dialect"] == dialect}
        for rows in args.rows:
            same = by.get((rows, "resync-same"))
            if same:
                print(
                    f"  {dialect} {rows:,}: resync-same wrote "
                    f"{same['created'] + same['updated']} rows (want 0)"
                )
        if (1_000_000, "initial") in by:
            r = by[(1_000_000, "initial")]
            print(
                f"  {dialect} 1M initial: {r['fetched'] / r['seconds']:,.0f} rows/s "
                "(PostgreSQL target >= 30,000)"
            )
        if (100_000, "initial") in by and (1_000_000, "initial") in by:
            small, big = by[(100_000, "initial")]["rss_mb"], by[(1_000_000, "initial")]["rss_mb"]
            print(
                f"  {dialect} peak RSS 100k {small:.1f} MB vs 1M {big:.1f} MB: "
                f"{(big / small - 1) * 100:+.1f} % (want within 20 %, and <= 200 MB)"
            )


if __name__ == "__main__":
    main()
