"""Per-run state on the run's connection: temporary tables that survive the caller's transactions, and the
"seen keys" table that catches a unique key repeated across pages."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.target import TargetError, reflect_target
from softone_sync.sync.writers import writer_for
from tests.writers.conftest import CUSTOMER_COLUMNS, customer_row


async def test_temp_tables_survive_a_later_rollback(conn: AsyncConnection) -> None:
    # As the run does it: begin_run outside any transaction, commit, and later a rolled-back
    # transaction (a failed guard query, a dry-run read). The run's temporary tables must still be
    # there: SQLAlchemy has to know that begin_run's DDL opened a transaction, or its commit() is a
    # no-op and the rollback drops them.
    target = await reflect_target(conn, "CustomerMaster", None)
    await conn.commit()
    writer = writer_for(conn.dialect.name)
    await writer.begin_run(conn, target, CUSTOMER_COLUMNS, track_seen=True)
    await conn.commit()
    await conn.execute(sa.text("SELECT 1"))
    await conn.rollback()

    async with conn.begin():
        result = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(1), customer_row(2)])
        await writer.claim_written(conn, ["C0001", "C0002"])
    assert result.created == 2
    async with conn.begin():
        assert await writer.count_unseen(conn, "no-such-integration") == 0
        assert (await conn.exec_driver_sql('SELECT count(*) FROM "CustomerMaster"')).scalar() == 2
    async with conn.begin():
        await writer.end_run(conn)


async def test_claim_written_reports_keys_an_earlier_page_wrote(conn: AsyncConnection) -> None:
    target = await reflect_target(conn, "CustomerMaster", None)
    await conn.commit()
    writer = writer_for(conn.dialect.name)
    async with conn.begin():
        await writer.begin_run(conn, target, CUSTOMER_COLUMNS)
    async with conn.begin():
        assert await writer.claim_written(conn, ["C0001", "C0002"]) == set()
        await writer.record_seen(conn, ["C0003"])  # a rejected row: seen, not written
    async with conn.begin():
        assert await writer.claim_written(conn, ["C0002", "C0003", "C0004"]) == {"C0002"}
    async with conn.begin():
        assert await writer.claim_written(conn, ["C0003"]) == {"C0003"}
    async with conn.begin():  # a rolled-back page claimed nothing
        await writer.claim_written(conn, ["C0005"])
        await conn.rollback()
    async with conn.begin():
        assert await writer.claim_written(conn, ["C0005"]) == set()
        await writer.forget_seen(conn)
    async with conn.begin():
        assert await writer.claim_written(conn, ["C0001", "C0005"]) == set()
        await writer.end_run(conn)


async def test_a_value_the_column_cannot_store_is_named_and_nothing_is_written(conn: AsyncConnection) -> None:
    target = await reflect_target(conn, "CustomerMaster", None)
    await conn.commit()
    writer = writer_for(conn.dialect.name)
    async with conn.begin():
        await writer.begin_run(conn, target, CUSTOMER_COLUMNS)
    page = [customer_row(1), customer_row(2, local_ts="soon-ish")]
    if conn.dialect.name == "sqlite":
        refused = pytest.raises(
            TargetError, match=r"column 'local_ts' of 'CustomerMaster' is .* value 'soon-ish'"
        )
    else:  # the text goes to COPY as it is; PostgreSQL refuses it and names the column
        refused = pytest.raises(psycopg.errors.InvalidDatetimeFormat, match="soon-ish")
    with refused:
        async with conn.begin():
            await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, page)
    async with conn.begin():
        assert (await conn.exec_driver_sql('SELECT count(*) FROM "CustomerMaster"')).scalar() == 0
        await writer.end_run(conn)
