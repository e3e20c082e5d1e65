"""``softone-sync worker``: a procrastinate worker running the slots that schedulers defer."""

from __future__ import annotations

import asyncio

import typer

from softone_sync.cli.common import EXIT_USAGE, fail, settings_or_exit
from softone_sync.schedule.executors import SLOT_QUEUE


def worker_command(
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, max=256, help="Slots run at once (default: MAX_CONCURRENT_RUNS)."
    ),
    queues: str = typer.Option(
        SLOT_QUEUE, "--queues", help="Comma-separated procrastinate queues to take jobs from ('*': all)."
    ),
    apply_schema: bool = typer.Option(
        False,
        "--apply-schema",
        help="Create procrastinate's tables in DATABASE_URL if missing (idempotent), then exit.",
    ),
) -> None:
    """Run scheduled slots deferred by schedulers with EXECUTOR=procrastinate (PostgreSQL only).

    Start as many workers as you like, on any hosts; each slot still runs at most once and each
    integration at most once at a time. SIGTERM / Ctrl-C stops after the running slots finish.
    """
    from softone_sync.logging import setup_logging
    from softone_sync.schedule.executors import ExecutorConfigError
    from softone_sync.schedule.worker import WorkerError, run_worker
    from softone_sync.schedule.worker import apply_schema as apply

    settings = settings_or_exit()
    setup_logging(settings)
    if settings.is_sqlite:
        fail(
            "the procrastinate worker needs PostgreSQL, but DATABASE_URL is SQLite; "
            "with SQLite the scheduler runs syncs itself (EXECUTOR=inline)",
            code=EXIT_USAGE,
        )
    if apply_schema:
        try:
            created = asyncio.run(apply(settings.database_url))
        except ExecutorConfigError as exc:
            fail(str(exc), code=EXIT_USAGE)
        except Exception as exc:  # psycopg's errors: one line, no traceback
            fail(f"applying procrastinate's schema failed: {type(exc).__name__}: {str(exc).strip()}")
        typer.echo("procrastinate schema applied" if created else "procrastinate schema already present")
        return
    names = [name.strip() for name in queues.split(",") if name.strip()]
    try:
        asyncio.run(run_worker(settings, concurrency=concurrency, queues=None if names == ["*"] else names))
    except WorkerError as exc:
        fail(str(exc), code=EXIT_USAGE)
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"the worker stopped: {type(exc).__name__}: {exc}")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.command("worker")(worker_command)
