"""ORM models of the two-way tables (same declarative ``Base`` as :mod:`softone_sync.db.models`).

- ``sync_outbox``: what the capture triggers append, one row per application write to a captured
  target table. Deliberately **no foreign key** to the integration: the triggers run inside the
  application's own transactions, and a dangling integration id must never make an application
  write fail. Rows are deleted once pushed (or found to be echoes).
- ``sync_capture_pause``: SQLite's "the sync itself is writing" flag. A row for the integration is
  inserted at the start of a sync transaction and deleted before it commits, so no other
  connection ever sees it (SQLite has one writer at a time); the triggers skip while it exists.
- ``sync_baselines``: per record, the mapped values as last synced (for field-level merges and
  manual conflicts) and the local key, indexed for the push's lookups. The record hash is kept in
  ``sync_records.baseline_hash`` as well, where the API shows it.
- ``sync_conflicts``: a record changed on both sides that the ``manual`` policy holds for a person,
  with both versions and the baseline; resolved through :func:`softone_sync.sync.twoway.resolve_conflict`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from softone_sync.db.models import Base, BigIntId, JSONType, UTCDateTime, utcnow

CONFLICT_STATUSES = ("open", "resolving", "resolved")
OUTBOX_OPERATIONS = ("I", "U", "D")


class SyncOutbox(Base):
    __tablename__ = "sync_outbox"
    __table_args__ = (
        sa.Index("ix_sync_outbox_integration_id_id", "integration_id", "id"),
        sa.CheckConstraint("op IN ('I', 'U', 'D')", name="op"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    op: Mapped[str] = mapped_column(sa.String(1), nullable=False)
    # JSON array of the row's primary-key values (OLD for a delete, NEW otherwise).
    pk_json: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # The ERP record id column's value: what a delete needs once the row is gone.
    erp_id: Mapped[str | None] = mapped_column(sa.Text)
    # Comma-separated mapped columns an UPDATE changed (NULL for inserts and deletes).
    changed_columns: Mapped[str | None] = mapped_column(sa.Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SyncCapturePause(Base):
    __tablename__ = "sync_capture_pause"

    integration_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)


class SyncBaseline(Base):
    __tablename__ = "sync_baselines"
    __table_args__ = (sa.Index("ix_sync_baselines_integration_id_local_key", "integration_id", "local_key"),)

    integration_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("softone_integrations.id", ondelete="CASCADE"), primary_key=True
    )
    record_key: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    local_key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    erp_id: Mapped[str | None] = mapped_column(sa.Text)
    baseline_hash: Mapped[str] = mapped_column(sa.Text, nullable=False)
    values_json: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=sa.func.now()
    )


class SyncConflict(Base):
    __tablename__ = "sync_conflicts"
    __table_args__ = (
        sa.Index("ix_sync_conflicts_integration_id_status", "integration_id", "status"),
        sa.CheckConstraint("status IN ('open', 'resolving', 'resolved')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("softone_integrations.id", ondelete="CASCADE"), nullable=False
    )
    run_id: Mapped[str | None] = mapped_column(sa.String(32))
    record_key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    local_key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    erp_id: Mapped[str | None] = mapped_column(sa.Text)
    fields_json: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    local_json: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    erp_json: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    baseline_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="open", server_default="open")
    # "erp" or "app" once a person chose; applied by the next run's push.
    resolution: Mapped[str | None] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=sa.func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=sa.func.now()
    )
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


OUTBOX: sa.Table = SyncOutbox.__table__  # type: ignore[assignment]
PAUSE: sa.Table = SyncCapturePause.__table__  # type: ignore[assignment]
BASELINES: sa.Table = SyncBaseline.__table__  # type: ignore[assignment]
CONFLICTS: sa.Table = SyncConflict.__table__  # type: ignore[assignment]
