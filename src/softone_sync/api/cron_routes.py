"""The seed's cron endpoints, as an APIRouter that also mounts into your own FastAPI/Starlette app.

``GET /api/cron/init``
    Idempotent. Re-initialises every schedule and reports it. ``X-Cron-Secret`` (or
    ``Authorization: Bearer``) is optional; with a valid secret it also dispatches due and missed
    slots, so an external cron calling it every few minutes is all a serverless host needs. A wrong
    secret is a 401.
``GET /api/cron/startup``
    Start-up initialisation (reap runs whose process died, then initialise), idempotent; the secret
    is optional as for ``init``.
``POST /api/cron/sync-integration`` ``{"integrationId": "..."}``
    Secret required. Runs the sync and answers 200 with its statistics (``status`` is the run's
    outcome: ``succeeded``/``failed``/``held``/``skipped``). If the run is still going after
    ``SYNC_WAIT_SECONDS`` it answers **202** ``{"status": "running", "runId", "statusUrl"}`` and the
    run continues. If the integration is already running it answers **409**
    ``{"error": "already-running", "status": "already-running", "runId": <the running run>}`` and
    starts nothing (409 like an inactive integration: the state forbids a new run; the scheduler's
    HTTP executor records it as a ``skipped-running`` slot). Unknown id 404, inactive integration
    409 ``inactive``, malformed body 422, body over 16 KiB 413. Optional body fields ``runId``,
    ``slotAt`` and ``trigger`` let a scheduler process hand over one of its slots.

``GET /api/runs/{id}`` (the ``statusUrl``) is included too, readable with the cron secret or the
admin token, so a 202 can be followed wherever the router is mounted.

Embedding (mode B in your own app)::

    from fastapi import FastAPI
    from softone_sync.api import SyncService, build_router

    service = SyncService()                      # settings from the environment
    app = FastAPI(lifespan=service.lifespan)     # opens the DB, starts the scheduler
    app.include_router(build_router(service))
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from softone_sync import services
from softone_sync.api.auth import verify_admin_or_cron, verify_cron_secret
from softone_sync.api.deps import ApiError, SmallBodyRoute, SyncService, provider_for
from softone_sync.api.schemas import SyncIntegrationRequest, run_result_view, run_view, to_json
from softone_sync.db.leases import current_holder, reap_expired
from softone_sync.db.models import new_id

log = logging.getLogger("softone_sync.api.cron")

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong cron secret"},
    403: {"description": "caller not in CRON_ALLOWED_IPS"},
    503: {"description": "CRON_SECRET not configured"},
}


def build_router(service: SyncService | None = None, *, prefix: str = "") -> APIRouter:
    """The cron endpoints (and ``GET /api/runs/{id}``) bound to ``service``.

    Without ``service`` the routes use the :class:`SyncService` stored on ``app.state.softone_sync``
    (what :func:`softone_sync.api.create_app` does).
    """
    get_service = provider_for(service)
    router = APIRouter(prefix=prefix, route_class=SmallBodyRoute)

    def cron_caller(request: Request, svc: SyncService = Depends(get_service)) -> bool:
        return verify_cron_secret(request, svc.settings, required=False)

    def cron_required(request: Request, svc: SyncService = Depends(get_service)) -> None:
        verify_cron_secret(request, svc.settings, required=True)

    @router.get("/api/cron/init", tags=["cron"], responses=_ERRORS)
    async def cron_init(
        authenticated: bool = Depends(cron_caller), svc: SyncService = Depends(get_service)
    ) -> dict[str, Any]:
        """(Re)initialise every schedule; with a valid secret, also dispatch due and missed slots."""
        reports = await svc.manager.initialize()
        body: dict[str, Any] = {"status": "initialized", "schedules": to_json(reports)}
        if authenticated:
            outcomes = await svc.manager.dispatch_due()
            body["dispatched"] = to_json(outcomes)
        log.info(
            "[CRON] init: %d schedule(s)%s",
            len(reports),
            f", {len(body['dispatched'])} slot(s) dispatched" if authenticated else "",
            extra={"action": "cron_init"},
        )
        return body

    @router.get("/api/cron/startup", tags=["cron"], responses=_ERRORS)
    async def cron_startup(
        _authenticated: bool = Depends(cron_caller), svc: SyncService = Depends(get_service)
    ) -> dict[str, Any]:
        """Start-up initialisation: fail runs whose process died, then initialise schedules. Idempotent."""
        reaped = await reap_expired(svc.db)
        reports = await svc.manager.initialize()
        log.info(
            "[CRON] startup: %d schedule(s), %d stale run(s) reaped",
            len(reports),
            len(reaped),
            extra={"action": "cron_startup"},
        )
        return {"status": "started", "reapedRuns": reaped, "schedules": to_json(reports)}

    @router.post(
        "/api/cron/sync-integration",
        tags=["cron"],
        responses={
            **_ERRORS,
            202: {"description": "still running after SYNC_WAIT_SECONDS; follow statusUrl"},
            404: {"description": "unknown integration"},
            409: {"description": "integration is inactive, or already running (status: already-running)"},
            413: {"description": "body too large"},
            422: {"description": "malformed body"},
        },
    )
    async def sync_integration(
        payload: SyncIntegrationRequest,
        _auth: None = Depends(cron_required),
        svc: SyncService = Depends(get_service),
    ) -> JSONResponse:
        """Run one integration now; 200 with its statistics, or 202 with a status URL if it takes long."""
        return await _sync_now(svc, payload)

    @router.get("/api/runs/{run_id}", tags=["runs"], name="get_run")
    async def get_run(
        run_id: str, request: Request, svc: SyncService = Depends(get_service)
    ) -> dict[str, Any]:
        """One run: status and statistics. Readable with the admin token or the cron secret."""
        verify_admin_or_cron(request, svc.settings)
        return run_view(await services.get_run(svc.db, run_id))

    return router


def _already_running(integration_id: str, run_id: str | None) -> JSONResponse:
    body: dict[str, Any] = {
        "error": "already-running",
        "detail": "the integration is already running; no second run was started",
        "status": "already-running",
        "integrationId": integration_id,
        "runId": run_id,
    }
    if run_id:
        body["statusUrl"] = f"/api/runs/{run_id}"
    return JSONResponse(body, status_code=409)


async def _sync_now(svc: SyncService, payload: SyncIntegrationRequest) -> JSONResponse:
    db, integration_id = svc.db, payload.integrationId
    integration = await services.get_integration(db, integration_id)  # NotFound → 404
    if not integration.isActive:
        raise ApiError(409, "inactive", f"integration {integration_id!r} is inactive; enable it first")
    # Cheap pre-check so an overlapping call starts nothing at all; the lease inside the run is the
    # authority that closes the remaining race.
    holder = await current_holder(db, integration_id)
    if holder is not None:
        return _already_running(integration_id, holder[1])

    from softone_sync.sync.run import AlreadyRunning, run_integration

    run_id = payload.runId or new_id()
    task = asyncio.create_task(
        run_integration(
            db,
            integration_id,
            trigger=payload.trigger,
            run_id=run_id,
            slot_at=payload.slotAt,
            settings=svc.settings,
        ),
        name=f"sync-{integration_id}-{run_id}",
    )
    svc.track(task)
    task.add_done_callback(_log_background_failure)
    done, _pending = await asyncio.wait({task}, timeout=svc.settings.sync_wait_seconds)
    if task not in done:
        log.info(
            "[SYNC] run %s still going after %.0fs: answering 202",
            run_id,
            svc.settings.sync_wait_seconds,
            extra={"action": "sync_accepted", "integration_id": integration_id, "run_id": run_id},
        )
        return JSONResponse(
            {
                "status": "running",
                "integrationId": integration_id,
                "runId": run_id,
                "statusUrl": f"/api/runs/{run_id}",
            },
            status_code=202,
        )
    exc = task.exception()
    if isinstance(exc, AlreadyRunning):
        return _already_running(integration_id, exc.run_id)
    if exc is not None:
        raise run_refusal(exc) from None
    return JSONResponse(run_result_view(task.result()), status_code=200)


def run_refusal(exc: BaseException) -> BaseException:
    """What a run refused before starting becomes: an :class:`ApiError`, else the exception itself."""
    from softone_sync.sync.config import IntegrationConfigError
    from softone_sync.sync.run import IntegrationNotFound

    if isinstance(exc, IntegrationNotFound):
        return ApiError(404, "not-found", str(exc))
    if isinstance(exc, IntegrationConfigError):
        # The stored configJson no longer validates (edited by hand, or an older format): a state
        # problem of the integration, not of this request.
        return ApiError(409, "invalid-config", exc.problems)
    return exc


def _log_background_failure(task: asyncio.Task[Any]) -> None:
    # A run answered with 202 has nobody awaiting it: retrieve its exception so it is logged once,
    # by type only (its message may quote ERP data), instead of "exception was never retrieved".
    if task.cancelled():
        return
    exc = task.exception()
    if (
        exc is not None
        and not isinstance(run_refusal(exc), ApiError)
        and type(exc).__name__ != "AlreadyRunning"
    ):
        log.error(
            "[SYNC] background run %s ended with %s",
            task.get_name(),
            type(exc).__name__,
            extra={"action": "sync_crashed"},
        )


def build_cron_app(service: SyncService) -> FastAPI:
    """The cron router as a small ASGI app, for Starlette (or any ASGI framework) hosts.

    FastAPI routes need FastAPI's request machinery, so a plain Starlette app mounts this instead
    of the routes: ``Starlette(routes=[Mount("/", app=build_cron_app(service))],
    lifespan=service.lifespan)``. A mounted app's own lifespan is not run, hence the host's.
    """
    app = FastAPI(title="softone-sync cron", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(build_router(service))
    return app


cron_router = build_router()
"""The cron router using the app's ``app.state.softone_sync`` service (see :func:`build_router`)."""
