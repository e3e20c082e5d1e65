"""One run of one integration: fetch ERP pages → map → write → record. Read it top to bottom.

:func:`run_integration` takes the integration's lease (one run per integration, cluster-wide),
records a ``sync_runs`` row, heartbeats both while it works, and streams pages: each page is
fetched (the client already prefetches the next one), converted by the :class:`RowMapper` and
written in **one transaction** on one connection held for the run — the claim of the page's keys
in the run's "seen keys" table (a key an earlier page wrote is rejected as a duplicate), the upsert,
the ownership records of created rows (only while deletions are configured), the page's rejects and,
with the last page, the incremental cursor. Memory stays O(page) however many rows the source has.
A crash therefore leaves whole pages or nothing, and the rerun converges because every write is an
idempotent upsert.

A two-way integration (``direction: two-way`` with capture installed, see
:mod:`softone_sync.sync.twoway`) first pushes the application's captured changes to SoftOne, then
pulls as above; the pull holds back rows whose local values differ from their baseline (unpushed
application changes) and records a new baseline for every row it writes, in the page's
transaction. Why push comes first is explained in :mod:`softone_sync.sync.twoway.push`.

A configured ``guard`` costs one extra pass: the ERP data is read twice, first previewed (counts
only, nothing written) and, when the change stays under the limit, written. That is the only way
to promise "nothing written" for a held run without buffering the whole source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.config import Settings, get_settings
from softone_sync.crypto import SecretDecryptError, SecretKeyMissing, decrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.leases import (
    Lease,
    LeaseLost,
    acquire_lease,
    current_holder,
    reap_expired,
    release_lease,
)
from softone_sync.db.leases import renew_lease as _renew_lease
from softone_sync.db.models import SoftOneConnection, SoftOneIntegration, SyncRun, SyncState, new_id, utcnow
from softone_sync.softone.client import ConnectionSettings, SoftOneClient
from softone_sync.softone.errors import SoftOneError
from softone_sync.sync import rejects as reject_store
from softone_sync.sync.config import IntegrationConfig, IntegrationConfigError, parse_integration_config
from softone_sync.sync.mapping import (
    FieldResolutionError,
    MappedPage,
    RowMapper,
    encode_record_key,
    mapping_value_type,
)
from softone_sync.sync.source import iter_pages
from softone_sync.sync.target import TargetError, TargetTable, column_accepts, reflect_target
from softone_sync.sync.twoway.baseline import PullGuard, forget_swept
from softone_sync.sync.twoway.capture import capture_installed, resume_capture, suppress_capture
from softone_sync.sync.twoway.erp import ErpSide
from softone_sync.sync.twoway.layout import LayoutError, TwoWayLayout
from softone_sync.sync.twoway.push import PushPhase, PushStats, pending_changes
from softone_sync.sync.writers import PageWriter, writer_for
from softone_sync.sync.writers.base import PagePreview

log = logging.getLogger("softone_sync.sync.run")

_STATE: sa.Table = SyncState.__table__  # type: ignore[assignment]
_RUNS: sa.Table = SyncRun.__table__  # type: ignore[assignment]
_INTEGRATIONS: sa.Table = SoftOneIntegration.__table__  # type: ignore[assignment]

DEFAULT_LEASE_TTL = 60.0
MAX_STORED_REJECTS = 100  # per run; the rest are counted in `failed` only
SAMPLES_PER_KIND = 5

RunStatus = Literal["succeeded", "failed", "held", "skipped"]


class AlreadyRunning(Exception):
    """Another process holds this integration's lease."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        super().__init__(f"the integration is already running (run {run_id or 'unknown'})")


class IntegrationNotFound(LookupError):
    def __init__(self, integration_id: str) -> None:
        self.integration_id = integration_id
        super().__init__(f"no integration with id {integration_id!r}")


class _RunFailed(Exception):
    """A failure with a message fit for ``sync_runs.error`` (one line, no stack trace)."""


