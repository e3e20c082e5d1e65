"""The HTTP API of softone-sync.

- :func:`create_app` — the whole service (``softone-sync serve`` runs it with uvicorn).
- :func:`build_router` / :data:`cron_router` — the seed's cron endpoints, to mount into your own
  FastAPI or Starlette app (mode B embedded); :class:`SyncService` owns the database and the
  scheduler behind them. See :mod:`softone_sync.api.cron_routes` for an example.
"""

from __future__ import annotations

from softone_sync.api.app import create_app
from softone_sync.api.cron_routes import build_cron_app, build_router, cron_router
from softone_sync.api.deps import ApiError, SyncService

__all__ = ["ApiError", "SyncService", "build_cron_app", "build_router", "create_app", "cron_router"]
