"""Helpers for the scheduler tests: integrations with a schedule, slot rows, managers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from softone_sync.config import load_settings
from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SoftOneIntegration
from softone_sync.schedule.executors import InlineExecutor
from softone_sync.schedule.manager import CronManager
from tests.fixtures.db import seed_integration
from tests.schedule.fake_runs import FakeRuns


async def scheduled(
    db: Database, cron: str, *, name: str = "customers", active: bool = True, **schedule: Any
) -> str:
    integration = await seed_integration(
        db, name=name, isActive=active, configJson={"schedule": {"cronExpression": cron, **schedule}}
    )
    return integration.id


async def slots(
    db: Database, integration_id: str | None = None
) -> list[tuple[str, datetime, str, str | None]]:
    query = sa.select(SlotLog.integration_id, SlotLog.slot_at, SlotLog.outcome, SlotLog.run_id).order_by(
        SlotLog.integration_id, SlotLog.slot_at
    )
    if integration_id is not None:
        query = query.where(SlotLog.integration_id == integration_id)
    async with db.connect() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]  # type: ignore[misc]


async def next_run(db: Database, integration_id: str) -> datetime | None:
    async with db.connect() as conn:
        value: datetime | None = (
            await conn.execute(
                sa.select(SoftOneIntegration.nextRunAt).where(SoftOneIntegration.id == integration_id)
            )
        ).scalar_one()
    return value


def manager(db: Database, runs: FakeRuns, **options: Any) -> CronManager:
    settings = load_settings(database_url=db.url, max_concurrent_runs=8)
    executor = InlineExecutor(db, settings, run_fn=runs)
    options.setdefault("reap_interval", 1.0)
    return CronManager(db, settings, executor=executor, **options)
