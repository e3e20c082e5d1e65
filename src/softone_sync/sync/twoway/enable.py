"""Turning two-way sync on and off for an integration (what the API/CLI call).

Enabling installs the capture triggers and takes the table's current rows as the baseline, in one
transaction, under the integration's lease so no run writes in between. From that moment every
application change is captured; rows the application created before (no ERP id) are queued so the
next run creates them in SoftOne. Disabling removes the triggers and the pending outbox entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.engine import Database
from softone_sync.db.leases import acquire_lease, current_holder, release_lease
from softone_sync.db.models import SoftOneIntegration, new_id, utcnow
from softone_sync.sync.config import IntegrationConfigError, parse_integration_config
from softone_sync.sync.target import reflect_target
from softone_sync.sync.twoway.baseline import establish_baselines
from softone_sync.sync.twoway.capture import install_capture, remove_capture
from softone_sync.sync.twoway.layout import TwoWayLayout, local_key_text
from softone_sync.sync.twoway.models import OUTBOX

LEASE_TTL = 300.0


class TwoWayBusy(RuntimeError):
    """The integration is running; enable/disable waits for no run."""


@dataclass(frozen=True)
class TwoWayStatus:
    integration_id: str
    enabled: bool
    baselines: int = 0
    queued_creates: int = 0


async def _layout(db: Database, integration: SoftOneIntegration) -> TwoWayLayout:
    return await two_way_layout(db, integration.configJson)


async def two_way_layout(db: Database, config_json: object) -> TwoWayLayout:
    """What two-way sync would capture for ``config_json``, checked against the live target table.

    Raises :class:`IntegrationConfigError`, :class:`~softone_sync.sync.target.TargetError` or
    :class:`~softone_sync.sync.twoway.layout.LayoutError` with a precise message; writes nothing
    (the management API checks a configuration with it before storing it).
    """
    config = parse_integration_config(config_json)
    if config.direction != "two-way":
        raise IntegrationConfigError(["direction: set 'two-way' in configJson before enabling two-way sync"])
    async with db.engine.connect() as conn:
        target = await reflect_target(
            conn, config.target.table, config.target.schema_, key_columns=config.key_columns
        )
    return TwoWayLayout.build(config, target)


async def _integration(db: Database, integration_id: str) -> SoftOneIntegration:
    async with db.session() as session:
        integration = await session.get(SoftOneIntegration, integration_id)
    if integration is None:
        raise LookupError(f"no integration with id {integration_id!r}")
    return integration


async def enable_two_way(db: Database, integration_id: str) -> TwoWayStatus:
    """Install capture and baselines (idempotent: re-enabling refreshes the triggers and baselines)."""
    integration = await _integration(db, integration_id)
    layout = await _layout(db, integration)
    run_id = new_id()
    lease = await acquire_lease(db, integration_id, owner="enable-two-way", run_id=run_id, ttl=LEASE_TTL)
    if lease is None:
        holder = await current_holder(db, integration_id)
        raise TwoWayBusy(
            f"integration {integration_id} is running (run {holder[1] if holder else '?'}); retry later"
        )
    try:
        async with db.engine.begin() as conn:
            await install_capture(conn, integration_id, layout)
            count = await establish_baselines(conn, integration_id, layout)
            queued = await _queue_unsent(conn, integration_id, layout)
    finally:
        await release_lease(db, lease)
    return TwoWayStatus(integration_id, True, count, queued)


async def _queue_unsent(conn: AsyncConnection, integration_id: str, layout: TwoWayLayout) -> int:
    """Outbox entries for local rows without an ERP id, so the next run creates them in SoftOne."""
    table = layout.target.table
    query = sa.select(*[table.c[c] for c in layout.pk_columns]).where(
        table.c[layout.record_key_column].is_(None)
    )
    rows = (await conn.execute(query)).all()
    if not rows:
        return 0
    now = utcnow()
    await conn.execute(
        sa.insert(OUTBOX),
        [
            {
                "integration_id": integration_id,
                "op": "I",
                "pk_json": local_key_text(list(r)),
                "changed_at": now,
            }
            for r in rows
        ],
    )
    return len(rows)


async def disable_two_way(db: Database, integration_id: str) -> TwoWayStatus:
    """Remove capture and drop unpushed changes (baselines stay, for a later re-enable)."""
    integration = await _integration(db, integration_id)
    try:
        layout: TwoWayLayout | None = await _layout(db, integration)
    except Exception:  # the config or table may be what changed; the triggers must go anyway
        layout = None
    async with db.engine.begin() as conn:
        await remove_capture(conn, integration_id, layout)
        await conn.execute(sa.delete(OUTBOX).where(OUTBOX.c.integration_id == integration_id))
    return TwoWayStatus(integration_id, False)
