"""Request bodies and JSON views of the API.

Names on the wire are camelCase, like the seed's tables (``integrationId``, ``configJson``,
``isActive``, ``lastSyncAt``). Views are built from ORM rows by the ``*_view`` functions rather
than ``from_attributes`` models so that nothing is returned by accident: a connection view has no
password field at all, encrypted or not.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictStr

from softone_sync.services import PUSH_REJECT_PREFIX, reject_kind

if TYPE_CHECKING:
    from softone_sync.db.models import SlotLog, SoftOneConnection, SoftOneIntegration, SyncReject, SyncRun
    from softone_sync.sync.run import RunResult
    from softone_sync.sync.twoway.status import ConflictView, TwoWayState

_ID = Field(min_length=1, max_length=64)
_NAME = Field(min_length=1, max_length=200)
_SHORT = Field(default=None, max_length=50)


class _Body(BaseModel):
    # Unknown fields are refused: a misspelt "isActve" silently ignored is a support ticket.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


RunTrigger = Literal["api", "schedule", "catchup"]


class SyncIntegrationRequest(BaseModel):
    """``POST /api/cron/sync-integration``: the seed's ``{"integrationId"}``, plus optional fields.

    ``runId``, ``slotAt`` and ``trigger`` are sent by the scheduler's HTTP executor (a scheduler
    process handing a slot to the API workers) so the run it records matches its slot log entry.
    """

    model_config = ConfigDict(extra="ignore")  # cron services may add their own fields

    integrationId: StrictStr = _ID
    runId: StrictStr | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    slotAt: datetime | None = None
    trigger: RunTrigger = "api"


class IntegrationCreate(_Body):
    name: StrictStr = _NAME
    connectionId: StrictStr = _ID
    configJson: dict[str, Any]
    isActive: StrictBool = True


class IntegrationUpdate(_Body):
    """Partial update: only the fields present change."""

    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    connectionId: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    configJson: dict[str, Any] | None = None
    isActive: StrictBool | None = None


class ConnectionCreate(_Body):
    name: StrictStr = _NAME
    baseUrl: StrictStr = Field(min_length=1, max_length=500, pattern=r"^https?://")
    username: StrictStr = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=1, max_length=500)
    appId: StrictStr = Field(min_length=1, max_length=50)
    company: StrictStr | None = _SHORT
    branch: StrictStr | None = _SHORT
    module: StrictStr | None = _SHORT
    refid: StrictStr | None = _SHORT
    timeoutSeconds: float = Field(default=30.0, gt=0, le=3600)
    maxConcurrentRequests: int = Field(default=4, ge=1, le=64)
    erpTimezone: StrictStr = Field(default="Europe/Athens", min_length=1, max_length=64)


class ConnectionUpdate(_Body):
    name: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    baseUrl: StrictStr | None = Field(default=None, min_length=1, max_length=500, pattern=r"^https?://")
    username: StrictStr | None = Field(default=None, min_length=1, max_length=200)
    password: SecretStr | None = Field(default=None, min_length=1, max_length=500)
    appId: StrictStr | None = Field(default=None, min_length=1, max_length=50)
    company: StrictStr | None = _SHORT
    branch: StrictStr | None = _SHORT
    module: StrictStr | None = _SHORT
    refid: StrictStr | None = _SHORT
    timeoutSeconds: float | None = Field(default=None, gt=0, le=3600)
    maxConcurrentRequests: int | None = Field(default=None, ge=1, le=64)
    erpTimezone: StrictStr | None = Field(default=None, min_length=1, max_length=64)


class ConflictResolve(_Body):
    """``POST /api/conflicts/{id}/resolve``: whose values the record keeps."""

    side: Literal["erp", "app"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def direction_of(config: object) -> str:
    value = config.get("direction") if isinstance(config, dict) else None
    return value if isinstance(value, str) and value else "one-way"


def two_way_view(state: TwoWayState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "captureInstalled": state.capture_installed,
        "pendingChanges": state.pending_changes,
        "openConflicts": state.open_conflicts,
        "resolvingConflicts": state.resolving_conflicts,
    }


def integration_view(row: SoftOneIntegration, two_way: TwoWayState | None = None) -> dict[str, Any]:
    """``twoWay`` is null for a one-way integration (or when the caller did not read the state)."""
    return {
        "id": row.id,
        "name": row.name,
        "connectionId": row.connectionId,
        "configJson": row.configJson,
        "direction": direction_of(row.configJson),
        "twoWay": two_way_view(two_way),
        "isActive": row.isActive,
        "lastSyncAt": _iso(row.lastSyncAt),
        "nextRunAt": _iso(row.nextRunAt),
        "scheduleVersion": row.scheduleVersion,
        "running": row.leaseRunId is not None,
        "createdAt": _iso(row.createdAt),
        "updatedAt": _iso(row.updatedAt),
    }


def connection_view(row: SoftOneConnection) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "baseUrl": row.baseUrl,
        "username": row.username,
        "hasPassword": bool(row.passwordEncrypted),
        "appId": row.appId,
        "company": row.company,
        "branch": row.branch,
        "module": row.module,
        "refid": row.refid,
        "timeoutSeconds": row.timeoutSeconds,
        "maxConcurrentRequests": row.maxConcurrentRequests,
        "erpTimezone": row.erpTimezone,
        "createdAt": _iso(row.createdAt),
        "updatedAt": _iso(row.updatedAt),
    }


def run_view(row: SyncRun) -> dict[str, Any]:
    duration = None
    if row.finished_at is not None:
        duration = round((row.finished_at - row.started_at).total_seconds(), 3)
    return {
        "id": row.id,
        "integrationId": row.integration_id,
        "trigger": row.trigger,
        "status": row.status,
        "dryRun": row.dry_run,
        "startedAt": _iso(row.started_at),
        "finishedAt": _iso(row.finished_at),
        "durationSeconds": duration,
        "heartbeatAt": _iso(row.heartbeat_at),
        "slotAt": _iso(row.slot_at),
        "fetched": row.fetched,
        "created": row.created,
        "updated": row.updated,
        "unchanged": row.unchanged,
        "deleted": row.deleted,
        "failed": row.failed,
        "pushed": row.pushed,
        "error": row.error,
        "stats": row.stats_json,
    }


def slot_view(row: SlotLog) -> dict[str, Any]:
    return {
        "slotAt": _iso(row.slot_at),
        "outcome": row.outcome,
        "runId": row.run_id,
        "recordedAt": _iso(row.recorded_at),
        "detail": row.detail,
    }


def reject_view(row: SyncReject) -> dict[str, Any]:
    """``kind`` says which way the record failed: ``pull`` (ERP → table) or ``push`` (table → ERP)."""
    kind = reject_kind(row.record_key)
    return {
        "id": row.id,
        "kind": kind,
        "record": row.record_key.removeprefix(PUSH_REJECT_PREFIX) if kind == "push" else row.record_key,
        "recordKey": row.record_key,
        "reason": row.reason,
        "payload": row.payload_json,
        "runId": row.run_id,
        "attempts": row.attempts,
        "firstSeenAt": _iso(row.first_seen_at),
        "lastSeenAt": _iso(row.last_seen_at),
        "resolvedAt": _iso(row.resolved_at),
    }


def conflict_view(conflict: ConflictView) -> dict[str, Any]:
    """Both versions and the baseline, whole and per conflicting field (``fields``)."""
    return {
        "id": conflict.id,
        "integrationId": conflict.integration_id,
        "recordKey": conflict.record_key,
        "localKey": conflict.local_key,
        "erpId": conflict.erp_id,
        "status": conflict.status,
        "resolution": conflict.resolution,
        "fields": [
            {
                "field": name,
                "app": to_json(conflict.app.get(name)),
                "erp": to_json(conflict.erp.get(name)),
                "baseline": None if conflict.baseline is None else to_json(conflict.baseline.get(name)),
            }
            for name in conflict.fields
        ],
        "app": to_json(conflict.app),
        "erp": to_json(conflict.erp),
        "baseline": to_json(conflict.baseline),
        "runId": conflict.run_id,
        "createdAt": _iso(conflict.created_at),
        "updatedAt": _iso(conflict.updated_at),
        "resolvedAt": _iso(conflict.resolved_at),
    }


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_json(value: Any) -> Any:
    """Dataclasses from other parts (RunResult, ScheduleReport, SlotOutcome...) as camelCase JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, BaseModel):
        return to_json(value.model_dump(by_alias=True))
    if isinstance(value, dict):
        # Dict keys are data (column names in a preview), not our field names: kept as they are.
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, SecretStr):
        return "**********"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def run_result_view(result: RunResult) -> dict[str, Any]:
    """A finished :class:`~softone_sync.sync.run.RunResult` as the sync-integration answer.

    The CLI's ``--json`` snake_case keys camelCased; ``preview``/``stats`` keys are data, kept as is.
    """
    body: dict[str, Any] = {camel(key): to_json(value) for key, value in result.as_dict().items()}
    body["statusUrl"] = f"/api/runs/{body['runId']}"
    return body
