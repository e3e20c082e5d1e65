"""The scheduler's SQL on ``slot_log``: claim rows, final outcomes, heartbeats and repair.

A slot row is written ``queued`` when its slot is claimed (with the run id the run will use) and
updated to its final outcome when the run ends. A row left ``queued`` by a process that died is
repaired by :func:`repair_slots` from the run's own record, or failed once its heartbeat is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SyncRun, utcnow
from softone_sync.schedule.slots import SlotOutcomeName, SlotRecord

# A queued row whose owner stopped refreshing it for this long belongs to a dead scheduler. Owners
# refresh every reap interval (5 s) and a row whose run is still ``running`` is never touched here,
# so this only has to outlast a stalled event loop; a live owner's later write corrects it anyway.
STALE_QUEUED_SECONDS = 30.0
DEFERRED_PREFIX = "deferred to procrastinate"
PENDING_PREFIX = "pending behind run"


def _slot_key_params() -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """``WHERE`` on one slot row for executemany: parameters ``b_integration`` and ``b_slot``.

    ``b_slot`` carries the column's type (UTCDateTime), so the bound value is normalised to UTC the
    way stored values are; an untyped parameter would compare naive text on SQLite.
    """
    return (
        SlotLog.integration_id == sa.bindparam("b_integration"),
        SlotLog.slot_at == sa.bindparam("b_slot", type_=SlotLog.__table__.c.slot_at.type),
    )


def _insert(dialect: str) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SlotLog)


async def insert_slot(
    conn: AsyncConnection, integration_id: str, record: SlotRecord, run_id: str | None, now: datetime
) -> bool:
    """Insert one slot row; False when the slot already has a row (claimed before: never run twice)."""
    statement = (
        _insert(conn.dialect.name)
        .values(
            integration_id=integration_id,
            slot_at=record.slot_at,
            outcome=record.outcome,
            run_id=run_id,
            detail=record.detail,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["integration_id", "slot_at"])
        .returning(SlotLog.id)
    )
    # RETURNING, not rowcount: drivers disagree on rowcount for INSERT ... ON CONFLICT ... RETURNING.
    return (await conn.execute(statement)).first() is not None


async def insert_run_slots(
    conn: AsyncConnection, claims: Sequence[tuple[str, datetime, str, str]], now: datetime
) -> set[str]:
    """Insert ``queued`` rows for (integration_id, slot_at, run_id, detail); returns the integrations
    whose row was new (one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING)."""
    if not claims:
        return set()
    statement = (
        _insert(conn.dialect.name)
        .values(
            [
                {
                    "integration_id": integration_id,
                    "slot_at": slot_at,
                    "outcome": "queued",
                    "run_id": run_id,
                    "detail": detail,
                    "recorded_at": now,
                }
                for integration_id, slot_at, run_id, detail in claims
            ]
        )
        .on_conflict_do_nothing(index_elements=["integration_id", "slot_at"])
        .returning(SlotLog.integration_id)
    )
    return set((await conn.execute(statement)).scalars())


async def insert_slots(
    conn: AsyncConnection,
    integration_id: str,
    records: Sequence[SlotRecord],
    run_id: str | None,
    now: datetime,
) -> None:
    """Insert the bookkeeping rows of a claim (coalesced/missed/paused); existing rows are kept."""
    if not records:
        return
    statement = _insert(conn.dialect.name).on_conflict_do_nothing(
        index_elements=["integration_id", "slot_at"]
    )
    await conn.execute(
        statement,
        [
            {
                "integration_id": integration_id,
                "slot_at": record.slot_at,
                "outcome": record.outcome,
                "run_id": run_id if record.outcome == "coalesced" else None,
                "detail": record.detail,
                "recorded_at": now,
            }
            for record in records
        ],
    )


async def finish_slot(
    db: Database,
    integration_id: str,
    slot_at: datetime,
    outcome: SlotOutcomeName,
    *,
    run_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Write the final outcome of a claimed slot."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(SlotLog)
            .where(SlotLog.integration_id == integration_id, SlotLog.slot_at == slot_at)
            .values(outcome=outcome, run_id=run_id, detail=detail, recorded_at=utcnow())
        )


async def finish_queued_slot(
    db: Database, integration_id: str, slot_at: datetime, outcome: SlotOutcomeName, *, detail: str
) -> bool:
    """Give an outcome to a slot only while it is still ``queued`` (repairs never overwrite a result)."""
    async with db.engine.begin() as conn:
        result = await conn.execute(
            sa.update(SlotLog)
            .where(
                SlotLog.integration_id == integration_id,
                SlotLog.slot_at == slot_at,
                SlotLog.outcome == "queued",
            )
            .values(outcome=outcome, detail=detail, recorded_at=utcnow())
        )
    return bool(result.rowcount)


async def finish_slots(
    db: Database, results: Sequence[tuple[str, datetime, SlotOutcomeName, str | None, str | None]]
) -> None:
    """Write many final outcomes in one transaction: (integration_id, slot_at, outcome, run_id, detail).

    One commit for a batch instead of one per slot: at hundreds of slots per second the commits
    (an fsync each on PostgreSQL) are what would make the scheduler fall behind.
    """
    if not results:
        return
    now = utcnow()
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(SlotLog)
            .where(*_slot_key_params())
            .values(
                outcome=sa.bindparam("b_outcome"),
                run_id=sa.bindparam("b_run"),
                detail=sa.bindparam("b_detail"),
                recorded_at=now,
            ),
            [
                {
                    "b_integration": i,
                    "b_slot": slot,
                    "b_outcome": outcome,
                    "b_run": run_id,
                    "b_detail": detail,
                }
                for i, slot, outcome, run_id, detail in results
            ],
        )


async def set_slot_detail(db: Database, integration_id: str, slot_at: datetime, detail: str) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(SlotLog)
            .where(
                SlotLog.integration_id == integration_id,
                SlotLog.slot_at == slot_at,
                SlotLog.outcome == "queued",
            )
            .values(detail=detail, recorded_at=utcnow())
        )


async def has_pending(db: Database, integration_id: str, *, excluding: datetime) -> bool:
    """Is a queue-one run already pending for the integration (cluster-wide)?"""
    async with db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(SlotLog.id)
                .where(
                    SlotLog.integration_id == integration_id,
                    SlotLog.outcome == "queued",
                    SlotLog.slot_at != excluding,
                    SlotLog.detail.like(f"{PENDING_PREFIX}%"),
                )
                .limit(1)
            )
        ).first()
    return row is not None


async def touch_slots(db: Database, keys: Sequence[tuple[str, datetime]]) -> None:
    """Heartbeat the queued rows this process still owns, so repair does not fail them."""
    if not keys:
        return
    now = utcnow()
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(SlotLog)
            .where(
                *_slot_key_params(),
                SlotLog.outcome == "queued",
            )
            .values(recorded_at=now),
            [{"b_integration": integration_id, "b_slot": slot} for integration_id, slot in keys],
        )


async def repair_slots(
    db: Database,
    reaped_run_ids: Sequence[str],
    *,
    now: datetime | None = None,
    stale_after: float = STALE_QUEUED_SECONDS,
) -> int:
    """Give an outcome to queued rows whose scheduler died; returns how many rows were repaired.

    1. Rows of runs the lease reaper just failed become ``failed`` with the run's error.
    2. Rows still ``queued`` whose heartbeat is older than ``stale_after`` and whose run is not
       running anywhere take the run's final status when it has one, else ``failed``.
    """
    now = now or utcnow()
    repaired = 0
    async with db.engine.begin() as conn:
        if reaped_run_ids:
            runs = (
                await conn.execute(
                    sa.select(SyncRun.id, SyncRun.integration_id, SyncRun.error).where(
                        SyncRun.id.in_(reaped_run_ids)
                    )
                )
            ).all()
            for run_id, integration_id, error in runs:
                result = await conn.execute(
                    sa.update(SlotLog)
                    .where(
                        SlotLog.integration_id == integration_id,
                        SlotLog.run_id == run_id,
                        SlotLog.outcome == "queued",
                    )
                    .values(outcome="failed", detail=error or "run failed", recorded_at=now)
                )
                repaired += result.rowcount
        cutoff = now - timedelta(seconds=stale_after)
        stale = (
            await conn.execute(
                sa.select(SlotLog.id, SlotLog.run_id, SyncRun.status, SyncRun.error)
                .outerjoin(SyncRun, SyncRun.id == SlotLog.run_id)
                .where(
                    SlotLog.outcome == "queued",
                    SlotLog.recorded_at < cutoff,
                    sa.or_(SlotLog.detail.is_(None), ~SlotLog.detail.like(f"{DEFERRED_PREFIX}%")),
                    sa.or_(SyncRun.status.is_(None), SyncRun.status != "running"),
                )
                .limit(1000)
            )
        ).all()
        for slot_id, _run_id, status, error in stale:
            outcome, detail = _outcome_of_status(status, error)
            result = await conn.execute(
                sa.update(SlotLog)
                .where(SlotLog.id == slot_id, SlotLog.outcome == "queued")
                .values(outcome=outcome, detail=detail, recorded_at=now)
            )
            repaired += result.rowcount
    return repaired


def _outcome_of_status(status: str | None, error: str | None) -> tuple[SlotOutcomeName, str]:
    if status is None:
        return "failed", "the scheduler process stopped before the run started"
    if status == "failed":
        return "failed", error or "run failed"
    return "ran", f"run {status}; outcome recorded by the repair pass"


async def list_slots(db: Database, integration_id: str, *, limit: int = 50) -> list[SlotLog]:
    """The latest slots of an integration, newest first."""
    async with db.session() as session:
        rows = await session.scalars(
            sa.select(SlotLog)
            .where(SlotLog.integration_id == integration_id)
            .order_by(SlotLog.slot_at.desc())
            .limit(limit)
        )
        return list(rows)
