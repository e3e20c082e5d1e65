"""The models round-trip what the other parts store: aware UTC datetimes, JSON, defaults, cascades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from softone_sync.db import Database
from softone_sync.db.models import (
    SlotLog,
    SoftOneConnection,
    SoftOneIntegration,
    SyncRecord,
    SyncReject,
    SyncRun,
    SyncState,
)
from tests.fixtures.db import seed_integration

ATHENS = ZoneInfo("Europe/Athens")


async def test_datetimes_come_back_aware_utc_whatever_zone_went_in(db: Database) -> None:
    athens_morning = datetime(2025, 7, 1, 3, 30, tzinfo=ATHENS)  # EEST, UTC+3
    integration = await seed_integration(db, lastSyncAt=athens_morning, nextRunAt=datetime(2025, 1, 1, 12, 0))

    async with db.session() as session:
        loaded = await session.get(SoftOneIntegration, integration.id)
    assert loaded is not None and loaded.lastSyncAt is not None and loaded.nextRunAt is not None
    assert loaded.lastSyncAt == athens_morning
    assert loaded.lastSyncAt.tzinfo is UTC
    assert loaded.lastSyncAt.hour == 0  # 03:30 EEST is 00:30 UTC
    assert loaded.nextRunAt == datetime(2025, 1, 1, 12, 0, tzinfo=UTC)  # naive is taken as UTC
    assert loaded.createdAt.tzinfo is UTC
    assert abs(loaded.createdAt - datetime.now(UTC)) < timedelta(minutes=1)


async def test_datetime_comparisons_are_chronological_across_zones(db: Database) -> None:
    """On SQLite the values are text; the filter must still compare instants, not strings."""
    base = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    for offset in (-90, -30, 30, 90):
        await seed_integration(db, name=f"i{offset}", nextRunAt=base + timedelta(minutes=offset))

    cutoff_in_athens = base.astimezone(ATHENS)  # same instant, written 15:00+03:00
    async with db.session() as session:
        due = (
            await session.scalars(
                sa.select(SoftOneIntegration.name)
                .where(SoftOneIntegration.nextRunAt <= cutoff_in_athens)
                .order_by(SoftOneIntegration.nextRunAt)
            )
        ).all()
    assert due == ["i-90", "i-30"]


async def test_json_round_trips_nested_unicode_values(db: Database) -> None:
    config = {
        "source": {"object": "CUSTOMER", "list": "", "filters": "CUSTOMER.NAME=Παπαδόπουλος*"},
        "mappings": [{"erp": "CUSTOMER.CODE", "local": "code", "key": True}],
        "schedule": {"cronExpression": "*/5 * * * *", "timezone": "Europe/Athens"},
        "limits": {"pageSize": 1000, "ratio": 0.5, "enabled": True, "none": None},
    }
    integration = await seed_integration(db, configJson=config)

    async with db.session() as session:
        loaded = await session.get(SoftOneIntegration, integration.id)
    assert loaded is not None
    assert loaded.configJson == config
    assert loaded.isActive is True
    assert loaded.scheduleVersion == 0


async def test_a_new_run_has_the_documented_defaults(db: Database) -> None:
    integration = await seed_integration(db)
    async with db.session() as session, session.begin():
        run = SyncRun(integration_id=integration.id, trigger="api")
        session.add(run)
    async with db.session() as session:
        loaded = await session.get(SyncRun, run.id)
    assert loaded is not None
    assert len(loaded.id) == 32
    assert (loaded.status, loaded.dry_run, loaded.stats_json, loaded.error) == ("running", False, {}, None)
    assert [loaded.fetched, loaded.created, loaded.updated, loaded.unchanged] == [0, 0, 0, 0]
    assert [loaded.deleted, loaded.failed, loaded.pushed] == [0, 0, 0]
    assert loaded.started_at.tzinfo is UTC


async def test_deleting_an_integration_removes_everything_that_belongs_to_it(db: Database) -> None:
    integration = await seed_integration(db)
    keep = await seed_integration(db, name="other")
    slot = datetime(2025, 1, 1, tzinfo=UTC)
    async with db.session() as session, session.begin():
        for owner in (integration.id, keep.id):
            session.add_all(
                [
                    SyncRun(integration_id=owner, trigger="schedule"),
                    SyncState(integration_id=owner, cursor="2025-01-01 00:00:00"),
                    SyncReject(
                        integration_id=owner, record_key="42", reason="bad VAT", payload_json={"A": 1}
                    ),
                    SyncRecord(integration_id=owner, record_key="42", local_key="7", baseline_hash="h"),
                    SlotLog(integration_id=owner, slot_at=slot, outcome="ran"),
                ]
            )

    async with db.session() as session, session.begin():
        await session.execute(sa.delete(SoftOneIntegration).where(SoftOneIntegration.id == integration.id))

    async with db.session() as session:
        for model in (SyncRun, SyncState, SyncReject, SyncRecord, SlotLog):
            owners = (await session.scalars(sa.select(model.integration_id))).all()
            assert owners == [keep.id], model.__tablename__


async def test_constraints_refuse_bad_rows(db: Database) -> None:
    integration = await seed_integration(db)
    slot = datetime(2025, 1, 1, 6, 0, tzinfo=UTC)
    bad_rows: list[object] = [
        SoftOneIntegration(name="orphan", connectionId="missing"),  # FK enforced on SQLite too
        SyncRun(integration_id=integration.id, trigger="api", status="exploded"),
        SyncRun(integration_id=integration.id, trigger="whenever"),
        SlotLog(integration_id=integration.id, slot_at=slot, outcome="maybe"),
    ]
    for row in bad_rows:
        with pytest.raises(IntegrityError):
            async with db.session() as session, session.begin():
                session.add(row)

    # One outcome per slot: the second claim of the same slot (same instant, any zone) loses.
    async with db.session() as session, session.begin():
        session.add(SlotLog(integration_id=integration.id, slot_at=slot, outcome="ran"))
    with pytest.raises(IntegrityError):
        async with db.session() as session, session.begin():
            session.add(
                SlotLog(integration_id=integration.id, slot_at=slot.astimezone(ATHENS), outcome="ran")
            )


async def test_a_connection_in_use_cannot_be_deleted(db: Database) -> None:
    integration = await seed_integration(db)
    with pytest.raises(IntegrityError):
        async with db.session() as session, session.begin():
            await session.execute(
                sa.delete(SoftOneConnection).where(SoftOneConnection.id == integration.connectionId)
            )


def test_connection_repr_hides_the_encrypted_password() -> None:
    connection = SoftOneConnection(
        name="erp", baseUrl="https://x.oncloud.gr/s1services", passwordEncrypted="gAAAA"
    )
    assert "gAAAA" not in repr(connection)
