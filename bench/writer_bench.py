"""Writer benchmark: the set-based page writer against naive sync code, dlt merge and the raw limits.

    .venv/bin/python bench/writer_bench.py                      # 100,000 rows, both dialects
    .venv/bin/python bench/writer_bench.py --rows 1000000 --subset 20000

Every method gets the same customer-like rows (12 columns: Greek text, decimals, ints, bools,
aware datetimes), page by page, and runs three scenarios on its own fresh table: the initial load,
a re-sync with nothing changed, a re-sync with 1 % of rows changed and 0.1 % new. Only the writes
are timed (page generation is not). Each method runs in its own subprocess so peak RSS is its own.

The naive ORM loop and dlt are slow: they run on ``--subset`` rows and their per-row rate is
extrapolated to ``--rows`` (marked ``~`` in the table). dlt is installed with ``uv sync --group bench``.
Needs PostgreSQL at ``--pg-admin-url``; a database ``softone_bench`` is (re)created there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TABLE = "bench_customers"
COLUMNS = [
    "code", "name", "afm", "city", "email", "phone",
    "balance", "credit_limit", "visits", "is_active", "created_at", "updated_at",
]  # fmt: skip
SCENARIOS = ("initial", "resync", "changed")
PG_DATABASE = "softone_bench"
CITIES = ["Αθήνα", "Θεσσαλονίκη", "Πάτρα", "Ηράκλειο", "Λάρισα", "Βόλος", "Ιωάννινα", "Χανιά"]
BASE_TIME = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)

PG_DDL = f"""
CREATE TABLE {TABLE} (
    code varchar(20) PRIMARY KEY, name text NOT NULL, afm varchar(12), city text, email text, phone text,
    balance numeric(14, 2), credit_limit numeric(14, 2), visits integer, is_active boolean,
    created_at timestamptz, updated_at timestamptz)"""
SQLITE_DDL = f"""
CREATE TABLE {TABLE} (
    code VARCHAR(20) PRIMARY KEY, name TEXT NOT NULL, afm VARCHAR(12), city TEXT, email TEXT, phone TEXT,
    balance NUMERIC(14, 2), credit_limit NUMERIC(14, 2), visits INTEGER, is_active BOOLEAN,
    created_at DATETIME, updated_at DATETIME)"""


class _Base(DeclarativeBase):
    pass


class Customer(_Base):
    """The bench table as naive sync code maps it."""

    __tablename__ = TABLE
    code: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    name: Mapped[str]
    afm: Mapped[str | None]
    city: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    balance: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    credit_limit: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    visits: Mapped[int | None]
    is_active: Mapped[bool | None]
    created_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True))


# -- data ------------------------------------------------------------------------------------------


def make_row(i: int, version: int = 0) -> tuple[Any, ...]:
    return (
        f"C{i:08d}",
        f"Πελάτης {i} Ανώνυμη Εταιρεία Εμπορίου",
        f"{100000000 + i}",
        CITIES[i % len(CITIES)],
        f"customer{i}@example.gr",
        f"+30 210 {i % 10000000:07d}",
        Decimal(i % 100000) / 100 + version,
        Decimal(1000 * (i % 50)),
        i % 1000 + version,
        i % 7 != 0,
        BASE_TIME + timedelta(minutes=i),
        BASE_TIME + timedelta(days=365, seconds=i, hours=version),
    )


def scenario_rows(scenario: str, rows: int) -> Iterator[tuple[Any, ...]]:
    for i in range(rows):
        yield make_row(i, 1 if scenario == "changed" and i % 100 == 7 else 0)
    if scenario == "changed":
        for i in range(rows, rows + max(1, rows // 1000)):
            yield make_row(i)


def expected(scenario: str, rows: int) -> tuple[int, int, int]:
    """(created, updated, unchanged) a correct writer reports."""
    if scenario == "initial":
        return rows, 0, 0
    if scenario == "resync":
        return 0, 0, rows
    changed = len([i for i in range(rows) if i % 100 == 7])
    return max(1, rows // 1000), changed, rows - changed


def pages(scenario: str, rows: int, page_size: int) -> Iterator[list[tuple[Any, ...]]]:
    page: list[tuple[Any, ...]] = []
    for row in scenario_rows(scenario, rows):
        page.append(row)
        if len(page) == page_size:
            yield page
            page = []
    if page:
        yield page


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.perf_counter() - self._start


# -- targets ---------------------------------------------------------------------------------------


def pg_libpq_url(admin_url: str, database: str) -> str:
    return f"{admin_url.rpartition('/')[0]}/{database}"


def reset_pg_table(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_libpq_url(admin_url, PG_DATABASE), autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute("DROP SCHEMA IF EXISTS dlt_bench CASCADE")
        conn.execute(PG_DDL)


def reset_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(SQLITE_DDL)


# -- methods (each returns {scenario: (seconds, created, updated, unchanged)}) -----------------------

Results = dict[str, tuple[float, int, int, int]]


async def method_writer(dialect: str, url: str, rows: int, page_size: int) -> Results:
    from softone_sync.db import open_database
    from softone_sync.sync.target import reflect_target
    from softone_sync.sync.writers import writer_for

    db = await open_database(url)
    out: Results = {}
    async with db.connect() as conn:
        async with conn.begin():
            target = await reflect_target(conn, TABLE, None)
            writer = writer_for(db.dialect)
            await writer.begin_run(conn, target, COLUMNS)
        for scenario in SCENARIOS:
            timer, counts = Timer(), [0, 0, 0]
            for page in pages(scenario, rows, page_size):
                with timer:
                    async with conn.begin():
                        result = await writer.upsert_page(conn, target, COLUMNS, page)
                counts[0] += result.created
                counts[1] += result.updated
                counts[2] += result.unchanged
            out[scenario] = (timer.seconds, *counts)
    await db.dispose()
    return out


async def method_naive(dialect: str, url: str, rows: int, page_size: int) -> Results:
    """How sync code is usually written: per record SELECT by key, then UPDATE or INSERT; commit per page."""
    from softone_sync.db import open_database

    db = await open_database(url)
    out: Results = {}
    for scenario in SCENARIOS:
        timer, counts = Timer(), [0, 0, 0]
        for page in pages(scenario, rows, page_size):
            with timer:
                async with db.session() as session, session.begin():
                    for row in page:
                        values = dict(zip(COLUMNS, row, strict=True))
                        query = sa.select(Customer).where(Customer.code == values["code"])
                        existing = (await session.execute(query)).scalar_one_or_none()
                        if existing is None:
                            session.add(Customer(**values))
                            counts[0] += 1
                            continue
                        dirty = False
                        for column, value in values.items():
                            old = getattr(existing, column)
                            if isinstance(old, datetime) and old.tzinfo is None:
                                old = old.replace(tzinfo=UTC)
                            if old != value:
                                setattr(existing, column, value)
                                dirty = True
                        counts[1 if dirty else 2] += 1
        out[scenario] = (timer.seconds, *counts)
    await db.dispose()
    return out


def method_dlt(dialect: str, url: str, rows: int, page_size: int) -> Results:
    import dlt

    workdir = Path(tempfile.mkdtemp(prefix="dlt-bench-"))
    if dialect == "postgresql":
        # dlt insists on a password even where the server trusts loopback; any value does then.
        scheme, _, rest = url.partition("://")
        userinfo, _, hostpart = rest.rpartition("@")
        if userinfo and ":" not in userinfo:
            url = f"{scheme}://{userinfo}:unused@{hostpart}"
        destination = dlt.destinations.postgres(url)
    else:
        destination = dlt.destinations.sqlalchemy(f"sqlite:///{workdir / 'dlt.db'}")  # fresh file per run
    pipeline = dlt.pipeline(
        pipeline_name=f"writer_bench_{dialect}",
        destination=destination,
        dataset_name="dlt_bench",
        pipelines_dir=str(workdir),
    )
    out: Results = {}
    try:
        for scenario in SCENARIOS:

            @dlt.resource(name=TABLE, write_disposition="merge", primary_key="code")
            def customers(scenario: str = scenario) -> Iterator[list[dict[str, Any]]]:
                for page in pages(scenario, rows, page_size):
                    yield [dict(zip(COLUMNS, row, strict=True)) for row in page]

            with Timer() as timer:
                pipeline.run(customers())
            out[scenario] = (timer.seconds, -1, -1, -1)  # dlt reports loads, not created/updated
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def _upsert_pg_sql(returning: bool) -> str:
    cols = ", ".join(COLUMNS)
    non_keys = COLUMNS[1:]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in non_keys)
    old = ", ".join(f"t.{c}" for c in non_keys)
    new = ", ".join(f"EXCLUDED.{c}" for c in non_keys)
    tail = " RETURNING (xmax = 0)" if returning else ""
    return (
        f"INSERT INTO {TABLE} AS t ({cols}) SELECT {cols} FROM stage ON CONFLICT (code) "
        f"DO UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new}){tail}"
    )


async def method_pg_limit(dialect: str, url: str, rows: int, page_size: int) -> Results:
    """The floor for PostgreSQL: COPY into a temp table + one INSERT … ON CONFLICT per page, raw psycopg."""
    import psycopg

    out: Results = {}
    upsert = _upsert_pg_sql(returning=False)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(
            f"CREATE TEMP TABLE stage ON COMMIT DELETE ROWS AS SELECT * FROM {TABLE} WITH NO DATA"
        )
        await conn.commit()
        for scenario in SCENARIOS:
            timer = Timer()
            written = 0
            for page in pages(scenario, rows, page_size):
                with timer:
                    async with conn.transaction():
                        cur = conn.cursor()
                        async with cur.copy(f"COPY stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                            for row in page:
                                await copy.write_row(row)
                        await cur.execute(upsert)
                        written += cur.rowcount
            out[scenario] = (timer.seconds, written, -1, -1)
    return out


async def method_pg_copy(dialect: str, url: str, rows: int, page_size: int) -> Results:
    """Raw COPY straight into the empty table: the initial-load ceiling (no upsert possible)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        timer = Timer()
        for page in pages("initial", rows, page_size):
            with timer:
                async with conn.transaction():
                    cur = conn.cursor()
                    async with cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                        for row in page:
                            await copy.write_row(row)
    return {"initial": (timer.seconds, rows, 0, 0)}


