"""A two-way integration against the simulator: the application's "Customers" table, its config,
and small readers for both sides."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from softone_sync.sync.run import RunResult, run_integration
from softone_sync.sync.twoway import enable_two_way
from tests.sync.helpers import execute, make_connection, make_integration, sync_settings

CUSTOMERS = 30

DDL = """
CREATE TABLE "Customers" (
    "code" VARCHAR(25) PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "city" VARCHAR(100),
    "phone" VARCHAR(30),
    "discount" NUMERIC(5, 2),
    "remarks" TEXT,
    "erp_id" INTEGER,
    "app_note" TEXT
)
"""


def two_way_config(**two_way: Any) -> dict[str, Any]:
    return {
        "source": {"object": "CUSTOMER", "list": "monitor", "pageSize": 10},
        "mappings": [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "NAME", "column": "name"},
            {"erpField": "CITY", "column": "city"},
            {"erpField": "PHONE01", "column": "phone"},
            {"erpField": "DISCOUNT", "column": "discount", "convert": "decimal"},
            {"erpField": "REMARKS", "column": "remarks"},
            {"erpField": "$key", "column": "erp_id", "convert": "int"},
        ],
        "uniqueIdentifiers": ["CODE"],
        "target": {"table": "Customers"},
        "direction": "two-way",
        "twoWay": two_way,
    }


class TwoWaySetup:
    def __init__(self, db: Database, running: RunningSimulator, database_url: str) -> None:
        self.db = db
        self.running = running
        self.sim = running.simulator
        self.settings = sync_settings(database_url)
        self.integration_id = ""

    async def create(self, *, enable: bool = True, **two_way: Any) -> str:
        await execute(self.db, DDL)
        connection_id = await make_connection(self.db, self.running)
        self.integration_id = await make_integration(self.db, connection_id, two_way_config(**two_way))
        if enable:
            await enable_two_way(self.db, self.integration_id)
        return self.integration_id

    async def run(self, **kwargs: Any) -> RunResult:
        return await run_integration(self.db, self.integration_id, settings=self.settings, **kwargs)

    async def sql(self, statement: str, params: dict[str, Any] | None = None) -> None:
        """An application write (decimals bound as NUMERIC: sqlite3 cannot bind Decimal itself)."""
        params = params or {}
        text = sa.text(statement).bindparams(
            *(sa.bindparam(k, type_=sa.Numeric(12, 2)) for k, v in params.items() if isinstance(v, Decimal))
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(text, params)

    async def rows(self, statement: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        async with self.db.engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(sa.text(statement), params or {})).all()]

    async def local(self, code: str) -> dict[str, Any]:
        async with self.db.engine.connect() as conn:
            row = (
                (await conn.execute(sa.text('SELECT * FROM "Customers" WHERE code = :c'), {"c": code}))
                .mappings()
                .one()
            )
        return dict(row)

    async def outbox(self) -> int:
        return (await self.rows("SELECT count(*) FROM sync_outbox"))[0][0]

    def erp(self, key: int | str) -> dict[str, str]:
        record = self.sim.get_record("CUSTOMER", key)
        assert record is not None
        return record

    def erp_keys_with_code(self, code: str) -> list[int]:
        store = self.sim.store("CUSTOMER")
        with self.sim.lock:
            last = store.next_key()
            return [
                k for k in range(1, last) if (row := store.main_row(k)) is not None and row["CODE"] == code
            ]


def code_of(key: int) -> str:
    return f"C{key:07d}"
