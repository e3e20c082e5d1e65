"""Rows the dashboard tests read: a healthy and a failing integration with runs, slots and rejects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet

from softone_sync.crypto import encrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SoftOneConnection, SoftOneIntegration, SyncReject, SyncRun

# A real Fernet key: a passphrase would cost a PBKDF2 derivation in every process.
SECRET_KEY = Fernet.generate_key().decode()
ERP_PASSWORD = "erp-Pa55word-never-shown"


def customers_config(cron: str = "*/15 * * * *", tz: str = "Europe/Athens") -> dict[str, object]:
    return {
        "source": {"object": "CUSTOMER", "list": ""},
        "mappings": [
            {"erpField": "CUSTOMER.CODE", "column": "code", "required": True},
            {"erpField": "CUSTOMER.NAME", "column": "name"},
            {"erpField": "CUSTOMER.AFM", "column": "vat_number", "convert": "strip"},
        ],
        "uniqueIdentifiers": ["CUSTOMER.CODE"],
        "target": {"table": "customers"},
        "direction": "one-way",
        "schedule": {"cronExpression": cron, "timezone": tz},
    }


@dataclass
class Seeded:
    connection_id: str
    healthy_id: str
    failing_id: str
    now: datetime


async def seed_dashboard(
    db: Database, *, base_url: str = "http://127.0.0.1:9/s1services", password: str = ERP_PASSWORD
) -> Seeded:
    now = datetime.now(UTC).replace(microsecond=0)
    async with db.session() as session, session.begin():
        connection = SoftOneConnection(
            name="Demo ERP",
            baseUrl=base_url,
            username="demo",
            passwordEncrypted=encrypt_secret(password, SECRET_KEY),
            appId="1001",
            company="1000",
            branch="1000",
            module="0",
            refid="500",
        )
        session.add(connection)
        await session.flush()
        healthy = SoftOneIntegration(
            name="Customers to shop",
            connectionId=connection.id,
            configJson=customers_config(),
            isActive=True,
            lastSyncAt=now - timedelta(minutes=10),
            nextRunAt=now + timedelta(minutes=5),
        )
        failing_config = customers_config("30 8 * * 1-5", "UTC")
        failing_config["target"] = {"table": "items"}
        failing = SoftOneIntegration(
            name="Items nightly", connectionId=connection.id, configJson=failing_config, isActive=True
        )
        session.add_all([healthy, failing])
        await session.flush()
        for index, (created, updated, seconds) in enumerate([(120, 4, 2.0), (3, 10, 4.0), (0, 2, 1.0)]):
            started = now - timedelta(minutes=10 + 15 * (2 - index))
            session.add(
                SyncRun(
                    integration_id=healthy.id,
                    trigger="schedule",
                    status="succeeded",
                    started_at=started,
                    finished_at=started + timedelta(seconds=seconds),
                    slot_at=started,
                    fetched=created + updated + 50,
                    created=created,
                    updated=updated,
                    unchanged=50,
                )
            )
            session.add(
                SlotLog(
                    integration_id=healthy.id,
                    slot_at=started,
                    outcome="ran",
                    recorded_at=started + timedelta(seconds=0.5),
                )
            )
        session.add(
            SlotLog(
                integration_id=healthy.id,
                slot_at=now - timedelta(hours=2),
                outcome="missed",
                recorded_at=now - timedelta(hours=1),
                detail="server was down",
            )
        )
        # A dry run must not count as a sync anywhere.
        session.add(
            SyncRun(
                integration_id=healthy.id,
                trigger="api",
                status="succeeded",
                dry_run=True,
                started_at=now - timedelta(minutes=1),
                finished_at=now - timedelta(seconds=50),
                created=999,
            )
        )
        session.add(
            SyncRun(
                integration_id=failing.id,
                trigger="schedule",
                status="succeeded",
                started_at=now - timedelta(days=1),
                finished_at=now - timedelta(days=1) + timedelta(seconds=30),
                created=7,
            )
        )
        session.add(
            SyncRun(
                integration_id=failing.id,
                trigger="schedule",
                status="failed",
                started_at=now - timedelta(minutes=30),
                finished_at=now - timedelta(minutes=30) + timedelta(seconds=3),
                fetched=10,
                failed=2,
                error="target table items: column vat_number does not exist",
            )
        )
        session.add(
            SyncReject(
                integration_id=healthy.id,
                record_key="CUST-0042",
                reason="name: required value is empty",
                payload_json={"CUSTOMER.CODE": "CUST-0042", "CUSTOMER.NAME": ""},
                attempts=3,
            )
        )
    return Seeded(connection_id=connection.id, healthy_id=healthy.id, failing_id=failing.id, now=now)


TARGET_DDL = """
CREATE TABLE web_customers (
    code VARCHAR(25) PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    vat_number VARCHAR(20)
)
"""


async def seed_live(
    db: Database, erp_url: str, *, password: str = "demo", refid: str | None = "500"
) -> tuple[str, str]:
    """A connection to a running simulator and an integration into ``web_customers``: their ids.

    ``refid=None`` leaves the login context incomplete, so the client logs in and then authenticates
    (the one-step login with all four ids answers without company name or ERP version).
    """
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(TARGET_DDL)
    config = customers_config()
    config["source"] = {"object": "CUSTOMER", "list": "", "pageSize": 100}
    config["mappings"] = [
        {"erpField": "CUSTOMER.CODE", "column": "code"},
        {"erpField": "NAME", "column": "name"},
        {"erpField": "AFM", "column": "vat_number", "convert": "strip"},
    ]
    config["uniqueIdentifiers"] = ["CODE"]
    config["target"] = {"table": "web_customers"}
    async with db.session() as session, session.begin():
        connection = SoftOneConnection(
            name="Simulator",
            baseUrl=erp_url,
            username="demo",
            passwordEncrypted=encrypt_secret(password, SECRET_KEY),
            appId="1001",
            company="1000",
            branch="1000",
            module="0",
            refid=refid,
            timeoutSeconds=10.0,
        )
        session.add(connection)
        await session.flush()
        integration = SoftOneIntegration(name="Customers live", connectionId=connection.id, configJson=config)
        session.add(integration)
    return connection.id, integration.id
