"""The seed's cron endpoints against a live API server, the simulator and both databases."""

# The API server runs in its own thread and loop: a blocking httpx call in an async test waits for
# it without starving it, and keeps the assertions as plain as a user's curl session.
# ruff: noqa: ASYNC212

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import sqlalchemy as sa

from softone_sync.api import create_app
from softone_sync.db.engine import Database
from softone_sync.db.leases import acquire_lease
from softone_sync.db.models import SlotLog, SoftOneIntegration, SyncRun, utcnow
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import (
    CRON_SECRET,
    add_connection,
    add_integration,
    admin,
    count_rows,
    create_demo_tables,
    cron,
    make_settings,
    wait_for_run,
)
from tests.fixtures.live_server import start_server

SYNC = "/api/cron/sync-integration"


async def test_sync_integration_runs_and_answers_its_statistics(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    await create_demo_tables(db)
    integration = add_integration(client, add_connection(client, simulator.url)["id"])

    response = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "succeeded"
    assert (body["fetched"], body["created"], body["updated"]) == (250, 250, 0)
    assert body["statusUrl"] == f"/api/runs/{body['runId']}"
    assert await count_rows(db, "customers") == 250

    # The same call again converges: nothing to write; lastSyncAt is set.
    again = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron()).json()
    assert (again["status"], again["created"], again["unchanged"]) == ("succeeded", 0, 250)
    shown = client.get(f"/api/integrations/{integration['id']}", headers=admin()).json()
    assert shown["lastSyncAt"] is not None
    run = client.get(body["statusUrl"], headers=cron()).json()
    assert (run["status"], run["trigger"], run["created"]) == ("succeeded", "api", 250)


async def test_unknown_and_inactive_integrations_are_refused(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    assert client.post(SYNC, json={"integrationId": "nope"}, headers=cron()).status_code == 404
    client.post(f"/api/integrations/{integration['id']}/disable", headers=admin()).raise_for_status()
    response = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron())
    assert response.status_code == 409
    assert response.json()["error"] == "inactive"
    async with db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 0


async def test_a_running_integration_is_not_started_twice(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    await create_demo_tables(db)
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    lease = await acquire_lease(db, str(integration["id"]), owner="another-host:1", run_id="a" * 32, ttl=60)
    assert lease is not None

    response = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron())
    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["status"], body["error"], body["runId"]) == ("already-running", "already-running", "a" * 32)
    async with db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 0
    assert await count_rows(db, "customers") == 0


async def test_slow_sync_answers_202_then_finishes(
    database_url: str, db: Database, make_simulator: object
) -> None:
    slow = make_simulator()  # type: ignore[operator]
    # Every browser page takes 0.5 s: the run outlives the 0.2 s wait.
    slow.simulator.faults.add("latency", "getBrowserData", times=None, seconds=0.5)
    live = start_server(create_app(make_settings(database_url, sync_wait_seconds=0.2), scheduler=False))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            await create_demo_tables(db)
            integration = add_integration(client, add_connection(client, slow.url)["id"])
            response = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron())
            assert response.status_code == 202, response.text
            body = response.json()
            assert body["status"] == "running"
            # While it runs, a second call starts nothing and points at the same run.
            second = client.post(SYNC, json={"integrationId": integration["id"]}, headers=cron())
            assert second.status_code == 409
            assert second.json()["runId"] == body["runId"]
            # The status URL is readable with the cron secret the caller already has.
            run = wait_for_run(client, body["runId"])
            assert (run["status"], run["created"]) == ("succeeded", 250)
            assert client.get(body["statusUrl"], headers=cron()).json()["status"] == "succeeded"
    finally:
        live.stop()
    assert await count_rows(db, "customers") == 250


async def test_init_without_secret_reports_schedules_and_runs_nothing(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    first = client.get("/api/cron/init")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "initialized"
    assert "dispatched" not in body
    [report] = body["schedules"]
    assert report["integrationId"] == integration["id"]
    assert report["cron"] == "* * * * *"
    assert report["status"] == "scheduled"
    # Idempotent: the same next run on a second call.
    assert client.get("/api/cron/init").json()["schedules"] == body["schedules"]


async def test_init_with_secret_dispatches_due_slots(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    await create_demo_tables(db)
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    due = utcnow().replace(microsecond=0) - timedelta(seconds=5)
    async with db.session() as session, session.begin():
        row = await session.get(SoftOneIntegration, integration["id"])
        assert row is not None
        row.nextRunAt = due

    response = client.get("/api/cron/init", headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert response.status_code == 200, response.text
    dispatched = response.json()["dispatched"]
    assert [d["integrationId"] for d in dispatched] == [integration["id"]]

    run_id = dispatched[0]["runId"]
    run = wait_for_run(client, run_id)
    assert (run["status"], run["trigger"], run["created"]) == ("succeeded", "schedule", 250)
    # The slot is logged "queued" at dispatch and gets its final outcome just after the run ends.
    deadline = time.monotonic() + 10
    while True:
        slots = client.get(f"/api/integrations/{integration['id']}/slots", headers=admin()).json()["slots"]
        if slots[0]["outcome"] != "queued" or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert slots[0]["outcome"] == "ran"
    assert slots[0]["runId"] == run_id
    async with db.session() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(SlotLog)) == 1
    # The slot is consumed: calling again dispatches nothing new.
    assert client.get("/api/cron/init", headers=cron()).json()["dispatched"] == []


async def test_startup_reaps_dead_runs_and_initialises(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    # A run whose process died: its lease expired long ago.
    past = utcnow() - timedelta(minutes=30)
    async with db.session() as session, session.begin():
        session.add(
            SyncRun(id="d" * 32, integration_id=integration["id"], trigger="schedule", started_at=past)
        )
        row = await session.get(SoftOneIntegration, integration["id"])
        assert row is not None
        row.leaseOwner, row.leaseRunId, row.leaseExpiresAt = "dead-host:1", "d" * 32, past
    body = client.get("/api/cron/startup").json()
    assert body["status"] == "started"
    assert body["reapedRuns"] == ["d" * 32]
    assert body["schedules"][0]["status"] in ("scheduled", "catch-up")
    assert client.get("/api/runs/" + "d" * 32, headers=admin()).json()["status"] == "failed"
    assert client.get("/api/cron/startup").json()["reapedRuns"] == []
