"""A run function with the real lease semantics and a controlled duration (no ERP needed).

It takes the integration's lease through ``softone_sync.db.leases`` exactly as ``run_integration``
does, records a ``sync_runs`` row, heartbeats, and raises ``AlreadyRunning`` when the lease is held,
so the scheduler under test meets the same authority as in production.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from softone_sync.config import Settings
from softone_sync.db.engine import Database
from softone_sync.db.leases import acquire_lease, current_holder, release_lease, renew_lease
from softone_sync.db.models import SyncRun, new_id, utcnow
from softone_sync.sync.run import AlreadyRunning


@dataclass
class Result:
    run_id: str
    status: str
    error: str | None = None


@dataclass
class FakeRuns:
    duration: float = 0.0
    ttl: float = 5.0
    durations: dict[str, float] = field(default_factory=dict)
    runs: list[tuple[str, datetime | None, str]] = field(default_factory=list)
    """(integration_id, slot_at, run_id) of every run that started."""
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_overlap: int = 0
    fired_at: list[tuple[datetime, datetime]] = field(default_factory=list)
    on_start: Callable[[str, datetime | None, str], None] | None = None

    async def __call__(
        self,
        db: Database,
        integration_id: str,
        *,
        trigger: str,
        owner: str | None,
        run_id: str | None,
        slot_at: datetime | None,
        settings: Settings | None,
        lease_ttl: float | None = None,
    ) -> Result:
        run_id = run_id or new_id()
        ttl = lease_ttl or self.ttl
        lease = await acquire_lease(db, integration_id, owner=owner or "test", run_id=run_id, ttl=ttl)
        if lease is None:
            holder = await current_holder(db, integration_id)
            raise AlreadyRunning(holder[1] if holder else None)
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.insert(SyncRun).values(
                    id=run_id,
                    integration_id=integration_id,
                    trigger=trigger,
                    status="running",
                    slot_at=slot_at,
                    owner=owner,
                    started_at=utcnow(),
                )
            )
        self.active[integration_id] += 1
        self.max_overlap = max(self.max_overlap, self.active[integration_id])
        self.runs.append((integration_id, slot_at, run_id))
        if self.on_start is not None:
            self.on_start(integration_id, slot_at, run_id)
        if slot_at is not None:
            self.fired_at.append((slot_at, utcnow()))
        status = "failed"
        try:
            remaining = self.durations.get(integration_id, self.duration)
            while remaining > 0:
                step = min(remaining, ttl / 3)
                await asyncio.sleep(step)
                remaining -= step
                await renew_lease(db, lease, ttl=ttl)
            status = "succeeded"
            return Result(run_id, "succeeded")
        finally:
            self.active[integration_id] -= 1
            await asyncio.shield(self._finish(db, run_id, status))
            await asyncio.shield(release_lease(db, lease))

    @staticmethod
    async def _finish(db: Database, run_id: str, status: str) -> None:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(
                    status=status, finished_at=utcnow(), error=None if status == "succeeded" else "cancelled"
                )
            )
