"""The operator UI: a server-rendered dashboard under ``/`` and Prometheus metrics at ``/metrics``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"


def install_operator_ui(app: FastAPI) -> None:
    """Add the dashboard pages, their stylesheet and ``GET /metrics`` to ``app``.

    The pages read the opened Database from ``app.state.db`` (settings from ``app.state.settings``,
    the CronManager from ``app.state.manager``), so call this from the app factory before start-up.
    """
    from softone_sync.web.routes import router

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="softone_sync_static")


__all__ = ["install_operator_ui"]
