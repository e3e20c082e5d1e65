"""A partial index for the scheduler's repair pass: slot_log rows still ``queued``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

Every scheduler process runs the repair pass every few seconds, looking for ``queued`` rows whose
heartbeat (``recorded_at``) went stale. Almost every row of ``slot_log`` has a final outcome, so
an index over the few ``queued`` ones keeps that query a short index scan however long the log
grows. Both PostgreSQL and SQLite (3.8+) support partial indexes with the same WHERE clause.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = sa.text("outcome = 'queued'")


def upgrade() -> None:
    op.create_index(
        "ix_slot_log_queued_recorded_at",
        "slot_log",
        ["recorded_at"],
        postgresql_where=_WHERE,
        sqlite_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_slot_log_queued_recorded_at", table_name="slot_log")
