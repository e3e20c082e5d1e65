"""Baselines: per record, the synced values as both sides last agreed on them.

A baseline is written whenever the sync makes the two sides equal — a pulled page, a pushed
change, an adopted create — in the same transaction as the local row change and the outbox
deletion. It lives in ``sync_baselines`` (values, for field-level merges and manual conflicts)
and in ``sync_records.baseline_hash`` / ``local_key`` (the contract's view of it).

The pull consults it through :class:`PullGuard`: a pulled ERP row never overwrites a local row
that has changed since its baseline (or that the application created and the push has not sent
yet, or deleted and the push has not processed yet). Those rows are *held*: the push of this or
the next run merges them field by field instead, so no local change is ever lost to a pull.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.models import SyncRecord, utcnow
from softone_sync.sync.twoway.layout import TwoWayLayout, record_hash
from softone_sync.sync.twoway.models import BASELINES

RECORDS: sa.Table = SyncRecord.__table__  # type: ignore[assignment]
# Keys per IN (...) list: well under SQLite's variable limit even for composite keys.
CHUNK = 400

Row = dict[str, Any]


@dataclass(frozen=True)
class Baseline:
    record_key: str
    local_key: str
    erp_id: str | None
    hash: str
    values: dict[str, Any]


@dataclass(frozen=True)
class NewBaseline:
    record_key: str
    local_key: str
    erp_id: str | None
    values: dict[str, Any]  # normalized synced values

    @property
    def hash(self) -> str:
        return record_hash(self.values)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _baseline(row: Any) -> Baseline:
    values = row.values_json
    if isinstance(values, str):  # pragma: no cover - JSON columns decode on both dialects
        import json

        values = json.loads(values)
    return Baseline(row.record_key, row.local_key, row.erp_id, row.baseline_hash, dict(values))


async def baselines_by_record_key(
    conn: AsyncConnection, integration_id: str, record_keys: Sequence[str]
) -> dict[str, Baseline]:
    found: dict[str, Baseline] = {}
    for chunk in _chunks(list(record_keys)):
        result = await conn.execute(
            sa.select(BASELINES).where(
                BASELINES.c.integration_id == integration_id, BASELINES.c.record_key.in_(chunk)
            )
        )
        for row in result:
            found[row.record_key] = _baseline(row)
    return found


async def baseline_by_local_key(
    conn: AsyncConnection, integration_id: str, local_key: str
) -> Baseline | None:
    result = await conn.execute(
        sa.select(BASELINES).where(
            BASELINES.c.integration_id == integration_id, BASELINES.c.local_key == local_key
        )
    )
    row = result.first()
    return None if row is None else _baseline(row)


async def save_baselines(
    conn: AsyncConnection, integration_id: str, baselines: Sequence[NewBaseline]
) -> None:
    """Upsert baselines (``sync_baselines`` and ``sync_records``) in the caller's transaction."""
    if not baselines:
        return
    now = utcnow()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "integration_id": integration_id,
            "record_key": b.record_key,
            "local_key": b.local_key,
            "erp_id": b.erp_id,
            "baseline_hash": b.hash,
            "values_json": b.values,
            "updated_at": now,
        }
        for b in {b.record_key: b for b in baselines}.values()
    ]
    stmt = insert(BASELINES)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[BASELINES.c.integration_id, BASELINES.c.record_key],
            set_={
                "local_key": stmt.excluded.local_key,
                "erp_id": stmt.excluded.erp_id,
                "baseline_hash": stmt.excluded.baseline_hash,
                "values_json": stmt.excluded.values_json,
                "updated_at": stmt.excluded.updated_at,
            },
        ),
        rows,
    )
    records = insert(RECORDS)
    await conn.execute(
        records.on_conflict_do_update(
            index_elements=[RECORDS.c.integration_id, RECORDS.c.record_key],
            set_={
                "local_key": records.excluded.local_key,
                "baseline_hash": records.excluded.baseline_hash,
                "updated_at": records.excluded.updated_at,
            },
        ),
        [
            {
                "integration_id": integration_id,
                "record_key": r["record_key"],
                "local_key": r["local_key"],
                "baseline_hash": r["baseline_hash"],
                "updated_at": now,
            }
            for r in rows
        ],
    )


async def drop_baseline(conn: AsyncConnection, integration_id: str, record_key: str) -> None:
    """Forget a record (deleted on either side): the next pull that sees it treats it as new."""
    await conn.execute(
        sa.delete(BASELINES).where(
            BASELINES.c.integration_id == integration_id, BASELINES.c.record_key == record_key
        )
    )
    await conn.execute(
        sa.delete(RECORDS).where(
            RECORDS.c.integration_id == integration_id, RECORDS.c.record_key == record_key
        )
    )


