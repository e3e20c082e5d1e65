"""Two-way conflicts (admin token): read one, resolve it.

Listing lives with the integration (``GET /api/integrations/{id}/conflicts``). Resolving records
the choice and queues the record; the next run applies it to the ERP's then-current state.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from softone_sync import services
from softone_sync.api.auth import admin_dependency
from softone_sync.api.deps import JsonErrorRoute, SyncService, provider_for
from softone_sync.api.schemas import ConflictResolve, conflict_view
from softone_sync.services import NotFound


def build_conflicts_router(service: SyncService | None = None) -> APIRouter:
    admin = admin_dependency(provider_for(service))
    router = APIRouter(prefix="/api/conflicts", tags=["conflicts"], route_class=JsonErrorRoute)

    @router.get("/{conflict_id}")
    async def get_conflict(conflict_id: int, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        from softone_sync.sync.twoway.status import get_conflict as find
        from softone_sync.two_way_admin import check_conflict_id

        check_conflict_id(conflict_id)
        conflict = await find(svc.db, conflict_id)
        if conflict is None:
            raise NotFound(f"no conflict with id {conflict_id}")
        return conflict_view(conflict)

    @router.post("/{conflict_id}/resolve")
    async def resolve(
        conflict_id: int, body: ConflictResolve, svc: SyncService = Depends(admin)
    ) -> dict[str, Any]:
        """``{"side": "erp"|"app"}``: 404 unknown, 409 already resolved, 422 any other side."""
        resolution = await services.resolve_conflict(svc.db, conflict_id, body.side)
        return {
            "id": resolution.conflict_id,
            "integrationId": resolution.integration_id,
            "recordKey": resolution.record_key,
            "side": resolution.side,
            "status": resolution.status,
            "message": "resolution recorded; the next run of the integration applies it",
        }

    return router
