"""Full-run deletions: only rows the integration owns and did not see go; everything else stays."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db import Database
from softone_sync.sync.mapping import encode_record_key
from softone_sync.sync.target import TargetTable, reflect_target
from softone_sync.sync.writers import PageWriter, WriterStateError, writer_for
from tests.fixtures.db import seed_integration
from tests.writers.conftest import CUSTOMER_COLUMNS, customer_row
from tests.writers.test_upsert import rows_of

COLUMNS = [*CUSTOMER_COLUMNS, "app_owned"]


async def full_run(
    conn: AsyncConnection, integration_id: str, rows: list[tuple[object, ...]]
) -> tuple[PageWriter, TargetTable]:
    """Write ``rows`` as one full run that records ownership and seen keys, like the run engine does."""
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
        writer = writer_for(conn.dialect.name)
        await writer.begin_run(conn, target, CUSTOMER_COLUMNS, track_seen=True)
    keys = [encode_record_key((row[0],)) for row in rows]
    async with conn.begin():
        await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, rows)
        await writer.record_owned(conn, integration_id, keys)
        await writer.record_seen(conn, keys)
    return writer, target


async def owned(conn: AsyncConnection, integration_id: str) -> list[str]:
    async with conn.begin():
        result = await conn.execute(
            sa.text("SELECT record_key FROM sync_records WHERE integration_id = :i ORDER BY record_key"),
            {"i": integration_id},
        )
        return list(result.scalars())


@pytest.fixture
async def seeded(conn: AsyncConnection, integration_id: str) -> str:
    """Rows 1-6 written by the integration, plus one row the application created itself."""
    await full_run(conn, integration_id, [customer_row(i) for i in range(1, 7)])
    async with conn.begin():
        await conn.exec_driver_sql(
            """INSERT INTO "CustomerMaster" ("Code", "name") VALUES ('APP1', 'created in the app')"""
        )
    return integration_id


async def test_hard_delete_removes_only_owned_unseen_rows(
    conn: AsyncConnection, seeded: str, db: Database
) -> None:
    other = (await seed_integration(db, name="other")).id
    async with conn.begin():
        writer = writer_for(conn.dialect.name)
        await writer.record_owned(conn, other, ['"C0005"'])  # another integration's claim stays untouched

    writer, target = await full_run(conn, seeded, [customer_row(i) for i in (1, 2, 3, 6)])
    async with conn.begin():
        assert await writer.count_unseen(conn, seeded) == 2
        deleted = await writer.sweep_unseen(conn, target, seeded, "hard")
    assert deleted == 2
    assert sorted(await rows_of(conn, target, ["Code"])) == ["APP1", "C0001", "C0002", "C0003", "C0006"]
    assert await owned(conn, seeded) == ["C0001", "C0002", "C0003", "C0006"]
    assert await owned(conn, other) == ['"C0005"']


async def test_soft_delete_marks_rows_once(conn: AsyncConnection, seeded: str) -> None:
    writer, target = await full_run(conn, seeded, [customer_row(i) for i in (1, 2, 3, 4)])
    async with conn.begin():
        marked = await writer.sweep_unseen(
            conn, target, seeded, "soft", soft_column="note", soft_value="deleted"
        )
    assert marked == 2
    notes = {code: row[1] for code, row in (await rows_of(conn, target, ["Code", "note"])).items()}
    assert (notes["C0005"], notes["C0006"], notes["APP1"]) == ("deleted", "deleted", None)
    assert len(await owned(conn, seeded)) == 6  # soft-deleted rows still exist and stay owned
    async with conn.begin():
        again = await writer.sweep_unseen(
            conn, target, seeded, "soft", soft_column="note", soft_value="deleted"
        )
    assert again == 0


async def test_composite_record_keys_are_swept(conn: AsyncConnection, integration_id: str) -> None:
    async with conn.begin():
        await conn.exec_driver_sql(
            'CREATE TABLE stock ("item" text NOT NULL, "store" integer NOT NULL, qty integer,'
            ' PRIMARY KEY ("item", "store"))'
        )
        target = await reflect_target(conn, "stock", None)
        writer = writer_for(conn.dialect.name)
        await writer.begin_run(conn, target, ["item", "store", "qty"], track_seen=True)
    rows = [("A", 1, 5), ("A", 2, 6), ("B", 1, 7)]
    async with conn.begin():
        await writer.upsert_page(conn, target, ["item", "store", "qty"], rows)
        await writer.record_owned(conn, integration_id, [encode_record_key(r[:2]) for r in rows])
        await writer.record_seen(conn, [encode_record_key(r[:2]) for r in rows[:2]])
        assert await writer.sweep_unseen(conn, target, integration_id, "hard") == 1
        remaining = (await conn.exec_driver_sql("SELECT item, store FROM stock ORDER BY 1, 2")).all()
    assert [tuple(r) for r in remaining] == [("A", 1), ("A", 2)]


async def test_sweep_without_seen_tracking_is_refused(conn: AsyncConnection, integration_id: str) -> None:
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
        writer = writer_for(conn.dialect.name)
        await writer.begin_run(conn, target, CUSTOMER_COLUMNS)
    with pytest.raises(WriterStateError, match="track_seen"):
        await writer.sweep_unseen(conn, target, integration_id, "hard")
    await conn.rollback()


async def test_end_run_drops_the_temporary_tables(conn: AsyncConnection, integration_id: str) -> None:
    async def temp_tables() -> int:
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                query = (
                    "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'"
                )
            else:
                query = "SELECT count(*) FROM sqlite_temp_master WHERE type = 'table'"
            return int((await conn.exec_driver_sql(query)).scalar_one())

    writer, _ = await full_run(conn, integration_id, [customer_row(1)])
    assert await temp_tables() > 0
    async with conn.begin():
        await writer.end_run(conn)
    assert await temp_tables() == 0
