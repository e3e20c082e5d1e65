"""ORM models of the service's own tables.

Table and column names are contractual (docs/ARCHITECTURE.md "Storage"): the two seed tables keep the
seed's camelCase columns (operators' runbooks and SQL use them), everything else is snake_case.

Every datetime is timezone-aware UTC in Python on both dialects (:class:`UTCDateTime`); JSON columns
are JSONB on PostgreSQL and JSON text on SQLite (:data:`JSONType`).

Run ids and slot ids are deliberately *not* foreign keys: a slot can be logged with the id of a run
that is queued but not yet inserted, and pruning old runs must not take rejects or the slot history
with it. Everything that belongs to an integration cascades when the integration is deleted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

RUN_TRIGGERS = ("schedule", "api", "cli", "catchup", "demo")
RUN_STATUSES = ("running", "succeeded", "failed", "held", "skipped")
SLOT_OUTCOMES = ("ran", "skipped-running", "coalesced", "missed", "paused", "failed", "queued")

# Deterministic constraint names: Alembic's batch mode on SQLite and every downgrade need to
# address constraints by name, and unnamed ones get dialect-specific generated names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that always hands back aware UTC datetimes.

    PostgreSQL stores an instant and returns it in the session's time zone; SQLite has no datetime
    type and stores naive text. Writing every value as UTC (naive text on SQLite, in one fixed
    format, so text comparison is chronological) and attaching/converting to UTC on read gives the
    same values on both dialects. A naive value on write is taken to be UTC already — which is what
    ``CURRENT_TIMESTAMP`` and ``datetime.utcnow()`` produce — rather than local time.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact, compared by value); plain JSON text on SQLite.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

# 64-bit surrogate keys on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    # Safety net for columns added later without an explicit type: still UTC-aware and JSONB.
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


def _created() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), nullable=False, default=utcnow, server_default=sa.func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=sa.func.now()
    )


def _integration_fk(**kwargs: Any) -> Mapped[str]:
    return mapped_column(
        sa.String(32), sa.ForeignKey("softone_integrations.id", ondelete="CASCADE"), nullable=False, **kwargs
    )


def _in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({listed})", name=name)


class SoftOneConnection(Base):
    """How to reach one SoftOne installation; the password is Fernet-encrypted (softone_sync.crypto)."""

    __tablename__ = "softone_connections"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    baseUrl: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    username: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    passwordEncrypted: Mapped[str] = mapped_column(sa.Text, nullable=False)
    appId: Mapped[str] = mapped_column(sa.String(50), nullable=False)
    company: Mapped[str | None] = mapped_column(sa.String(50))
    branch: Mapped[str | None] = mapped_column(sa.String(50))
    module: Mapped[str | None] = mapped_column(sa.String(50))
    refid: Mapped[str | None] = mapped_column(sa.String(50))
    timeoutSeconds: Mapped[float] = mapped_column(sa.Float, nullable=False, default=30.0, server_default="30")
    maxConcurrentRequests: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=4, server_default="4"
    )
    erpTimezone: Mapped[str] = mapped_column(
        sa.String(64), nullable=False, default="Europe/Athens", server_default="Europe/Athens"
    )
    createdAt: Mapped[datetime] = _created()
    updatedAt: Mapped[datetime] = _updated()

    def __repr__(self) -> str:  # never show passwordEncrypted, even encrypted
        return f"SoftOneConnection(id={self.id!r}, name={self.name!r}, baseUrl={self.baseUrl!r})"


class SoftOneIntegration(Base):
    """One sync job: configJson holds source, mapping, target and schedule; plus schedule and lease state."""

    __tablename__ = "softone_integrations"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    # RESTRICT: deleting a connection that integrations still use is an operator mistake to refuse.
    connectionId: Mapped[str] = mapped_column(
        sa.String(32),
        sa.ForeignKey("softone_connections.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    )
    configJson: Mapped[dict[str, Any]] = mapped_column(
        JSONType, nullable=False, default=dict, server_default=sa.text("'{}'")
    )
    isActive: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True, server_default=sa.true())
    lastSyncAt: Mapped[datetime | None] = mapped_column(UTCDateTime())
    createdAt: Mapped[datetime] = _created()
    updatedAt: Mapped[datetime] = _updated()
    # Scheduling: the next slot to fire (the dispatcher scans this index) and a version that every
    # change bumps, so a dispatcher holding a stale view of the schedule can detect it.
    nextRunAt: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    scheduleVersion: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    # Lease (softone_sync.db.leases): who runs this integration right now, and until when.
    leaseOwner: Mapped[str | None] = mapped_column(sa.String(200))
    leaseRunId: Mapped[str | None] = mapped_column(sa.String(32))
    leaseExpiresAt: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SyncRun(Base):
    """The durable history of runs: one row per attempt, with its counters and outcome."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        sa.Index("ix_sync_runs_integration_id_started_at", "integration_id", "started_at"),
        _in("status", RUN_STATUSES, "status"),
        _in('"trigger"', RUN_TRIGGERS, "trigger"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    integration_id: Mapped[str] = _integration_fk()
    trigger: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    # Indexed: the reaper and "is anything running?" scan for status = 'running'.
    status: Mapped[str] = mapped_column(
        sa.String(16), nullable=False, default="running", server_default="running", index=True
    )
    dry_run: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )
    started_at: Mapped[datetime] = _created()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner: Mapped[str | None] = mapped_column(sa.String(200))
    fetched: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    created: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    updated: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    deleted: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    pushed: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0, server_default="0")
    stats_json: Mapped[dict[str, Any]] = mapped_column(
        JSONType, nullable=False, default=dict, server_default=sa.text("'{}'")
    )
    error: Mapped[str | None] = mapped_column(sa.Text)


