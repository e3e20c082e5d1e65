"""SQLite page writer: multi-row ``INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`` chunks.

A page is written with as few statements as SQLite's bound-variable limit allows (one per ~500
rows), each ``INSERT INTO t (cols) VALUES (…), (…) ON CONFLICT (keys) DO UPDATE SET c = excluded.c
WHERE t.c IS NOT excluded.c OR … RETURNING rowid, keys``. Measured faster than ``executemany`` of
the one-row statement, and ``RETURNING`` names the rows actually written: an unchanged row fails the
``WHERE`` and is neither written nor returned.

Created vs. updated: a rowid table gives a new row a rowid above every existing one, so one
``SELECT max(rowid)`` before the page splits the returned rows exactly. When the rowid is the mapped
key itself (``INTEGER PRIMARY KEY``) or the table is ``WITHOUT ROWID``, one ``SELECT`` of the
page's keys that already exist does it instead.

Values go through SQLAlchemy's own SQLite bind processing for the column type (datetimes as
``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC, decimals as REAL), so an application reading the table
through SQLAlchemy gets back what it would have written itself.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.writers.base import (
    SEEN_TABLE,
    Convert,
    Key,
    PageWriter,
    Row,
    RunPlan,
    UpsertResult,
    stores_naive_utc,
    to_utc_naive,
)

# SQLite's default limit on bound variables per statement (999 before 3.32).
MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
# Rows per statement; larger chunks stopped paying off in measurements.
MAX_CHUNK_ROWS = 1000
_DIALECT = sqlite_dialect.dialect()


def _datetime_text(value: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC wall time, SQLAlchemy's SQLite DATETIME format."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


class SqliteWriter(PageWriter):
    dialect = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self._chunk_rows = MAX_CHUNK_ROWS
        self._statements: dict[int, str] = {}
        self._prefix = ""
        self._suffix = ""
        self._row_marks = ""
        self._rowid: str | None = None  # name usable for the rowid, None: split by an existing-keys SELECT
        self._table_sql = ""
        self._key_sql = ""

    def _column_convert(self, column: sa.Column[Any]) -> Convert | None:
        # The common types get C-speed conversions producing exactly SQLAlchemy's SQLite storage
        # format; anything else goes through SQLAlchemy's own bind processor for the column type.
        col_type = column.type
        if isinstance(col_type, sa.Boolean):
            return None  # sqlite3 binds bool as 0/1 itself
        if isinstance(col_type, sa.DateTime):
            return _datetime_text
        if isinstance(col_type, sa.Date):
            return date.isoformat
        if isinstance(col_type, sa.Numeric):
            return float  # what SQLAlchemy stores for NUMERIC/REAL on SQLite
        process = col_type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
        if process is not None and stores_naive_utc(column, self.dialect):
            bound = process
            return lambda value: bound(to_utc_naive(value))
        return process

    async def _begin(self, conn: AsyncConnection, plan: RunPlan) -> None:
        target = plan.target
        quote = conn.dialect.identifier_preparer.quote
        self._table_sql = (quote(target.schema) + "." if target.schema else "") + quote(target.name)
        cols = ", ".join(quote(c) for c in plan.columns)
        keys = ", ".join(quote(k) for k in target.key_columns)
        self._key_sql = keys
        self._rowid = self._rowid_name(plan)
        returning = ", ".join([self._rowid or "NULL", *(quote(k) for k in target.key_columns)])
        non_keys = plan.non_key_columns
        if non_keys:
            assignments = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in non_keys)
            changed = " OR ".join(
                f"{self._table_sql}.{quote(c)} IS NOT excluded.{quote(c)}" for c in non_keys
            )
            action = f"DO UPDATE SET {assignments} WHERE {changed}"
        else:
            action = "DO NOTHING"
        self._prefix = f"INSERT INTO {self._table_sql} ({cols}) VALUES "
        # "ON CONFLICT" directly after VALUES is parsed as an upsert clause (no SELECT ambiguity).
        self._suffix = f" ON CONFLICT ({keys}) {action} RETURNING {returning}"
        self._row_marks = "(" + ", ".join("?" * len(plan.columns)) + ")"
        self._chunk_rows = max(1, min(MAX_CHUNK_ROWS, MAX_VARIABLES // len(plan.columns)))
        self._statements = {}

    def _rowid_name(self, plan: RunPlan) -> str | None:
        target = plan.target
        if target.without_rowid or (target.rowid_alias is not None and target.rowid_alias in plan.columns):
            return None
        names = {c.name.lower() for c in target.table.columns}
        return next((n for n in ("rowid", "_rowid_", "oid") if n not in names), None)

    def _statement(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            statement = self._prefix + ", ".join([self._row_marks] * rows) + self._suffix
            if len(self._statements) < 8:  # a full chunk plus a few page tails; sqlite3 caches them prepared
                self._statements[rows] = statement
        return statement

    async def _upsert(self, conn: AsyncConnection, plan: RunPlan, rows: Sequence[Row]) -> UpsertResult:
        values = plan.convert_rows(rows)
        existing: set[Key] | None = None
        max_rowid = 0
        if self._rowid is not None:
            found = (await conn.exec_driver_sql(f"SELECT max({self._rowid}) FROM {self._table_sql}")).scalar()
            max_rowid = int(found or 0)
        else:
            existing = await self._existing_keys(conn, plan, values)
        returned: list[Any] = []
        size = self._chunk_rows
        for start in range(0, len(values), size):
            chunk = values[start : start + size]
            params = tuple(chain.from_iterable(chunk))
            result = await conn.exec_driver_sql(self._statement(len(chunk)), params)
            returned.extend(result.fetchall())
        # Without conversions of key columns the driver returns the caller's own key values.
        originals = plan.original_keys(rows, values)
        created: list[Key] = []
        updated: list[Key] = []
        for rowid, *raw_key in returned:
            key = tuple(raw_key)
            is_new = rowid > max_rowid if existing is None else key not in existing
            (created if is_new else updated).append(originals.get(key, key))
        return UpsertResult(len(created), len(updated), len(rows) - len(returned), created, updated)

    async def _existing_keys(self, conn: AsyncConnection, plan: RunPlan, values: Sequence[Row]) -> set[Key]:
        index = plan.key_index
        width = len(index)
        per_statement = max(1, MAX_VARIABLES // width)
        existing: set[Key] = set()
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            params = tuple(row[i] for row in chunk for i in index)
            if width == 1:
                where = f"{self._key_sql} IN ({', '.join('?' * len(chunk))})"
            else:
                marks = "(" + ", ".join("?" * width) + ")"
                where = f"({self._key_sql}) IN (VALUES {', '.join([marks] * len(chunk))})"
            result = await conn.exec_driver_sql(
                f"SELECT {self._key_sql} FROM {self._table_sql} WHERE {where}", params
            )
            existing.update(tuple(r) for r in result.fetchall())
        return existing

    async def record_owned(
        self, conn: AsyncConnection, integration_id: str, record_keys: Sequence[str]
    ) -> int:
        if not record_keys:
            return 0
        # One executemany: SQLite has no array parameter to unnest, and the rows are tiny.
        result = await conn.exec_driver_sql(
            "INSERT INTO sync_records (integration_id, record_key, updated_at) "
            "VALUES (?, ?, strftime('%Y-%m-%d %H:%M:%f000', 'now')) "
            "ON CONFLICT (integration_id, record_key) DO NOTHING",
            [(integration_id, key) for key in record_keys],
        )
        return max(result.rowcount, 0)

    async def _create_seen_table(self, conn: AsyncConnection) -> None:
        await conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SEEN_TABLE}")
        await conn.exec_driver_sql(
            f"CREATE TEMP TABLE {SEEN_TABLE} (record_key TEXT PRIMARY KEY, written INTEGER NOT NULL) "
            "WITHOUT ROWID"
        )

    async def _insert_seen(self, conn: AsyncConnection, record_keys: Sequence[str]) -> None:
        await conn.exec_driver_sql(
            f"INSERT OR IGNORE INTO temp.{SEEN_TABLE} (record_key, written) "
            "SELECT value, 0 FROM json_each(?)",
            (json.dumps(list(record_keys), ensure_ascii=False),),
        )

    async def _claim_written(self, conn: AsyncConnection, record_keys: Sequence[str]) -> set[str]:
        # One statement for the page: the keys a page array JSON-encodes go in, the ones inserted or
        # flipped from "seen, not written" come back; the rest were written by an earlier page.
        # ("WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT's join.)
        result = await conn.exec_driver_sql(
            f"INSERT INTO temp.{SEEN_TABLE} (record_key, written) "
            "SELECT value, 1 FROM json_each(?) WHERE true "
            f"ON CONFLICT (record_key) DO UPDATE SET written = 1 WHERE NOT {SEEN_TABLE}.written "
            "RETURNING record_key",
            (json.dumps(list(record_keys), ensure_ascii=False),),
        )
        claimed = {row[0] for row in result.fetchall()}
        if len(claimed) == len(record_keys):
            return set()
        return set(record_keys) - claimed

    async def _clear_seen(self, conn: AsyncConnection) -> None:
        await conn.exec_driver_sql(f"DELETE FROM temp.{SEEN_TABLE}")

    def _seen_table(self) -> sa.TableClause:
        return sa.table(SEEN_TABLE, sa.column("record_key", sa.Text), schema="temp")

    async def _drop_temp_tables(self, conn: AsyncConnection) -> None:
        await conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{SEEN_TABLE}")
