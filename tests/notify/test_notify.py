"""Webhook notifications against a real receiver on loopback: once per failing streak, once on recovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from softone_sync.config import load_settings
from softone_sync.crypto import encrypt_secret
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneConnection
from softone_sync.notify import notify_after_run
from softone_sync.softone.simulator import RunningSimulator
from softone_sync.sync.run import run_integration
from tests.fixtures.live_server import LiveServer, start_server
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    SECRET_KEY,
    customers_config,
    execute,
    make_connection,
    make_integration,
)


@pytest.fixture
def receiver() -> Iterator[tuple[LiveServer, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    server = start_server(Starlette(routes=[Route("/hooks/T0KEN-in-url", hook, methods=["POST"])]))
    yield server, received
    server.stop()


async def test_failing_streak_notifies_once_and_recovery_notifies_once(
    db: Database,
    database_url: str,
    simulator: RunningSimulator,
    receiver: tuple[LiveServer, list[dict[str, Any]]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, received = receiver
    url = f"{server.url}/hooks/T0KEN-in-url"
    settings = load_settings(
        database_url=database_url, secret_key=SECRET_KEY, notify_webhook_url=url, notify_after_failures=2
    )
    await execute(db, CUSTOMERS_DDL)
    connection_id = await make_connection(db, simulator, password="wrong")
    integration_id = await make_integration(db, connection_id, customers_config(), name="customers")

    async def run_and_count() -> int:
        # run_integration sends the webhook itself once the run is recorded.
        await run_integration(db, integration_id, trigger="cli", settings=settings)
        return len(received)

    # Failure 1: below the threshold. Failure 2: the streak reaches it. Failure 3: already told.
    assert [await run_and_count() for _ in range(3)] == [0, 1, 1]
    failing = received[0]
    assert failing["event"] == "failing" and failing["integration"] == "customers"
    assert failing["consecutiveFailures"] == 2 and "password" in failing["error"]
    assert "wrong" not in str(failing)  # the ERP password never leaves the service

    async with db.session() as session, session.begin():
        await session.execute(
            sa.update(SoftOneConnection)
            .where(SoftOneConnection.id == connection_id)
            .values(passwordEncrypted=encrypt_secret("demo", SECRET_KEY))
        )
    assert await run_and_count() == 2
    assert await run_and_count() == 2  # a healthy integration stays quiet
    assert [m["event"] for m in received] == ["failing", "recovered"]
    # The decision is read from the run history, so asking again sends nothing new.
    last = await run_integration(db, integration_id, trigger="cli", settings=settings)
    assert (
        await notify_after_run(
            db, settings, integration_id, run_id=last.run_id, status=last.status, error=None
        )
        is None
    )
    assert "T0KEN-in-url" not in caplog.text  # webhook URLs carry tokens: never logged


async def test_an_unreachable_webhook_never_fails_the_sync(
    db: Database, database_url: str, simulator: RunningSimulator
) -> None:
    settings = load_settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        notify_webhook_url="http://127.0.0.1:9/unreachable",
        notify_after_failures=1,
    )
    await execute(db, CUSTOMERS_DDL)
    connection_id = await make_connection(db, simulator, password="wrong")
    integration_id = await make_integration(db, connection_id, customers_config())
    result = await run_integration(db, integration_id, trigger="cli", settings=settings)
    assert result.status == "failed"
    sent = await notify_after_run(
        db, settings, integration_id, run_id=result.run_id, status=result.status, error=result.error
    )
    assert sent is None
