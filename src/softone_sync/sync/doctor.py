"""``integration validate``: everything a run needs, checked before it runs, each with a hint.

The checks read only: the ERP side logs in and asks for metadata (getObjectTables,
getTableFields, getBrowserInfo with the configured list and filters; an SqlData source runs its
script once), the database side reflects the target table. A failed prerequisite (the config, the
login, the table) skips the checks that depend on it rather than reporting noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from softone_sync.config import Settings, get_settings
from softone_sync.crypto import SecretDecryptError, SecretKeyMissing, decrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneConnection, SoftOneIntegration
from softone_sync.softone.client import ConnectionSettings, SoftOneClient
from softone_sync.softone.errors import SoftOneError
from softone_sync.sync.config import (
    RECORD_KEY_FIELD,
    IntegrationConfig,
    IntegrationConfigError,
    parse_integration_config,
)
from softone_sync.sync.mapping import VALUE_TYPES, FieldResolutionError, resolve_field
from softone_sync.sync.source import sql_params
from softone_sync.sync.target import (
    TargetError,
    TargetTable,
    check_columns,
    reflect_target,
    required_unmapped,
    unique_key_backed,
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    hint: str = ""


async def validate_integration(
    db: Database,
    integration_id: str,
    *,
    settings: Settings | None = None,
    client_factory: Callable[[ConnectionSettings], SoftOneClient] | None = None,
) -> list[Check]:
    """Run every check; raises LookupError only when the integration does not exist."""
    settings = settings or get_settings()
    async with db.session() as session:
        integration = await session.get(SoftOneIntegration, integration_id)
        if integration is None:
            raise LookupError(f"no integration with id {integration_id!r}")
        connection = await session.get(SoftOneConnection, integration.connectionId)
    checks: list[Check] = []
    try:
        config = parse_integration_config(integration.configJson)
    except IntegrationConfigError as exc:
        checks.append(Check("config", False, "; ".join(exc.problems), "fix configJson of the integration"))
        return checks
    checks.append(
        Check("config", True, f"configJson is valid ({config.source.describe()} → {config.target.table})")
    )
    if connection is not None:
        checks += await _erp_checks(config, connection, settings, client_factory or SoftOneClient)
    checks += await _target_checks(db, config)
    return checks


# ---------------------------------------------------------------------- ERP side


async def _erp_checks(
    config: IntegrationConfig,
    connection: SoftOneConnection,
    settings: Settings,
    client_factory: Callable[[ConnectionSettings], SoftOneClient],
) -> list[Check]:
    try:
        password = decrypt_secret(connection.passwordEncrypted, settings.secret_key)
        erp_timezone = config.erp_timezone or connection.erpTimezone
        connection_settings = ConnectionSettings(
            base_url=connection.baseUrl,
            username=connection.username,
            password=password,
            app_id=connection.appId,
            company=connection.company,
            branch=connection.branch,
            module=connection.module,
            refid=connection.refid,
            timeout=connection.timeoutSeconds,
            max_concurrency=connection.maxConcurrentRequests,
            erp_timezone=erp_timezone,
        )
    except (SecretKeyMissing, SecretDecryptError, ValueError) as exc:
        return [Check("erp.login", False, str(exc), "fix the connection settings or SECRET_KEY")]
    checks: list[Check] = []
    async with client_factory(connection_settings) as client:
        try:
            session = await client.login()
        except SoftOneError as exc:
            return [
                Check("erp.login", False, f"{connection.name}: {exc}", exc.hint or "check the connection")
            ]
        company = f" ({session.company_name})" if session.company_name else ""
        checks.append(Check("erp.login", True, f"logged in to {connection.name}{company}"))
        try:
            if config.source.object_:
                checks += await _browser_checks(client, config)
            else:
                checks += await _sql_checks(client, config, erp_timezone)
        except SoftOneError as exc:
            checks.append(Check("erp.source", False, str(exc), exc.hint or "check the source in configJson"))
    return checks


async def _browser_checks(client: SoftOneClient, config: IntegrationConfig) -> list[Check]:
    obj = config.source.object_
    assert obj is not None
    try:
        tables = await client.get_object_tables(obj)
    except SoftOneError as exc:
        return [
            Check(
                "erp.object",
                False,
                f"object {obj!r}: {exc}",
                "the object name must exist in SoftOne (getObjects)",
            )
        ]
    table_names = [str(t.get("name", "")) for t in tables]
    checks = [Check("erp.object", True, f"object {obj} exists (tables: {', '.join(table_names[:8])})")]
    list_label = config.source.list_ or "(default list)"
    try:
        info = await client.get_browser_info(obj, config.source.list_, config.source.filters)
    except SoftOneError as exc:
        checks.append(
            Check(
                "erp.list",
                False,
                f"browser {obj}/{list_label}: {exc}",
                "check 'list' and 'filters' in source",
            )
        )
        return checks
    checks.append(Check("erp.list", True, f"browser {obj}/{list_label} answers ({info.totalcount} rows)"))
    wanted = [m.erp_field for m in config.mappings if m.erp_field]
    if config.mode == "incremental" and config.cursor_field:
        wanted.append(config.cursor_field)
    missing = []
    for name in wanted:
        try:
            resolve_field(name, info.fields, has_record_id=True)
        except FieldResolutionError as exc:
            missing.append((name, str(exc)))
    if not missing:
        checks.append(Check("erp.fields", True, f"all {len(wanted)} mapped fields are in the browser"))
        return checks
    for name, problem in missing:
        checks.append(Check("erp.fields", False, problem, await _field_hint(client, obj, name, list_label)))
    return checks


async def _field_hint(client: SoftOneClient, obj: str, name: str, list_label: str) -> str:
    """Say whether the field exists in the object's table at all (then it is missing from the list)."""
    if name == RECORD_KEY_FIELD or "." not in name:
        return f"use one of the browser's field names, or add the field to the list {list_label}"
    table, _, field_name = name.rpartition(".")
    try:
        fields = await client.get_table_fields(obj, table)
    except SoftOneError:
        return f"table {table!r} is not part of object {obj}: check the alias (getObjectTables)"
    if any(str(f.get("name", "")).upper() == field_name.upper() for f in fields):
        return f"{name} exists in {obj} but not in the list {list_label}: add it to the browser's columns"
    return f"table {table} of {obj} has no field {field_name!r} (getTableFields)"