def method_sqlite_limit(dialect: str, url: str, rows: int, page_size: int) -> Results:
    """The floor for SQLite: sqlite3 executemany of the upsert, one transaction per page, no async hop."""
    sqlite3.register_adapter(Decimal, float)
    sqlite3.register_adapter(datetime, lambda v: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    non_keys = COLUMNS[1:]
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        f"ON CONFLICT (code) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in non_keys)} "
        f"WHERE {' OR '.join(f'{TABLE}.{c} IS NOT excluded.{c}' for c in non_keys)}"
    )
    out: Results = {}
    conn = sqlite3.connect(url)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    for scenario in SCENARIOS:
        timer = Timer()
        written = 0
        for page in pages(scenario, rows, page_size):
            with timer:
                written += conn.executemany(sql, page).rowcount
                conn.commit()
        out[scenario] = (timer.seconds, written, -1, -1)
    conn.close()
    return out


METHODS: dict[str, tuple[Callable[..., Any], tuple[str, ...], bool]] = {
    # name: (function, dialects, runs on the subset)
    "writer": (method_writer, ("postgresql", "sqlite"), False),
    "limit: COPY + upsert": (method_pg_limit, ("postgresql",), False),
    "limit: raw COPY": (method_pg_copy, ("postgresql",), False),
    "limit: executemany upsert": (method_sqlite_limit, ("sqlite",), False),
    "dlt merge": (method_dlt, ("postgresql", "sqlite"), True),
    "naive ORM loop": (method_naive, ("postgresql", "sqlite"), True),
}