class SyncState(Base):
    """The incremental cursor of an integration, advanced in the same transaction as the data."""

    __tablename__ = "sync_state"

    integration_id: Mapped[str] = _integration_fk(primary_key=True)
    cursor: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = _updated()


class SyncReject(Base):
    """A record that failed to sync; kept, retried on later runs, visible in the API until resolved."""

    __tablename__ = "sync_rejects"
    __table_args__ = (sa.UniqueConstraint("integration_id", "record_key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = _integration_fk()
    run_id: Mapped[str | None] = mapped_column(sa.String(32))
    record_key: Mapped[str] = mapped_column(sa.Text, nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    payload_json: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    first_seen_at: Mapped[datetime] = _created()
    last_seen_at: Mapped[datetime] = _created()
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1, server_default="1")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SyncRecord(Base):
    """Which target rows an integration owns (for deletions) and the two-way baseline per record."""

    __tablename__ = "sync_records"

    integration_id: Mapped[str] = _integration_fk(primary_key=True)
    record_key: Mapped[str] = mapped_column(sa.Text, primary_key=True)
    local_key: Mapped[str | None] = mapped_column(sa.Text)
    baseline_hash: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = _updated()


class SlotLog(Base):
    """Every scheduled slot leaves exactly one outcome; the unique key makes claiming a slot atomic."""

    __tablename__ = "slot_log"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "slot_at"),
        _in("outcome", SLOT_OUTCOMES, "outcome"),
        # Partial: the scheduler's repair pass scans only the few rows still 'queued' (migration 0003).
        sa.Index(
            "ix_slot_log_queued_recorded_at",
            "recorded_at",
            postgresql_where=sa.text("outcome = 'queued'"),
            sqlite_where=sa.text("outcome = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    integration_id: Mapped[str] = _integration_fk()
    slot_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    run_id: Mapped[str | None] = mapped_column(sa.String(32))
    recorded_at: Mapped[datetime] = _created()
    detail: Mapped[str | None] = mapped_column(sa.Text)


# Short aliases: the contract names the tables, not the classes, so accept the obvious spellings.
Connection = SoftOneConnection
Integration = SoftOneIntegration

__all__ = [
    "RUN_STATUSES",
    "RUN_TRIGGERS",
    "SLOT_OUTCOMES",
    "Base",
    "Connection",
    "Integration",
    "JSONType",
    "SlotLog",
    "SoftOneConnection",
    "SoftOneIntegration",
    "SyncRecord",
    "SyncReject",
    "SyncRun",
    "SyncState",
    "UTCDateTime",
    "new_id",
    "utcnow",
]


# Two-way sync keeps its own tables in its package; importing them here puts them on Base.metadata so
# migrations, autogenerate checks and create_all see the whole schema.
import softone_sync.sync.twoway.models  # noqa: E402,F401
