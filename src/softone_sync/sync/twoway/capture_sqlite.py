"""SQLite capture: AFTER INSERT / UPDATE / DELETE triggers on the table, appending to ``sync_outbox``.

SQLite has no session variables a trigger could read, and a trigger in ``main`` cannot see
``temp`` tables, so the "the sync itself is writing" flag is a row in the regular table
``sync_capture_pause``: inserted first thing in a sync transaction (which also takes the write
lock), deleted before it commits. SQLite allows one writer at a time, so no application write can
run while the row exists and no other connection ever sees it; a crash rolls it back with the
rest of the transaction.

The triggers live in the table's database, which is why the target must be in ``main`` with the
service's tables (a trigger may only touch tables of its own database).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.twoway.capture_spec import CaptureError, CaptureNames, CaptureSpec, sql_string

_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"


async def install(conn: AsyncConnection, names: CaptureNames, spec: CaptureSpec) -> None:
    if spec.schema not in (None, "main"):
        raise CaptureError(
            f"SQLite capture needs the target table in the main database with the service's tables; "
            f"{spec.schema}.{spec.table} is in an attached database"
        )
    quote = conn.dialect.identifier_preparer.quote
    table = quote(spec.table)
    ident = sql_string(names.integration_id)
    not_paused = f"NOT EXISTS (SELECT 1 FROM sync_capture_pause WHERE integration_id = {ident})"

    def pk(prefix: str) -> str:
        return f"json_array({', '.join(f'{prefix}.{quote(c)}' for c in spec.pk_columns)})"

    erp = quote(spec.erp_id_column)
    changed = " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in spec.watched) or "0"
    changed_list = (
        "rtrim("
        + " || ".join(
            f"CASE WHEN OLD.{quote(c)} IS NOT NEW.{quote(c)} THEN {sql_string(c + ',')} ELSE '' END"
            for c in spec.watched
        )
        + ", ',')"
        if spec.watched
        else "NULL"
    )
    insert, update, delete = (quote(n) for n in names.sqlite_triggers())
    columns = "(integration_id, op, pk_json, erp_id, changed_columns, changed_at)"
    statements = [
        f"""CREATE TRIGGER {insert} AFTER INSERT ON {table} WHEN {not_paused}
BEGIN
    INSERT INTO sync_outbox {columns}
    VALUES ({ident}, 'I', {pk("NEW")}, CAST(NEW.{erp} AS TEXT), NULL, {_NOW});
END""",
        f"""CREATE TRIGGER {update} AFTER UPDATE ON {table} WHEN {not_paused} AND ({changed})
BEGIN
    INSERT INTO sync_outbox {columns}
    VALUES ({ident}, 'U', {pk("NEW")}, CAST(NEW.{erp} AS TEXT), {changed_list}, {_NOW});
END""",
        f"""CREATE TRIGGER {delete} AFTER DELETE ON {table} WHEN {not_paused}
BEGIN
    INSERT INTO sync_outbox {columns}
    VALUES ({ident}, 'D', {pk("OLD")}, CAST(OLD.{erp} AS TEXT), NULL, {_NOW});
END""",
    ]
    await remove(conn, names, None)
    for statement in statements:
        await conn.exec_driver_sql(statement)


async def remove(conn: AsyncConnection, names: CaptureNames, table_sql: str | None) -> None:
    quote = conn.dialect.identifier_preparer.quote
    for name in names.sqlite_triggers():
        await conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(name)}")


async def installed(conn: AsyncConnection, names: CaptureNames, table_sql: str) -> bool:
    found = await conn.exec_driver_sql(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (?, ?, ?)",
        names.sqlite_triggers(),
    )
    return int(found.scalar_one()) == 3


async def suppress(conn: AsyncConnection, integration_id: str) -> None:
    await conn.exec_driver_sql(
        "INSERT OR IGNORE INTO sync_capture_pause (integration_id) VALUES (?)", (integration_id,)
    )


async def resume(conn: AsyncConnection, integration_id: str) -> None:
    await conn.exec_driver_sql("DELETE FROM sync_capture_pause WHERE integration_id = ?", (integration_id,))
