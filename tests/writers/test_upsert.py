"""Writing pages: exact counts, no-op re-syncs, keys and types that applications really have."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.target import TargetTable, reflect_target
from softone_sync.sync.writers import PageError, PageWriter, WriterStateError, dedupe_page, writer_for
from tests.writers.conftest import CUSTOMER_COLUMNS, create_tables, customer_row


async def begin(
    conn: AsyncConnection, name: str, columns: list[str], **kw: Any
) -> tuple[PageWriter, TargetTable]:
    async with conn.begin():
        target = await reflect_target(conn, name, None, **kw)
        writer = writer_for(conn.dialect.name)
        await writer.begin_run(conn, target, columns)
    return writer, target


async def rows_of(
    conn: AsyncConnection, target: TargetTable, columns: list[str]
) -> dict[Any, tuple[Any, ...]]:
    async with conn.begin():
        table = target.table
        result = await conn.execute(sa.select(*(table.c[c] for c in columns)))
        return {row[0]: tuple(row) for row in result}


async def write_marks(conn: AsyncConnection, target: TargetTable) -> Any:
    """Changes whenever a row is written: PostgreSQL row versions, SQLite's change counter."""
    async with conn.begin():
        if conn.dialect.name == "postgresql":
            table = target.table
            result = await conn.execute(sa.select(sa.column("xmin").cast(sa.Text)).select_from(table))
            return sorted(result.scalars())
        return (await conn.exec_driver_sql("SELECT total_changes()")).scalar()


async def test_counts_are_exact_and_an_identical_resync_writes_nothing(conn: AsyncConnection) -> None:
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    first = [customer_row(i) for i in range(1, 41)]
    async with conn.begin():
        result = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, first)
    assert (result.created, result.updated, result.unchanged) == (40, 0, 0)
    assert sorted(result.created_keys) == [(f"C{i:04d}",) for i in range(1, 41)]

    before = await write_marks(conn, target)
    async with conn.begin():
        again = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, first)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 40)
    assert await write_marks(conn, target) == before

    # 3 changed (one only in a NULL-able column going to NULL), 2 new, the rest identical.
    second = [*first[:37]]
    second[0] = customer_row(1, name="Νέο όνομα")
    second[3] = customer_row(4, note=None, order=None)
    second[5] = customer_row(6, select=Decimal("99.90"))
    second += [customer_row(100), customer_row(101)]
    async with conn.begin():
        mixed = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, second)
    assert (mixed.created, mixed.updated, mixed.unchanged) == (2, 3, 34)
    assert sorted(mixed.created_keys) == [("C0100",), ("C0101",)]
    assert sorted(mixed.updated_keys) == [("C0001",), ("C0004",), ("C0006",)]
    stored = await rows_of(conn, target, ["Code", "name", "order", "note", "select"])
    assert stored["C0001"][1] == "Νέο όνομα"
    assert stored["C0004"][2:4] == (None, None)
    assert stored["C0006"][4] == Decimal("99.90")
    assert len(stored) == 42  # rows missing from a page are never deleted by an upsert


async def test_values_round_trip_with_their_types(conn: AsyncConnection) -> None:
    columns = CUSTOMER_COLUMNS
    writer, target = await begin(conn, "CustomerMaster", columns)
    athens = timezone(timedelta(hours=3))
    row = customer_row(
        7,
        name='Ελληνικά ‘quotes’ \\ tab\t and "double"',
        select=Decimal("-1234567890.55"),
        user=False,
        since=date(1999, 12, 31),
        updated=datetime(2024, 3, 31, 2, 30, 15, 123456, tzinfo=athens),
        local_ts=datetime(2024, 7, 1, 10, 0, tzinfo=athens),
        note="",
    )
    async with conn.begin():
        await writer.upsert_page(conn, target, columns, [row])
    stored = (await rows_of(conn, target, columns))["C0007"]
    assert stored[:6] == row[:6]
    assert isinstance(stored[3], Decimal)
    # An instant is an instant; columns without a time zone hold it as UTC wall time.
    updated = stored[6] if stored[6].tzinfo else stored[6].replace(tzinfo=UTC)
    assert updated == row[6]
    assert stored[7] == datetime(2024, 7, 1, 7, 0)
    assert stored[8] == ""
    async with conn.begin():
        again = await writer.upsert_page(conn, target, columns, [row])
    assert again.unchanged == 1, "values read back must compare equal, or every re-sync would rewrite them"


