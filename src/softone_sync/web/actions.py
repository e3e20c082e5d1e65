"""What the dashboard's buttons do: start a run, enable/disable, test a connection.

Runs started from the dashboard run in this process as background tasks, under the same lease as
every other trigger; the browser is sent straight to the run's page, which refreshes until the
run row says it finished. A run that fails before it writes its row (another run holds the lease,
the configuration is invalid) is remembered here so that page can say why.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from softone_sync.config import Settings
from softone_sync.db.engine import Database
from softone_sync.services import (
    ConnectionTestResult,
    NotConfigured,
    set_integration_active,
    test_connection,
)
from softone_sync.sync.run import AlreadyRunning, run_integration

log = logging.getLogger("softone_sync.web")

# How long the page waits on a connection test; the ERP's own timeout may be longer.
CONNECTION_TEST_TIMEOUT = 20.0
_REMEMBERED_LAUNCHES = 200


@dataclass
class Launch:
    """A run this process started from the dashboard."""

    run_id: str
    integration_id: str
    dry_run: bool
    done: bool = False
    error: str | None = None  # set when the run ended without (or before) recording itself


class Launches:
    """Recent launches by run id; bounded so a long-lived server does not grow."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Launch] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, run_id: str) -> Launch | None:
        return self._items.get(run_id)

    def add(self, launch: Launch) -> None:
        self._items[launch.run_id] = launch
        while len(self._items) > _REMEMBERED_LAUNCHES:
            self._items.popitem(last=False)

    def keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def start_run(
    db: Database,
    settings: Settings,
    launches: Launches,
    integration_id: str,
    *,
    dry_run: bool,
    track: Callable[[asyncio.Task[Any]], None] | None = None,
) -> Launch:
    """Start ``run_integration`` in the background; returns at once with the run id it will use."""
    launch = Launch(run_id=uuid.uuid4().hex, integration_id=integration_id, dry_run=dry_run)
    launches.add(launch)
    task = asyncio.create_task(_run(db, settings, launch), name=f"dashboard-run-{launch.run_id}")
    launches.keep(task)
    if track is not None:
        track(task)  # lets the service wait for it on shutdown
    return launch


async def _run(db: Database, settings: Settings, launch: Launch) -> None:
    extra = {"action": "dashboard_run", "integration_id": launch.integration_id, "run_id": launch.run_id}
    try:
        result = await run_integration(
            db,
            launch.integration_id,
            trigger="api",
            dry_run=launch.dry_run,
            run_id=launch.run_id,
            settings=settings,
        )
        if result.status != "succeeded" and result.error:
            launch.error = result.error
    except AlreadyRunning as exc:
        holder = f" (run {exc.run_id})" if getattr(exc, "run_id", None) else ""
        launch.error = f"another run of this integration is in progress{holder}; try again when it ends"
    except Exception as exc:
        # The run records its own failures; this catches what happens before it can (bad config,
        # unreachable database). The message is ours or the run's, never a traceback.
        launch.error = str(exc) or type(exc).__name__
        log.warning("[SYNC] dashboard run ended with %s", type(exc).__name__, extra=extra)
    finally:
        launch.done = True


async def set_active(db: Database, integration_id: str, active: bool, manager: Any = None) -> None:
    """Enable or disable through the shared service (validates, reschedules); ServiceError otherwise."""
    await set_integration_active(db, integration_id, active, manager=manager)


async def check_connection(db: Database, settings: Settings, connection_id: str) -> ConnectionTestResult:
    """Log in (and authenticate) with the stored settings: ERP version and company reached, or why not."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(CONNECTION_TEST_TIMEOUT):
            return await test_connection(db, settings, connection_id)
    except NotConfigured as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {CONNECTION_TEST_TIMEOUT:.0f} s"
    except ValueError as exc:  # stored settings the client refuses (malformed URL, unknown timezone)
        error = str(exc)
    return ConnectionTestResult(
        ok=False,
        connection_id=connection_id,
        elapsed_seconds=round(time.monotonic() - started, 3),
        error=error,
    )
