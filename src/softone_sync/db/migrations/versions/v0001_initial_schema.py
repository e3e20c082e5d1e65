"""Initial schema: connections, integrations (schedule + lease), runs, state, rejects, records, slot log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Self-contained on purpose (no imports from softone_sync.db.models): a migration must keep
describing the schema as it was when written, whatever the models become later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, *, nullable: bool = True, now_default: bool = False) -> sa.Column[object]:
    default = sa.func.now() if now_default else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _json(name: str, *, nullable: bool = True, empty_default: bool = False) -> sa.Column[object]:
    default = sa.text("'{}'") if empty_default else None
    return sa.Column(
        name,
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
        nullable=nullable,
        server_default=default,
    )


def _count(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"],
        ["softone_integrations.id"],
        name=op.f(f"fk_{table}_integration_id_softone_integrations"),
        ondelete="CASCADE",
    )


def _big_id() -> sa.Column[object]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "softone_connections",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("baseUrl", sa.String(500), nullable=False),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("passwordEncrypted", sa.Text(), nullable=False),
        sa.Column("appId", sa.String(50), nullable=False),
        sa.Column("company", sa.String(50), nullable=True),
        sa.Column("branch", sa.String(50), nullable=True),
        sa.Column("module", sa.String(50), nullable=True),
        sa.Column("refid", sa.String(50), nullable=True),
        sa.Column("timeoutSeconds", sa.Float(), nullable=False, server_default="30"),
        sa.Column("maxConcurrentRequests", sa.Integer(), nullable=False, server_default="4"),
        sa.Column("erpTimezone", sa.String(64), nullable=False, server_default="Europe/Athens"),
        _utc("createdAt", nullable=False, now_default=True),
        _utc("updatedAt", nullable=False, now_default=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_softone_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_softone_connections_name")),
    )
    op.create_table(
        "softone_integrations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("connectionId", sa.String(32), nullable=False),
        _json("configJson", nullable=False, empty_default=True),
        sa.Column("isActive", sa.Boolean(), nullable=False, server_default=sa.true()),
        _utc("lastSyncAt"),
        _utc("createdAt", nullable=False, now_default=True),
        _utc("updatedAt", nullable=False, now_default=True),
        _utc("nextRunAt"),
        sa.Column("scheduleVersion", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("leaseOwner", sa.String(200), nullable=True),
        sa.Column("leaseRunId", sa.String(32), nullable=True),
        _utc("leaseExpiresAt"),
        sa.ForeignKeyConstraint(
            ["connectionId"],
            ["softone_connections.id"],
            name=op.f("fk_softone_integrations_connectionId_softone_connections"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_softone_integrations")),
    )
    op.create_index(op.f("ix_softone_integrations_connectionId"), "softone_integrations", ["connectionId"])
    op.create_index(op.f("ix_softone_integrations_nextRunAt"), "softone_integrations", ["nextRunAt"])

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="running"),
        sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false()),
        _utc("started_at", nullable=False, now_default=True),
        _utc("finished_at"),
        _utc("heartbeat_at"),
        _utc("slot_at"),
        sa.Column("owner", sa.String(200), nullable=True),
        _count("fetched"),
        _count("created"),
        _count("updated"),
        _count("unchanged"),
        _count("deleted"),
        _count("failed"),
        _count("pushed"),
        _json("stats_json", nullable=False, empty_default=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'held', 'skipped')",
            name=op.f("ck_sync_runs_status"),
        ),
        sa.CheckConstraint(
            "\"trigger\" IN ('schedule', 'api', 'cli', 'catchup', 'demo')", name=op.f("ck_sync_runs_trigger")
        ),
        _integration_fk("sync_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index("ix_sync_runs_integration_id_started_at", "sync_runs", ["integration_id", "started_at"])
    op.create_index(op.f("ix_sync_runs_status"), "sync_runs", ["status"])

    op.create_table(
        "sync_state",
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        _utc("updated_at", nullable=False, now_default=True),
        _integration_fk("sync_state"),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "sync_rejects",
        _big_id(),
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _json("payload_json"),
        _utc("first_seen_at", nullable=False, now_default=True),
        _utc("last_seen_at", nullable=False, now_default=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"),
        _utc("resolved_at"),
        _integration_fk("sync_rejects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_rejects")),
        sa.UniqueConstraint(
            "integration_id", "record_key", name=op.f("uq_sync_rejects_integration_id_record_key")
        ),
    )
    op.create_table(
        "sync_records",
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("local_key", sa.Text(), nullable=True),
        sa.Column("baseline_hash", sa.Text(), nullable=True),
        _utc("updated_at", nullable=False, now_default=True),
        _integration_fk("sync_records"),
        sa.PrimaryKeyConstraint("integration_id", "record_key", name=op.f("pk_sync_records")),
    )
    op.create_table(
        "slot_log",
        _big_id(),
        sa.Column("integration_id", sa.String(32), nullable=False),
        _utc("slot_at", nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        _utc("recorded_at", nullable=False, now_default=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('ran', 'skipped-running', 'coalesced', 'missed', 'paused', 'failed', 'queued')",
            name=op.f("ck_slot_log_outcome"),
        ),
        _integration_fk("slot_log"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slot_log")),
        sa.UniqueConstraint("integration_id", "slot_at", name=op.f("uq_slot_log_integration_id_slot_at")),
    )


def downgrade() -> None:
    # Children first; dropping a table drops its indexes with it on both dialects.
    for table in ("slot_log", "sync_records", "sync_rejects", "sync_state", "sync_runs"):
        op.drop_table(table)
    op.drop_table("softone_integrations")
    op.drop_table("softone_connections")