@dataclass
class ProgressEvent:
    phase: Literal["preview", "write", "delete", "done"]
    pages: int
    fetched: int
    total: int | None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    deleted: int = 0


@dataclass
class RunResult:
    run_id: str
    integration_id: str
    status: RunStatus
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    pushed: int = 0
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = None
    dry_run: bool = False
    preview: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """The result as JSON-ready snake_case: the CLI prints it, the API camelCases its keys."""
        return {
            "run_id": self.run_id,
            "integration_id": self.integration_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "pushed": self.pushed,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": round(self.duration, 3),
            "error": self.error,
            "preview": self.preview,
            "stats": self.stats,
        }


@dataclass
class _Totals:
    pages: int = 0
    fetched: int = 0
    filtered: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    rejects_stored: int = 0
    rejects_resolved: int = 0
    total: int | None = None
    max_cursor: datetime | None = None
    preview: PagePreview = field(default_factory=PagePreview)
    timings: dict[str, float] = field(default_factory=lambda: {"fetch": 0.0, "map": 0.0, "write": 0.0})

    def preview_json(self) -> dict[str, Any]:
        """What a dry or held run would have done (``RunResult.preview``)."""
        return {
            "create": self.created,
            "update": self.updated,
            "unchanged": self.unchanged,
            "delete": self.deleted,
            "failed": self.failed,
            "samples": {
                "create": [s.as_json() for s in self.preview.create_samples],
                "update": [s.as_json() for s in self.preview.update_samples],
            },
        }


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_integration(
    db: Database,
    integration_id: str,
    *,
    trigger: str = "api",
    force: bool = False,
    dry_run: bool = False,
    full: bool = False,
    owner: str | None = None,
    run_id: str | None = None,
    slot_at: datetime | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    client_factory: Callable[[ConnectionSettings], SoftOneClient] | None = None,
    settings: Settings | None = None,
    lease_ttl: float | None = None,
) -> RunResult:
    """Run one integration now. Raises IntegrationNotFound, IntegrationConfigError (invalid configJson,
    before anything is recorded) or AlreadyRunning; every other failure is a recorded ``failed`` run."""
    integration, connection = await _load(db, integration_id)
    config = parse_integration_config(integration.configJson)
    settings = settings or get_settings()
    runner = _Runner(
        db,
        integration,
        connection,
        config,
        trigger=trigger,
        force=force,
        dry_run=dry_run,
        full=full,
        owner=owner or default_owner(),
        run_id=run_id or new_id(),
        slot_at=slot_at,
        progress=progress,
        client_factory=client_factory or SoftOneClient,
        settings=settings,
        lease_ttl=lease_ttl or settings.lease_ttl_seconds or DEFAULT_LEASE_TTL,
    )
    result = await runner.run()
    if not result.dry_run:
        await _notify(db, settings, result)
    return result


async def _notify(db: Database, settings: Settings, result: RunResult) -> None:
    """The failing/recovered webhook (NOTIFY_WEBHOOK_URL); best-effort, never fails the run."""
    if settings.notify_webhook_url is None:
        return
    from softone_sync.notify import notify_after_run

    try:
        await notify_after_run(
            db,
            settings,
            result.integration_id,
            run_id=result.run_id,
            status=result.status,
            error=result.error,
        )
    except Exception:
        log.exception("[SYNC] run %s: notification failed", result.run_id)


async def _load(db: Database, integration_id: str) -> tuple[SoftOneIntegration, SoftOneConnection]:
    async with db.session() as session:
        integration = await session.get(SoftOneIntegration, integration_id)
        if integration is None:
            raise IntegrationNotFound(integration_id)
        connection = await session.get(SoftOneConnection, integration.connectionId)
        if connection is None:  # pragma: no cover - the foreign key forbids it
            raise IntegrationConfigError([f"connectionId: no connection {integration.connectionId!r}"])
        return integration, connection


