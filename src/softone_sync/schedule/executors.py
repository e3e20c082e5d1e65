"""Executors: how a claimed slot becomes a run.

The manager claims a slot (exactly once, cluster-wide) and hands it to an executor; the executor
starts the run and reports an :class:`ExecutionResult`. The lease taken by ``run_integration`` stays
the authority on "one run per integration" whatever the executor:

* :class:`InlineExecutor` — asyncio tasks in this process, at most ``settings.max_concurrent_runs``
  at once (the default).
* :class:`HttpExecutor` — ``POST {APP_URL}/api/cron/sync-integration`` with ``X-Cron-Secret``, for
  split deployments where the scheduler and the API workers are different processes.
* :class:`ProcrastinateExecutor` — defers a procrastinate job on the same PostgreSQL; workers
  (``softone-sync worker``, :mod:`softone_sync.schedule.worker`) run it and record the slot's
  outcome themselves (``final=False`` here).

:func:`executor_from_settings` picks one from ``EXECUTOR``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from softone_sync.config import Settings, get_settings
from softone_sync.db.engine import Database
from softone_sync.schedule.slots import SlotOutcomeName

log = logging.getLogger("softone_sync.schedule.executors")

SLOT_TASK_NAME = "softone_sync.run_scheduled_slot"
SLOT_QUEUE = "softone-sync"
"""The procrastinate queue slot jobs go to (``softone-sync worker`` listens on it by default)."""
LEASE_TTL_ENV = "LEASE_TTL_SECONDS"
MIN_LEASE_TTL = 3.0


class ExecutorConfigError(ValueError):
    """The executor ``EXECUTOR`` selects cannot work with these settings; ``str()`` says why in one line."""


class RunResultLike(Protocol):
    """What the executor reads from a run's result (``softone_sync.sync.run.RunResult`` fits)."""

    run_id: str
    status: Any
    error: str | None


class RunFn(Protocol):
    """The signature of :func:`softone_sync.sync.run.run_integration` that executors call.

    Tests inject their own (controlled duration, counting) with the same lease semantics:
    raise ``AlreadyRunning`` when the integration's lease is held.
    """

    def __call__(
        self,
        db: Database,
        integration_id: str,
        *,
        trigger: str,
        owner: str | None,
        run_id: str | None,
        slot_at: datetime | None,
        settings: Settings | None,
        lease_ttl: float = ...,
    ) -> Awaitable[RunResultLike]: ...


@dataclass(frozen=True)
class ExecutionResult:
    outcome: SlotOutcomeName
    run_id: str | None = None
    detail: str | None = None
    final: bool = True
    """False: someone else (a procrastinate worker) records the slot's final outcome later."""


class Executor(ABC):
    """Starts the run of one claimed slot."""

    owner: str | None = None

    def bind(self, owner: str) -> None:
        """Called by the manager: runs are recorded with this scheduler's owner id."""
        if self.owner is None:
            self.owner = owner

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open resources (HTTP clients, connection pools)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""

    @abstractmethod
    def submit(
        self, integration_id: str, slot_at: datetime, trigger: str, *, run_id: str | None = None
    ) -> Awaitable[ExecutionResult]:
        """Start the run of ``slot_at``; the awaitable resolves to the slot's outcome."""


def default_run_fn() -> RunFn:
    from softone_sync.sync.run import run_integration

    return run_integration


def result_to_execution(result: RunResultLike) -> ExecutionResult:
    """Map a finished run to the slot outcome: a run that happened is ``ran`` unless it failed."""
    status = str(result.status)
    if status == "failed":
        return ExecutionResult("failed", result.run_id, result.error or "run failed")
    if status == "succeeded":
        return ExecutionResult("ran", result.run_id, None)
    return ExecutionResult(
        "ran", result.run_id, f"run {status}" + (f": {result.error}" if result.error else "")
    )


async def call_run_fn(
    run_fn: RunFn,
    db: Database,
    integration_id: str,
    *,
    trigger: str,
    owner: str | None,
    run_id: str | None,
    slot_at: datetime | None,
    settings: Settings | None,
    lease_ttl: float | None = None,
) -> ExecutionResult:
    """Run and translate the run engine's exceptions into slot outcomes (one line, no traceback)."""
    from softone_sync.sync.run import AlreadyRunning

    run = functools.partial(
        run_fn,
        db,
        integration_id,
        trigger=trigger,
        owner=owner,
        run_id=run_id,
        slot_at=slot_at,
        settings=settings,
    )
    try:
        # lease_ttl None: left out, so the run engine's own default TTL applies.
        result = await (run() if lease_ttl is None else run(lease_ttl=lease_ttl))
    except AlreadyRunning as exc:
        return ExecutionResult("skipped-running", None, f"run {exc.run_id or 'unknown'} still running")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the run engine records its own failures; these failed before a run row
        log.warning(
            "[CRON] integration=%s slot=%s run could not start: %s",
            integration_id,
            slot_at.isoformat() if slot_at else "-",
            exc,
            extra={"action": "run_not_started", "integration_id": integration_id},
        )
        return ExecutionResult("failed", run_id, f"{type(exc).__name__}: {exc}")
    return result_to_execution(result)


