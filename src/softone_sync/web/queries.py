"""Every read the dashboard makes, in one place: a few aggregated queries per page.

Lists never issue a query per integration: the latest runs, counts and rejects come from
GROUP BY queries joined back in Python. ``configJson`` is read defensively, because a page that
shows an invalid configuration must still render (that is when the operator needs it most).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SoftOneConnection, SoftOneIntegration, SyncReject, SyncRun
from softone_sync.sync.twoway.status import ConflictView, TwoWayState, find_conflicts, two_way_states
from softone_sync.web.charts import RunPoint
from softone_sync.web.cron_words import describe_cron
from softone_sync.web.formatting import as_utc

RUN_HISTORY_LIMIT = 50
SLOT_LOG_LIMIT = 50
REJECTS_LIMIT = 100
CONFLICTS_LIMIT = 50
CHART_RUNS = 40


@dataclass(frozen=True)
class ScheduleView:
    cron: str | None
    timezone: str
    words: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScheduleView:
        schedule = config.get("schedule")
        schedule = schedule if isinstance(schedule, dict) else {}
        cron = schedule.get("cronExpression")
        cron = cron.strip() if isinstance(cron, str) and cron.strip() else None
        tz = schedule.get("timezone")
        timezone = tz if isinstance(tz, str) and tz else "UTC"
        return cls(cron=cron, timezone=timezone, words=describe_cron(cron) if cron else "Not scheduled")


@dataclass(frozen=True)
class RunView:
    id: str
    integration_id: str
    trigger: str
    status: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    slot_at: datetime | None
    fetched: int
    created: int
    updated: int
    unchanged: int
    deleted: int
    failed: int
    pushed: int
    error: str | None
    stats: dict[str, Any]

    @property
    def duration_seconds(self) -> float | None:
        end = self.finished_at or (datetime.now(UTC) if self.status == "running" else None)
        return None if end is None else max((end - self.started_at).total_seconds(), 0.0)

    @classmethod
    def from_row(cls, run: SyncRun) -> RunView:
        return cls(
            id=run.id,
            integration_id=run.integration_id,
            trigger=run.trigger,
            status=run.status,
            dry_run=bool(run.dry_run),
            started_at=_utc(run.started_at),
            finished_at=as_utc(run.finished_at),
            heartbeat_at=as_utc(run.heartbeat_at),
            slot_at=as_utc(run.slot_at),
            fetched=run.fetched,
            created=run.created,
            updated=run.updated,
            unchanged=run.unchanged,
            deleted=run.deleted,
            failed=run.failed,
            pushed=run.pushed,
            error=run.error,
            stats=run.stats_json if isinstance(run.stats_json, dict) else {},
        )


@dataclass
class IntegrationSummary:
    id: str
    name: str
    connection_id: str
    connection_name: str
    is_active: bool
    direction: str
    schedule: ScheduleView
    next_run_at: datetime | None
    last_sync_at: datetime | None
    last_run: RunView | None = None
    running_run_id: str | None = None
    runs_24h: int = 0
    failures_24h: int = 0
    open_rejects: int = 0
    # The parsed configJson, kept so the detail page does not read the row a second time.
    config: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def failing(self) -> bool:
        return self.last_run is not None and self.last_run.status == "failed"


@dataclass
class IntegrationDetail:
    summary: IntegrationSummary
    config: dict[str, Any]
    runs: list[RunView] = field(default_factory=list)
    slots: list[SlotLog] = field(default_factory=list)
    rejects: list[SyncReject] = field(default_factory=list)
    chart_points: list[RunPoint] = field(default_factory=list)
    # Two-way integrations only: capture state, and the conflicts waiting for a person (open) or for
    # the next run to apply a person's choice (resolving).
    two_way: TwoWayState | None = None
    conflicts: list[ConflictView] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectionView:
    id: str
    name: str
    base_url: str
    username: str
    app_id: str
    company: str | None
    branch: str | None
    module: str | None
    refid: str | None
    erp_timezone: str
    timeout_seconds: float
    integrations: int


def _utc(value: datetime) -> datetime:
    moment = as_utc(value)
    assert moment is not None
    return moment


def _direction(config: dict[str, Any]) -> str:
    value = config.get("direction")
    return value if isinstance(value, str) and value else "one-way"


def _config(raw: object) -> dict[str, Any]:
    return raw if isinstance(raw, dict) else {}


async def list_integrations(db: Database, *, integration_id: str | None = None) -> list[IntegrationSummary]:
    """Every integration (or one) with its latest finished run and 24-hour counts, in four queries."""
    now = datetime.now(UTC)
    async with db.session() as session:
        stmt = (
            sa.select(SoftOneIntegration, SoftOneConnection.name)
            .join(SoftOneConnection, SoftOneConnection.id == SoftOneIntegration.connectionId)
            .order_by(SoftOneIntegration.name, SoftOneIntegration.id)
        )
        if integration_id is not None:
            stmt = stmt.where(SoftOneIntegration.id == integration_id)
        rows = (await session.execute(stmt)).all()
        summaries = {
            integration.id: _summary(integration, connection_name) for integration, connection_name in rows
        }
        if not summaries:
            return []
        ids = list(summaries)
        for run in await _latest_finished_runs(session, ids):
            summary = summaries[run.integration_id]
            if summary.last_run is None or run.id > summary.last_run.id:  # same started_at: any one
                summary.last_run = RunView.from_row(run)
        for iid, run_id in await _running_runs(session, ids):
            summaries[iid].running_run_id = run_id
        for iid, total, failures in await _counts_since(session, ids, now - timedelta(hours=24)):
            summaries[iid].runs_24h = int(total)
            summaries[iid].failures_24h = int(failures or 0)
        rejects = await session.execute(
            sa.select(SyncReject.integration_id, sa.func.count())
            .where(SyncReject.integration_id.in_(ids), SyncReject.resolved_at.is_(None))
            .group_by(SyncReject.integration_id)
        )
        for iid, open_count in rejects.all():
            summaries[iid].open_rejects = int(open_count)
    return list(summaries.values())


def _summary(integration: SoftOneIntegration, connection_name: str) -> IntegrationSummary:
    config = _config(integration.configJson)
    return IntegrationSummary(
        id=integration.id,
        name=integration.name,
        connection_id=integration.connectionId,
        connection_name=connection_name,
        is_active=bool(integration.isActive),
        direction=_direction(config),
        schedule=ScheduleView.from_config(config),
        next_run_at=as_utc(integration.nextRunAt),
        last_sync_at=as_utc(integration.lastSyncAt),
        config=config,
    )


async def _latest_finished_runs(session: AsyncSession, ids: list[str]) -> list[SyncRun]:
    # Dry runs preview, they do not sync: they never decide whether an integration is healthy.
    latest = (
        sa.select(SyncRun.integration_id, sa.func.max(SyncRun.started_at).label("started_at"))
        .where(SyncRun.integration_id.in_(ids), SyncRun.status != "running", SyncRun.dry_run.is_(False))
        .group_by(SyncRun.integration_id)
        .subquery()
    )
    stmt = sa.select(SyncRun).join(
        latest,
        sa.and_(
            SyncRun.integration_id == latest.c.integration_id,
            SyncRun.started_at == latest.c.started_at,
        ),
    )
    return list((await session.scalars(stmt)).all())


async def _running_runs(session: AsyncSession, ids: list[str]) -> list[tuple[str, str]]:
    stmt = (
        sa.select(SyncRun.integration_id, sa.func.max(SyncRun.id))
        .where(SyncRun.integration_id.in_(ids), SyncRun.status == "running")
        .group_by(SyncRun.integration_id)
    )
    return [(iid, run_id) for iid, run_id in (await session.execute(stmt)).all()]


async def _counts_since(session: AsyncSession, ids: list[str], since: datetime) -> list[Any]:
    failed = sa.func.sum(sa.case((SyncRun.status == "failed", 1), else_=0))
    stmt = (
        sa.select(SyncRun.integration_id, sa.func.count(), failed)
        .where(SyncRun.integration_id.in_(ids), SyncRun.started_at >= since, SyncRun.dry_run.is_(False))
        .group_by(SyncRun.integration_id)
    )
    return list((await session.execute(stmt)).all())


async def integration_detail(db: Database, integration_id: str) -> IntegrationDetail | None:
    summaries = await list_integrations(db, integration_id=integration_id)
    if not summaries:
        return None
    async with db.session() as session:
        runs = (
            await session.scalars(
                sa.select(SyncRun)
                .where(SyncRun.integration_id == integration_id)
                .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
                .limit(RUN_HISTORY_LIMIT)
            )
        ).all()
        slots = (
            await session.scalars(
                sa.select(SlotLog)
                .where(SlotLog.integration_id == integration_id)
                .order_by(SlotLog.slot_at.desc())
                .limit(SLOT_LOG_LIMIT)
            )
        ).all()
        rejects = (
            await session.scalars(
                sa.select(SyncReject)
                .where(SyncReject.integration_id == integration_id, SyncReject.resolved_at.is_(None))
                .order_by(SyncReject.last_seen_at.desc(), SyncReject.id.desc())
                .limit(REJECTS_LIMIT)
            )
        ).all()
        chart_runs = (
            await session.scalars(
                sa.select(SyncRun)
                .where(
                    SyncRun.integration_id == integration_id,
                    SyncRun.status != "running",
                    SyncRun.dry_run.is_(False),
                )
                .order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
                .limit(CHART_RUNS)
            )
        ).all()
    views = [RunView.from_row(run) for run in chart_runs]
    points = [
        RunPoint(
            started_at=v.started_at,
            created=v.created,
            updated=v.updated,
            duration_seconds=v.duration_seconds,
            status=v.status,
        )
        for v in reversed(views)
    ]
    two_way, conflicts = None, []
    if summaries[0].direction == "two-way":
        two_way = (await two_way_states(db, [integration_id]))[integration_id]
        conflicts = await find_conflicts(
            db, integration_ids=[integration_id], statuses=("open", "resolving"), limit=CONFLICTS_LIMIT
        )
    return IntegrationDetail(
        summary=summaries[0],
        config=summaries[0].config,
        runs=[RunView.from_row(run) for run in runs],
        slots=list(slots),
        rejects=list(rejects),
        chart_points=points,
        two_way=two_way,
        conflicts=conflicts,
    )


async def run_with_integration(db: Database, run_id: str) -> tuple[RunView, str] | None:
    """A run and the name of its integration."""
    async with db.session() as session:
        row = (
            await session.execute(
                sa.select(SyncRun, SoftOneIntegration.name)
                .join(SoftOneIntegration, SoftOneIntegration.id == SyncRun.integration_id)
                .where(SyncRun.id == run_id)
            )
        ).first()
    if row is None:
        return None
    run, name = row
    return RunView.from_row(run), name


async def integration_name(db: Database, integration_id: str) -> str | None:
    async with db.session() as session:
        name = await session.scalar(sa.select(SoftOneIntegration.name).filter_by(id=integration_id))
    return name


async def list_connections(db: Database) -> list[ConnectionView]:
    uses = (
        sa.select(SoftOneIntegration.connectionId, sa.func.count().label("n"))
        .group_by(SoftOneIntegration.connectionId)
        .subquery()
    )
    async with db.session() as session:
        rows = (
            await session.execute(
                sa.select(SoftOneConnection, sa.func.coalesce(uses.c.n, 0))
                .outerjoin(uses, uses.c.connectionId == SoftOneConnection.id)
                .order_by(SoftOneConnection.name)
            )
        ).all()
    # Built field by field so that passwordEncrypted can never reach a template.
    return [
        ConnectionView(
            id=c.id,
            name=c.name,
            base_url=c.baseUrl,
            username=c.username,
            app_id=c.appId,
            company=c.company,
            branch=c.branch,
            module=c.module,
            refid=c.refid,
            erp_timezone=c.erpTimezone,
            timeout_seconds=c.timeoutSeconds,
            integrations=int(n),
        )
        for c, n in rows
    ]
