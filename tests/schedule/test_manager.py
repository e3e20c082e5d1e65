"""CronManager on SQLite and PostgreSQL: initialise, reschedule, claim, catch up, overlap, stop."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from itertools import pairwise

import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration, utcnow
from tests.schedule.conftest import manager, next_run, scheduled, slots
from tests.schedule.fake_runs import FakeRuns


async def test_initialize_reports_and_sets_next_run(db: Database) -> None:
    hourly = await scheduled(db, "0 * * * *", name="a-hourly", timezone="Europe/Athens")
    paused = await scheduled(db, "0 * * * *", name="b-inactive", active=False)
    broken = await scheduled(db, "61 * * * *", name="c-broken")
    reports = {r.integration_id: r for r in await manager(db, FakeRuns()).initialize()}
    assert reports[hourly].status == "scheduled"
    assert reports[hourly].next_run_utc is not None and reports[hourly].next_run_utc.minute == 0
    assert reports[hourly].next_run_local is not None
    assert str(reports[hourly].next_run_local.tzinfo) == "Europe/Athens"
    assert reports[paused].status == "inactive"
    assert reports[broken].status == "invalid: minute 61 out of range 0-59"
    assert await next_run(db, hourly) == reports[hourly].next_run_utc
    assert await next_run(db, paused) is None and await next_run(db, broken) is None


async def test_due_slot_is_claimed_once_and_next_run_advances(db: Database) -> None:
    integration = await scheduled(db, "* * * * *")
    runs = FakeRuns()
    cron = manager(db, runs)
    await cron.initialize()
    due = utcnow().replace(second=0, microsecond=0)
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(SoftOneIntegration).values(nextRunAt=due))
    first = await cron.dispatch_due()
    assert [o.outcome for o in first] == ["queued"]
    assert await cron.dispatch_due() == []  # nothing due any more
    await cron.drain()
    rows = await slots(db, integration)
    assert [(r[1], r[2]) for r in rows] == [(due, "ran")] and rows[0][3] == runs.runs[0][2]
    assert (await next_run(db, integration) or due) > utcnow()


async def test_catch_up_coalesces_within_window_and_records_missed(db: Database) -> None:
    integration = await scheduled(db, "* * * * *", catchUpSeconds=600)
    cron = manager(db, FakeRuns())
    now = utcnow().replace(second=30, microsecond=0)
    due = now.replace(second=0) - timedelta(minutes=30)
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(SoftOneIntegration).values(nextRunAt=due))
    await cron.dispatch_due(now)
    await cron.drain()
    outcomes = Counter(r[2] for r in await slots(db, integration))
    # 31 per-minute slots from now-30:30 to now-0:30; the window starts at now-10:00 (now is hh:mm:30):
    # 21 are older (missed), 9 coalesce into the run of the latest one.
    assert outcomes == {"missed": 21, "coalesced": 9, "ran": 1}
    latest = (await slots(db, integration))[-1]
    assert latest[1] == now.replace(second=0) and latest[2] == "ran"


async def test_a_week_of_missed_per_second_slots_writes_bounded_rows(db: Database) -> None:
    integration = await scheduled(db, "* * * * * *", catchUpSeconds=0)
    cron = manager(db, FakeRuns())
    now = utcnow().replace(microsecond=0)
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(SoftOneIntegration).values(nextRunAt=now - timedelta(days=7)))
    await cron.dispatch_due(now)
    await cron.drain()
    rows = await slots(db, integration)
    outcomes = Counter(r[2] for r in rows)
    assert outcomes["missed"] == 101  # the latest 100 plus one summary row
    assert outcomes["ran"] == 1 and outcomes["coalesced"] <= 101
    assert len(rows) < 250


async def test_inactive_at_its_slot_is_paused(db: Database) -> None:
    integration = await scheduled(db, "* * * * *")
    cron = manager(db, FakeRuns())
    due = utcnow() - timedelta(seconds=5)
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(SoftOneIntegration).values(nextRunAt=due, isActive=False))
    await cron.dispatch_due()
    assert [r[2] for r in await slots(db, integration)] == ["paused"]
    assert await next_run(db, integration) is None


async def test_reschedule_and_direct_sql_change_take_effect_within_5_seconds(db: Database) -> None:
    integration = await scheduled(db, "0 0 1 1 *")
    runs = FakeRuns()
    cron = manager(db, runs, change_interval=2.0)
    await cron.start()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.update(SoftOneIntegration).values(
                    configJson={"schedule": {"cronExpression": "* * * * * *"}}
                )
            )
        changed_at = utcnow()
        for _ in range(100):
            if runs.runs:
                break
            await asyncio.sleep(0.1)
        assert runs.runs, "the direct SQL change was not noticed"
        assert (utcnow() - changed_at).total_seconds() < 5
        async with db.engine.begin() as conn:
            await conn.execute(sa.update(SoftOneIntegration).values(isActive=False))
        assert await cron.reschedule(integration) is None
        assert await next_run(db, integration) is None
    finally:
        await cron.stop(grace=5)


async def test_overlap_skip_and_queue_one(db: Database) -> None:
    skip = await scheduled(db, "* * * * * *", name="skip")
    queue = await scheduled(db, "* * * * * *", name="queue", overlap="queue-one")
    runs = FakeRuns(duration=2.2)
    cron = manager(db, runs)
    await cron.start()
    await asyncio.sleep(4.5)
    await cron.stop(grace=10)
    assert runs.max_overlap == 1
    skip_outcomes = Counter(r[2] for r in await slots(db, skip))
    assert skip_outcomes["ran"] >= 2 and skip_outcomes["skipped-running"] >= 2
    queue_rows = await slots(db, queue)
    queue_outcomes = Counter(r[2] for r in queue_rows)
    # One slot waited behind the first run and then ran; the others were skipped.
    assert queue_outcomes["ran"] >= 2 and queue_outcomes["skipped-running"] >= 1
    assert "queued" not in queue_outcomes


async def test_graceful_stop_waits_then_cancels(db: Database) -> None:
    short = await scheduled(db, "* * * * * *", name="short")
    runs = FakeRuns(duration=1.0)
    cron = manager(db, runs)
    await cron.start()
    while not runs.runs:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await cron.stop(grace=5)
    assert Counter(r[2] for r in await slots(db, short))["ran"] >= 1
    assert "queued" not in {r[2] for r in await slots(db, short)}

    long_runs = FakeRuns(duration=30)
    cron = manager(db, long_runs)
    await cron.start()
    while not long_runs.runs:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await cron.stop(grace=0.3)
    last = (await slots(db, short))[-1]
    assert last[2] == "failed"
    async with db.connect() as conn:
        owner = (await conn.execute(sa.select(SoftOneIntegration.leaseOwner))).scalar_one()
    assert owner is None  # the lease was released


async def test_three_managers_claim_every_slot_exactly_once(db: Database) -> None:
    from softone_sync.db.engine import open_database

    ids = [await scheduled(db, "* * * * * *", name=f"i{n}") for n in range(3)]
    runs = FakeRuns(duration=0.3)
    databases = [await open_database(db.url) for _ in range(3)]
    managers = [manager(d, runs, owner=f"m{n}") for n, d in enumerate(databases)]
    try:
        for cron in managers:
            await cron.start()
        await asyncio.sleep(8)
    finally:
        for cron in managers:
            await cron.stop(grace=5)
        for d in databases:
            await d.dispose()
    assert runs.max_overlap == 1
    ran = [(i, s) for i, s, _ in runs.runs]
    assert len(ran) == len(set(ran)), "a slot ran twice"
    for integration in ids:
        rows = await slots(db, integration)
        assert len(rows) >= 6
        assert {r[2] for r in rows} <= {"ran", "skipped-running"}
        times = [r[1] for r in rows]
        gaps = {(b - a).total_seconds() for a, b in pairwise(times)}
        assert gaps == {1.0}, "a slot has no outcome"
        assert Counter(r[2] for r in rows)["ran"] == sum(1 for i, _ in ran if i == integration)


async def test_a_next_run_edited_off_the_schedule_still_dispatches(db: Database) -> None:
    """An operator sets nextRunAt by SQL to a time that is no slot of the cron (seen as a 500 on
    /api/cron/init): the stored time counts as a slot, coalesces into the run of the real slot after it."""
    integration = await scheduled(db, "* * * * *")
    cron = manager(db, FakeRuns())
    now = utcnow().replace(second=2, microsecond=0)
    off_schedule = now - timedelta(seconds=5)  # hh:(mm-1):57, between two minute slots
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(SoftOneIntegration).values(nextRunAt=off_schedule))
    outcomes = await cron.dispatch_due(now)
    await cron.drain()
    assert [o.outcome for o in outcomes if o.outcome != "queued"] == ["coalesced"]
    recorded = {(r[1], r[2]) for r in await slots(db, integration)}
    assert recorded == {(off_schedule, "coalesced"), (now.replace(second=0), "ran")}
    assert await next_run(db, integration) == now.replace(second=0) + timedelta(minutes=1)
