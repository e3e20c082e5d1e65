"""Application-like target tables for the writer tests, on SQLite and PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db import Database
from tests.fixtures.db import seed_integration

# A customer master the way applications name things: a mixed-case table, a mixed-case key and
# columns named like SQL keywords.
CUSTOMER_COLUMNS = ["Code", "name", "order", "select", "user", "since", "updated", "local_ts", "note"]


def customer_table(metadata: sa.MetaData, name: str = "CustomerMaster") -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("Code", sa.String(20), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("order", sa.Integer),
        sa.Column("select", sa.Numeric(12, 2)),
        sa.Column("user", sa.Boolean),
        sa.Column("since", sa.Date),
        sa.Column("updated", sa.DateTime(timezone=True)),
        sa.Column("local_ts", sa.DateTime()),
        sa.Column("note", sa.Text),
        sa.Column("app_owned", sa.Text, server_default="app"),  # a column the sync never maps
    )


def customer_row(i: int, **changes: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "Code": f"C{i:04d}",
        "name": f"Πελάτης {i} Α.Ε.",
        "order": i * 10,
        "select": Decimal(f"{i}.25"),
        "user": i % 2 == 0,
        "since": date(2020, 1, 1 + i % 28),
        "updated": datetime(2024, 5, 1, 12, i % 60, 30, tzinfo=UTC),
        "local_ts": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "note": None if i % 3 else f"note {i}",
    }
    values.update(changes)
    return tuple(values[c] for c in CUSTOMER_COLUMNS)


async def create_tables(conn: AsyncConnection, *tables: sa.Table) -> None:
    await conn.run_sync(lambda sync: tables[0].metadata.create_all(sync, tables=list(tables)))


@pytest.fixture
async def conn(db: Database) -> AsyncIterator[AsyncConnection]:
    """One connection for the whole test, as a run keeps one for all its pages."""
    async with db.connect() as connection:
        async with connection.begin():
            await create_tables(connection, customer_table(sa.MetaData()))
        yield connection


@pytest.fixture
async def integration_id(db: Database) -> str:
    integration = await seed_integration(db)
    return str(integration.id)
