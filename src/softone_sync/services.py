"""Management operations shared by the HTTP API and the CLI.

Every write validates first and changes nothing when invalid: a bad ``configJson`` or cron expression
raises :class:`InvalidInput` naming the field (``configJson.schedule.cronExpression``) before any
row is touched. Every change to an integration ends with the cron manager's ``reschedule`` so the
schedule in the database (the single source of truth every scheduler process reads) follows at once.
ERP passwords are encrypted with ``SECRET_KEY`` on the way in and never leave this module in clear
except inside a :class:`~softone_sync.softone.client.ConnectionSettings` handed to the client.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from softone_sync.config import Settings
from softone_sync.crypto import SecretDecryptError, SecretKeyMissing, decrypt_secret, encrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.models import (
    RUN_STATUSES,
    SlotLog,
    SoftOneConnection,
    SoftOneIntegration,
    SyncReject,
    SyncRun,
)
from softone_sync.schedule.cron import CronError
from softone_sync.schedule.slots import ScheduleConfig
from softone_sync.sync.config import IntegrationConfig, IntegrationConfigError, parse_integration_config

if TYPE_CHECKING:
    from softone_sync.api.schemas import (
        ConnectionCreate,
        ConnectionUpdate,
        IntegrationCreate,
        IntegrationUpdate,
    )
    from softone_sync.schedule.manager import CronManager
    from softone_sync.softone.client import ConnectionSettings
    from softone_sync.sync.twoway.conflicts import ConflictResolution
    from softone_sync.sync.twoway.status import ConflictView, TwoWayState
    from softone_sync.two_way_admin import TwoWayPlan

log = logging.getLogger("softone_sync.services")

_Row = TypeVar("_Row", SoftOneIntegration, SoftOneConnection, SyncRun)
_Named = TypeVar("_Named", SoftOneIntegration, SoftOneConnection)


class ServiceError(Exception):
    """A management operation refused; ``code`` is the API's error code, ``str()`` says why."""

    code = "error"


class NotFound(ServiceError):
    code = "not-found"


class Conflict(ServiceError):
    code = "conflict"


class NotConfigured(ServiceError):
    """The server lacks a setting the operation needs (SECRET_KEY)."""

    code = "not-configured"


class InvalidInput(ServiceError):
    """One or more fields are invalid; ``errors`` is ``[{"field": ..., "message": ...}]``."""

    code = "invalid-request"

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


# ---------------------------------------------------------------------------------------- lookups


async def _must_get(session: AsyncSession, model: type[_Row], row_id: str, what: str) -> _Row:
    """The row with primary key ``row_id``; NotFound ("no <what> with id ...") otherwise."""
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {what} with id {row_id!r}")
    return row


async def _find_by_id_or_name(
    session: AsyncSession, model: type[_Named], id_or_name: str, what: str
) -> _Named:
    """By id, else by exact name (the CLI accepts either); a name several rows share is a Conflict."""
    row = await session.get(model, id_or_name)
    if row is None:
        rows = list(await session.scalars(sa.select(model).where(model.name == id_or_name)))
        if len(rows) > 1:
            raise Conflict(f"several {what}s are named {id_or_name!r}; use the id")
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no {what} with id or name {id_or_name!r}")
    return row


def _refuse_nulls(changes: dict[str, Any], names: tuple[str, ...]) -> None:
    """A PATCH may leave a required field out, never set it to null."""
    for name in names:
        if name in changes and changes[name] is None:
            raise InvalidInput([{"field": name, "message": "cannot be null"}])


# ---------------------------------------------------------------------------------------- validation


def _split_problem(problem: str) -> dict[str, str]:
    # IntegrationConfigError lines are "path: message"; a path has no spaces, a bare message may.
    path, sep, message = problem.partition(": ")
    if sep and path and " " not in path:
        return {"field": f"configJson.{path}", "message": message}
    return {"field": "configJson", "message": problem}


def validate_config(config_json: object) -> IntegrationConfig:
    """``configJson`` as the run will read it, plus its schedule; :class:`InvalidInput` otherwise."""
    try:
        config = parse_integration_config(config_json)
    except IntegrationConfigError as exc:
        raise InvalidInput([_split_problem(p) for p in exc.problems]) from None
    try:
        # The scheduler's own reading of configJson.schedule (cron, timezone, overlap, catch-up):
        # what it would refuse at dispatch time is refused here, at write time.
        ScheduleConfig.from_config_json(config_json if isinstance(config_json, dict) else None)
    except CronError as exc:
        field = _SCHEDULE_FIELDS.get(exc.field or "", "cronExpression")
        raise InvalidInput([{"field": f"configJson.schedule.{field}", "message": str(exc)}]) from None
    return config


