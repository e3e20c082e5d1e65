"""Change capture on an integration's target table: install, remove, detect, and suppress it.

``install_capture`` puts triggers on the application's table that append every insert, update
and delete of a row (its primary key, the operation, the changed synced columns, the time) to the
service's ``sync_outbox``; nothing ever scans the table to find changes. ``remove_capture`` takes
them away. Both are idempotent and run in the caller's transaction.

The sync's own writes are not application changes. :func:`suppressed` wraps a sync transaction so
the triggers skip it (PostgreSQL: ``SET LOCAL softone_sync.applying``; SQLite: a pause row that
only the transaction sees). That only saves outbox rows: the authority on echoes is the baseline
check in the push, which drops a captured change whose row still hashes to its baseline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.twoway import capture_postgres, capture_sqlite
from softone_sync.sync.twoway.capture_spec import CaptureError, CaptureNames, CaptureSpec
from softone_sync.sync.twoway.layout import TwoWayLayout

__all__ = [
    "CaptureError",
    "capture_installed",
    "install_capture",
    "remove_capture",
    "resume_capture",
    "suppress_capture",
    "suppressed",
]


def _dialect(conn: AsyncConnection) -> ModuleType:
    name = conn.dialect.name
    if name == "postgresql":
        return capture_postgres
    if name == "sqlite":
        return capture_sqlite
    raise CaptureError(f"change capture is not supported on {name!r} (supported: postgresql, sqlite)")


def _spec(layout: TwoWayLayout) -> CaptureSpec:
    target = layout.target
    watched = list(dict.fromkeys([*layout.pk_columns, *target.key_columns, *layout.synced]))
    return CaptureSpec(target.schema, target.name, layout.pk_columns, layout.record_key_column, watched)


async def install_capture(conn: AsyncConnection, integration_id: str, layout: TwoWayLayout) -> None:
    """Install (or replace) the capture triggers of an integration on its target table."""
    await _dialect(conn).install(conn, CaptureNames.of(integration_id), _spec(layout))


async def remove_capture(
    conn: AsyncConnection, integration_id: str, layout: TwoWayLayout | None = None
) -> None:
    """Remove the integration's capture triggers; a no-op when there are none.

    Without a layout (the target table is gone or the config no longer parses) PostgreSQL still
    drops the trigger function, which drops nothing else; SQLite drops the triggers by name.
    """
    module = _dialect(conn)
    table_sql = None
    if layout is not None:
        table_sql = _spec(layout).table_sql(conn.dialect.identifier_preparer.quote)
    if module is capture_postgres and table_sql is None:
        # DROP FUNCTION … CASCADE drops the trigger with it, wherever the table is.
        quote = conn.dialect.identifier_preparer.quote
        schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar_one()
        names = CaptureNames.of(integration_id)
        await conn.exec_driver_sql(
            f"DROP FUNCTION IF EXISTS {quote(schema)}.{quote(names.function)}() CASCADE"
        )
        return
    await module.remove(conn, CaptureNames.of(integration_id), table_sql)


async def capture_installed(conn: AsyncConnection, integration_id: str, layout: TwoWayLayout) -> bool:
    table_sql = _spec(layout).table_sql(conn.dialect.identifier_preparer.quote)
    return bool(await _dialect(conn).installed(conn, CaptureNames.of(integration_id), table_sql))


async def suppress_capture(conn: AsyncConnection, integration_id: str) -> None:
    """From here to the end of the current transaction, the integration's triggers skip (call first)."""
    await _dialect(conn).suppress(conn, integration_id)


async def resume_capture(conn: AsyncConnection, integration_id: str) -> None:
    """Undo :func:`suppress_capture` before the transaction commits (SQLite's pause row must not persist)."""
    await _dialect(conn).resume(conn, integration_id)


@asynccontextmanager
async def suppressed(conn: AsyncConnection, integration_id: str) -> AsyncIterator[None]:
    """``async with suppressed(conn, id):`` inside an open transaction."""
    await suppress_capture(conn, integration_id)
    yield
    await resume_capture(conn, integration_id)
