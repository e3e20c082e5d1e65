"""EXECUTOR=procrastinate end to end: a scheduler defers, a worker runs the real sync (simulated ERP)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from softone_sync.config import Settings, SettingsError, load_settings
from softone_sync.db.engine import Database
from softone_sync.db.leases import acquire_lease, release_lease
from softone_sync.db.models import SlotLog, SoftOneIntegration, SyncRun, utcnow
from softone_sync.schedule.executors import (
    ExecutorConfigError,
    InlineExecutor,
    ProcrastinateExecutor,
    executor_from_settings,
)
from softone_sync.schedule.manager import CronManager
from softone_sync.schedule.worker import apply_schema, run_worker, sweep_stalled_jobs
from softone_sync.softone.simulator import RunningSimulator
from tests.fixtures.cli_process import bare_env, run_cli
from tests.fixtures.simulator import MakeSimulator
from tests.schedule.conftest import slots
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    SECRET_KEY,
    customers_config,
    execute,
    fetch_rows,
    make_connection,
    make_integration,
)


def _settings(db: Database, **overrides: object) -> Settings:
    return load_settings(database_url=db.url, secret_key=SECRET_KEY, executor="procrastinate", **overrides)


def _require_postgresql(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("procrastinate runs on PostgreSQL (SQLite is refused: see the sqlite tests)")


async def _customers_integration(db: Database, sim: RunningSimulator, cron: str) -> str:
    await execute(db, CUSTOMERS_DDL)
    connection = await make_connection(db, sim)
    return await make_integration(db, connection, customers_config(schedule={"cronExpression": cron}))


async def _make_due(db: Database, integration_id: str, seconds_ago: int) -> None:
    """Make a slot ``seconds_ago`` due now (each call a different slot: the slot log keeps one row each)."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(SoftOneIntegration)
            .where(SoftOneIntegration.id == integration_id)
            .values(nextRunAt=utcnow().replace(microsecond=0) - timedelta(seconds=seconds_ago))
        )


async def _yearly_integration_deferring(
    db: Database, make_simulator: MakeSimulator, customers: int
) -> tuple[str, Settings, CronManager]:
    """PostgreSQL with procrastinate's schema, a once-a-year integration (slots come only when a test
    makes them due) and a scheduler whose executor defers to procrastinate."""
    _require_postgresql(db)
    sim = make_simulator(customers=customers)
    integration = await _customers_integration(db, sim, "0 0 1 1 *")
    settings = _settings(db)
    await apply_schema(db.url)
    return integration, settings, CronManager(db, settings, executor=executor_from_settings(db, settings))


async def _dispatch_slot(db: Database, manager: CronManager, integration_id: str, seconds_ago: int) -> None:
    """Make a slot due and let the scheduler claim and defer it."""
    await _make_due(db, integration_id, seconds_ago)
    await manager.dispatch_due()
    await manager.drain()


@contextlib.asynccontextmanager
async def _worker(settings: Settings, **options: object) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(run_worker(settings, install_signal_handlers=False, **options))
    try:
        yield task
    finally:
        task.cancel()  # graceful: procrastinate lets running jobs finish
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _wait_until_settled(db: Database, integration_id: str) -> None:
    async with asyncio.timeout(20):
        # Polling: the worker writing the outcome is another task with its own connection.
        while [r for r in await slots(db, integration_id) if r[2] == "queued"]:  # noqa: ASYNC110
            await asyncio.sleep(0.1)


async def test_scheduler_defers_and_worker_runs_due_slots_end_to_end(
    db: Database, make_simulator: MakeSimulator
) -> None:
    _require_postgresql(db)
    sim = make_simulator(customers=40)
    integration = await _customers_integration(db, sim, "* * * * * *")
    settings = _settings(db)
    assert await apply_schema(db.url) is True
    assert await apply_schema(db.url) is False  # idempotent
    executor = executor_from_settings(db, settings)
    assert isinstance(executor, ProcrastinateExecutor)
    manager = CronManager(db, settings, executor=executor, reap_interval=1.0)
    async with _worker(settings, concurrency=2):
        await manager.start()
        deadline = asyncio.get_running_loop().time() + 20
        while not [r for r in await slots(db, integration) if r[2] == "ran"]:
            assert asyncio.get_running_loop().time() < deadline, await slots(db, integration)
            await asyncio.sleep(0.1)
        await manager.stop(grace=5)
        await _wait_until_settled(db, integration)
    rows = await slots(db, integration)
    assert {r[2] for r in rows} <= {"ran", "skipped-running"}, rows
    async with db.connect() as conn:
        runs = {
            run_id: (status, trigger, slot_at, owner)
            for run_id, status, trigger, slot_at, owner in (
                await conn.execute(
                    sa.select(SyncRun.id, SyncRun.status, SyncRun.trigger, SyncRun.slot_at, SyncRun.owner)
                )
            ).all()
        }
    ran = [r for r in rows if r[2] == "ran"]
    for _integration, slot_at, _outcome, run_id in ran:
        assert run_id in runs, (run_id, runs)
        status, trigger, run_slot, owner = runs[run_id]
        assert (status, trigger, run_slot) == ("succeeded", "schedule", slot_at)
        assert owner.startswith("worker:")  # the worker ran it, not the scheduler
    assert len(runs) == len(ran), "every run belongs to exactly one slot"
    assert await fetch_rows(db, 'SELECT COUNT(*) FROM "CustomerMaster"') == [(40,)]