# CronError.field → the configJson.schedule key the operator wrote; cron sub-fields (minute, hour,
# ...) all belong to cronExpression.
_SCHEDULE_FIELDS = {
    "timezone": "timezone",
    "overlap": "overlap",
    "catchUpSeconds": "catchUpSeconds",
    "jitterSeconds": "jitterSeconds",
}


# ---------------------------------------------------------------------------------------- manager


def build_manager(db: Database, settings: Settings) -> CronManager:
    """The cron manager with the executor ``EXECUTOR`` selects (inline, http or procrastinate).

    A setting that cannot work (procrastinate on SQLite, http without APP_URL) is NotConfigured:
    one line naming what to set, before anything starts.
    """
    from softone_sync.schedule import CronManager
    from softone_sync.schedule.executors import ExecutorConfigError, executor_from_settings

    try:
        return CronManager(db, settings, executor=executor_from_settings(db, settings))
    except ExecutorConfigError as exc:
        raise NotConfigured(str(exc)) from None


async def _reschedule(manager: CronManager | None, integration_id: str) -> None:
    if manager is not None:
        await manager.reschedule(integration_id)


# ---------------------------------------------------------------------------------------- integrations


async def list_integrations(db: Database) -> list[SoftOneIntegration]:
    async with db.session() as session:
        rows = await session.scalars(sa.select(SoftOneIntegration).order_by(SoftOneIntegration.name))
        return list(rows)


async def get_integration(db: Database, integration_id: str) -> SoftOneIntegration:
    async with db.session() as session:
        return await _must_get(session, SoftOneIntegration, integration_id, "integration")


async def find_integration(db: Database, id_or_name: str) -> SoftOneIntegration:
    """By id, else by exact name (the CLI accepts either)."""
    async with db.session() as session:
        return await _find_by_id_or_name(session, SoftOneIntegration, id_or_name, "integration")


async def _require_connection(session: AsyncSession, connection_id: str) -> None:
    if await session.get(SoftOneConnection, connection_id) is None:
        raise InvalidInput([{"field": "connectionId", "message": f"no connection with id {connection_id!r}"}])


async def create_integration(
    db: Database, spec: IntegrationCreate, *, manager: CronManager | None
) -> SoftOneIntegration:
    from softone_sync import two_way_admin  # on use: it imports this module

    config = validate_config(spec.configJson)
    two_way = config.direction == "two-way"
    async with db.session() as session:
        await _require_connection(session, spec.connectionId)
    if two_way:
        await two_way_admin.layout_for(db, spec.configJson)  # the table can be captured: 422 before any write
    async with db.session() as session:
        row = SoftOneIntegration(
            name=spec.name, connectionId=spec.connectionId, configJson=spec.configJson, isActive=spec.isActive
        )
        session.add(row)
        await session.commit()
        await session.refresh(row)
    if two_way:
        # Capture starts with the integration, active or not (see set_integration_active).
        try:
            await two_way_admin.enable(db, row.id)
        except BaseException:
            await _delete_row(db, row.id)  # nothing half-done: no integration without its capture
            raise
    log.info(
        "integration %s created", row.id, extra={"action": "integration_created", "integration_id": row.id}
    )
    await _reschedule(manager, row.id)
    return await get_integration(db, row.id)


async def update_integration(
    db: Database, integration_id: str, patch: IntegrationUpdate, *, manager: CronManager | None
) -> SoftOneIntegration:
    from softone_sync import two_way_admin  # on use: it imports this module

    changes = patch.model_dump(exclude_unset=True)
    if changes.get("configJson") is not None:
        validate_config(changes["configJson"])
    _refuse_nulls(changes, ("name", "connectionId", "configJson", "isActive"))
    async with db.session() as session:
        row = await _must_get(session, SoftOneIntegration, integration_id, "integration")
        if "connectionId" in changes:
            await _require_connection(session, changes["connectionId"])
        previous = {name: getattr(row, name) for name in changes}
        old_config = row.configJson
    new_config = changes.get("configJson", old_config)
    plan = await two_way_admin.plan_change(db, integration_id, old_config, new_config)
    await plan.before_write(db)
    async with db.session() as session:
        row = await _must_get(session, SoftOneIntegration, integration_id, "integration")
        for name, value in changes.items():
            setattr(row, name, value)
        await session.commit()
    try:
        await plan.after_write(db)
    except BaseException:
        await _restore(db, integration_id, previous, plan)
        raise
    await _reschedule(manager, integration_id)
    return await get_integration(db, integration_id)


