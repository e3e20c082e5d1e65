"""The lease: exactly one holder per integration, however many contenders; expiry hands it over."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from softone_sync.db import Database, open_database
from softone_sync.db.leases import (
    EXPIRED_LEASE_ERROR,
    acquire_lease,
    current_holder,
    reap_expired,
    release_lease,
    renew_lease,
)
from softone_sync.db.models import SoftOneIntegration, SyncRun
from tests.fixtures.db import seed_integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CONTENDER = Path(__file__).with_name("lease_contender.py")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_one_holder_at_a_time_and_retries_by_the_holder_are_harmless(db: Database) -> None:
    integration = (await seed_integration(db)).id

    lease = await acquire_lease(db, integration, owner="host-a", run_id="run1", ttl=30, now=at(0))
    assert lease is not None and lease.expires_at == at(30)
    assert await current_holder(db, integration, now=at(1)) == ("host-a", "run1")

    assert await acquire_lease(db, integration, owner="host-b", run_id="run2", ttl=30, now=at(1)) is None
    assert await acquire_lease(db, integration, owner="host-a", run_id="run3", ttl=30, now=at(1)) is None
    again = await acquire_lease(db, integration, owner="host-a", run_id="run1", ttl=30, now=at(2))
    assert again is not None and again.expires_at == at(32)

    await release_lease(db, lease)
    assert await current_holder(db, integration, now=at(3)) is None
    assert await acquire_lease(db, integration, owner="host-b", run_id="run2", ttl=30, now=at(3)) is not None


async def test_expiry_lets_another_take_over_and_the_old_holder_cannot_renew_or_release(db: Database) -> None:
    integration = (await seed_integration(db)).id
    old = await acquire_lease(db, integration, owner="host-a", run_id="run1", ttl=30, now=at(0))
    assert old is not None

    new = await acquire_lease(db, integration, owner="host-b", run_id="run2", ttl=30, now=at(31))
    assert new is not None

    assert await renew_lease(db, old, ttl=30, now=at(32)) is False
    await release_lease(db, old)  # must not clear host-b's lease
    assert await current_holder(db, integration, now=at(33)) == ("host-b", "run2")
    assert await renew_lease(db, new, ttl=30, now=at(34)) is True


async def test_renewal_keeps_the_lease_and_stamps_the_run_heartbeat(db: Database) -> None:
    integration = (await seed_integration(db)).id
    async with db.session() as session, session.begin():
        run = SyncRun(integration_id=integration, trigger="schedule", started_at=at(0))
        session.add(run)
    lease = await acquire_lease(db, integration, owner="host-a", run_id=run.id, ttl=30, now=at(0))
    assert lease is not None

    assert await renew_lease(db, lease, ttl=30, now=at(20)) is True
    assert lease.expires_at == at(50)
    assert await acquire_lease(db, integration, owner="host-b", run_id="x", ttl=30, now=at(40)) is None
    async with db.session() as session:
        loaded = await session.get(SyncRun, run.id)
    assert loaded is not None and loaded.heartbeat_at == at(20)


async def test_an_expired_lease_cannot_be_renewed_even_if_nobody_took_it(db: Database) -> None:
    integration = (await seed_integration(db)).id
    lease = await acquire_lease(db, integration, owner="host-a", run_id="run1", ttl=30, now=at(0))
    assert lease is not None
    assert await renew_lease(db, lease, ttl=30, now=at(31)) is False
    assert await current_holder(db, integration, now=at(31)) is None


async def test_unknown_integration_gives_no_lease(db: Database) -> None:
    assert await acquire_lease(db, uuid.uuid4().hex, owner="a", run_id="r", ttl=30) is None


async def test_reaper_fails_runs_of_dead_processes_and_nothing_else(db: Database) -> None:
    crashed, alive, orphaned = [
        (await seed_integration(db, name=n)).id for n in ("crashed", "alive", "orphan")
    ]
    runs: dict[str, SyncRun] = {
        "crashed": SyncRun(integration_id=crashed, trigger="schedule", started_at=at(0)),
        "alive": SyncRun(integration_id=alive, trigger="schedule", started_at=at(0)),
        "orphan": SyncRun(integration_id=orphaned, trigger="api", started_at=at(0), heartbeat_at=at(10)),
        "recent": SyncRun(integration_id=orphaned, trigger="api", started_at=at(0), heartbeat_at=at(1190)),
        "done": SyncRun(integration_id=orphaned, trigger="api", started_at=at(0), status="succeeded"),
    }
    async with db.session() as session, session.begin():
        session.add_all(runs.values())
    assert await acquire_lease(db, crashed, owner="dead-host", run_id=runs["crashed"].id, ttl=30, now=at(0))
    alive_lease = await acquire_lease(
        db, alive, owner="live-host", run_id=runs["alive"].id, ttl=30, now=at(1180)
    )
    assert alive_lease is not None
    assert await renew_lease(db, alive_lease, ttl=30, now=at(1190))

    reaped = await reap_expired(db, now=at(1200), stale_after=600)

    assert sorted(reaped) == sorted([runs["crashed"].id, runs["orphan"].id])
    async with db.session() as session:
        status = {name: await session.get(SyncRun, run.id) for name, run in runs.items()}
        crashed_row = await session.get(SoftOneIntegration, crashed)
    assert {name: row.status for name, row in status.items() if row} == {
        "crashed": "failed",
        "alive": "running",
        "orphan": "failed",
        "recent": "running",
        "done": "succeeded",
    }
    assert status["crashed"] is not None and status["crashed"].error == EXPIRED_LEASE_ERROR
    assert status["crashed"].finished_at == at(1200)
    assert crashed_row is not None and crashed_row.leaseOwner is None and crashed_row.leaseExpiresAt is None
    assert await current_holder(db, alive, now=at(1200)) == ("live-host", runs["alive"].id)
    assert await reap_expired(db, now=at(1200), stale_after=600) == []


async def test_twenty_concurrent_acquirers_exactly_one_wins(database_url: str) -> None:
    db = await open_database(database_url, pool_size=20)
    try:
        integration = (await seed_integration(db)).id
        connections = [await db.engine.connect() for _ in range(20)]  # warm 20 separate connections
        for conn in connections:
            await conn.close()
        results = await asyncio.gather(
            *(acquire_lease(db, integration, owner=f"task{n}", run_id=f"run{n}", ttl=60) for n in range(20))
        )
        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1
        assert await current_holder(db, integration) == (winners[0].owner, winners[0].run_id)
    finally:
        await db.dispose()


async def test_processes_and_tasks_racing_together_yield_exactly_one_holder(
    database_url: str, db: Database
) -> None:
    integration = (await seed_integration(db)).id
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(CONTENDER),
            database_url,
            integration,
            "5",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"ready"

    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    local = await asyncio.gather(
        *(acquire_lease(db, integration, owner=f"local{n}", run_id=f"r{n}", ttl=60) for n in range(10))
    )
    remote: list[str] = []
    for process in processes:
        out, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0
        remote += json.loads(out.decode().strip().splitlines()[-1])

    winners = [lease.owner for lease in local if lease is not None] + remote
    assert len(winners) == 1, winners
    holder = await current_holder(db, integration)
    assert holder is not None and holder[0] == winners[0]


async def test_taking_over_an_expired_lease_fails_the_dead_holders_run(db: Database) -> None:
    """No waiting for the reaper: whoever takes the lease over closes the dead run at once."""
    integration = (await seed_integration(db)).id
    dead_run = SyncRun(integration_id=integration, trigger="schedule", started_at=at(0))
    async with db.session() as session, session.begin():
        session.add(dead_run)
    assert await acquire_lease(db, integration, owner="dead-host", run_id=dead_run.id, ttl=30, now=at(0))

    # While the lease is live, a contender changes nothing.
    assert await acquire_lease(db, integration, owner="host-b", run_id="run2", ttl=30, now=at(10)) is None
    async with db.session() as session:
        row = await session.get(SyncRun, dead_run.id)
        assert row is not None and row.status == "running"

    assert await acquire_lease(db, integration, owner="host-b", run_id="run2", ttl=30, now=at(31))
    async with db.session() as session:
        row = await session.get(SyncRun, dead_run.id)
        assert row is not None
        assert (row.status, row.error, row.finished_at) == ("failed", EXPIRED_LEASE_ERROR, at(31))
