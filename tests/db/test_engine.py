"""open_database: per-dialect settings that the rest of the service depends on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db import Database, open_database
from softone_sync.db.engine import SQLITE_BUSY_TIMEOUT_MS


async def _pragma(conn: AsyncConnection, name: str) -> object:
    return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()


async def test_sqlite_pragmas_hold_on_every_connection(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}")
    try:
        assert (tmp_path / "nested" / "dir").is_dir()
        async with db.connect() as first, db.connect() as second:  # two pooled connections
            for conn in (first, second):
                assert await _pragma(conn, "journal_mode") == "wal"
                assert await _pragma(conn, "foreign_keys") == 1
                assert await _pragma(conn, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
    finally:
        await db.dispose()
    assert db.dialect == "sqlite"


async def test_writers_wait_for_each_other_instead_of_failing(db: Database) -> None:
    """Concurrent transactions queue on the SQLite write lock (busy_timeout) and all commit."""
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE counter_test (n INTEGER)")

    async def write(n: int) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO counter_test (n) VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)  # hold the write lock while the others try

    await asyncio.gather(*(write(n) for n in range(10)))
    async with db.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM counter_test"))).scalar_one() == 10


async def test_postgres_style_urls_are_accepted_and_repr_hides_the_password() -> None:
    db = await open_database("postgres://svc:hunter2-secret@127.0.0.1:1/app")  # not connected yet
    try:
        assert db.dialect == "postgresql"
        assert db.url.startswith("postgresql+psycopg://")
        assert "hunter2-secret" not in repr(db)
        assert db.engine.pool._pre_ping
    finally:
        await db.dispose()