async def set_integration_active(
    db: Database, integration_id: str, active: bool, *, manager: CronManager | None
) -> SoftOneIntegration:
    from softone_sync import two_way_admin  # on use: it imports this module

    if active:
        # An integration whose configJson went stale (edited by SQL, older version) must not be
        # scheduled: enabling is a write, and writes validate.
        config = validate_config((await get_integration(db, integration_id)).configJson)
        if config.direction == "two-way":
            # Capture normally survives a pause (disabling keeps it, so no application change made
            # meanwhile is lost); it is (re)installed here only if it went missing, e.g. the
            # application recreated its table. Before isActive flips: nothing half-done.
            await two_way_admin.ensure_capture(db, integration_id)
    async with db.session() as session:
        row = await _must_get(session, SoftOneIntegration, integration_id, "integration")
        row.isActive = active
        await session.commit()
    await _reschedule(manager, integration_id)
    return await get_integration(db, integration_id)


async def delete_integration(db: Database, integration_id: str, *, manager: CronManager | None) -> None:
    from softone_sync import two_way_admin  # on use: it imports this module

    async with db.session() as session:
        row = await _must_get(session, SoftOneIntegration, integration_id, "integration")
        if row.leaseRunId is not None and row.leaseExpiresAt is not None and row.leaseExpiresAt > _now():
            raise Conflict(
                f"integration is running (run {row.leaseRunId}); disable it and retry when it ends"
            )
    # Triggers first: the outbox has no foreign key (an application write must never fail on it), so
    # deleting the row alone would leave the capture behind. Harmless for one-way integrations.
    await two_way_admin.disable(db, integration_id)
    await _delete_row(db, integration_id)
    await _reschedule(manager, integration_id)


async def _delete_row(db: Database, integration_id: str) -> None:
    async with db.session() as session:
        row = await session.get(SoftOneIntegration, integration_id)
        if row is not None:
            await session.delete(row)
            await session.commit()


async def _restore(db: Database, integration_id: str, previous: dict[str, Any], plan: TwoWayPlan) -> None:
    """Put the fields of a failed update back, then the capture they had."""
    async with db.session() as session:
        row = await session.get(SoftOneIntegration, integration_id)
        if row is not None:
            for name, value in previous.items():
                setattr(row, name, value)
            await session.commit()
    await plan.undo(db)


def _now() -> datetime:
    from softone_sync.db.models import utcnow

    return utcnow()


# ---------------------------------------------------------------------------------------- connections


def _encrypt(password: str, settings: Settings) -> str:
    try:
        return encrypt_secret(password, settings.secret_key)
    except SecretKeyMissing as exc:
        raise NotConfigured(str(exc)) from None


async def list_connections(db: Database) -> list[SoftOneConnection]:
    async with db.session() as session:
        return list(await session.scalars(sa.select(SoftOneConnection).order_by(SoftOneConnection.name)))


async def get_connection(db: Database, connection_id: str) -> SoftOneConnection:
    async with db.session() as session:
        return await _must_get(session, SoftOneConnection, connection_id, "connection")


async def find_connection(db: Database, id_or_name: str) -> SoftOneConnection:
    """By id, else by name (unique for connections)."""
    async with db.session() as session:
        row: SoftOneConnection = await _find_by_id_or_name(
            session, SoftOneConnection, id_or_name, "connection"
        )
        return row


def _check_connection_fields(values: dict[str, Any]) -> None:
    """What ConnectionSettings would refuse at run time, refused at write time instead."""
    import httpx

    from softone_sync.softone.client import ConnectionSettings

    try:
        ConnectionSettings(
            base_url=values["baseUrl"],
            username=values["username"],
            password="-",
            app_id=values["appId"],
            timeout=values["timeoutSeconds"],
            max_concurrency=values["maxConcurrentRequests"],
            erp_timezone=values["erpTimezone"],
        )
    except httpx.InvalidURL as exc:
        # An unparsable URL (bad port, unclosed IPv6 bracket); httpx's message names the part, and
        # never the user-info, so it cannot leak a password put in the URL.
        raise InvalidInput([{"field": "baseUrl", "message": f"not a valid URL: {exc}"}]) from None
    except ValueError as exc:
        text = str(exc)
        field = {"base_url": "baseUrl", "erp_timezone": "erpTimezone", "app_id": "appId"}
        name = next((api for key, api in field.items() if text.startswith(key)), "connection")
        raise InvalidInput([{"field": name, "message": text}]) from None


