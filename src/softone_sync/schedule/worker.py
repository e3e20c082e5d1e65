"""The procrastinate side of scale-out: the app, its schema, the slot task and the worker loop.

With ``EXECUTOR=procrastinate`` the schedulers (``softone-sync serve`` / ``softone-sync cron run``)
still claim every slot exactly once in ``slot_log``, then defer one procrastinate job per claimed
slot on the same PostgreSQL database. ``softone-sync worker`` processes take the jobs, run the
integration with :func:`~softone_sync.sync.run.run_integration` and write the slot's final outcome.
The integration's lease stays the authority on "one run per integration": a job that reaches a
worker while the integration runs anywhere else is ``skipped-running`` (or, with ``overlap:
"queue-one"``, waits as the one pending run).

A worker that dies mid-job leaves its job ``doing``; every worker sweeps such stalled jobs (their
worker stopped heart-beating) and fails them and their slots, so no slot stays ``queued``. The run
itself, if it had started, is failed by the schedulers' lease reaper once its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from softone_sync.config import Settings
from softone_sync.db import leases
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration
from softone_sync.schedule import store
from softone_sync.schedule.cron import CronError
from softone_sync.schedule.executors import (
    SLOT_QUEUE,
    SLOT_TASK_NAME,
    ExecutionResult,
    ExecutorConfigError,
    RunFn,
    call_run_fn,
    default_run_fn,
    lease_ttl_from,
    procrastinate_conninfo,
)
from softone_sync.schedule.slots import ScheduleConfig

log = logging.getLogger("softone_sync.schedule.worker")

# Any constant works: it only has to be the same for every process applying the schema.
_SCHEMA_LOCK_KEY = 0x50F7_0E5C
STALLED_WORKER_SECONDS = 30.0
"""A worker whose heartbeat is this old is dead: its jobs are failed by the other workers' sweep."""
PENDING_POLL_SECONDS = 0.5
RECORD_ATTEMPTS = 5


def procrastinate_app(database_url: str, **pool: Any) -> Any:
    """A procrastinate ``App`` on the service's PostgreSQL database (not opened yet).

    ``pool`` goes to psycopg's ``AsyncConnectionPool`` (e.g. ``max_size``). The slot task is
    registered by :func:`register_slot_task`; a scheduler only defers by name and needs no task.
    """
    import procrastinate

    connector = procrastinate.PsycopgConnector(conninfo=procrastinate_conninfo(database_url), **pool)
    return procrastinate.App(connector=connector)


async def schema_present(app: Any) -> bool:
    """Is procrastinate's schema in the database (in the connection's search_path)? App must be open."""
    row = await app.connector.execute_query_one_async(
        query="SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
    )
    return bool(row["present"])


async def apply_schema(database_url: str) -> bool:
    """Create procrastinate's tables, types and functions unless present; True when it created them.

    Idempotent and safe to run from several processes at once: an advisory lock serialises them
    and the first one does the work (procrastinate's own schema script fails when run twice).
    """
    import psycopg
    from procrastinate.schema import SchemaManager

    conninfo = procrastinate_conninfo(database_url)
    async with await psycopg.AsyncConnection.connect(conninfo) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        row = await cursor.fetchone()
        if row is not None and row[0]:
            return False
        # No parameters: psycopg sends the script as-is (simple protocol, many statements).
        await conn.execute(SchemaManager.get_schema())
    log.info("[CRON] procrastinate schema applied", extra={"action": "procrastinate_schema"})
    return True


def worker_owner() -> str:
    return f"worker:{socket.gethostname()}:{os.getpid()}"


def register_slot_task(
    app: Any,
    database: Callable[[], Awaitable[Database]],
    *,
    run_fn: RunFn | None = None,
    settings: Settings | None = None,
    owner: str | None = None,
    pending_poll: float = PENDING_POLL_SECONDS,
) -> Any:
    """Register the task that runs one deferred slot on a procrastinate ``App``; returns the task.

    ``database`` returns the (shared) :class:`Database` the worker runs against. The task runs the
    integration (``run_fn``, default ``run_integration``) and writes the slot's final outcome.
    """
    chosen_run_fn = run_fn or default_run_fn()
    run_owner = owner or worker_owner()
    lease_ttl = lease_ttl_from(settings)

    @app.task(name=SLOT_TASK_NAME, queue=SLOT_QUEUE, pass_context=False)  # type: ignore[untyped-decorator]
    async def run_scheduled_slot(integration_id: str, slot_at: str, trigger: str, run_id: str | None) -> None:
        db = await database()
        await run_slot_job(
            db,
            integration_id,
            datetime.fromisoformat(slot_at),
            trigger,
            run_id,
            run_fn=chosen_run_fn,
            settings=settings,
            owner=run_owner,
            lease_ttl=lease_ttl,
            pending_poll=pending_poll,
        )

    return run_scheduled_slot


