"""The HTTP and procrastinate executors against real servers (loopback HTTP, PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from softone_sync.config import load_settings
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration, utcnow
from softone_sync.schedule.executors import (
    HttpExecutor,
    ProcrastinateExecutor,
    procrastinate_conninfo,
    register_slot_task,
)
from softone_sync.schedule.manager import CronManager
from tests.fixtures.live_server import start_server
from tests.schedule.conftest import scheduled, slots
from tests.schedule.fake_runs import FakeRuns


async def test_http_executor_posts_with_secret_and_maps_statuses() -> None:
    seen: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/api/cron/sync-integration")
    async def sync(request: Request) -> JSONResponse:
        body = await request.json()
        seen.append({"secret": request.headers.get("x-cron-secret"), **body})
        if body["integrationId"] == "busy":
            return JSONResponse({"error": "already running"}, status_code=409)
        if body["integrationId"] == "boom":
            return JSONResponse({"error": "nope"}, status_code=500)
        return JSONResponse({"runId": "r1", "status": "running"}, status_code=202)

    with start_server(app) as server:
        settings = load_settings(app_url=f"http://127.0.0.1:{server.port}", cron_secret="s3cret")
        executor = HttpExecutor(settings)
        slot = utcnow().replace(microsecond=0)
        ok = await executor.submit("i1", slot, "schedule", run_id="x")
        busy = await executor.submit("busy", slot, "schedule")
        boom = await executor.submit("boom", slot, "schedule")
        await executor.close()
    assert (ok.outcome, ok.run_id) == ("ran", "r1")
    assert busy.outcome == "skipped-running"
    assert boom.outcome == "failed" and boom.detail is not None and "HTTP 500" in boom.detail
    assert seen[0]["secret"] == "s3cret" and seen[0]["slotAt"] == slot.isoformat()
    assert "s3cret" not in repr(executor.__dict__.get("url"))


def test_http_executor_requires_app_url_and_secret() -> None:
    with pytest.raises(ValueError, match="APP_URL"):
        HttpExecutor(load_settings(app_url=None, cron_secret="x"))


async def test_procrastinate_executor_defers_and_worker_records_outcome(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("procrastinate runs on PostgreSQL")
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=procrastinate_conninfo(db.url)))
    runs = FakeRuns()

    async def database() -> Database:
        return db

    register_slot_task(app, database, run_fn=runs, owner="worker")
    integration = await scheduled(db, "* * * * *")
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        cron = CronManager(db, load_settings(database_url=db.url), executor=ProcrastinateExecutor(app))
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.update(SoftOneIntegration).values(nextRunAt=utcnow().replace(second=0, microsecond=0))
            )
        await cron.dispatch_due()
        await cron.drain()
        assert [r[2] for r in await slots(db, integration)] == ["queued"]  # the worker has not run yet
        # A second slot while the first job still waits in the queue: the queueing lock skips it.
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.update(SoftOneIntegration).values(
                    nextRunAt=utcnow().replace(second=0, microsecond=0) + timedelta(seconds=1)
                )
            )
        await asyncio.sleep(1.1)
        await cron.dispatch_due()
        await cron.drain()
        await app.run_worker_async(wait=False, install_signal_handlers=False)
    outcomes = [r[2] for r in await slots(db, integration)]
    assert outcomes == ["ran", "skipped-running"]
    assert len(runs.runs) == 1
