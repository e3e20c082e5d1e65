"""Connections management API (admin token). The password is write-only: never in any answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response

from softone_sync import services
from softone_sync.api.auth import admin_dependency
from softone_sync.api.deps import JsonErrorRoute, SyncService, provider_for
from softone_sync.api.schemas import ConnectionCreate, ConnectionUpdate, connection_view, to_json


def build_connections_router(service: SyncService | None = None) -> APIRouter:
    admin = admin_dependency(provider_for(service))
    router = APIRouter(prefix="/api/connections", tags=["connections"], route_class=JsonErrorRoute)

    @router.get("")
    async def list_connections(svc: SyncService = Depends(admin)) -> dict[str, Any]:
        return {"connections": [connection_view(row) for row in await services.list_connections(svc.db)]}

    @router.post("", status_code=201)
    async def create_connection(body: ConnectionCreate, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        return connection_view(await services.create_connection(svc.db, svc.settings, body))

    @router.get("/{connection_id}")
    async def get_connection(connection_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        return connection_view(await services.get_connection(svc.db, connection_id))

    @router.patch("/{connection_id}")
    async def update_connection(
        connection_id: str, body: ConnectionUpdate, svc: SyncService = Depends(admin)
    ) -> dict[str, Any]:
        """Change only the fields given; send ``password`` to replace it (``PUT`` accepted too)."""
        return connection_view(await services.update_connection(svc.db, svc.settings, connection_id, body))

    router.add_api_route("/{connection_id}", update_connection, methods=["PUT"], include_in_schema=False)

    @router.delete("/{connection_id}", status_code=204)
    async def delete_connection(connection_id: str, svc: SyncService = Depends(admin)) -> Response:
        await services.delete_connection(svc.db, connection_id)
        return Response(status_code=204)

    @router.post("/{connection_id}/test")
    async def test_connection(connection_id: str, svc: SyncService = Depends(admin)) -> dict[str, Any]:
        """Log in and authenticate: ``ok``, the ERP version and the company reached, or the error."""
        result = await services.test_connection(svc.db, svc.settings, connection_id)
        body = to_json(result)
        assert isinstance(body, dict)
        return body

    return router
