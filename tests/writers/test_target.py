"""Reflecting the application's table and checking a mapping against it: precise errors, never DDL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.mapping import encode_record_key
from softone_sync.sync.target import (
    TargetError,
    check_columns,
    decode_record_key,
    reflect_target,
    required_unmapped,
    unique_key_backed,
)
from softone_sync.sync.writers import writer_for
from tests.writers.conftest import CUSTOMER_COLUMNS, create_tables


async def test_mixed_case_name_reflects_exactly(conn: AsyncConnection) -> None:
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
    assert target.key_columns == ["Code"]
    assert set(CUSTOMER_COLUMNS) <= set(target.table.c.keys())
    with pytest.raises(TargetError) as error:
        async with conn.begin():
            await reflect_target(conn, "customermaster", None)
    assert str(error.value) == (
        "table 'customermaster' does not exist; did you mean 'CustomerMaster'? (names are case-sensitive)"
    )


async def test_unknown_table_lists_near_names(conn: AsyncConnection) -> None:
    with pytest.raises(
        TargetError, match=r"table 'CustomerMastr' does not exist; did you mean 'CustomerMaster'"
    ):
        async with conn.begin():
            await reflect_target(conn, "CustomerMastr", None)
    with pytest.raises(TargetError, match=r"table 'zzz' does not exist \(available: .*'CustomerMaster'"):
        async with conn.begin():
            await reflect_target(conn, "zzz", None)


async def test_unknown_schema(conn: AsyncConnection) -> None:
    with pytest.raises(TargetError, match="schema 'nope' does not exist"):
        async with conn.begin():
            await reflect_target(conn, "CustomerMaster", "nope")


async def test_schema_qualified_target_on_postgresql(conn: AsyncConnection) -> None:
    if conn.dialect.name != "postgresql":
        pytest.skip("schemas are a PostgreSQL feature")
    async with conn.begin():
        await conn.exec_driver_sql('CREATE SCHEMA "Shop"')
        await conn.exec_driver_sql('CREATE TABLE "Shop"."Items" ("Id" text PRIMARY KEY, "v" int)')
        target = await reflect_target(conn, "Items", "Shop")
        writer = writer_for("postgresql")
        await writer.begin_run(conn, target, ["Id", "v"])
    async with conn.begin():
        result = await writer.upsert_page(conn, target, ["Id", "v"], [("a", 1)])
    assert result.created == 1
    assert target.qualified_name == "Shop.Items"


async def test_unknown_and_incompatible_columns(conn: AsyncConnection) -> None:
    async with conn.begin():
        target = await reflect_target(conn, "CustomerMaster", None)
    with pytest.raises(TargetError) as error:
        check_columns(target, ["Code", "nmae", "Order"])
    message = str(error.value)
    assert "has no column 'nmae'; did you mean 'name'" in message
    assert "has no column 'Order'; did you mean 'order'" in message
    with pytest.raises(
        TargetError, match="column 'order' of 'CustomerMaster' is INTEGER and cannot hold str values"
    ):
        check_columns(target, ["order"], {"order": str})
    with pytest.raises(TargetError, match="cannot hold datetime"):
        check_columns(target, ["since"], {"since": datetime})
    with pytest.raises(TargetError, match="cannot hold bool"):
        check_columns(target, ["order"], {"order": bool})
    check_columns(
        target,
        CUSTOMER_COLUMNS,
        {"select": int, "since": date, "updated": datetime, "user": bool, "name": str, "order": int},
    )
    with pytest.raises(TargetError, match="has no column 'Code2'"):
        await reflect_target(conn, "CustomerMaster", None, key_columns=["Code2"])
    await conn.rollback()


async def test_unique_key_backing_and_required_columns(conn: AsyncConnection) -> None:
    table = sa.Table(
        "contacts",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("erp_id", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("kind", sa.Text, nullable=False, server_default="erp"),
        sa.Column("a", sa.Text),
        sa.Column("b", sa.Text),
        sa.Index("ux_contacts_erp", "erp_id", unique=True),
        sa.Index("ux_contacts_ab", "a", "b", unique=True),
        sa.Index("ix_contacts_phone", "phone"),
    )
    async with conn.begin():
        await create_tables(conn, table)
        target = await reflect_target(conn, "contacts", None, key_columns=["erp_id"])
    assert unique_key_backed(target, ["erp_id"])
    assert unique_key_backed(target, ["b", "a"])
    assert unique_key_backed(target, ["id"])
    assert not unique_key_backed(target, ["phone"])
    assert not unique_key_backed(target, ["a"])
    assert required_unmapped(target, ["erp_id", "phone"]) == ["email"]
    with pytest.raises(TargetError, match=r"NOT NULL column\(s\) without a default are not mapped: email"):
        writer_for(conn.dialect.name).plan(target, ["erp_id", "phone"])
    phone_keyed = await reflect_target(conn, "contacts", None, key_columns=["phone"])
    with pytest.raises(
        TargetError, match=r"no primary key, unique constraint or unique index on exactly \(phone\)"
    ):
        writer_for(conn.dialect.name).plan(phone_keyed, ["phone", "erp_id", "email"])
    await conn.rollback()


async def test_views_are_refused(conn: AsyncConnection) -> None:
    async with conn.begin():
        await conn.exec_driver_sql('CREATE VIEW customer_view AS SELECT "Code" FROM "CustomerMaster"')
    with pytest.raises(TargetError, match="'customer_view' is a view; the target must be a table"):
        async with conn.begin():
            await reflect_target(conn, "customer_view", None)


def test_record_keys_decode_to_typed_key_values() -> None:
    table = sa.Table(
        "k",
        sa.MetaData(),
        sa.Column("code", sa.Text),
        sa.Column("n", sa.Integer),
        sa.Column("d", sa.Date),
        sa.Column("amount", sa.Numeric(10, 2)),
    )
    from softone_sync.sync.target import TargetTable

    composite = TargetTable(None, "k", table, ["code", "n", "d", "amount"])
    key = ('Α/"1', 42, date(2024, 2, 29), Decimal("10.50"))
    assert decode_record_key(composite, encode_record_key(key)) == key
    single = TargetTable(None, "k", table, ["n"])
    assert decode_record_key(single, encode_record_key((7,))) == (7,)
