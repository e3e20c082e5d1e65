"""Two-way sync: the capture outbox, SQLite's capture pause flag, baselines and conflicts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Self-contained (no imports from the models), like every revision. The capture *triggers* are not
part of the schema: they are installed per integration on the application's table when two-way is
enabled (softone_sync.sync.twoway.capture), and removed when it is disabled.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, *, nullable: bool = True, now_default: bool = False) -> sa.Column[object]:
    default = sa.func.now() if now_default else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _json(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=nullable)


def _big_id() -> sa.Column[object]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _integration_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["integration_id"],
        ["softone_integrations.id"],
        name=op.f(f"fk_{table}_integration_id_softone_integrations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "sync_outbox",
        _big_id(),
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("pk_json", sa.Text(), nullable=False),
        sa.Column("erp_id", sa.Text(), nullable=True),
        sa.Column("changed_columns", sa.Text(), nullable=True),
        _utc("changed_at", nullable=False),
        sa.CheckConstraint("op IN ('I', 'U', 'D')", name=op.f("ck_sync_outbox_op")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_outbox")),
    )
    op.create_index("ix_sync_outbox_integration_id_id", "sync_outbox", ["integration_id", "id"])
    op.create_table(
        "sync_capture_pause",
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("integration_id", name=op.f("pk_sync_capture_pause")),
    )
    op.create_table(
        "sync_baselines",
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("local_key", sa.Text(), nullable=False),
        sa.Column("erp_id", sa.Text(), nullable=True),
        sa.Column("baseline_hash", sa.Text(), nullable=False),
        _json("values_json"),
        _utc("updated_at", nullable=False, now_default=True),
        _integration_fk("sync_baselines"),
        sa.PrimaryKeyConstraint("integration_id", "record_key", name=op.f("pk_sync_baselines")),
    )
    op.create_index(
        "ix_sync_baselines_integration_id_local_key", "sync_baselines", ["integration_id", "local_key"]
    )
    op.create_table(
        "sync_conflicts",
        _big_id(),
        sa.Column("integration_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("local_key", sa.Text(), nullable=False),
        sa.Column("erp_id", sa.Text(), nullable=True),
        _json("fields_json"),
        _json("local_json"),
        _json("erp_json"),
        _json("baseline_json", nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("resolution", sa.String(8), nullable=True),
        _utc("created_at", nullable=False, now_default=True),
        _utc("updated_at", nullable=False, now_default=True),
        _utc("resolved_at"),
        sa.CheckConstraint(
            "status IN ('open', 'resolving', 'resolved')", name=op.f("ck_sync_conflicts_status")
        ),
        _integration_fk("sync_conflicts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflicts")),
    )
    op.create_index("ix_sync_conflicts_integration_id_status", "sync_conflicts", ["integration_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_sync_conflicts_integration_id_status", table_name="sync_conflicts")
    op.drop_table("sync_conflicts")
    op.drop_index("ix_sync_baselines_integration_id_local_key", table_name="sync_baselines")
    op.drop_table("sync_baselines")
    op.drop_table("sync_capture_pause")
    op.drop_index("ix_sync_outbox_integration_id_id", table_name="sync_outbox")
    op.drop_table("sync_outbox")
