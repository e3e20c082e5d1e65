"""CLI commands of the cron part: ``softone-sync cron check|slots|run``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from softone_sync.config import Settings
from softone_sync.schedule.cron import CronError, parse_schedule

cron_app = typer.Typer(
    help="Cron schedules: check an expression, see what happened to an integration's slots."
)


@cron_app.command("check")
def check(
    expression: str = typer.Argument(
        ..., help='Cron expression, e.g. "*/15 * * * *" or "0 */5 * * * *" (seconds first).'
    ),
    tz: str = typer.Option("UTC", "--tz", help="IANA timezone the schedule runs in, e.g. Europe/Athens."),
    count: int = typer.Option(5, "--count", min=1, max=100, help="How many fire times to show."),
) -> None:
    """Validate EXPRESSION and print its next fire times in local time and UTC."""
    console = Console()
    try:
        schedule = parse_schedule(expression, tz)
    except CronError as exc:
        Console(stderr=True).print(f"[red]invalid:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    table = Table(title=f"{schedule.expression}  ({schedule.timezone})")
    table.add_column("#", justify="right")
    table.add_column(f"local ({schedule.timezone})")
    table.add_column("UTC")
    for number, instant in enumerate(schedule.preview(count, datetime.now(UTC)), start=1):
        local = instant.astimezone(schedule.tz)
        table.add_row(
            str(number), local.strftime("%a %Y-%m-%d %H:%M:%S %Z"), instant.strftime("%Y-%m-%d %H:%M:%S")
        )
    console.print(table)


@cron_app.command("slots")
def slots(
    integration_id: str = typer.Argument(..., help="Integration id or name."),
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="How many of the latest slots to show."),
) -> None:
    """Show the latest scheduled slots of an integration and their outcomes."""
    asyncio.run(_slots(integration_id, limit))


async def _slots(integration_id: str, limit: int) -> None:
    from softone_sync import services
    from softone_sync.cli.common import EXIT_USAGE, fail, settings_or_exit
    from softone_sync.db.engine import open_database
    from softone_sync.schedule.store import list_slots

    console = Console()
    settings = settings_or_exit()
    db = await open_database(settings.database_url, upgrade=settings.is_sqlite)
    try:
        try:
            found = await services.find_integration(db, integration_id)
        except services.ServiceError as exc:
            fail(str(exc), code=EXIT_USAGE)
        integration_id = found.id
        row = (found.name, found.configJson)
        schedule = (row[1] or {}).get("schedule") or {}
        tz_name = schedule.get("timezone") or "UTC"
        try:
            tz = parse_schedule("* * * * *", tz_name).tz
        except CronError:
            tz = parse_schedule("* * * * *").tz
        records = await list_slots(db, integration_id, limit=limit)
    finally:
        await db.dispose()
    table = Table(title=f"{row[0]}  {schedule.get('cronExpression', '(no schedule)')}  ({tz_name})")
    for column in ("slot (local)", "slot (UTC)", "outcome", "run", "detail"):
        table.add_column(column)
    colours = {"ran": "green", "failed": "red", "missed": "yellow", "skipped-running": "yellow"}
    for record in records:
        colour = colours.get(record.outcome, "")
        table.add_row(
            record.slot_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
            record.slot_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"[{colour}]{record.outcome}[/{colour}]" if colour else record.outcome,
            record.run_id or "",
            record.detail or "",
        )
    console.print(table)


@cron_app.command("run")
def run(
    grace: float = typer.Option(
        30.0, "--grace", min=0, help="Seconds running syncs get to finish on SIGTERM / Ctrl-C."
    ),
) -> None:
    """Run the scheduler alone, without the HTTP API: claim due slots and hand them to EXECUTOR.

    EXECUTOR=inline runs the syncs in this process, http posts them to APP_URL, procrastinate defers
    them to `softone-sync worker` processes. Any number of schedulers may share one PostgreSQL
    database: each slot is claimed by exactly one.
    """
    from softone_sync.cli.common import EXIT_USAGE, fail, settings_or_exit
    from softone_sync.logging import setup_logging
    from softone_sync.schedule.executors import ExecutorConfigError

    settings = settings_or_exit()
    setup_logging(settings)
    try:
        asyncio.run(_run_scheduler(settings, grace))
    except ExecutorConfigError as exc:
        fail(str(exc), code=EXIT_USAGE)


async def _run_scheduler(settings: Settings, grace: float) -> None:
    import signal

    from softone_sync.db.engine import open_database
    from softone_sync.schedule.executors import executor_from_settings
    from softone_sync.schedule.manager import CronManager

    db = await open_database(settings.database_url, upgrade=settings.is_sqlite)
    try:
        manager = CronManager(db, settings, executor=executor_from_settings(db, settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await manager.start()
        try:
            await stop.wait()
        finally:
            await manager.stop(grace=grace)
    finally:
        await db.dispose()


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.add_typer(cron_app, name="cron")
    # "Why didn't it run?" is asked often enough to deserve a top-level verb too.
    app.command("slots", help="Show the latest scheduled slots of an integration and their outcomes.")(slots)