async def create_connection(db: Database, settings: Settings, spec: ConnectionCreate) -> SoftOneConnection:
    values = spec.model_dump(exclude={"password"})
    _check_connection_fields(values)
    encrypted = _encrypt(spec.password.get_secret_value(), settings)
    async with db.session() as session:
        row = SoftOneConnection(**values, passwordEncrypted=encrypted)
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            raise Conflict(f"a connection named {spec.name!r} already exists") from None
        await session.refresh(row)
        return row


async def update_connection(
    db: Database, settings: Settings, connection_id: str, patch: ConnectionUpdate
) -> SoftOneConnection:
    changes = patch.model_dump(exclude_unset=True, exclude={"password"})
    _refuse_nulls(
        changes,
        ("name", "baseUrl", "username", "appId", "timeoutSeconds", "maxConcurrentRequests", "erpTimezone"),
    )
    encrypted = None
    if patch.password is not None:
        encrypted = _encrypt(patch.password.get_secret_value(), settings)
    async with db.session() as session:
        row = await _must_get(session, SoftOneConnection, connection_id, "connection")
        merged = {
            "baseUrl": row.baseUrl,
            "username": row.username,
            "appId": row.appId,
            "timeoutSeconds": row.timeoutSeconds,
            "maxConcurrentRequests": row.maxConcurrentRequests,
            "erpTimezone": row.erpTimezone,
        }
        merged.update({k: v for k, v in changes.items() if k in merged})
        _check_connection_fields(merged)
        for name, value in changes.items():
            setattr(row, name, value)
        if encrypted is not None:
            row.passwordEncrypted = encrypted
        try:
            await session.commit()
        except IntegrityError:
            raise Conflict(f"a connection named {changes.get('name')!r} already exists") from None
        await session.refresh(row)
        return row


async def delete_connection(db: Database, connection_id: str) -> None:
    async with db.session() as session:
        row = await _must_get(session, SoftOneConnection, connection_id, "connection")
        users = list(
            await session.scalars(
                sa.select(SoftOneIntegration.name).where(SoftOneIntegration.connectionId == connection_id)
            )
        )
        if users:
            raise Conflict(
                f"connection is used by integration(s): {', '.join(sorted(users))}; remove them first"
            )
        await session.delete(row)
        await session.commit()


def connection_settings(row: SoftOneConnection, settings: Settings) -> ConnectionSettings:
    """What the SoftOne client needs, with the password decrypted (kept out of repr by the client)."""
    from softone_sync.softone.client import ConnectionSettings

    try:
        password = decrypt_secret(row.passwordEncrypted, settings.secret_key)
    except (SecretKeyMissing, SecretDecryptError) as exc:
        raise NotConfigured(str(exc)) from None
    return ConnectionSettings(
        base_url=row.baseUrl,
        username=row.username,
        password=password,
        app_id=row.appId,
        company=row.company,
        branch=row.branch,
        module=row.module,
        refid=row.refid,
        timeout=row.timeoutSeconds,
        max_concurrency=row.maxConcurrentRequests,
        erp_timezone=row.erpTimezone,
    )


@dataclass(frozen=True)
class ConnectionTestResult:
    ok: bool
    connection_id: str
    elapsed_seconds: float
    company: str | None = None
    company_name: str | None = None
    branch: str | None = None
    version: str | None = None
    serial: str | None = None
    error: str | None = None
    error_type: str | None = None


async def test_connection(db: Database, settings: Settings, connection_id: str) -> ConnectionTestResult:
    """Log in and authenticate against the ERP; report the version and the company reached."""
    import time

    from softone_sync.softone.client import SoftOneClient
    from softone_sync.softone.errors import SoftOneError

    row = await get_connection(db, connection_id)
    # No retries: an operator testing a connection wants the first answer, not a minute of backoff.
    conn_settings = dataclasses.replace(connection_settings(row, settings), retries=0)
    started = time.monotonic()
    try:
        async with SoftOneClient(conn_settings) as client:
            session = await client.login()
    except SoftOneError as exc:
        return ConnectionTestResult(
            ok=False,
            connection_id=row.id,
            elapsed_seconds=round(time.monotonic() - started, 3),
            error=str(exc),
            error_type=type(exc).__name__,
        )
    return ConnectionTestResult(
        ok=True,
        connection_id=row.id,
        elapsed_seconds=round(time.monotonic() - started, 3),
        company=session.company,
        company_name=session.company_name,
        branch=session.branch,
        version=session.version,
        serial=session.serial,
    )


