"""Helpers for tests that run integrations: a connection to a running simulator, an integration row,
a target table, and reading it back. Other parts' tests may import these."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from softone_sync.config import Settings, load_settings
from softone_sync.crypto import encrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneConnection, SoftOneIntegration, new_id
from softone_sync.softone.simulator import RunningSimulator

# A real Fernet key: a passphrase would cost a PBKDF2 derivation (~0.3 s) in every process.
SECRET_KEY = Fernet.generate_key().decode()

CUSTOMERS_DDL = """
CREATE TABLE "CustomerMaster" (
    "code" VARCHAR(25) PRIMARY KEY,
    "name" VARCHAR(200) NOT NULL,
    "afm" BIGINT,
    "city" VARCHAR(100),
    "active" BOOLEAN,
    "order" INTEGER,
    "is_deleted" BOOLEAN NOT NULL DEFAULT FALSE
)
"""


def sync_settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, secret_key=SECRET_KEY)


async def make_connection(
    db: Database, sim: RunningSimulator, *, password: str = "demo", erp_timezone: str = "Europe/Athens"
) -> str:
    """A softone_connections row pointing at the running simulator (demo credentials); returns its id."""
    async with db.session() as session, session.begin():
        connection = SoftOneConnection(
            name=f"sim-{new_id()[:8]}",
            baseUrl=sim.url,
            username="demo",
            passwordEncrypted=encrypt_secret(password, SECRET_KEY),
            appId="1001",
            company="1000",
            branch="1000",
            module="0",
            refid="500",
            timeoutSeconds=10.0,
            erpTimezone=erp_timezone,
        )
        session.add(connection)
    return connection.id


async def make_integration(
    db: Database, connection_id: str, config: dict[str, Any], *, name: str = "customers"
) -> str:
    async with db.session() as session, session.begin():
        integration = SoftOneIntegration(name=name, connectionId=connection_id, configJson=config)
        session.add(integration)
    return integration.id


def customers_config(**overrides: Any) -> dict[str, Any]:
    """CUSTOMER browser → "CustomerMaster" (mixed case, a column named "order")."""
    config: dict[str, Any] = {
        "source": {"object": "CUSTOMER", "list": "", "pageSize": 50},
        "mappings": [
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "NAME", "column": "name"},
            {"erpField": "AFM", "column": "afm", "convert": "int"},
            {"erpField": "CITY", "column": "city", "convert": "strip"},
            {"erpField": "ISACTIVE", "column": "active", "convert": "bool"},
            {"erpField": "$key", "column": "order", "convert": "int"},
        ],
        "uniqueIdentifiers": ["CODE"],
        "target": {"table": "CustomerMaster"},
        "schedule": {"cronExpression": "*/15 * * * *", "timezone": "Europe/Athens"},
    }
    config.update(overrides)
    return config


async def execute(db: Database, *statements: str) -> None:
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.exec_driver_sql(statement)


async def fetch_rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.connect() as conn:
        return [tuple(r) for r in (await conn.execute(sa.text(sql))).all()]


async def run_row(db: Database, run_id: str) -> dict[str, Any]:
    async with db.connect() as conn:
        row = (
            (await conn.execute(sa.text("SELECT * FROM sync_runs WHERE id = :id"), {"id": run_id}))
            .mappings()
            .one()
        )
    result = dict(row)
    if isinstance(result["stats_json"], str):  # SQLite hands JSON back as text through raw SQL
        result["stats_json"] = json.loads(result["stats_json"])
    return result


async def integration_row(db: Database, integration_id: str) -> SoftOneIntegration:
    async with db.session() as session:
        integration = await session.get(SoftOneIntegration, integration_id)
        assert integration is not None
        return integration
