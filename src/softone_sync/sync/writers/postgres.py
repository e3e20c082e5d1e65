"""PostgreSQL page writer: COPY the page into a temporary staging table, then one upsert.

Per page, on the caller's transaction (psycopg 3 through the raw driver connection under the
SQLAlchemy connection, so both see the same transaction):

1. ``COPY pg_temp.softone_sync_stage (cols) FROM STDIN`` — the page's rows, streamed.
2. ``INSERT INTO target AS t (cols) SELECT cols FROM stage ON CONFLICT (keys) DO UPDATE SET …
   WHERE (t.c…) IS DISTINCT FROM (EXCLUDED.c…) RETURNING (xmax = 0), keys`` — the ``WHERE`` makes
   an unchanged row a no-op (no new tuple version, no trigger, no WAL), and ``xmax = 0`` tells a
   freshly inserted row from an updated one, so created/updated/unchanged come from the statement.

The staging table is created once per run from the target's own column types
(``CREATE TEMP TABLE … AS SELECT cols FROM target WITH NO DATA``) and ``ON COMMIT DELETE ROWS``
empties it at every page's commit without leaving dead tuples (autovacuum never visits temp tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.writers.base import SEEN_TABLE, Key, PageWriter, Row, RunPlan, UpsertResult

STAGE_TABLE = "softone_sync_stage"
_STAGE = sql.Identifier("pg_temp", STAGE_TABLE)
_SEEN = sql.Identifier("pg_temp", SEEN_TABLE)


async def _driver(conn: AsyncConnection) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under ``conn``, with a SQLAlchemy transaction begun if none is open.

    Statements sent on the raw connection open a psycopg transaction that SQLAlchemy would not know
    of: its ``commit()`` would be a no-op and a later ``rollback()`` would silently undo them (the
    run's temporary tables included). Beginning here keeps both views of the transaction the same,
    exactly as ``conn.execute`` autobegins.
    """
    if not conn.in_transaction():
        await conn.begin()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError("the PostgreSQL writer needs the psycopg 3 async driver (postgresql+psycopg://)")
    return driver


class PostgresWriter(PageWriter):
    dialect = "postgresql"

    def __init__(self) -> None:
        super().__init__()
        self._copy_sql: sql.Composed | None = None
        self._upsert_sql: sql.Composed | None = None
        # The SQLAlchemy transaction in which the stage last received rows: a second page in the same
        # transaction must empty it first (ON COMMIT DELETE ROWS only empties it at commit).
        self._stage_txn: object | None = None

    async def _begin(self, conn: AsyncConnection, plan: RunPlan) -> None:
        target = plan.target
        table = sql.Identifier(target.schema, target.name) if target.schema else sql.Identifier(target.name)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in plan.columns)
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in target.key_columns)
        returning = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in target.key_columns)
        non_keys = plan.non_key_columns
        action: sql.Composable
        if non_keys:
            assignments = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in non_keys
            )
            old = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in non_keys)
            new = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in non_keys)
            # ROW(...) keeps a single column a row constructor, so the comparison is uniform.
            action = sql.SQL("DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                assignments, old, new
            )
        else:
            action = sql.SQL("DO NOTHING")
        self._upsert_sql = sql.SQL(
            "INSERT INTO {table} AS t ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({keys}) {action} "
            "RETURNING (t.xmax = 0), {returning}"
        ).format(table=table, cols=cols, stage=_STAGE, keys=keys, action=action, returning=returning)
        self._copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(_STAGE, cols)
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            await cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_STAGE))
            await cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DELETE ROWS AS SELECT {} FROM {} WITH NO DATA"
                ).format(sql.Identifier(STAGE_TABLE), cols, table)
            )
        self._stage_txn = None

    async def _upsert(self, conn: AsyncConnection, plan: RunPlan, rows: Sequence[Row]) -> UpsertResult:
        assert self._copy_sql is not None and self._upsert_sql is not None
        values = plan.convert_rows(rows)
        driver = await _driver(conn)
        txn = conn.get_transaction()
        async with driver.cursor() as cur:
            if txn is not None and txn is self._stage_txn:
                await cur.execute(sql.SQL("TRUNCATE {}").format(_STAGE))
            async with cur.copy(self._copy_sql) as copy:
                for row in values:
                    await copy.write_row(row)
            self._stage_txn = txn
            await cur.execute(self._upsert_sql)
            returned = await cur.fetchall()
        originals = plan.original_keys(rows, values)
        created: list[Key] = []
        updated: list[Key] = []
        for inserted, *key in returned:
            found = originals.get(tuple(key), tuple(key))
            (created if inserted else updated).append(found)
        return UpsertResult(len(created), len(updated), len(rows) - len(returned), created, updated)

    async def record_owned(
        self, conn: AsyncConnection, integration_id: str, record_keys: Sequence[str]
    ) -> int:
        if not record_keys:
            return 0
        result = await conn.execute(
            sa.text(
                "INSERT INTO sync_records (integration_id, record_key, updated_at) "
                "SELECT :integration_id, k, now() FROM unnest(CAST(:keys AS text[])) AS k "
                "ON CONFLICT (integration_id, record_key) DO NOTHING"
            ),
            {"integration_id": integration_id, "keys": list(record_keys)},
        )
        return max(result.rowcount, 0)

    async def _create_seen_table(self, conn: AsyncConnection) -> None:
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            await cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_SEEN))
            await cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} (record_key text PRIMARY KEY, written boolean NOT NULL)"
                ).format(sql.Identifier(SEEN_TABLE))
            )

    async def _insert_seen(self, conn: AsyncConnection, record_keys: Sequence[str]) -> None:
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            await cur.execute(
                sql.SQL(
                    "INSERT INTO {} (record_key, written) SELECT k, false FROM unnest(%s::text[]) AS k "
                    "ON CONFLICT (record_key) DO NOTHING"
                ).format(_SEEN),
                (list(record_keys),),
            )

    async def _claim_written(self, conn: AsyncConnection, record_keys: Sequence[str]) -> set[str]:
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            # The keys that neither insert nor flip a "seen, not written" mark were written before;
            # only those (normally none) travel back.
            await cur.execute(self._claim_sql, (list(record_keys),))
            return {row[0] for row in await cur.fetchall()}

    _claim_sql = sql.SQL(
        "WITH page AS (SELECT unnest(%s::text[]) AS k), "
        "claimed AS (INSERT INTO {seen} AS s (record_key, written) SELECT k, true FROM page "
        "ON CONFLICT (record_key) DO UPDATE SET written = true WHERE NOT s.written RETURNING s.record_key) "
        "SELECT k FROM page WHERE NOT EXISTS (SELECT 1 FROM claimed WHERE claimed.record_key = page.k)"
    ).format(seen=_SEEN)

    async def _clear_seen(self, conn: AsyncConnection) -> None:
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            await cur.execute(sql.SQL("TRUNCATE {}").format(_SEEN))

    def _seen_table(self) -> sa.TableClause:
        return sa.table(SEEN_TABLE, sa.column("record_key", sa.Text), schema="pg_temp")

    async def _drop_temp_tables(self, conn: AsyncConnection) -> None:
        driver = await _driver(conn)
        async with driver.cursor() as cur:
            await cur.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(_STAGE, _SEEN))
        self._stage_txn = None