def lease_ttl_from(settings: Settings | None) -> float | None:
    """The lease TTL runs started by the scheduler use; None: the run engine's default (60 s).

    ``settings.lease_ttl_seconds`` when the settings have it, else the ``LEASE_TTL_SECONDS``
    environment variable. A dead process's run is failed, and its integration runs again, one TTL
    after it stopped renewing; holders renew every TTL/3.
    """
    configured = getattr(settings, "lease_ttl_seconds", None) if settings is not None else None
    raw: object = configured if configured is not None else os.environ.get(LEASE_TTL_ENV, "").strip()
    if raw in ("", None):
        return None
    try:
        ttl = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ExecutorConfigError(f"invalid setting {LEASE_TTL_ENV}: {raw!r} is not a number") from None
    if not MIN_LEASE_TTL <= ttl <= 86_400:
        raise ExecutorConfigError(
            f"invalid setting {LEASE_TTL_ENV}: {ttl:g} s is outside {MIN_LEASE_TTL:g}..86400 s"
        )
    return ttl


class InlineExecutor(Executor):
    """Runs syncs as asyncio tasks in this process, at most ``max_concurrency`` at once."""

    def __init__(
        self,
        db: Database,
        settings: Settings | None = None,
        *,
        run_fn: RunFn | None = None,
        max_concurrency: int | None = None,
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.run_fn = run_fn or default_run_fn()
        limit = max_concurrency or (settings or get_settings()).max_concurrent_runs
        self._semaphore = asyncio.Semaphore(limit)
        self.owner = owner
        self.lease_ttl = lease_ttl_from(settings)

    def submit(
        self, integration_id: str, slot_at: datetime, trigger: str, *, run_id: str | None = None
    ) -> Awaitable[ExecutionResult]:
        return asyncio.ensure_future(self._run(integration_id, slot_at, trigger, run_id))

    async def _run(
        self, integration_id: str, slot_at: datetime, trigger: str, run_id: str | None
    ) -> ExecutionResult:
        async with self._semaphore:
            return await call_run_fn(
                self.run_fn,
                self.db,
                integration_id,
                trigger=trigger,
                owner=self.owner,
                run_id=run_id,
                slot_at=slot_at,
                settings=self.settings,
                lease_ttl=self.lease_ttl,
            )


class HttpExecutor(Executor):
    """Asks the API workers to run the slot: ``POST {APP_URL}/api/cron/sync-integration``.

    200 and 202 mean the run started (202: still running when the endpoint stopped waiting), 409 that
    the integration is already running; anything else is a failed slot with the status in the detail.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        if not self.settings.app_url:
            raise ValueError("the http executor needs APP_URL (the base URL of the API workers)")
        if self.settings.cron_secret is None:
            raise ValueError("the http executor needs CRON_SECRET (the API refuses cron calls without it)")
        self.url = self.settings.app_url.rstrip("/") + "/api/cron/sync-integration"
        self._timeout = timeout if timeout is not None else self.settings.sync_wait_seconds + 10.0
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(
        self, integration_id: str, slot_at: datetime, trigger: str, *, run_id: str | None = None
    ) -> Awaitable[ExecutionResult]:
        return asyncio.ensure_future(self._post(integration_id, slot_at, trigger, run_id))

    async def _post(
        self, integration_id: str, slot_at: datetime, trigger: str, run_id: str | None
    ) -> ExecutionResult:
        await self.start()
        assert self._client is not None and self.settings.cron_secret is not None
        body = {
            "integrationId": integration_id,
            "slotAt": slot_at.isoformat(),
            "trigger": trigger,
            "runId": run_id,
        }
        try:
            response = await self._client.post(
                self.url, json=body, headers={"X-Cron-Secret": self.settings.cron_secret.get_secret_value()}
            )
        except httpx.HTTPError as exc:
            # str(exc) of httpx errors names the URL, never the headers: the secret cannot leak here.
            return ExecutionResult("failed", run_id, f"cannot reach {self.url}: {type(exc).__name__}: {exc}")
        payload = _json_or_empty(response)
        reported = payload.get("runId") or payload.get("run_id") or run_id
        reported_id = str(reported) if reported else None
        if response.status_code in (200, 202):
            status = payload.get("status")
            if status == "failed":
                return ExecutionResult("failed", reported_id, str(payload.get("error") or "run failed"))
            detail = None if response.status_code == 200 else "started via HTTP (202); still running"
            return ExecutionResult("ran", reported_id, detail)
        if response.status_code == 409:
            return ExecutionResult("skipped-running", None, "the API reports the integration already running")
        return ExecutionResult("failed", run_id, f"{self.url} answered HTTP {response.status_code}")


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


class ProcrastinateExecutor(Executor):
    """Defers a procrastinate job per slot; a worker runs it (see :mod:`softone_sync.schedule.worker`).

    The job carries ``queueing_lock = integration id``: while one job of an integration waits in the
    queue, the next slot is ``skipped-running`` instead of piling up. No procrastinate ``lock``: a job
    that reaches a worker while its integration runs elsewhere meets the lease (the authority) and is
    ``skipped-running`` at once, as the ``skip`` overlap policy says, instead of waiting in line.
    """

    def __init__(
        self, app: Any, *, task_name: str = SLOT_TASK_NAME, queue: str = SLOT_QUEUE, manage_app: bool = False
    ) -> None:
        self.app = app
        self.task_name = task_name
        self.queue = queue
        # True: this executor opens and closes the app (its connection pool); False: the caller does.
        self.manage_app = manage_app
        self._opened = False

    async def start(self) -> None:
        if self.manage_app and not self._opened:
            await self.app.open_async()
            self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.app.close_async()

    def submit(
        self, integration_id: str, slot_at: datetime, trigger: str, *, run_id: str | None = None
    ) -> Awaitable[ExecutionResult]:
        return asyncio.ensure_future(self._defer(integration_id, slot_at, trigger, run_id))

    async def _defer(
        self, integration_id: str, slot_at: datetime, trigger: str, run_id: str | None
    ) -> ExecutionResult:
        from procrastinate import exceptions

        await self.start()  # modes A/C dispatch without start()
        deferrer = self.app.configure_task(self.task_name, queue=self.queue, queueing_lock=integration_id)
        try:
            job_id = await deferrer.defer_async(
                integration_id=integration_id, slot_at=slot_at.isoformat(), trigger=trigger, run_id=run_id
            )
        except exceptions.AlreadyEnqueued:
            return ExecutionResult("skipped-running", None, "a job for this integration is already queued")
        except exceptions.ConnectorException as exc:
            cause = exc.__cause__ or exc
            return ExecutionResult(
                "failed",
                run_id,
                f"cannot defer the procrastinate job: {type(cause).__name__}: {str(cause).strip()} "
                "(is the schema applied? softone-sync worker --apply-schema)",
            )
        return ExecutionResult("queued", run_id, f"deferred to procrastinate job {job_id}", final=False)


def register_slot_task(
    app: Any,
    database: Callable[[], Awaitable[Database]],
    *,
    run_fn: RunFn | None = None,
    settings: Settings | None = None,
    owner: str | None = None,
) -> Any:
    """Register the worker side of :class:`ProcrastinateExecutor` on a procrastinate ``App``.

    See :func:`softone_sync.schedule.worker.register_slot_task`.
    """
    from softone_sync.schedule.worker import register_slot_task as register

    return register(app, database, run_fn=run_fn, settings=settings, owner=owner)


def procrastinate_conninfo(database_url: str) -> str:
    """The libpq URL procrastinate's PsycopgConnector wants, from our SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ExecutorConfigError(
            "EXECUTOR=procrastinate needs PostgreSQL (DATABASE_URL=postgresql://...); "
            "with SQLite use EXECUTOR=inline"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def executor_from_settings(db: Database, settings: Settings) -> Executor:
    """The executor ``EXECUTOR`` selects; :class:`ExecutorConfigError` (one line) when it cannot work.

    * ``inline``: runs in this process (``MAX_CONCURRENT_RUNS`` at once);
    * ``http``: ``POST {APP_URL}/api/cron/sync-integration`` (needs APP_URL and CRON_SECRET);
    * ``procrastinate``: defers one job per slot on this PostgreSQL database for
      ``softone-sync worker`` processes to run. The executor opens its own connection pool on start.
    """
    if settings.executor == "http":
        try:
            return HttpExecutor(settings)
        except ValueError as exc:
            raise ExecutorConfigError(f"EXECUTOR=http: {exc}") from None
    if settings.executor == "procrastinate":
        if db.dialect != "postgresql":
            raise ExecutorConfigError(
                "EXECUTOR=procrastinate needs PostgreSQL, but DATABASE_URL is SQLite; "
                "use EXECUTOR=inline (or http) with SQLite"
            )
        from softone_sync.schedule.worker import procrastinate_app

        return ProcrastinateExecutor(procrastinate_app(settings.database_url), manage_app=True)
    return InlineExecutor(db, settings)