async def run_slot_job(
    db: Database,
    integration_id: str,
    slot_at: datetime,
    trigger: str,
    run_id: str | None,
    *,
    run_fn: RunFn,
    settings: Settings | None,
    owner: str,
    lease_ttl: float | None = None,
    pending_poll: float = PENDING_POLL_SECONDS,
) -> ExecutionResult:
    """Run the slot's integration and record the slot's outcome (the body of the procrastinate task)."""

    async def attempt() -> ExecutionResult:
        return await call_run_fn(
            run_fn,
            db,
            integration_id,
            trigger=trigger,
            owner=owner,
            run_id=run_id,
            slot_at=slot_at,
            settings=settings,
            lease_ttl=lease_ttl,
        )

    result = await attempt()
    if result.outcome == "skipped-running" and await _overlap_policy(db, integration_id) == "queue-one":
        result = await _wait_as_pending(db, integration_id, slot_at, result, attempt, pending_poll)
    await _record(db, integration_id, slot_at, result)
    log.info(
        "[CRON] integration=%s slot=%s outcome=%s run=%s%s",
        integration_id,
        slot_at.isoformat(),
        result.outcome,
        result.run_id or "-",
        f" ({result.detail})" if result.detail and result.outcome != "ran" else "",
        extra={"action": "slot", "integration_id": integration_id, "run_id": result.run_id},
    )
    return result


async def _overlap_policy(db: Database, integration_id: str) -> str:
    async with db.connect() as conn:
        config = (
            await conn.execute(
                sa.select(SoftOneIntegration.configJson).where(SoftOneIntegration.id == integration_id)
            )
        ).scalar_one_or_none()
    try:
        schedule = ScheduleConfig.from_config_json(config if isinstance(config, dict) else None)
    except CronError:
        return "skip"
    return schedule.overlap if schedule is not None else "skip"


async def _wait_as_pending(
    db: Database,
    integration_id: str,
    slot_at: datetime,
    skipped: ExecutionResult,
    attempt: Callable[[], Awaitable[ExecutionResult]],
    pending_poll: float,
) -> ExecutionResult:
    """``overlap: "queue-one"``: keep this slot as the one pending run until the holder finishes.

    The same rule as the in-process scheduler: at most one pending slot per integration, cluster-wide
    (the ``pending`` mark in ``slot_log``); a second one is ``skipped-running``.
    """
    if await store.has_pending(db, integration_id, excluding=slot_at):
        return ExecutionResult("skipped-running", None, f"{skipped.detail}; a run is already pending")
    await store.set_slot_detail(
        db, integration_id, slot_at, f"{store.PENDING_PREFIX} {skipped.detail or ''}".strip()
    )
    loop = asyncio.get_running_loop()
    next_touch = loop.time()
    while True:
        # Polling, not an event: the holder is usually another process.
        while await leases.current_holder(db, integration_id) is not None:
            if loop.time() >= next_touch:
                # The row is no longer marked "deferred": heartbeat it so the repair pass leaves it be.
                await store.touch_slots(db, [(integration_id, slot_at)])
                next_touch = loop.time() + 5.0
            await asyncio.sleep(pending_poll)
        result = await attempt()
        if result.outcome != "skipped-running":
            return result


async def _record(db: Database, integration_id: str, slot_at: datetime, result: ExecutionResult) -> None:
    """Write the outcome, retrying a database blip: the run happened, its slot must say so."""
    for number in range(1, RECORD_ATTEMPTS + 1):
        try:
            await store.finish_slot(
                db, integration_id, slot_at, result.outcome, run_id=result.run_id, detail=result.detail
            )
            return
        except sa.exc.SQLAlchemyError as exc:
            if number == RECORD_ATTEMPTS:
                raise
            log.warning(
                "[CRON] integration=%s slot=%s writing the outcome failed (%s); retrying",
                integration_id,
                slot_at.isoformat(),
                type(exc).__name__,
                extra={"action": "slot_record_retry", "integration_id": integration_id},
            )
            await asyncio.sleep(0.5 * number)


