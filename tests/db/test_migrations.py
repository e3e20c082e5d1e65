"""Migrations from an empty database: the contract's tables appear, and go away again."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from softone_sync.db import migrate, open_database
from softone_sync.db.models import Base
from softone_sync.db.urls import sqlite_file, sync_url

# docs/ARCHITECTURE.md "Storage": other parts code against exactly these names.
CONTRACT_COLUMNS = {
    "softone_connections": {
        "id", "name", "baseUrl", "username", "passwordEncrypted", "appId", "company", "branch", "module",
        "refid", "timeoutSeconds", "maxConcurrentRequests", "erpTimezone", "createdAt", "updatedAt",
    },
    "softone_integrations": {
        "id", "name", "connectionId", "configJson", "isActive", "lastSyncAt", "createdAt", "updatedAt",
        "nextRunAt", "scheduleVersion", "leaseOwner", "leaseRunId", "leaseExpiresAt",
    },
    "sync_runs": {
        "id", "integration_id", "trigger", "status", "dry_run", "started_at", "finished_at", "heartbeat_at",
        "slot_at", "owner", "fetched", "created", "updated", "unchanged", "deleted", "failed", "pushed",
        "stats_json", "error",
    },
    "sync_state": {"integration_id", "cursor", "updated_at"},
    "sync_rejects": {
        "id", "integration_id", "run_id", "record_key", "reason", "payload_json", "first_seen_at",
        "last_seen_at", "attempts", "resolved_at",
    },
    "sync_records": {"integration_id", "record_key", "local_key", "baseline_hash", "updated_at"},
    "slot_log": {"id", "integration_id", "slot_at", "outcome", "run_id", "recorded_at", "detail"},
}  # fmt: skip
# The two-way part's own tables (sync/twoway/models.py, revision 0002).
TWO_WAY_TABLES = {"sync_outbox", "sync_capture_pause", "sync_baselines", "sync_conflicts"}
CHILD_TABLES = ("sync_runs", "sync_state", "sync_rejects", "sync_records", "slot_log")


@dataclass
class Schema:
    tables: set[str]
    columns: dict[str, set[str]]
    fks: dict[str, list[Any]]
    indexes: dict[str, list[Any]]
    uniques: dict[str, list[Any]]


def _inspect(url: str) -> Schema:
    engine = sa.create_engine(sync_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = set(inspector.get_table_names())
            return Schema(
                tables=tables,
                columns={t: {c["name"] for c in inspector.get_columns(t)} for t in tables},
                fks={t: list(inspector.get_foreign_keys(t)) for t in tables},
                indexes={t: list(inspector.get_indexes(t)) for t in tables},
                uniques={t: list(inspector.get_unique_constraints(t)) for t in tables},
            )
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_contract_table_and_column(empty_database_url: str) -> None:
    assert migrate.current(empty_database_url) is None

    migrate.upgrade(empty_database_url)

    schema = _inspect(empty_database_url)
    assert schema.tables == set(CONTRACT_COLUMNS) | TWO_WAY_TABLES | {migrate.VERSION_TABLE}
    for table, expected in CONTRACT_COLUMNS.items():
        assert schema.columns[table] == expected, table
    assert migrate.current(empty_database_url) == migrate.head()


def test_schema_has_the_cascades_indexes_and_unique_keys_the_scheduler_relies_on(
    empty_database_url: str,
) -> None:
    migrate.upgrade(empty_database_url)
    schema = _inspect(empty_database_url)
    fks, indexes, uniques = schema.fks, schema.indexes, schema.uniques

    for table in CHILD_TABLES:
        (fk,) = fks[table]
        assert fk["referred_table"] == "softone_integrations"
        assert fk["options"].get("ondelete") == "CASCADE", table
    indexed = {(t, tuple(ix["column_names"])) for t, ixs in indexes.items() for ix in ixs}
    assert ("softone_integrations", ("nextRunAt",)) in indexed
    assert ("sync_runs", ("integration_id", "started_at")) in indexed
    assert {tuple(u["column_names"]) for u in uniques["slot_log"]} == {("integration_id", "slot_at")}
    assert {tuple(u["column_names"]) for u in uniques["sync_rejects"]} == {("integration_id", "record_key")}


def test_migration_matches_the_models(empty_database_url: str) -> None:
    """A model change without a migration shows up here, not in production."""
    migrate.upgrade(empty_database_url)
    engine = sa.create_engine(sync_url(empty_database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again_round_trips(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)

    migrate.downgrade(empty_database_url, "base")
    assert migrate.current(empty_database_url) is None
    assert _inspect(empty_database_url).tables == {migrate.VERSION_TABLE}

    migrate.upgrade(empty_database_url)
    assert migrate.current(empty_database_url) == migrate.head()
    assert set(CONTRACT_COLUMNS) <= _inspect(empty_database_url).tables


def test_concurrent_upgrades_serialise_instead_of_failing(empty_database_url: str) -> None:
    """Replicas starting together all run the upgrade; exactly one does the work, none errors."""
    errors: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate.upgrade(empty_database_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert migrate.current(empty_database_url) == migrate.head()


async def test_open_database_with_upgrade_installs_the_schema(empty_database_url: str) -> None:
    db = await open_database(empty_database_url, upgrade=True)
    try:
        async with db.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM softone_integrations"))).scalar_one()
        assert count == 0
    finally:
        await db.dispose()
    path = sqlite_file(empty_database_url)
    assert path is None or path.exists()  # SQLite: its var/ directory was created on the way
    assert await asyncio.to_thread(migrate.current, empty_database_url) == migrate.head()
