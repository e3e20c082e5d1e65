"""Run history for operators: ``GET /api/runs?integrationId=&status=&limit=``.

``GET /api/runs/{id}`` lives with the cron router (it is the ``statusUrl`` of a 202 and must be
reachable wherever that router is mounted).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from softone_sync import services
from softone_sync.api.auth import admin_dependency
from softone_sync.api.deps import JsonErrorRoute, SyncService, provider_for
from softone_sync.api.schemas import run_view
from softone_sync.db.models import RUN_STATUSES

_STATUS_PATTERN = "^(" + "|".join(RUN_STATUSES) + ")$"


def build_runs_router(service: SyncService | None = None) -> APIRouter:
    admin = admin_dependency(provider_for(service))
    router = APIRouter(prefix="/api/runs", tags=["runs"], route_class=JsonErrorRoute)

    @router.get("")
    async def list_runs(
        integrationId: str | None = Query(default=None, max_length=64),
        status: str | None = Query(default=None, pattern=_STATUS_PATTERN),
        limit: int = Query(default=50, ge=1, le=1000),
        svc: SyncService = Depends(admin),
    ) -> dict[str, Any]:
        """Most recent runs first, optionally for one integration and/or one status."""
        rows = await services.list_runs(svc.db, integration_id=integrationId, status=status, limit=limit)
        return {"runs": [run_view(row) for row in rows]}

    return router