class _Runner:
    def __init__(
        self,
        db: Database,
        integration: SoftOneIntegration,
        connection: SoftOneConnection,
        config: IntegrationConfig,
        *,
        trigger: str,
        force: bool,
        dry_run: bool,
        full: bool,
        owner: str,
        run_id: str,
        slot_at: datetime | None,
        progress: Callable[[ProgressEvent], None] | None,
        client_factory: Callable[[ConnectionSettings], SoftOneClient],
        settings: Settings,
        lease_ttl: float,
    ) -> None:
        self.db = db
        self.integration = integration
        self.connection = connection
        self.config = config
        self.trigger = trigger
        self.force = force
        self.dry_run = dry_run
        self.owner = owner
        self.run_id = run_id
        self.slot_at = slot_at
        self.progress = progress
        self.client_factory = client_factory
        self.settings = settings
        self.lease_ttl = lease_ttl
        self.erp_timezone = config.erp_timezone or connection.erpTimezone
        self.incremental = config.mode == "incremental" and not full
        # Deletions need every ERP row seen, so only a run without an incremental window sweeps.
        self.sweeps = not self.incremental and config.deletions.mode != "ignore"
        # Ownership records are only read by deletion sweeps, so they are only kept while deletions
        # are configured (an incremental run's creations must be deletable by a later full run).
        self.owns_rows = config.deletions.mode != "ignore"
        self.columns = config.columns
        self.lease: Lease | None = None
        self.lease_lost = False
        # Two-way: the layout when capture is installed (else the run only pulls), the push's stats,
        # and the pull's guard against overwriting unpushed application changes.
        self.two_way: TwoWayLayout | None = None
        self.capture_missing = False
        self.push_stats: PushStats | None = None
        self.pull_guard: PullGuard | None = None
        self.pending_push: int | None = None
        self.started = utcnow()
        self.extra = {"integration_id": integration.id, "run_id": run_id}
        self._heartbeat_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> RunResult:
        await reap_expired(self.db)
        self.lease = await acquire_lease(
            self.db, self.integration.id, owner=self.owner, run_id=self.run_id, ttl=self.lease_ttl
        )
        if self.lease is None:
            holder = await current_holder(self.db, self.integration.id)
            raise AlreadyRunning(holder[1] if holder else None)
        # Started once the lease is ours: consecutive runs of one integration never overlap in time.
        self.started = utcnow()
        result = RunResult(
            self.run_id, self.integration.id, "failed", started_at=self.started, dry_run=self.dry_run
        )
        try:
            await self._insert_run_row()
            self._heartbeat_task = asyncio.create_task(self._heartbeat())
            log.info(
                "[SYNC] integration=%s run=%s started (%s, %s%s)",
                self.integration.id,
                self.run_id,
                self.config.source.describe(),
                "incremental" if self.incremental else "full",
                ", dry run" if self.dry_run else "",
                extra={"action": "sync_started", **self.extra},
            )
            result = await self._execute(result)
        except asyncio.CancelledError:
            result.status, result.error = "failed", "the run was cancelled (shutdown or timeout)"
            await asyncio.shield(self._finish(result))
            raise
        finally:
            if self._heartbeat_task is not None:
                self._heartbeat_task.cancel()
            if self.lease is not None:
                await asyncio.shield(release_lease(self.db, self.lease))
        return result

    async def _execute(self, result: RunResult) -> RunResult:
        totals = _Totals()
        try:
            totals = await self._work(result)
            result.status = result.status if result.status == "held" else "succeeded"
        except _RunFailed as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:  # recorded, never propagated: the caller gets a failed RunResult
            result.status, result.error = "failed", _message_of(exc)
            if not isinstance(exc, SoftOneError | TargetError | SQLAlchemyError | LeaseLost):
                log.exception(
                    "[SYNC] run %s crashed", self.run_id, extra={"action": "sync_crashed", **self.extra}
                )
        self._fill(result, totals)
        await self._finish(result)
        return result

    async def _work(self, result: RunResult) -> _Totals:
        password = self._password()
        settings = ConnectionSettings(
            base_url=self.connection.baseUrl,
            username=self.connection.username,
            password=password,
            app_id=self.connection.appId,
            company=self.connection.company,
            branch=self.connection.branch,
            module=self.connection.module,
            refid=self.connection.refid,
            timeout=self.connection.timeoutSeconds,
            max_concurrency=self.connection.maxConcurrentRequests,
            erp_timezone=self.erp_timezone,
        )
        async with self.client_factory(settings) as client, self.db.connect() as conn:
            target = await self._open_target(conn)
            await self._open_two_way(conn, target)
            writer = writer_for(self.db.dialect)
            await writer.begin_run(conn, target, self.columns, track_seen=self.sweeps)
            await conn.commit()
            try:
                return await self._passes(result, client, conn, writer, target)
            finally:
                if not conn.closed and not conn.invalidated:
                    await conn.rollback()
                    await writer.end_run(conn)
                    await conn.commit()

    async def _passes(
        self,
        result: RunResult,
        client: SoftOneClient,
        conn: AsyncConnection,
        writer: PageWriter,
        target: TargetTable,
    ) -> _Totals:
        since = await self._window_start(conn)
        if self.dry_run:
            if self.two_way is not None:
                self.pending_push = await pending_changes(conn, self.integration.id)
                await conn.commit()
            totals = await self._pass(client, conn, writer, target, since, preview=True)
            if self.sweeps:
                totals.deleted = await writer.count_unseen(conn, self.integration.id)
                await conn.commit()
            result.preview = totals.preview_json()
            return totals
        if self.two_way is not None:
            await self._push(client, conn, self.two_way)
        if self.config.guard is not None and not self.force:
            preview = await self._pass(client, conn, writer, target, since, preview=True)
            held = await self._guard_verdict(conn, writer, target, preview)
            if held is not None:
                result.status, result.error = "held", held
                result.preview = preview.preview_json()
                return preview
            # The real pass starts with an empty "seen keys" table (duplicates, deletions).
            await writer.forget_seen(conn)
            await conn.commit()
        totals = await self._pass(client, conn, writer, target, since, preview=False)
        if self.sweeps:
            await self._sweep(conn, writer, target, totals)
        return totals

    # ------------------------------------------------------------------ the page loop

    async def _pass(
        self,
        client: SoftOneClient,
        conn: AsyncConnection,
        writer: PageWriter,
        target: TargetTable,
        since: datetime | None,
        *,
        preview: bool,
    ) -> _Totals:
        totals = _Totals()
        mapper = RowMapper(
            self.config,
            erp_timezone=self.erp_timezone,
            has_record_id=self.config.source.is_browser,
            window_start=since,
        )
        open_rejects = set() if preview else await reject_store.open_reject_keys(conn, self.integration.id)
        if not preview and self.two_way is not None:  # a run has at most one writing pass
            self.pull_guard = PullGuard(self.integration.id, self.two_way, self.columns)
        if not preview:
            await conn.commit()
        cursor_saved = False
        pages = iter_pages(client, self.config, since=since, erp_timezone=self.erp_timezone, now=utcnow())
        clock = time.perf_counter()
        async for page in pages:
            fetched_at = time.perf_counter()
            totals.timings["fetch"] += fetched_at - clock
            totals.pages += 1
            totals.fetched += len(page.rows)
            totals.total = page.totalcount
            try:
                mapped = mapper.map_page(page.fields, page.rows, page.record_ids)
            except FieldResolutionError as exc:
                raise _RunFailed(f"configJson {exc}") from None
            mapped_at = time.perf_counter()
            totals.timings["map"] += mapped_at - fetched_at
            totals.filtered += mapped.filtered
            if mapped.max_cursor is not None and (
                totals.max_cursor is None or mapped.max_cursor > totals.max_cursor
            ):
                totals.max_cursor = mapped.max_cursor
            if preview:
                await self._preview_page(conn, writer, target, mapper, mapped, totals)
            else:
                await self._write_page(
                    conn, writer, target, mapper, mapped, totals, open_rejects, last=page.is_last
                )
                cursor_saved = cursor_saved or page.is_last
            totals.failed += len(mapped.rejects)
            clock = time.perf_counter()
            totals.timings["write"] += clock - mapped_at
            self._report("preview" if preview else "write", totals)
        if not preview and not cursor_saved and self.config.mode == "incremental":
            # The source ended early (an empty or shrunken result): the cursor still moves on.
            async with conn.begin():
                await self._save_cursor(conn, totals.max_cursor)
        return totals

    async def _write_page(
        self,
        conn: AsyncConnection,
        writer: PageWriter,
        target: TargetTable,
        mapper: RowMapper,
        mapped: MappedPage,
        totals: _Totals,
        open_rejects: set[str],
        *,
        last: bool,
    ) -> None:
        if self.lease_lost:
            raise LeaseLost(self.integration.id, self.run_id)
        now = utcnow()
        guard = self.pull_guard
        async with conn.begin():
            await _claim_page(conn, writer, mapper, mapped)
            rows = mapped.rows
            if guard is not None:
                # Two-way: the page's writes are the sync's own (no capture), rows with unpushed
                # application changes are held back, and what is written becomes the baseline.
                await suppress_capture(conn, self.integration.id)
                rows, _ = await guard.hold_back(conn, rows, mapped.record_keys)
            if rows:
                written = await writer.upsert_page(conn, target, self.columns, rows)
                totals.created += written.created
                totals.updated += written.updated
                totals.unchanged += written.unchanged
                if self.owns_rows and written.created_keys:
                    # Ownership (what a deletion sweep may touch): the rows this integration created.
                    # O(change), not O(rows): a row that was already there is the application's.
                    owned = [encode_record_key(key) for key in written.created_keys]
                    await writer.record_owned(conn, self.integration.id, owned)
            if guard is not None:
                await guard.record_page(conn, rows)
                await resume_capture(conn, self.integration.id)
            await self._record_rejected_seen(conn, writer, mapped)
            await self._settle_rejects(conn, mapped, totals, open_rejects, now)
            if last and self.config.mode == "incremental":
                await self._save_cursor(conn, totals.max_cursor)

    async def _settle_rejects(
        self,
        conn: AsyncConnection,
        mapped: MappedPage,
        totals: _Totals,
        open_rejects: set[str],
        now: datetime,
    ) -> None:
        """In the page's transaction: resolve the open rejects the page wrote, store its new ones."""
        resolved: list[str] = []
        if open_rejects:
            resolved = [k for k in mapped.record_keys if k in open_rejects]
            by_id = (f"$key:{i}" for i in mapped.record_ids if i)
            resolved += [k for k in by_id if k in open_rejects]
        if resolved:
            totals.rejects_resolved += await reject_store.resolve_rejects(
                conn, integration_id=self.integration.id, record_keys=resolved, now=now
            )
            open_rejects.difference_update(resolved)
        room = MAX_STORED_REJECTS - totals.rejects_stored
        if mapped.rejects and room > 0:
            stored = mapped.rejects[:room]
            await reject_store.store_rejects(
                conn,
                dialect=self.db.dialect,
                integration_id=self.integration.id,
                run_id=self.run_id,
                rejects=stored,
                now=now,
            )
            totals.rejects_stored += len(stored)
            open_rejects.update(r.record_key for r in stored)

    async def _record_rejected_seen(
        self, conn: AsyncConnection, writer: PageWriter, mapped: MappedPage
    ) -> None:
        """Rejected rows whose key is known are still in the ERP: a deletion sweep must spare them."""
        if self.sweeps:
            await writer.record_seen(conn, [r.record_key for r in mapped.rejects if r.key is not None])

    async def _preview_page(
        self,
        conn: AsyncConnection,
        writer: PageWriter,
        target: TargetTable,
        mapper: RowMapper,
        mapped: MappedPage,
        totals: _Totals,
    ) -> None:
        # Only the run's temporary "seen keys" table is written; the target and our tables are not.
        await _claim_page(conn, writer, mapper, mapped)
        if mapped.rows:
            preview = await writer.preview_page(
                conn, target, self.columns, mapped.rows, samples=SAMPLES_PER_KIND
            )
            totals.created += preview.would_create
            totals.updated += preview.would_update
            totals.unchanged += preview.unchanged
            totals.preview.add(preview, samples=SAMPLES_PER_KIND)
        await self._record_rejected_seen(conn, writer, mapped)
        await conn.commit()

    async def _sweep(
        self, conn: AsyncConnection, writer: PageWriter, target: TargetTable, totals: _Totals
    ) -> None:
        if self.lease_lost:
            raise LeaseLost(self.integration.id, self.run_id)
        deletions = self.config.deletions
        async with conn.begin():
            assert deletions.mode != "ignore"
            if self.two_way is not None:
                await suppress_capture(conn, self.integration.id)
            totals.deleted = await writer.sweep_unseen(
                conn,
                target,
                self.integration.id,
                deletions.mode,
                soft_column=deletions.column,
                soft_value=deletions.value,
            )
            if self.two_way is not None:
                await forget_swept(conn, self.integration.id)
                await resume_capture(conn, self.integration.id)
        self._report("delete", totals)

    # ------------------------------------------------------------------ guard, cursor, target

    async def _guard_verdict(
        self, conn: AsyncConnection, writer: PageWriter, target: TargetTable, preview: _Totals
    ) -> str | None:
        guard = self.config.guard
        assert guard is not None
        if self.sweeps:
            preview.deleted = await writer.count_unseen(conn, self.integration.id)
        rows = (await conn.execute(sa.select(sa.func.count()).select_from(target.table))).scalar_one()
        await conn.rollback()
        changed = preview.updated + preview.deleted
        if rows == 0 or changed * 100 <= guard.max_change_percent * rows:
            return None
        share = changed * 100 / rows
        return (
            f"held by the guard: the run would update {preview.updated} and delete {preview.deleted} of "
            f"{rows} rows ({share:.1f}% > maxChangePercent {guard.max_change_percent:g}%); "
            "nothing was written. Check the source, then rerun with force to apply it"
        )

    async def _window_start(self, conn: AsyncConnection) -> datetime | None:
        if not self.incremental:
            return None
        cursor = (
            await conn.execute(
                sa.select(SyncState.cursor).where(SyncState.integration_id == self.integration.id)
            )
        ).scalar_one_or_none()
        await conn.commit()
        if not cursor:
            return None
        return datetime.fromisoformat(cursor) - self.config.lookback

    async def _save_cursor(self, conn: AsyncConnection, cursor: datetime | None) -> None:
        """Advance (never move back) the cursor, inside the caller's transaction."""
        if cursor is None:
            return
        table = _STATE
        current = (
            await conn.execute(sa.select(table.c.cursor).where(table.c.integration_id == self.integration.id))
        ).first()
        text = cursor.isoformat()
        if current is None:
            await conn.execute(
                sa.insert(table).values(integration_id=self.integration.id, cursor=text, updated_at=utcnow())
            )
        elif current[0] is None or datetime.fromisoformat(current[0]) < cursor:
            await conn.execute(
                sa.update(table)
                .where(table.c.integration_id == self.integration.id)
                .values(cursor=text, updated_at=utcnow())
            )

    async def _open_two_way(self, conn: AsyncConnection, target: TargetTable) -> None:
        if self.config.direction != "two-way":
            return
        try:
            layout = TwoWayLayout.build(self.config, target)
        except LayoutError as exc:
            raise _RunFailed(f"two-way: {exc}") from None
        installed = await capture_installed(conn, self.integration.id, layout)
        await conn.commit()
        if installed:
            self.two_way = layout
        else:
            self.capture_missing = True

    async def _push(self, client: SoftOneClient, conn: AsyncConnection, layout: TwoWayLayout) -> None:
        def check_lease() -> None:
            if self.lease_lost:
                raise LeaseLost(self.integration.id, self.run_id)

        phase = PushPhase(
            conn,
            integration_id=self.integration.id,
            run_id=self.run_id,
            layout=layout,
            erp=ErpSide(client, layout, self.erp_timezone),
            check_lease=check_lease,
        )
        self.push_stats = phase.stats  # kept even when the push fails half-way
        await phase.run()

    async def _open_target(self, conn: AsyncConnection) -> TargetTable:
        target_config = self.config.target
        target = await reflect_target(
            conn, target_config.table, target_config.schema_, key_columns=self.config.key_columns
        )
        await conn.commit()
        self._check_value_types(target)
        return target

    def _check_value_types(self, target: TargetTable) -> None:
        """Refuse, before anything is written, a mapping whose values the column cannot store."""
        problems = []
        for index, mapping in enumerate(self.config.mappings):
            value_type = mapping_value_type(mapping)
            column = target.column(mapping.column)
            if value_type is None or column_accepts(column, value_type):
                continue
            source = f"erpField {mapping.erp_field!r}" if mapping.erp_field else "constant"
            problems.append(
                f"mappings[{index}] ({source} → column {mapping.column!r}, convert {mapping.convert!r}) "
                f"gives {value_type.__name__} values, but column {mapping.column!r} of "
                f"{target.qualified_name!r} is {column.type}"
            )
        if problems:
            raise TargetError(
                "; ".join(problems)
                + " — change the mapping's convert or the column type; nothing was written"
            )

    def _password(self) -> str:
        try:
            return decrypt_secret(self.connection.passwordEncrypted, self.settings.secret_key)
        except (SecretKeyMissing, SecretDecryptError) as exc:
            raise _RunFailed(str(exc)) from None

    # ------------------------------------------------------------------ bookkeeping

    async def _heartbeat(self) -> None:
        assert self.lease is not None
        interval = max(self.lease_ttl / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await _renew_lease(self.db, self.lease, ttl=self.lease_ttl):
                    self.lease_lost = True
                    log.error(
                        "[SYNC] run %s lost its lease; stopping before the next page",
                        self.run_id,
                        extra={"action": "lease_lost", **self.extra},
                    )
                    return
            except SQLAlchemyError as exc:  # a blip: the next beat retries well within the TTL
                log.warning(
                    "[SYNC] heartbeat failed: %s",
                    _message_of(exc),
                    extra={"action": "heartbeat", **self.extra},
                )

    async def _insert_run_row(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                sa.insert(_RUNS).values(
                    id=self.run_id,
                    integration_id=self.integration.id,
                    trigger=self.trigger,
                    status="running",
                    dry_run=self.dry_run,
                    started_at=self.started,
                    heartbeat_at=self.started,
                    slot_at=self.slot_at,
                    owner=self.owner,
                    stats_json={},
                )
            )

    def _fill(self, result: RunResult, totals: _Totals) -> None:
        result.fetched = totals.fetched
        result.created, result.updated, result.unchanged = totals.created, totals.updated, totals.unchanged
        result.deleted, result.failed = totals.deleted, totals.failed
        result.finished_at = utcnow()
        stats: dict[str, Any] = {
            "pages": totals.pages,
            "filtered": totals.filtered,
            "mode": "incremental" if self.incremental else "full",
            "source": self.config.source.describe(),
            "rejects": {"stored": totals.rejects_stored, "resolved": totals.rejects_resolved},
            "timings": {k: round(v, 3) for k, v in totals.timings.items()}
            | {"total": round(result.duration, 3)},
        }
        if self.config.mode == "incremental":  # also when --full ignored the cursor
            stats["cursor"] = totals.max_cursor.isoformat() if totals.max_cursor else None
        if self.capture_missing:
            stats["direction"] = (
                "two-way: only the pull half (ERP → table) ran; change capture is not installed "
                "(enable two-way sync on the integration)"
            )
        elif self.two_way is not None:
            stats["direction"] = "two-way: push (table → ERP), then pull (ERP → table)"
            two_way: dict[str, Any] = {"held_by_pull": self.pull_guard.held if self.pull_guard else 0}
            if self.push_stats is not None:
                two_way |= self.push_stats.as_json()
                result.pushed = self.push_stats.pushed
                result.failed += self.push_stats.failed
            if self.pending_push is not None:
                two_way["pending"] = self.pending_push
            stats["two_way"] = two_way
        if result.preview is not None:
            stats["preview"] = result.preview
        result.stats = stats

    async def _finish(self, result: RunResult) -> None:
        # The heartbeat stops first: its renewals and this final write touch the same two rows.
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        result.finished_at = result.finished_at or utcnow()
        async with self.db.engine.begin() as conn:
            await conn.execute(
                sa.update(_RUNS)
                # A run the reaper already failed (its lease expired) keeps that verdict.
                .where(_RUNS.c.id == self.run_id, _RUNS.c.status == "running")
                .values(
                    status=result.status,
                    finished_at=result.finished_at,
                    fetched=result.fetched,
                    created=result.created,
                    updated=result.updated,
                    unchanged=result.unchanged,
                    deleted=result.deleted,
                    failed=result.failed,
                    pushed=result.pushed,
                    stats_json=result.stats,
                    error=result.error,
                )
            )
            if result.status == "succeeded" and not self.dry_run:
                table = _INTEGRATIONS
                await conn.execute(
                    sa.update(table)
                    .where(table.c.id == self.integration.id)
                    .values(lastSyncAt=result.finished_at, updatedAt=table.c.updatedAt)
                )
        log.info(
            "[SYNC] integration=%s run=%s status=%s fetched=%d created=%d updated=%d unchanged=%d deleted=%d "
            "failed=%d duration=%.2fs%s",
            self.integration.id,
            self.run_id,
            result.status,
            result.fetched,
            result.created,
            result.updated,
            result.unchanged,
            result.deleted,
            result.failed,
            result.duration,
            f" error={result.error}" if result.error else "",
            extra={"action": "sync_finished", **self.extra},
        )
        self._report("done", None, result)

    def _report(
        self,
        phase: Literal["preview", "write", "delete", "done"],
        totals: _Totals | None,
        result: RunResult | None = None,
    ) -> None:
        if self.progress is None:
            return
        source: Any = totals if totals is not None else result
        event = ProgressEvent(
            phase=phase,
            pages=totals.pages if totals is not None else 0,
            fetched=source.fetched,
            total=totals.total if totals is not None else None,
            created=source.created,
            updated=source.updated,
            unchanged=source.unchanged,
            failed=source.failed,
            deleted=source.deleted,
        )
        try:
            self.progress(event)
        except Exception:  # a broken progress display must not fail the run
            log.debug("progress callback failed", exc_info=True)


async def _claim_page(
    conn: AsyncConnection, writer: PageWriter, mapper: RowMapper, mapped: MappedPage
) -> None:
    """Claim the page's keys in the run's "seen keys" table; a key an earlier page wrote (the ERP
    repeating a unique identifier) becomes a reject."""
    mapper.reject_repeated(mapped, await writer.claim_written(conn, mapped.record_keys))


def _message_of(exc: BaseException) -> str:
    """One line for sync_runs.error: what went wrong, no stack trace, no SQL parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        return f"target database error: {first}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {str(exc).splitlines()[0]}"
    if isinstance(exc, SoftOneError | TargetError | LeaseLost | IntegrationConfigError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
