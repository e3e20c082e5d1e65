"""Prometheus metrics: cluster-wide numbers from the database, plus this process's ERP calls.

Run, row and slot metrics are rebuilt from the database on every scrape (a fresh
CollectorRegistry each time), so every replica reports the same cluster-wide totals and they
survive restarts; each is one GROUP BY query. Dry runs are left out: they preview, they do not
sync. ERP call latency and errors are process-local: the SoftOne client reports each call
through :func:`observe_erp_call`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SoftOneIntegration, SyncRun
from softone_sync.softone.client import add_call_observer

RUN_DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
LATENESS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
ERP_CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROW_KINDS = ("created", "updated", "unchanged", "deleted", "failed", "pushed")

# Process-local metrics live in their own registry-less collectors (registry=None keeps them out of
# prometheus_client's global REGISTRY); each scrape registers them into that scrape's registry.
_ERP_CALL_SECONDS = Histogram(
    "softone_sync_erp_call_seconds",
    "Latency of SoftOne web-service calls made by this process.",
    ["service"],
    buckets=ERP_CALL_BUCKETS,
    registry=None,
)
_ERP_ERRORS = Counter(
    "softone_sync_erp_errors",
    "SoftOne calls by this process that answered success:false, by errorcode.",
    ["service", "errorcode"],
    registry=None,
)


def observe_erp_call(service: str, seconds: float, errorcode: int | str | None) -> None:
    """Record one SoftOne call; ``errorcode`` is None on success. Cheap and thread-safe."""
    name = service.strip().lower() or "unknown"  # service names are case-insensitive on the wire
    _ERP_CALL_SECONDS.labels(service=name).observe(max(seconds, 0.0))
    if errorcode is not None:
        _ERP_ERRORS.labels(service=name, errorcode=str(errorcode)).inc()


add_call_observer(observe_erp_call)


class _StaticCollector(Collector):
    """Hands the registry families already read from the database (collect() cannot await)."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


