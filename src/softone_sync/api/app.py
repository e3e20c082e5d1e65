"""The FastAPI application: cron endpoints, management API, health probes, the operator dashboard at
``/`` and ``/metrics``; OpenAPI at ``/docs``.

``create_app()`` is what ``softone-sync serve`` runs (mode B: the app runs its own scheduler). With
``scheduler=False`` it serves the API only and schedules advance when something calls
``/api/cron/init`` with the secret (mode C) — several replicas may run either way: the database
leases make every slot run once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from softone_sync.api.conflicts import build_conflicts_router
from softone_sync.api.connections import build_connections_router
from softone_sync.api.cron_routes import build_router
from softone_sync.api.deps import (
    SyncService,
    http_error_response,
    internal_error_response,
    validation_error_response,
)
from softone_sync.api.health import build_health_router
from softone_sync.api.integrations import build_integrations_router
from softone_sync.api.runs import build_runs_router
from softone_sync.config import Settings

if TYPE_CHECKING:
    from softone_sync.db.engine import Database
    from softone_sync.schedule.manager import CronManager

log = logging.getLogger("softone_sync.api")


def _version() -> str:
    try:
        return version("softone-sync")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0+unknown"


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    manager: CronManager | None = None,
    scheduler: bool = True,
) -> FastAPI:
    """The whole HTTP service. ``db``/``manager`` given are used as is and not closed on shutdown."""
    service = SyncService(settings, db=db, manager=manager, scheduler=scheduler)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service.lifespan(app):
            yield

    app = FastAPI(
        title="softone-sync",
        version=_version(),
        summary="Scheduled synchronisation between SoftOne ERP and your application's database.",
        lifespan=lifespan,
    )
    app.state.softone_sync = service
    app.include_router(build_health_router(service))
    app.include_router(build_router(service))
    app.include_router(build_integrations_router(service))
    app.include_router(build_connections_router(service))
    app.include_router(build_runs_router(service))
    app.include_router(build_conflicts_router(service))
    # The operator dashboard (/, /integrations/…, /connections) and the Prometheus /metrics.
    from softone_sync.web import install_operator_ui

    install_operator_ui(app)

    # The routes render their own errors; these cover what happens outside them (unknown path,
    # wrong method) so that every answer of this app has the same JSON shape.
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_error_response(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error_response(request, exc)

    return app
