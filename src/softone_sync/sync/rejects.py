"""Rows a run could not write, kept in ``sync_rejects`` until a later run writes their key.

Each statement runs on the run's connection inside the page transaction, so a reject is recorded
exactly when the page that met it commits. One row per (integration, record key): seeing the same
bad record again bumps ``attempts`` and re-opens it rather than piling up duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.models import SyncReject
from softone_sync.sync.mapping import RejectedRow

_R: sa.Table = SyncReject.__table__  # type: ignore[assignment]

# Payloads are for a human reading one reject; a huge ERP row must not bloat the table.
MAX_PAYLOAD_VALUE = 500


async def open_reject_keys(conn: AsyncConnection, integration_id: str) -> set[str]:
    """Record keys of the integration's unresolved rejects (small: at most N per run are stored)."""
    result = await conn.execute(
        sa.select(_R.c.record_key).where(_R.c.integration_id == integration_id, _R.c.resolved_at.is_(None))
    )
    return set(result.scalars())


async def store_rejects(
    conn: AsyncConnection,
    *,
    dialect: str,
    integration_id: str,
    run_id: str,
    rejects: Sequence[RejectedRow],
    now: datetime,
) -> None:
    """Insert or re-open one reject per record key (the last reason wins)."""
    if not rejects:
        return
    by_key = {r.record_key: r for r in rejects}
    values = [
        {
            "integration_id": integration_id,
            "run_id": run_id,
            "record_key": r.record_key,
            "reason": r.reason,
            "payload_json": {k: v[:MAX_PAYLOAD_VALUE] for k, v in r.payload.items()},
            "first_seen_at": now,
            "last_seen_at": now,
            "attempts": 1,
            "resolved_at": None,
        }
        for r in by_key.values()
    ]
    insert = postgresql.insert(_R) if dialect == "postgresql" else sqlite.insert(_R)
    statement = insert.values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[_R.c.integration_id, _R.c.record_key],
        set_={
            "run_id": statement.excluded.run_id,
            "reason": statement.excluded.reason,
            "payload_json": statement.excluded.payload_json,
            "last_seen_at": statement.excluded.last_seen_at,
            "attempts": _R.c.attempts + 1,
            "resolved_at": None,
        },
    )
    await conn.execute(statement)


async def resolve_rejects(
    conn: AsyncConnection, *, integration_id: str, record_keys: Iterable[str], now: datetime
) -> int:
    """Mark the open rejects of these keys resolved; returns how many were."""
    keys = list(record_keys)
    if not keys:
        return 0
    result = await conn.execute(
        sa.update(_R)
        .where(_R.c.integration_id == integration_id, _R.c.record_key.in_(keys), _R.c.resolved_at.is_(None))
        .values(resolved_at=now)
    )
    return int(result.rowcount or 0)
