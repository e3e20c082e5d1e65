"""Dry runs: what a page would do, with sample diffs, and not one row written."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.target import reflect_target
from softone_sync.sync.writers import writer_for
from tests.writers.conftest import CUSTOMER_COLUMNS, customer_row
from tests.writers.test_upsert import begin, rows_of, write_marks


async def test_preview_counts_and_samples_without_writing(conn: AsyncConnection) -> None:
    writer, target = await begin(conn, "CustomerMaster", CUSTOMER_COLUMNS)
    async with conn.begin():
        await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, [customer_row(i) for i in range(1, 11)])
    before_rows = await rows_of(conn, target, CUSTOMER_COLUMNS)
    before_marks = await write_marks(conn, target)

    page = [customer_row(i) for i in range(1, 11)]
    page[1] = customer_row(2, select=Decimal("5.5"), note=None)
    page[4] = customer_row(5, name="Αλλαγή")
    page += [customer_row(50), customer_row(51), customer_row(52)]
    async with conn.begin():
        preview = await writer.preview_page(conn, target, CUSTOMER_COLUMNS, page, samples=2)
    assert (preview.would_create, preview.would_update, preview.unchanged) == (3, 2, 8)
    assert [s.key for s in preview.update_samples] == [("C0002",), ("C0005",)]
    assert preview.update_samples[0].changes == {"select": (Decimal("2.25"), Decimal("5.5"))}
    assert preview.update_samples[1].changes == {"name": ("Πελάτης 5 Α.Ε.", "Αλλαγή")}
    assert len(preview.create_samples) == 2
    assert preview.create_samples[0].changes["name"] == (None, "Πελάτης 50 Α.Ε.")
    assert preview.as_json()["update_samples"][0] == {
        "key": ["C0002"],
        "changes": {"select": ["2.25", "5.5"]},
    }

    assert await rows_of(conn, target, CUSTOMER_COLUMNS) == before_rows
    assert await write_marks(conn, target) == before_marks

    # The preview agrees with what the upsert then does.
    async with conn.begin():
        result = await writer.upsert_page(conn, target, CUSTOMER_COLUMNS, page)
    assert (result.created, result.updated, result.unchanged) == (3, 2, 8)


async def test_preview_needs_no_begin_run_and_accumulates(conn: AsyncConnection) -> None:
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
        writer = writer_for(conn.dialect.name)
        total = await writer.preview_page(conn, target, CUSTOMER_COLUMNS, [customer_row(1), customer_row(2)])
        total.add(await writer.preview_page(conn, target, CUSTOMER_COLUMNS, [customer_row(3)]), samples=2)
    assert (total.would_create, total.would_update, total.unchanged) == (3, 0, 0)
    assert len(total.create_samples) == 2
    assert await rows_of(conn, target, ["Code"]) == {}