async def test_composite_key_and_keyword_names(conn: AsyncConnection) -> None:
    metadata = sa.MetaData()
    lines = sa.Table(
        "Order Lines",
        metadata,
        sa.Column("order", sa.Integer, nullable=False),
        sa.Column("user", sa.String(10), nullable=False),
        sa.Column("select", sa.Numeric(10, 3)),
        sa.Column("group", sa.Text),
        sa.UniqueConstraint("order", "user"),
    )
    async with conn.begin():
        await create_tables(conn, lines)
    columns = ["order", "user", "select", "group"]
    writer, target = await begin(conn, "Order Lines", columns, key_columns=["order", "user"])
    page: list[tuple[Any, ...]] = [(o, u, Decimal(o) / 8, None) for o in range(1, 6) for u in ("a", "B")]
    async with conn.begin():
        result = await writer.upsert_page(conn, target, columns, page)
    assert (result.created, result.updated, result.unchanged) == (10, 0, 0)
    page[3] = (2, "B", Decimal("7.125"), "x")
    async with conn.begin():
        result = await writer.upsert_page(conn, target, columns, page)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 9)
    assert result.updated_keys == [(2, "B")]


async def test_only_key_columns_mapped(conn: AsyncConnection) -> None:
    async with conn.begin():
        await create_tables(
            conn, sa.Table("tags", sa.MetaData(), sa.Column("tag", sa.Text, primary_key=True))
        )
    writer, target = await begin(conn, "tags", ["tag"])
    async with conn.begin():
        first = await writer.upsert_page(conn, target, ["tag"], [("a",), ("b",)])
    async with conn.begin():
        second = await writer.upsert_page(conn, target, ["tag"], [("a",), ("c",)])
    assert (first.created, second.created, second.updated, second.unchanged) == (2, 1, 0, 1)


async def test_integer_primary_key_mapped_from_the_erp(conn: AsyncConnection) -> None:
    # On SQLite an INTEGER PRIMARY KEY is the rowid itself, so new rows can get rowids below old ones.
    table = sa.Table(
        "items", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.Text)
    )
    async with conn.begin():
        await create_tables(conn, table)
    writer, target = await begin(conn, "items", ["id", "v"])
    async with conn.begin():
        await writer.upsert_page(conn, target, ["id", "v"], [(100, "a"), (200, "b")])
    async with conn.begin():
        result = await writer.upsert_page(
            conn, target, ["id", "v"], [(5, "new"), (100, "changed"), (200, "b")]
        )
    assert (result.created, result.updated, result.unchanged) == (1, 1, 1)
    assert (result.created_keys, result.updated_keys) == ([(5,)], [(100,)])


async def test_duplicate_keys_are_split_off_before_writing(conn: AsyncConnection) -> None:
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    page = [customer_row(1), customer_row(2), customer_row(1), customer_row(2, name="other")]
    kept, duplicates = dedupe_page(target, CUSTOMER_COLUMNS, page)
    assert kept == [customer_row(1), customer_row(2)]
    assert duplicates == [customer_row(2, name="other")]  # the exact repeat of C0001 is not a conflict
    with pytest.raises(PageError, match="repeats a key"):
        async with conn.begin():
            await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, page)
    with pytest.raises(PageError, match="without a value in key"):
        async with conn.begin():
            await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(3, Code=None)])
    assert await rows_of(conn, target, ["Code"]) == {}


async def test_rollback_of_the_callers_transaction_leaves_the_table_untouched(conn: AsyncConnection) -> None:
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    async with conn.begin():
        await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(1)])
    before = await rows_of(conn, target, CUSTOMER_COLUMNS)
    transaction = await conn.begin()
    result = await writer.upsert_page(
        conn, target, CUSTOMER_COLUMNS, [customer_row(1, name="x"), customer_row(2)]
    )
    assert (result.created, result.updated) == (1, 1)
    await transaction.rollback()
    assert await rows_of(conn, target, CUSTOMER_COLUMNS) == before
    # The next page still works on the same connection and counts against the rolled-back state.
    async with conn.begin():
        result = await writer.upsert_page(
            conn, target, CUSTOMER_COLUMNS, [customer_row(1, name="x"), customer_row(2)]
        )
    assert (result.created, result.updated) == (1, 1)


async def test_two_pages_in_one_transaction(conn: AsyncConnection) -> None:
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    async with conn.begin():
        a = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(i) for i in range(5)])
        b = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(i) for i in range(3, 8)])
    assert (a.created, b.created, b.unchanged) == (5, 3, 2)


async def test_writer_used_out_of_order_says_so(conn: AsyncConnection) -> None:
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
    writer = writer_for(conn.dialect.name)
    with pytest.raises(WriterStateError, match="begin_run"):
        await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(1)])
    await conn.rollback()
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    with pytest.raises(WriterStateError, match="column list"):
        await writer.upsert_page(conn, target, CUSTOMER_COLUMNS[:3], [customer_row(1)[:3]])