# ---------------------------------------------------------------------------------------- history


async def list_runs(
    db: Database, *, integration_id: str | None = None, status: str | None = None, limit: int = 50
) -> list[SyncRun]:
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput([{"field": "status", "message": f"must be one of {', '.join(RUN_STATUSES)}"}])
    query = sa.select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id).limit(limit)
    if integration_id is not None:
        query = query.where(SyncRun.integration_id == integration_id)
    if status is not None:
        query = query.where(SyncRun.status == status)
    async with db.session() as session:
        return list(await session.scalars(query))


async def get_run(db: Database, run_id: str) -> SyncRun:
    async with db.session() as session:
        return await _must_get(session, SyncRun, run_id, "run")


async def list_slots(db: Database, integration_id: str, *, limit: int = 100) -> list[SlotLog]:
    await get_integration(db, integration_id)
    query = (
        sa.select(SlotLog)
        .where(SlotLog.integration_id == integration_id)
        .order_by(SlotLog.slot_at.desc())
        .limit(limit)
    )
    async with db.session() as session:
        return list(await session.scalars(query))


PUSH_REJECT_PREFIX = "push:"  # sync.twoway.push stores what SoftOne refused under "push:<record key>"
REJECT_KINDS = ("pull", "push")


def reject_kind(record_key: str) -> str:
    """``push``: the ERP refused an application change; ``pull``: an ERP row could not be written locally."""
    return "push" if record_key.startswith(PUSH_REJECT_PREFIX) else "pull"


async def list_rejects(
    db: Database,
    integration_id: str,
    *,
    include_resolved: bool = False,
    kind: str | None = None,
    limit: int = 100,
) -> list[SyncReject]:
    if kind is not None and kind not in REJECT_KINDS:
        raise InvalidInput([{"field": "kind", "message": "must be 'pull' or 'push'"}])
    await get_integration(db, integration_id)
    query = (
        sa.select(SyncReject)
        .where(SyncReject.integration_id == integration_id)
        .order_by(SyncReject.last_seen_at.desc(), SyncReject.id)
        .limit(limit)
    )
    if not include_resolved:
        query = query.where(SyncReject.resolved_at.is_(None))
    if kind is not None:
        # The prefix is matched exactly (no LIKE: record keys may hold '%' or '_').
        is_push = sa.func.substr(SyncReject.record_key, 1, len(PUSH_REJECT_PREFIX)) == PUSH_REJECT_PREFIX
        query = query.where(is_push if kind == "push" else ~is_push)
    async with db.session() as session:
        return list(await session.scalars(query))


# ---------------------------------------------------------------------------------------- two-way


async def two_way_states(db: Database, rows: list[SoftOneIntegration]) -> dict[str, TwoWayState]:
    """Capture, pending changes and conflicts of the two-way integrations among ``rows``."""
    from softone_sync.sync.twoway.status import two_way_states as states

    return await states(
        db,
        [r.id for r in rows if isinstance(r.configJson, dict) and r.configJson.get("direction") == "two-way"],
    )


async def list_conflicts(
    db: Database, *, integration_id: str | None = None, status: str = "open", limit: int = 100
) -> list[ConflictView]:
    """Conflicts of one integration (``NotFound`` if unknown) or of all; status open, resolved or all."""
    from softone_sync import two_way_admin

    if integration_id is not None:
        await get_integration(db, integration_id)
    return await two_way_admin.list_conflicts(db, integration_id=integration_id, status=status, limit=limit)


async def resolve_conflict(db: Database, conflict_id: int, side: str) -> ConflictResolution:
    """Keep ``side`` ('erp' or 'app') for a conflict: NotFound, Conflict (already resolved), InvalidInput."""
    from softone_sync import two_way_admin

    return await two_way_admin.resolve_conflict(db, conflict_id, side)


# ---------------------------------------------------------------------------------------- doctor


async def diagnose_integration(db: Database, settings: Settings, integration_id: str) -> dict[str, Any]:
    """The doctor's checks for one integration: config, connection (login), source, target table."""
    from softone_sync.sync.doctor import all_ok, checks_as_json, validate_integration

    await get_integration(db, integration_id)  # NotFound before any ERP call
    checks = await validate_integration(db, integration_id, settings=settings)
    return {"ok": all_ok(checks), "checks": checks_as_json(checks)}