async def render_metrics(db: Database, *, now: datetime | None = None) -> bytes:
    """The Prometheus text exposition for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StaticCollector(await database_families(db, now=now)))
    registry.register(_ERP_CALL_SECONDS)
    registry.register(_ERP_ERRORS)
    return generate_latest(registry)


async def database_families(db: Database, *, now: datetime | None = None) -> list[Metric]:
    now = now or datetime.now(UTC)
    async with db.connect() as conn:
        integrations = (
            await conn.execute(
                sa.select(SoftOneIntegration.id, SoftOneIntegration.name, SoftOneIntegration.isActive)
            )
        ).all()
        labels = _labels_by_id([(iid, name) for iid, name, _ in integrations])
        not_dry = SyncRun.dry_run.is_(False)

        runs = CounterMetricFamily(
            "softone_sync_runs", "Finished sync runs by outcome.", labels=["integration", "status"]
        )
        run_rows = await conn.execute(
            sa.select(SyncRun.integration_id, SyncRun.status, sa.func.count())
            .where(not_dry, SyncRun.status != "running")
            .group_by(SyncRun.integration_id, SyncRun.status)
        )
        for iid, status, n in run_rows.all():
            runs.add_metric([labels.get(iid, iid), status], float(n))

        running = GaugeMetricFamily(
            "softone_sync_runs_running", "Runs in progress now.", labels=["integration"]
        )
        active = GaugeMetricFamily(
            "softone_sync_integration_active",
            "1 when the integration is enabled (isActive).",
            labels=["integration"],
        )
        running_counts = dict(
            (
                await conn.execute(
                    sa.select(SyncRun.integration_id, sa.func.count())
                    .where(SyncRun.status == "running")
                    .group_by(SyncRun.integration_id)
                )
            ).all()
        )
        for iid, _name, is_active in integrations:
            running.add_metric([labels[iid]], float(running_counts.get(iid, 0)))
            active.add_metric([labels[iid]], 1.0 if is_active else 0.0)

        duration = _seconds_between(db.dialect, SyncRun.started_at, SyncRun.finished_at)
        durations = HistogramMetricFamily(
            "softone_sync_run_duration_seconds", "Duration of finished sync runs.", labels=["integration"]
        )
        for iid, total, count, buckets in await _histogram_rows(
            conn,
            SyncRun.integration_id,
            duration,
            RUN_DURATION_BUCKETS,
            [SyncRun.finished_at.is_not(None), not_dry],
        ):
            durations.add_metric(
                [labels.get(iid, iid)], _buckets(RUN_DURATION_BUCKETS, buckets, count), total
            )

        rows = CounterMetricFamily(
            "softone_sync_rows", "Rows handled by sync runs, by kind.", labels=["integration", "kind"]
        )
        sums = [sa.func.coalesce(sa.func.sum(getattr(SyncRun, kind)), 0) for kind in ROW_KINDS]
        for iid, *values in (
            await conn.execute(
                sa.select(SyncRun.integration_id, *sums).where(not_dry).group_by(SyncRun.integration_id)
            )
        ).all():
            for kind, value in zip(ROW_KINDS, values, strict=True):
                rows.add_metric([labels.get(iid, iid), kind], float(value))

        since = GaugeMetricFamily(
            "softone_sync_seconds_since_last_success",
            "Seconds since the last successful sync (absent until the first one).",
            labels=["integration"],
        )
        last_success = dict(
            (
                await conn.execute(
                    sa.select(SyncRun.integration_id, sa.func.max(SyncRun.finished_at))
                    .where(not_dry, SyncRun.status == "succeeded")
                    .group_by(SyncRun.integration_id)
                )
            ).all()
        )
        for iid in labels:
            finished = _aware(last_success.get(iid))
            if finished is not None:
                since.add_metric([labels[iid]], max((now - finished).total_seconds(), 0.0))

        slots = CounterMetricFamily(
            "softone_sync_slots", "Scheduled slots by recorded outcome.", labels=["integration", "outcome"]
        )
        for iid, outcome, n in (
            await conn.execute(
                sa.select(SlotLog.integration_id, SlotLog.outcome, sa.func.count()).group_by(
                    SlotLog.integration_id, SlotLog.outcome
                )
            )
        ).all():
            slots.add_metric([labels.get(iid, iid), outcome], float(n))

        lateness_expr = _seconds_between(db.dialect, SlotLog.slot_at, SlotLog.recorded_at)
        lateness = HistogramMetricFamily(
            "softone_sync_schedule_lateness_seconds",
            "How late the scheduler started slots that ran (recorded_at - slot_at).",
            labels=["integration"],
        )
        for iid, total, count, buckets in await _histogram_rows(
            conn, SlotLog.integration_id, lateness_expr, LATENESS_BUCKETS, [SlotLog.outcome == "ran"]
        ):
            lateness.add_metric([labels.get(iid, iid)], _buckets(LATENESS_BUCKETS, buckets, count), total)

    return [runs, running, active, durations, rows, since, slots, lateness]


def _labels_by_id(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The integration's name as label; names are not unique, so duplicates get the id appended."""
    rows = list(rows)
    seen: dict[str, int] = {}
    for _iid, name in rows:
        seen[name] = seen.get(name, 0) + 1
    return {iid: name if seen[name] == 1 else f"{name} ({iid[:8]})" for iid, name in rows}


def _seconds_between(
    dialect: str, start: sa.orm.InstrumentedAttribute[Any], end: sa.orm.InstrumentedAttribute[Any]
) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    # SQLite stores UTC text; julianday() parses it, in days. A double of days carries microsecond
    # noise, which would move values sitting on a bucket bound: round to the millisecond.
    return sa.func.round((sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0, 3)


async def _histogram_rows(
    conn: AsyncConnection,
    group: sa.orm.InstrumentedAttribute[Any],
    value: ColumnElement[Any],
    bounds: Sequence[float],
    where: Sequence[ColumnElement[bool]],
) -> list[tuple[str, float, int, list[int]]]:
    """Per group: sum, count and the cumulative count at or below each bound, in one query."""
    bucket_columns = [sa.func.sum(sa.case((value <= bound, 1), else_=0)) for bound in bounds]
    stmt = sa.select(group, sa.func.coalesce(sa.func.sum(value), 0), sa.func.count(), *bucket_columns)
    stmt = stmt.where(*where).group_by(group)
    return [
        (iid, float(total), int(count), [int(b or 0) for b in buckets])
        for iid, total, count, *buckets in (await conn.execute(stmt)).all()
    ]


def _buckets(bounds: Sequence[float], cumulative: Sequence[int], count: int) -> list[tuple[str, float]]:
    pairs = [(_bound_label(bound), float(n)) for bound, n in zip(bounds, cumulative, strict=True)]
    pairs.append(("+Inf", float(count)))
    return pairs


def _bound_label(bound: float) -> str:
    return repr(float(bound))


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's max() over text may skip the column type
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