async def read_local_rows(
    conn: AsyncConnection,
    layout: TwoWayLayout,
    by: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    *,
    lock: bool = False,
) -> dict[tuple[Any, ...], Row]:
    """The local rows with these values in columns ``by`` (as dicts of :attr:`TwoWayLayout.read_columns`).

    ``lock`` (PostgreSQL) takes the rows' locks until the transaction ends, so an application write
    to them waits instead of slipping between our check and our write.
    """
    table = layout.target.table
    columns = layout.read_columns
    selected = [table.c[c] for c in columns]
    found: dict[tuple[Any, ...], Row] = {}
    for chunk in _chunks(list(keys)):
        query = sa.select(*selected).where(layout.key_filter(chunk, by))
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for row in await conn.execute(query):
            values = dict(zip(columns, row, strict=True))
            found[tuple(values[c] for c in by)] = values
    return found


def new_baseline(layout: TwoWayLayout, row: Mapping[str, Any]) -> NewBaseline:
    erp_id = row.get(layout.record_key_column)
    return NewBaseline(
        layout.record_key(row),
        layout.local_key(row),
        None if erp_id is None else str(erp_id),
        layout.normalize(row),
    )


class PullGuard:
    """The two-way side of one pulled page: hold back rows with unpushed local changes, then baseline."""

    def __init__(self, integration_id: str, layout: TwoWayLayout, columns: Sequence[str]) -> None:
        self.integration_id = integration_id
        self.layout = layout
        self.key_columns = list(layout.target.key_columns)
        self.key_index = [list(columns).index(c) for c in self.key_columns]
        self.erp_id_index = list(columns).index(layout.record_key_column)
        self._existing: dict[str, Baseline] = {}
        self.held = 0

    async def hold_back(
        self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]], record_keys: Sequence[str]
    ) -> tuple[list[tuple[Any, ...]], list[str]]:
        """The rows (and their record keys) the pull may write; the others are held for the push."""
        if not rows:
            return [], []
        keys = [tuple(row[i] for i in self.key_index) for row in rows]
        local = await read_local_rows(conn, self.layout, self.key_columns, keys, lock=True)
        self._existing = await baselines_by_record_key(conn, self.integration_id, record_keys)
        kept: list[tuple[Any, ...]] = []
        kept_keys: list[str] = []
        for row, key, record_key in zip(rows, keys, record_keys, strict=True):
            if self._holds(local.get(key), self._existing.get(record_key)):
                self.held += 1
                continue
            kept.append(row)
            kept_keys.append(record_key)
        return kept, kept_keys

    def _holds(self, local: Row | None, baseline: Baseline | None) -> bool:
        if local is None:
            return baseline is not None  # deleted in the application, not pushed yet
        if baseline is None:
            # Created in the application and not sent yet (no ERP id); else a row from before two-way.
            return local.get(self.layout.record_key_column) is None
        return record_hash(self.layout.normalize(local)) != baseline.hash

    async def record_page(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> int:
        """After the upsert: the written rows, read back as stored, become their records' baselines."""
        if not rows:
            return 0
        keys = [tuple(row[i] for i in self.key_index) for row in rows]
        stored = await read_local_rows(conn, self.layout, self.key_columns, keys)
        changed = []
        for row in stored.values():
            baseline = new_baseline(self.layout, row)
            existing = self._existing.get(baseline.record_key)
            if (
                existing is None
                or existing.hash != baseline.hash
                or existing.local_key != baseline.local_key
                or existing.erp_id != baseline.erp_id
            ):
                changed.append(baseline)
        await save_baselines(conn, self.integration_id, changed)
        return len(changed)


async def establish_baselines(conn: AsyncConnection, integration_id: str, layout: TwoWayLayout) -> int:
    """Take the table's current rows that have an ERP id as the baseline (when two-way is enabled).

    The one full read of the table in two-way sync, done once: from then on the triggers say what
    changed. Rows without an ERP id are the application's own and get pushed as creates once they
    change (or by :func:`enqueue_unsent`).
    """
    table = layout.target.table
    columns = layout.read_columns
    erp_id = table.c[layout.record_key_column]
    result = await conn.stream(sa.select(*[table.c[c] for c in columns]).where(erp_id.is_not(None)))
    batch: list[NewBaseline] = []
    count = 0
    async for row in result:
        batch.append(new_baseline(layout, dict(zip(columns, row, strict=True))))
        if len(batch) >= CHUNK:
            await save_baselines(conn, integration_id, batch)
            count += len(batch)
            batch = []
    await save_baselines(conn, integration_id, batch)
    return count + len(batch)


async def forget_swept(conn: AsyncConnection, integration_id: str) -> None:
    """After a hard-deleting sweep: drop the baselines of records the sweep removed from sync_records."""
    records = RECORDS
    await conn.execute(
        sa.delete(BASELINES).where(
            BASELINES.c.integration_id == integration_id,
            ~sa.exists().where(
                records.c.integration_id == BASELINES.c.integration_id,
                records.c.record_key == BASELINES.c.record_key,
            ),
        )
    )
