"""What the operator surfaces (API, CLI, dashboard) show about two-way sync, read in a few queries.

Capture is detected by trigger name (the names derive from the integration id), not by reflecting
the target table: the integrations list shows the status of every two-way integration, and a
table that is gone or renamed must read as "not installed" rather than fail the page.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.engine import Database
from softone_sync.sync.twoway.capture_spec import CaptureError, CaptureNames
from softone_sync.sync.twoway.models import CONFLICTS, OUTBOX

# What "resolved" means to an operator: a person chose (applied by the next run, or already applied).
CONFLICT_FILTERS: dict[str, tuple[str, ...] | None] = {
    "open": ("open",),
    "resolved": ("resolving", "resolved"),
    "all": None,
}


@dataclass(frozen=True)
class TwoWayState:
    capture_installed: bool
    pending_changes: int  # captured application changes not pushed yet
    open_conflicts: int  # waiting for a person
    resolving_conflicts: int  # a person chose; the next run applies it


async def _installed_names(conn: AsyncConnection, names: list[CaptureNames]) -> set[str]:
    if not names:
        return set()
    if conn.dialect.name == "postgresql":
        rows = await conn.execute(
            sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(:names)"),
            {"names": [n.trigger for n in names]},
        )
        found = {str(r[0]) for r in rows}
        return {n.integration_id for n in names if n.trigger in found}
    # SQLite: three triggers per integration; all three make capture "installed".
    wanted = [t for n in names for t in n.sqlite_triggers()]
    rows = await conn.execute(
        sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN :names").bindparams(
            sa.bindparam("names", expanding=True)
        ),
        {"names": wanted},
    )
    found = {str(r[0]) for r in rows}
    return {n.integration_id for n in names if all(t in found for t in n.sqlite_triggers())}


async def two_way_states(db: Database, integration_ids: Iterable[str]) -> dict[str, TwoWayState]:
    """The two-way state of each integration id given (three queries whatever their number)."""
    ids = list(dict.fromkeys(integration_ids))
    if not ids:
        return {}
    names: list[CaptureNames] = []
    for integration_id in ids:
        with contextlib.suppress(CaptureError):  # an id no trigger can carry has no capture
            names.append(CaptureNames.of(integration_id))
    async with db.engine.connect() as conn:
        installed = await _installed_names(conn, names)
        pending: dict[str, int] = {
            str(integration_id): int(count)
            for integration_id, count in await conn.execute(
                sa.select(OUTBOX.c.integration_id, sa.func.count())
                .where(OUTBOX.c.integration_id.in_(ids))
                .group_by(OUTBOX.c.integration_id)
            )
        }
        conflicts: dict[tuple[str, str], int] = {}
        rows = await conn.execute(
            sa.select(CONFLICTS.c.integration_id, CONFLICTS.c.status, sa.func.count())
            .where(CONFLICTS.c.integration_id.in_(ids), CONFLICTS.c.status != "resolved")
            .group_by(CONFLICTS.c.integration_id, CONFLICTS.c.status)
        )
        for integration_id, status, count in rows:
            conflicts[(str(integration_id), str(status))] = int(count)
    return {
        i: TwoWayState(
            capture_installed=i in installed,
            pending_changes=int(pending.get(i, 0)),
            open_conflicts=conflicts.get((i, "open"), 0),
            resolving_conflicts=conflicts.get((i, "resolving"), 0),
        )
        for i in ids
    }


async def pending_changes(db: Database, integration_id: str) -> int:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.integration_id == integration_id)
        )
        return int(result.scalar_one())


@dataclass(frozen=True)
class ConflictView:
    """One ``sync_conflicts`` row as the surfaces show it: both versions and the baseline per field."""

    id: int
    integration_id: str
    record_key: str
    local_key: str
    erp_id: str | None
    fields: list[str]
    app: dict[str, Any]
    erp: dict[str, Any]
    baseline: dict[str, Any] | None
    status: str
    resolution: str | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> ConflictView:
        return cls(
            id=int(row.id),
            integration_id=row.integration_id,
            record_key=row.record_key,
            local_key=row.local_key,
            erp_id=row.erp_id,
            fields=[str(f) for f in (row.fields_json or [])],
            app=dict(row.local_json or {}),
            erp=dict(row.erp_json or {}),
            baseline=None if row.baseline_json is None else dict(row.baseline_json),
            status=row.status,
            resolution=row.resolution,
            run_id=row.run_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
        )


async def find_conflicts(
    db: Database,
    *,
    integration_ids: Sequence[str] | None = None,
    statuses: Sequence[str] | None = ("open",),
    limit: int = 100,
) -> list[ConflictView]:
    """Conflicts, newest first; ``None`` means any integration / any status."""
    query = sa.select(CONFLICTS)
    if integration_ids is not None:
        query = query.where(CONFLICTS.c.integration_id.in_(list(integration_ids)))
    if statuses is not None:
        query = query.where(CONFLICTS.c.status.in_(list(statuses)))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(CONFLICTS.c.id.desc()).limit(limit))).all()
    return [ConflictView.from_row(row) for row in rows]


async def get_conflict(db: Database, conflict_id: int) -> ConflictView | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(sa.select(CONFLICTS).where(CONFLICTS.c.id == conflict_id))).first()
    return None if row is None else ConflictView.from_row(row)
