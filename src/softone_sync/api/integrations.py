"""Integrations management API (admin token): CRUD, enable/disable, validate, dry run, slots, rejects,
conflicts.

Writes validate ``configJson`` with :class:`~softone_sync.sync.config.IntegrationConfig` and the
schedule with :func:`~softone_sync.schedule.cron.parse_schedule`; an invalid one is a 422 whose
``detail`` names the field (``configJson.schedule.cronExpression``) and nothing is written. Every
change reschedules at once.

Two-way integrations carry ``twoWay`` in their JSON (capture installed, changes waiting to be
pushed, open conflicts); creating or switching one to ``two-way`` installs the capture triggers and
a target they cannot be put on is a 422 naming ``configJson.target.table`` (nothing is written).
See :mod:`softone_sync.two_way_admin` for what disabling and deleting do to capture.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from softone_sync import services
from softone_sync.api.auth import admin_dependency
from softone_sync.api.cron_routes import run_refusal
from softone_sync.api.deps import ApiError, JsonErrorRoute, SyncService, provider_for
from softone_sync.api.schemas import (
    IntegrationCreate,
    IntegrationUpdate,
    conflict_view,
    integration_view,
    reject_view,
    run_result_view,
    slot_view,
)
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration


async def integration_views(db: Database, rows: list[SoftOneIntegration]) -> list[dict[str, Any]]:
    """Integrations as JSON, with the two-way state of the two-way ones (three queries in all)."""
    states = await services.two_way_states(db, rows)
    return [integration_view(row, states.get(row.id)) for row in rows]


async def one_view(db: Database, row: SoftOneIntegration) -> dict[str, Any]:
    return (await integration_views(db, [row]))[0]


def build_integrations_router(service: SyncService | None = None) -> APIRouter:
    admin = admin_dependency(provider_for(service))
    router = APIRouter(prefix="/api/integrations", tags=["integrations"], route_class=JsonErrorRoute)

    @router.get("")
    async def list_integrations(svc: SyncService = Depends(admin)) -> dict[str, Any]:
        return {"integrations": await integration_views(svc.db, await services.list_integrations(svc.db))}

    @router.post("", status_code=201)
    async def create_integration(
        body: IntegrationCreate, svc: SyncService = Depends(admin)
    ) -> dict[str, Any]:
        row = await services.create_integration(svc.db, body, manager=svc.manager)
        return await one_view(svc.db, row)

    @router.get("/{integration_id}")
    async def get_integration(integration_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        return await one_view(svc.db, await services.get_integration(svc.db, integration_id))

    @router.patch("/{integration_id}")
    async def update_integration(
        integration_id: str, body: IntegrationUpdate, svc: SyncService = Depends(admin)
    ) -> dict[str, Any]:
        """Change only the fields given (``PUT`` with the same body is accepted too)."""
        row = await services.update_integration(svc.db, integration_id, body, manager=svc.manager)
        return await one_view(svc.db, row)

    router.add_api_route("/{integration_id}", update_integration, methods=["PUT"], include_in_schema=False)

    @router.delete("/{integration_id}", status_code=204)
    async def delete_integration(integration_id: str, svc: SyncService = Depends(admin)) -> Response:
        await services.delete_integration(svc.db, integration_id, manager=svc.manager)
        return Response(status_code=204)

    @router.post("/{integration_id}/enable")
    async def enable(integration_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        row = await services.set_integration_active(svc.db, integration_id, True, manager=svc.manager)
        return await one_view(svc.db, row)

    @router.post("/{integration_id}/disable")
    async def disable(integration_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        row = await services.set_integration_active(svc.db, integration_id, False, manager=svc.manager)
        return await one_view(svc.db, row)

    @router.post("/{integration_id}/validate")
    async def validate(integration_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        """The doctor: configJson, schedule, connection (login), source and target table, checked live."""
        report = await services.diagnose_integration(svc.db, svc.settings, integration_id)
        return {"integrationId": integration_id, **report}

    @router.post("/{integration_id}/dry-run")
    async def dry_run(integration_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        """Fetch and compare without writing: what a run would create, update and delete."""
        from softone_sync.sync.run import AlreadyRunning, run_integration

        # No lookup first: run_integration loads the integration itself, and its IntegrationNotFound
        # becomes the same 404 (run_refusal).
        try:
            result = await run_integration(
                svc.db, integration_id, trigger="api", dry_run=True, settings=svc.settings
            )
        except AlreadyRunning as exc:
            detail = {"message": "integration is running; retry when it ends", "runId": exc.run_id}
            raise ApiError(409, "already-running", detail) from None
        except Exception as exc:
            raise run_refusal(exc) from None
        return run_result_view(result)

    @router.get("/{integration_id}/slots")
    async def slots(
        integration_id: str,
        limit: int = Query(default=100, ge=1, le=1000),
        svc: SyncService = Depends(admin),
    ) -> dict[str, Any]:
        """The slot log: every scheduled slot's outcome (ran, skipped-running, missed, ...), newest first."""
        rows = await services.list_slots(svc.db, integration_id, limit=limit)
        return {"integrationId": integration_id, "slots": [slot_view(row) for row in rows]}

    @router.get("/{integration_id}/rejects")
    async def rejects(
        integration_id: str,
        includeResolved: bool = Query(default=False),
        kind: str | None = Query(default=None, pattern="^(pull|push)$"),
        limit: int = Query(default=100, ge=1, le=1000),
        svc: SyncService = Depends(admin),
    ) -> dict[str, Any]:
        """Records that failed to sync and are retried on later runs.

        ``kind`` is ``pull`` (an ERP row the table refused) or ``push`` (an application change
        SoftOne refused; its ``recordKey`` is ``push:<record>``); filter with ``?kind=``.
        """
        rows = await services.list_rejects(
            svc.db, integration_id, include_resolved=includeResolved, kind=kind, limit=limit
        )
        return {"integrationId": integration_id, "rejects": [reject_view(row) for row in rows]}

    @router.get("/{integration_id}/conflicts")
    async def conflicts(
        integration_id: str,
        status: str = Query(default="open", pattern="^(open|resolved|all)$"),
        limit: int = Query(default=100, ge=1, le=1000),
        svc: SyncService = Depends(admin),
    ) -> dict[str, Any]:
        """Two-way records changed on both sides that wait for a person (``status=open``), or were
        settled (``resolved``: chosen, applied by the next run or already applied), or ``all``."""
        rows = await services.list_conflicts(
            svc.db, integration_id=integration_id, status=status, limit=limit
        )
        return {
            "integrationId": integration_id,
            "status": status,
            "conflicts": [conflict_view(c) for c in rows],
        }

    return router
