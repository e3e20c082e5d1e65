"""Mode B: the cron router inside a user's own app, ``softone-sync serve`` and ``softone-sync demo``."""

# The API server runs in its own thread and loop: a blocking httpx call in an async test waits for
# it without starving it, and keeps the assertions as plain as a user's curl session.

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from softone_sync.api import SyncService, build_cron_app, build_router
from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import (
    ADMIN_TOKEN,
    CRON_SECRET,
    SECRET_KEY,
    add_connection,
    add_integration,
    count_rows,
    create_demo_tables,
    cron,
    make_settings,
)
from tests.api.serve_process import free_port, running
from tests.fixtures.cli_process import bare_env, run_cli
from tests.fixtures.live_server import start_server


async def test_cron_router_in_a_users_fastapi_app(
    database_url: str, db: Database, simulator: RunningSimulator
) -> None:
    service = SyncService(make_settings(database_url), scheduler=True)
    app = FastAPI(lifespan=service.lifespan)

    @app.get("/hello")
    async def hello() -> dict[str, str]:  # the user's own route, untouched
        return {"hello": "world"}

    app.include_router(build_router(service))
    # The management API is not part of the embedded router: set up through the whole app.
    from softone_sync.api import create_app

    setup = start_server(create_app(make_settings(database_url), scheduler=False))
    try:
        with httpx.Client(base_url=setup.url, timeout=30) as client:
            await create_demo_tables(db)
            integration = add_integration(client, add_connection(client, simulator.url)["id"])
    finally:
        setup.stop()

    live = start_server(app)
    try:
        with httpx.Client(base_url=live.url, timeout=30) as client:
            assert client.get("/hello").json() == {"hello": "world"}
            assert service.scheduler_running
            init = client.get("/api/cron/init", headers=cron())
            assert (
                init.status_code == 200 and init.json()["schedules"][0]["integrationId"] == integration["id"]
            )
            body = client.post(
                "/api/cron/sync-integration", json={"integrationId": integration["id"]}, headers=cron()
            ).json()
            assert (body["status"], body["created"]) == ("succeeded", 250)
            assert client.get(body["statusUrl"], headers=cron()).json()["status"] == "succeeded"
            # Errors keep their JSON shape inside someone else's app.
            refused = client.post("/api/cron/sync-integration", json={"integrationId": integration["id"]})
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    finally:
        live.stop()
    assert not service.scheduler_running  # the lifespan stopped it
    assert await count_rows(db, "customers") == 250


@pytest.fixture(params=["sqlite"])
def db_dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_cron_router_in_a_starlette_app(database_url: str) -> None:
    service = SyncService(make_settings(database_url), scheduler=False)
    app = Starlette(routes=[Mount("/", app=build_cron_app(service))], lifespan=service.lifespan)
    live = start_server(app)
    try:
        response = httpx.get(f"{live.url}/api/cron/init", headers=cron())
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "initialized", "schedules": [], "dispatched": []}
        assert httpx.get(f"{live.url}/api/cron/init", headers={"X-Cron-Secret": "x"}).status_code == 401
    finally:
        live.stop()


def test_serve_runs_the_scheduler_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'serve.db'}",
        "CRON_SECRET": CRON_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SECRET_KEY": SECRET_KEY,
    }
    log = tmp_path / "serve.log"
    with running(["serve", "--port", str(port)], env=env, cwd=tmp_path, port=port, log=log) as process:
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready == {
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok", "scheduler": "ok"},
        }
    assert process.returncode == 0, log.read_text()
    text = log.read_text()
    assert "Traceback" not in text
    assert CRON_SECRET not in text and ADMIN_TOKEN not in text and SECRET_KEY not in text


def test_serve_refuses_bad_settings_in_one_line(tmp_path: Path) -> None:
    result = run_cli("serve", env=bare_env(DATABASE_URL="mysql://x"), cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def banner_of(log: Path, timeout: float = 20.0) -> str:
    """The demo's output once its banner is out: the port opens a moment before it is printed."""
    deadline = time.monotonic() + timeout
    while "Ctrl-C stops" not in (text := log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return text


def test_demo_end_to_end_and_idempotent(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    args = ["demo", "--port", str(port), "--customers", "300", "--items", "50"]
    env = {"PATH": "/usr/bin:/bin"}
    with running(args, env=env, cwd=tmp_path, port=port, log=log):
        text = banner_of(log)
        admin_token = re.search(r"ADMIN_TOKEN=(\w+)", text)
        assert admin_token is not None, text
        headers = {"Authorization": f"Bearer {admin_token.group(1)}"}
        integrations = httpx.get(f"http://127.0.0.1:{port}/api/integrations", headers=headers).json()[
            "integrations"
        ]
        assert sorted(i["name"] for i in integrations) == ["demo customers", "demo items"]
        assert all(i["lastSyncAt"] for i in integrations)  # the first sync ran at once
        curls = re.findall(r"^  (curl -fsS -H \"X-Cron-Secret.*)$", text, flags=re.M)
        assert len(curls) == 3
        for command in curls:
            result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, (command, result.stderr)
    first_secrets = (tmp_path / "var" / "demo.env").read_text()
    assert "fetched 300, created 300" in text

    with running(args, env=env, cwd=tmp_path, port=port, log=log):
        again = banner_of(log)
        assert admin_token.group(1) in again  # same secrets on re-run
        integrations = httpx.get(f"http://127.0.0.1:{port}/api/integrations", headers=headers).json()[
            "integrations"
        ]
        assert len(integrations) == 2  # nothing duplicated
    assert (tmp_path / "var" / "demo.env").read_text() == first_secrets
    assert "created 0, updated 0, unchanged 300" in again
    assert "Traceback" not in again
