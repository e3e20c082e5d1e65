"""Liveness and readiness probes (no authentication: they reveal nothing but "ok" and check names)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from softone_sync.api.deps import JsonErrorRoute, SyncService, provider_for
from softone_sync.db import migrate

log = logging.getLogger("softone_sync.api.health")

# A probe must answer quickly even when the database hangs; Kubernetes' default timeout is 1 s.
CHECK_TIMEOUT_SECONDS = 3.0


def build_health_router(service: SyncService | None = None) -> APIRouter:
    get_service = provider_for(service)
    router = APIRouter(route_class=JsonErrorRoute, tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers HTTP."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "a check failed"}})
    async def readyz(svc: SyncService = Depends(get_service)) -> JSONResponse:
        """Readiness: database reachable, migrations at head, scheduler running (when it should be)."""
        checks: dict[str, Any] = {}
        checks["database"] = await _check(_database_reachable(svc))
        checks["migrations"] = (
            await _check(_migrations_at_head(svc)) if checks["database"] == "ok" else "skipped"
        )
        if svc.scheduler:
            checks["scheduler"] = "ok" if svc.scheduler_running else "not running"
        else:
            checks["scheduler"] = "disabled"
        ready = all(value in ("ok", "disabled") for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "checks": checks}, status_code=200 if ready else 503
        )

    return router


async def _check(probe: Any) -> str:
    try:
        result: str = await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"timed out after {CHECK_TIMEOUT_SECONDS:.0f}s"
    except Exception as exc:
        # The type is enough for an operator; the message of a driver error may contain the DSN.
        log.warning("readiness check failed: %s", type(exc).__name__, extra={"action": "readyz"})
        return f"failed ({type(exc).__name__})"
    return result


async def _database_reachable(svc: SyncService) -> str:
    async with svc.db.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
    return "ok"


async def _migrations_at_head(svc: SyncService) -> str:
    url = svc.db.url
    # Alembic is synchronous; keep it off the event loop.
    current, head = await asyncio.to_thread(lambda: (migrate.current(url), migrate.head()))
    if current == head:
        return "ok"
    return f"at {current or 'none'}, head is {head}: run `softone-sync db upgrade`"