async def sweep_stalled_jobs(app: Any, db: Database, *, stalled_after: float = STALLED_WORKER_SECONDS) -> int:
    """Fail slot jobs whose worker died (no heartbeat for ``stalled_after`` s) and their queued slots.

    Not retried: the slot's moment has passed and the next slot comes on schedule; a retry could
    also run after a later slot, out of order. Returns how many jobs were failed.
    """
    from procrastinate.jobs import Status

    stalled = await app.job_manager.get_stalled_jobs(
        task_name=SLOT_TASK_NAME, seconds_since_heartbeat=stalled_after
    )
    count = 0
    for job in stalled:
        await app.job_manager.finish_job_by_id_async(job.id, status=Status.FAILED, delete_job=False)
        count += 1
        kwargs = job.task_kwargs
        try:
            integration_id = str(kwargs["integration_id"])
            slot_at = datetime.fromisoformat(str(kwargs["slot_at"]))
        except (KeyError, ValueError):
            continue  # not one of ours after all
        await store.finish_queued_slot(
            db,
            integration_id,
            slot_at,
            "failed",
            detail=f"the worker running procrastinate job {job.id} stopped "
            f"(no heartbeat for {stalled_after:g} s)",
        )
        log.warning(
            "[CRON] integration=%s slot=%s: its worker stopped; job %s failed",
            integration_id,
            slot_at.isoformat(),
            job.id,
            extra={"action": "stalled_job", "integration_id": integration_id},
        )
    return count


async def _sweep_loop(app: Any, db: Database, stalled_after: float) -> None:
    while True:
        try:
            await sweep_stalled_jobs(app, db, stalled_after=stalled_after)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("[CRON] sweeping stalled procrastinate jobs failed; retrying")
        await asyncio.sleep(stalled_after / 2)


class WorkerError(Exception):
    """The worker cannot start; ``str()`` says why in one line."""


async def run_worker(
    settings: Settings,
    *,
    concurrency: int | None = None,
    queues: Sequence[str] | None = (SLOT_QUEUE,),
    name: str | None = None,
    install_signal_handlers: bool = True,
    wait: bool = True,
    stalled_after: float = STALLED_WORKER_SECONDS,
    run_fn: RunFn | None = None,
) -> None:
    """Run a procrastinate worker executing slot jobs until stopped (SIGINT/SIGTERM, or cancelled).

    ``concurrency`` defaults to ``MAX_CONCURRENT_RUNS``; ``queues=None`` takes jobs from every queue.
    Raises :class:`WorkerError` when the database is not PostgreSQL or procrastinate's schema is missing.
    """
    from softone_sync.db.engine import open_database

    try:
        app = procrastinate_app(settings.database_url)
        lease_ttl_from(settings)  # validate before taking jobs
    except ExecutorConfigError as exc:
        raise WorkerError(str(exc)) from None
    concurrency = concurrency or settings.max_concurrent_runs
    db = await open_database(settings.database_url)

    async def database() -> Database:
        return db

    owner = worker_owner()
    register_slot_task(app, database, run_fn=run_fn, settings=settings, owner=owner)
    try:
        async with app.open_async():
            if not await schema_present(app):
                raise WorkerError(
                    "procrastinate's schema is missing in this database: run `softone-sync worker "
                    "--apply-schema` once (idempotent)"
                )
            log.info(
                "[CRON] worker %s taking slot jobs from %s (concurrency %d)",
                owner,
                ", ".join(queues) if queues else "every queue",
                concurrency,
                extra={"action": "worker_started"},
            )
            sweeper = asyncio.create_task(_sweep_loop(app, db, stalled_after), name="stalled job sweep")
            try:
                options: dict[str, Any] = {
                    "concurrency": concurrency,
                    "name": name or owner,
                    "wait": wait,
                    "install_signal_handlers": install_signal_handlers,
                    "update_heartbeat_interval": max(stalled_after / 3, 0.5),
                    "stalled_worker_timeout": stalled_after,
                    "delete_jobs": "successful",
                }
                if queues:
                    options["queues"] = list(queues)
                await app.run_worker_async(**options)
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
    finally:
        await db.dispose()
    log.info("[CRON] worker %s stopped", owner, extra={"action": "worker_stopped"})
