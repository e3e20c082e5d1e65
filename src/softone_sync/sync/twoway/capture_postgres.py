"""PostgreSQL capture: one plpgsql trigger function per integration, one AFTER row trigger on the table.

The function appends to the service's ``sync_outbox`` (schema-qualified with the schema the service
lives in, because the trigger fires under the *application's* search_path). It skips

- writes made while ``softone_sync.applying`` is ``on`` — the sync sets it with ``SET LOCAL`` in
  its own transactions, so only they are skipped, never a concurrent application write;
- updates that change none of the synced columns (an application touching its own columns).

Every identifier is quoted by the caller's identifier preparer; the only literals are the
integration id (checked to be ``[A-Za-z0-9_]``) and column names (quoted as SQL strings).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.sync.twoway.capture_spec import CaptureNames, CaptureSpec, sql_string

APPLYING_SETTING = "softone_sync.applying"


async def install(conn: AsyncConnection, names: CaptureNames, spec: CaptureSpec) -> None:
    quote = conn.dialect.identifier_preparer.quote
    schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar_one()
    outbox = f"{quote(schema)}.sync_outbox"
    function = f"{quote(schema)}.{quote(names.function)}"

    def pk(prefix: str) -> str:
        return f"json_build_array({', '.join(f'{prefix}.{quote(c)}' for c in spec.pk_columns)})::text"

    changes = ", ".join(
        f"CASE WHEN OLD.{quote(c)}::text IS DISTINCT FROM NEW.{quote(c)}::text THEN {sql_string(c)} END"
        for c in spec.watched
    )
    erp = quote(spec.erp_id_column)
    ident = sql_string(names.integration_id)
    body = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $softone_sync$
DECLARE
    changed text;
BEGIN
    IF coalesce(current_setting('{APPLYING_SETTING}', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO {outbox} (integration_id, op, pk_json, erp_id, changed_at)
        VALUES ({ident}, 'D', {pk("OLD")}, OLD.{erp}::text, clock_timestamp());
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        changed := array_to_string(ARRAY[{changes}]::text[], ',');
        IF changed = '' THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO {outbox} (integration_id, op, pk_json, erp_id, changed_columns, changed_at)
    VALUES ({ident}, left(TG_OP, 1), {pk("NEW")}, NEW.{erp}::text, changed, clock_timestamp());
    RETURN NULL;
END
$softone_sync$
"""
    await conn.exec_driver_sql(body)
    table = spec.table_sql(quote)
    await conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(names.trigger)} ON {table}")
    await conn.exec_driver_sql(
        f"CREATE TRIGGER {quote(names.trigger)} AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()"
    )


async def remove(conn: AsyncConnection, names: CaptureNames, table_sql: str | None) -> None:
    quote = conn.dialect.identifier_preparer.quote
    if table_sql is not None:
        await conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(names.trigger)} ON {table_sql}")
    schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar_one()
    await conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {quote(schema)}.{quote(names.function)}()")


async def installed(conn: AsyncConnection, names: CaptureNames, table_sql: str) -> bool:
    found = await conn.exec_driver_sql(
        "SELECT 1 FROM pg_trigger WHERE tgname = %(name)s AND tgrelid = to_regclass(%(table)s) "
        "AND NOT tgisinternal",
        {"name": names.trigger, "table": table_sql},
    )
    return found.first() is not None


async def suppress(conn: AsyncConnection, integration_id: str) -> None:
    """Mark the current transaction as the sync's own (``SET LOCAL``: it ends with the transaction)."""
    await conn.exec_driver_sql(f"SELECT set_config('{APPLYING_SETTING}', 'on', true)")


async def resume(conn: AsyncConnection, integration_id: str) -> None:
    await conn.exec_driver_sql(f"SELECT set_config('{APPLYING_SETTING}', 'off', true)")