# -- driver ----------------------------------------------------------------------------------------


def worker(method: str, dialect: str, rows: int, page_size: int, admin_url: str, sqlite_path: str) -> None:
    function = METHODS[method][0]
    if dialect == "postgresql":
        reset_pg_table(admin_url)
        libpq = pg_libpq_url(admin_url, PG_DATABASE)
        url = (
            libpq
            if method != "writer" and method != "naive ORM loop"
            else libpq.replace("postgresql://", "postgresql+psycopg://")
        )
    else:
        reset_sqlite(Path(sqlite_path))
        url = (
            sqlite_path
            if method not in ("writer", "naive ORM loop")
            else f"sqlite+aiosqlite:///{sqlite_path}"
        )
    result = function(dialect, url, rows, page_size)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"results": result, "peak_rss_mb": peak_kb / 1024}))


def ensure_pg_database(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,)).fetchone():
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--subset", type=int, default=10_000, help="rows for the naive loop and dlt")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--dialects", default="postgresql,sqlite")
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds of the fast methods; the fastest counts"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "DIALECT"), help=argparse.SUPPRESS)
    parser.add_argument("--sqlite-path", default=str(Path(tempfile.gettempdir()) / "softone-writer-bench.db"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.rows, args.page_size, args.pg_admin_url, args.sqlite_path)
        return

    dialects = args.dialects.split(",")
    if "postgresql" in dialects:
        ensure_pg_database(args.pg_admin_url)
    measured: dict[tuple[str, str], dict[str, Any]] = {}
    # Rounds interleave the methods, so load from elsewhere on the machine hits them alike; the fastest
    # round of each method and scenario counts. The slow methods run once, on the subset.
    for attempt in range(args.repeat):
        for dialect in dialects:
            for method in args.methods.split(","):
                _, supported, on_subset = METHODS[method]
                if dialect not in supported or (on_subset and attempt > 0):
                    continue
                rows = min(args.subset, args.rows) if on_subset else args.rows
                command = [sys.executable, __file__, "--worker", method, dialect, "--rows", str(rows),
                           "--page-size", str(args.page_size), "--pg-admin-url", args.pg_admin_url,
                           "--sqlite-path", args.sqlite_path]  # fmt: skip
                print(
                    f"round {attempt + 1}: {method} on {dialect} ({rows:,} rows)…",
                    file=sys.stderr,
                    flush=True,
                )
                done = subprocess.run(
                    command, capture_output=True, text=True, env=os.environ.copy(), check=False
                )
                if done.returncode != 0:
                    print(done.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{method} on {dialect} failed")
                data = json.loads(done.stdout.strip().splitlines()[-1])
                data["rows"] = rows
                best = measured.setdefault((dialect, method), data)
                for scenario, result in data["results"].items():
                    if result[0] < best["results"][scenario][0]:
                        best["results"][scenario] = result
                best["peak_rss_mb"] = max(best["peak_rss_mb"], data["peak_rss_mb"])
    print(report(measured, args.rows, args.page_size))


def report(measured: dict[tuple[str, str], dict[str, Any]], rows: int, page_size: int) -> str:
    lines = [
        f"{rows:,} rows, page size {page_size:,}; ~ = measured on a subset, extrapolated per row;",
        "÷ writer = this method's wall time divided by the writer's (above 1: slower than the writer).",
        "",
        "| dialect | method | scenario | wall s | rows/s | peak RSS MB | ÷ writer | counts c/u/= |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for (dialect, method), data in measured.items():
        for scenario, (seconds, created, updated, unchanged) in data["results"].items():
            measured_rows = (
                sum(expected(scenario, data["rows"]))
                if scenario != "changed"
                else (data["rows"] + max(1, data["rows"] // 1000))
            )
            rate = measured_rows / seconds if seconds else float("inf")
            total = sum(expected(scenario, rows))
            wall = total / rate
            approx = "~" if data["rows"] != rows else ""
            writer = measured.get((dialect, "writer"), {}).get("results", {}).get(scenario)
            ratio = ""
            if writer:
                writer_wall = writer[0]
                ratio = f"{wall / writer_wall:.2f}×"
            counts = f"{created}/{updated}/{unchanged}" if created >= 0 and updated >= 0 else ""
            if method == "writer":
                ok = (created, updated, unchanged) == expected(scenario, rows)
                counts += " ✓" if ok else f" ✗ expected {expected(scenario, rows)}"
            lines.append(
                f"| {dialect} | {method} | {scenario} | {approx}{wall:.2f} | {rate:,.0f} | "
                f"{data['peak_rss_mb']:.0f} | {ratio} | {counts} |"
            )
    lines += ["", *targets(measured, rows)]
    return "\n".join(lines)


def _wall(
    measured: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str], scenario: str, rows: int
) -> float:
    """Wall time for ``rows`` (per-row rate extrapolated when measured on a subset)."""
    data = measured[key]
    seconds = data["results"][scenario][0]
    return seconds * sum(expected(scenario, rows)) / sum(expected(scenario, data["rows"]))


def targets(measured: dict[tuple[str, str], dict[str, Any]], rows: int) -> list[str]:
    checks = [
        ("limit: COPY + upsert", "writer ≤ 1.3× limit", lambda w, o: w / o, lambda r: r <= 1.3),
        ("limit: executemany upsert", "writer ≤ 1.3× limit", lambda w, o: w / o, lambda r: r <= 1.3),
        ("dlt merge", "≥ 6× faster than dlt merge", lambda w, o: o / w, lambda r: r >= 6),
        ("naive ORM loop", "≥ 30× faster than the naive loop", lambda w, o: o / w, lambda r: r >= 30),
    ]
    out = ["| dialect | target | initial | resync | changed | met |", "|---|---|---:|---:|---:|---|"]
    for dialect in ("postgresql", "sqlite"):
        if (dialect, "writer") not in measured:
            continue
        for other, label, ratio_of, ok in checks:
            if (dialect, other) not in measured:
                continue
            ratios = [
                ratio_of(
                    _wall(measured, (dialect, "writer"), s, rows), _wall(measured, (dialect, other), s, rows)
                )
                for s in SCENARIOS
            ]
            met = "yes" if all(ok(r) for r in ratios) else "NO"
            out.append(f"| {dialect} | {label} | " + " | ".join(f"{r:.2f}×" for r in ratios) + f" | {met} |")
    return out


if __name__ == "__main__":
    main()