async def test_a_job_for_a_running_integration_is_skipped_not_run_twice(
    db: Database, make_simulator: MakeSimulator
) -> None:
    integration, settings, manager = await _yearly_integration_deferring(db, make_simulator, 20)
    # The integration is running elsewhere (an API-triggered run on another replica holds the lease).
    lease = await acquire_lease(db, integration, owner="replica-2", run_id="r" * 32, ttl=60)
    assert lease is not None
    await _dispatch_slot(db, manager, integration, 3)
    assert [r[2] for r in await slots(db, integration)] == ["queued"]
    await run_worker(settings, install_signal_handlers=False, wait=False)  # drains the queue and returns
    await release_lease(db, lease)
    (row,) = await slots(db, integration)
    assert row[2] == "skipped-running" and row[3] is None
    async with db.connect() as conn:
        detail = (await conn.execute(sa.select(SlotLog.detail))).scalar_one()
        assert (await conn.execute(sa.select(sa.func.count()).select_from(SyncRun))).scalar_one() == 0
    assert "r" * 32 in detail  # names the run that holds it
    # Once the other run ended, the next slot runs normally.
    await _dispatch_slot(db, manager, integration, 2)
    await run_worker(settings, install_signal_handlers=False, wait=False)
    assert [r[2] for r in await slots(db, integration)] == ["skipped-running", "ran"]
    await manager.executor.close()


async def test_a_second_slot_while_the_first_job_waits_is_skipped_by_the_queueing_lock(
    db: Database, make_simulator: MakeSimulator
) -> None:
    integration, settings, manager = await _yearly_integration_deferring(db, make_simulator, 10)
    await _dispatch_slot(db, manager, integration, 3)
    await _dispatch_slot(db, manager, integration, 2)  # the next slot while the first job waits for a worker
    await run_worker(settings, install_signal_handlers=False, wait=False)
    await manager.executor.close()
    assert [r[2] for r in await slots(db, integration)] == ["ran", "skipped-running"]


async def test_dead_worker_job_is_failed_by_the_sweep(db: Database, make_simulator: MakeSimulator) -> None:
    """A worker killed mid-job leaves its job 'doing': the sweep fails it and gives the slot an outcome."""
    from softone_sync.schedule.worker import procrastinate_app

    integration, _, manager = await _yearly_integration_deferring(db, make_simulator, 10)
    await _dispatch_slot(db, manager, integration, 3)
    await manager.executor.close()
    app = procrastinate_app(db.url)
    async with app.open_async():
        # What a worker does when it takes the job, then it dies: registered, job 'doing', no heartbeat.
        worker_id = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
        assert job is not None
        assert await sweep_stalled_jobs(app, db, stalled_after=30) == 0  # its heartbeat is fresh
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute'"
            )
        assert await sweep_stalled_jobs(app, db, stalled_after=30) == 1
        status = await app.job_manager.get_job_status_async(job.id)
    assert status.value == "failed"
    (row,) = await slots(db, integration)
    assert row[2] == "failed"
    async with db.connect() as conn:
        detail = (await conn.execute(sa.select(SlotLog.detail))).scalar_one()
    assert "worker" in detail and "stopped" in detail


async def test_worker_cli_applies_schema_idempotently(db: Database) -> None:
    _require_postgresql(db)
    env = bare_env(DATABASE_URL=db.url)
    first = await asyncio.to_thread(run_cli, "worker", "--apply-schema", env=env)
    second = await asyncio.to_thread(run_cli, "worker", "--apply-schema", env=env)
    assert (first.returncode, first.stdout.strip()) == (0, "procrastinate schema applied"), first.stderr
    assert (second.returncode, second.stdout.strip()) == (0, "procrastinate schema already present")


async def test_worker_without_schema_says_how_to_apply_it(db: Database) -> None:
    _require_postgresql(db)
    result = await asyncio.to_thread(run_cli, "worker", env=bare_env(DATABASE_URL=db.url))
    assert result.returncode == 2
    assert "softone-sync worker --apply-schema" in result.stderr
    assert "Traceback" not in result.stderr


async def test_procrastinate_on_sqlite_is_refused_precisely(db: Database, tmp_path: Path) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the SQLite refusal")
    settings = _settings(db)
    with pytest.raises(ExecutorConfigError, match=r"EXECUTOR=procrastinate needs PostgreSQL"):
        executor_from_settings(db, settings)
    for args in (["worker"], ["worker", "--apply-schema"], ["cron", "run"]):
        env = bare_env(DATABASE_URL=db.url, EXECUTOR="procrastinate")
        result = await asyncio.to_thread(run_cli, *args, env=env, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "PostgreSQL" in result.stderr and "Traceback" not in result.stderr, result.stderr


async def test_executor_from_settings_inline_http_and_lease_ttl(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = executor_from_settings(db, load_settings(database_url=db.url))
    assert isinstance(inline, InlineExecutor) and inline.lease_ttl is None
    with pytest.raises(ExecutorConfigError, match=r"EXECUTOR=http: .*APP_URL"):
        executor_from_settings(db, load_settings(database_url=db.url, executor="http"))
    monkeypatch.setenv("LEASE_TTL_SECONDS", "12")
    executor = executor_from_settings(db, load_settings(database_url=db.url))
    assert isinstance(executor, InlineExecutor) and executor.lease_ttl == 12.0
    monkeypatch.setenv("LEASE_TTL_SECONDS", "soon")
    with pytest.raises(SettingsError, match=r"^invalid setting LEASE_TTL_SECONDS: "):
        load_settings(database_url=db.url)  # a setting like any other: start-up stops, naming it
