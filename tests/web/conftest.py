"""A real dashboard server on loopback, opened on the test's database, plus a logged-in client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from softone_sync.config import load_settings
from softone_sync.db.engine import open_database
from softone_sync.web import install_operator_ui
from tests.fixtures.live_server import LiveServer, start_server
from tests.web.seed import SECRET_KEY

ADMIN_TOKEN = "dashboard-admin-token-0123456789"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium through Playwright")


def build_app(database_url: str) -> FastAPI:
    """A minimal app holding the operator UI the way create_app does (app.state.db/settings)."""
    settings = load_settings(database_url=database_url, admin_token=ADMIN_TOKEN, secret_key=SECRET_KEY)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = await open_database(database_url)
        try:
            yield
        finally:
            await app.state.db.dispose()

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings
    install_operator_ui(app)
    return app


@pytest.fixture
def ui_server(database_url: str) -> Iterator[LiveServer]:
    live = start_server(build_app(database_url))
    try:
        yield live
    finally:
        live.stop()


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_from(html: str) -> str:
    """The page's CSRF token; every form on the page must carry the same, non-empty one."""
    tokens: set[str] = set(CSRF_RE.findall(html))
    assert tokens, "page has no CSRF token"
    assert len(tokens) == 1 and "" not in tokens, f"forms carry different CSRF tokens: {tokens}"
    return tokens.pop()


@pytest.fixture
async def anon(ui_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ui_server.url, follow_redirects=False, timeout=20) as client:
        yield client


@pytest.fixture
async def admin(ui_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=ui_server.url, follow_redirects=False, timeout=20) as client:
        response = await client.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})
        assert response.status_code == 303, response.text
        yield client