async def _sql_checks(client: SoftOneClient, config: IntegrationConfig, erp_timezone: str) -> list[Check]:
    name = config.source.sql_name
    assert name is not None
    result = await client.sql_data(name, sql_params(config, None, erp_timezone=erp_timezone))
    checks = [Check("erp.script", True, f"SqlData {name} runs ({result.totalcount} rows)")]
    if not result.rows:
        checks.append(
            Check("erp.fields", True, "the script returned no rows; field names cannot be checked", "")
        )
        return checks
    fields = list(result.rows[0])
    wanted = [m.erp_field for m in config.mappings if m.erp_field]
    if config.mode == "incremental" and config.cursor_field:
        wanted.append(config.cursor_field)
    bad = []
    for field_name in wanted:
        try:
            resolve_field(field_name, fields, has_record_id=False)
        except FieldResolutionError as exc:
            bad.append(str(exc))
    if bad:
        checks += [
            Check("erp.fields", False, b, "erpField must be one of the script's column aliases") for b in bad
        ]
    else:
        checks.append(Check("erp.fields", True, f"all {len(wanted)} mapped fields are script columns"))
    return checks


# ---------------------------------------------------------------------- target side


async def _target_checks(db: Database, config: IntegrationConfig) -> list[Check]:
    name = config.target.table
    schema = config.target.schema_
    try:
        async with db.connect() as conn:
            target = await reflect_target(conn, name, schema)
    except TargetError as exc:
        if "has no primary key" not in str(exc):
            return [
                Check("target.table", False, str(exc), "create the table or fix target.table (exact case)")
            ]
        async with db.connect() as conn:
            target = await reflect_target(conn, name, schema, key_columns=config.key_columns)
    checks = [Check("target.table", True, f"table {target.qualified_name} exists")]
    checks.append(_columns_check(target, config))
    checks.append(_key_check(target, config))
    checks.append(_required_check(target, config))
    return checks


def _columns_check(target: TargetTable, config: IntegrationConfig) -> Check:
    types: dict[str, type] = {}
    for m in config.mappings:
        if m.erp_field:
            types[m.column] = VALUE_TYPES[m.convert]
        elif m.constant is not None and not isinstance(m.constant, str):
            types[m.column] = type(m.constant)
    columns: Sequence[str] = config.columns
    if config.deletions.mode == "soft" and config.deletions.column and config.deletions.column not in columns:
        columns = [*columns, config.deletions.column]
    try:
        check_columns(target, columns, types)
    except TargetError as exc:
        return Check("target.columns", False, str(exc), "fix the mapping's column/convert or the table")
    return Check("target.columns", True, f"all {len(columns)} mapped columns exist with compatible types")


def _key_check(target: TargetTable, config: IntegrationConfig) -> Check:
    keys = config.key_columns
    label = ", ".join(keys)
    if unique_key_backed(target, keys):
        return Check("target.unique_key", True, f"unique identifier ({label}) is backed by a unique index")
    statement = f"CREATE UNIQUE INDEX ON {target.qualified_name} ({', '.join(keys)})"
    return Check(
        "target.unique_key",
        False,
        f"no primary key, unique constraint or unique index on exactly ({label}) of {target.qualified_name}",
        f"upserts need one: {statement}",
    )


def _required_check(target: TargetTable, config: IntegrationConfig) -> Check:
    missing = required_unmapped(target, config.columns)
    if not missing:
        return Check("target.required", True, "every NOT NULL column without a default is mapped")
    return Check(
        "target.required",
        False,
        f"NOT NULL column(s) without a default are not mapped: {', '.join(missing)}",
        "map them (erpField or constant) or give them a default in the table",
    )


def all_ok(checks: Sequence[Check]) -> bool:
    return all(c.ok for c in checks)


def checks_as_json(checks: Sequence[Check]) -> list[dict[str, Any]]:
    return [{"name": c.name, "ok": c.ok, "message": c.message, "hint": c.hint} for c in checks]
