"""Fixtures of the API tests: settings with known secrets, a live API server on the test database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from softone_sync.api import create_app
from softone_sync.cli import app as cli_app
from softone_sync.cli.demo import DEMO_TABLES, customers_config
from softone_sync.config import Settings, load_settings
from softone_sync.db.engine import Database
from tests.fixtures.live_server import LiveServer, start_server

CRON_SECRET = "cron-s3cret-0123456789abcdef"
ADMIN_TOKEN = "admin-t0ken-fedcba9876543210"
SECRET_KEY = Fernet.generate_key().decode()


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "cron_secret": CRON_SECRET,
        "admin_token": ADMIN_TOKEN,
        "secret_key": SECRET_KEY,
        "sync_wait_seconds": 20.0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    """The whole API without its own scheduler (mode C): tests drive schedules through the endpoints."""
    live = start_server(create_app(settings, scheduler=False))
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def cli_runner(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner for ``softone-sync`` commands on the test database, with the tests' SECRET_KEY."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    return CliRunner()


def invoke(runner: CliRunner, *args: str, code: int = 0) -> str:
    """``softone-sync ARGS``: its output, once the exit code is ``code`` and no traceback leaked."""
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == code, (args, result.output)
    assert "Traceback" not in result.output
    return result.output


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def cron() -> dict[str, str]:
    return {"X-Cron-Secret": CRON_SECRET}


ERP_PASSWORD = "demo"  # the simulator's; tests also check it never comes back


async def create_demo_tables(db: Database) -> None:
    """The application's tables (the demo's): the service never creates them itself."""
    async with db.engine.begin() as conn:
        await conn.run_sync(DEMO_TABLES.create_all)


def add_connection(client: httpx.Client, erp_url: str, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "erp",
        "baseUrl": erp_url,
        "username": "demo",
        "password": ERP_PASSWORD,
        "appId": "1001",
        "company": "1000",
        "branch": "1000",
        "module": "0",
        "refid": "500",
    }
    body.update(overrides)
    response = client.post("/api/connections", json=body, headers=admin())
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_integration(
    client: httpx.Client,
    connection_id: object,
    *,
    name: str = "customers",
    config: dict[str, object] | None = None,
) -> dict[str, object]:
    body = {"name": name, "connectionId": connection_id, "configJson": config or customers_config()}
    response = client.post("/api/integrations", json=body, headers=admin())
    assert response.status_code == 201, response.text
    return dict(response.json())


async def count_rows(db: Database, table: str) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


def wait_for_run(client: httpx.Client, run_id: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/runs/{run_id}", headers=admin())
        if response.status_code == 200 and response.json()["status"] != "running":
            return dict(response.json())
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not finish: {response.text}")
        time.sleep(0.05)
