"""CLI commands of the sync part: ``softone-sync sync ID`` and ``softone-sync integration validate ID``.

Exit codes: 0 success, 1 the run failed or was held (or a validation check failed), 2 usage or
configuration error (unknown id, invalid configJson, bad settings) with a one-line message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from softone_sync.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    database_error_reason,
    fail,
    settings_or_exit,
    with_db,
)
from softone_sync.config import Settings
from softone_sync.db.engine import Database
from softone_sync.sync.config import IntegrationConfigError
from softone_sync.sync.doctor import Check, all_ok, checks_as_json, validate_integration
from softone_sync.sync.run import (
    AlreadyRunning,
    IntegrationNotFound,
    ProgressEvent,
    RunResult,
    run_integration,
)

T = TypeVar("T")

err = Console(stderr=True)
out = Console()


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app.

    ``integration validate`` joins the one ``integration`` group of the CLI (cli/serve.py owns it and
    calls :func:`add_integration_commands`).
    """
    app.command("sync", help="Run one integration now (ERP → table).")(sync_command)


def add_integration_commands(group: typer.Typer) -> None:
    """Add ``validate`` to an ``integration`` command group."""
    group.command("validate", help="Check an integration end to end before it runs.")(validate_command)


def sync_command(
    integration_id: str = typer.Argument(..., help="The integration's id or name."),
    full: bool = typer.Option(False, "--full", help="Read everything, ignoring the incremental cursor."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    force: bool = typer.Option(False, "--force", help="Apply a change the guard would hold."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress bar)."),
) -> None:
    async def work(db: Database, settings: Settings) -> RunResult:
        options: dict[str, Any] = {"trigger": "cli", "full": full, "dry_run": dry_run, "force": force}
        resolved = await _resolve(db, integration_id)
        if as_json or not err.is_terminal:
            return await run_integration(db, resolved, settings=settings, **options)
        with _ProgressBar() as on_event:
            return await run_integration(db, resolved, settings=settings, progress=on_event, **options)

    result = _run(work)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
    else:
        _print_result(result)
    raise typer.Exit(EXIT_OK if result.status == "succeeded" else EXIT_FAILED)


def validate_command(
    integration_id: str = typer.Argument(..., help="The integration's id or name."),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    async def work(db: Database, settings: Settings) -> list[Check]:
        return await validate_integration(db, await _resolve(db, integration_id), settings=settings)

    checks = _run(work)
    if as_json:
        out.print_json(json.dumps(checks_as_json(checks)))
    else:
        table = Table(title=f"integration {integration_id}", show_lines=False)
        table.add_column("check")
        table.add_column("")
        table.add_column("message", overflow="fold")
        table.add_column("hint", overflow="fold", style="dim")
        for check in checks:
            mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
            table.add_row(check.name, mark, check.message, check.hint)
        out.print(table)
    raise typer.Exit(EXIT_OK if all_ok(checks) else EXIT_FAILED)


# ---------------------------------------------------------------------- plumbing


async def _resolve(db: Database, id_or_name: str) -> str:
    """Integrations are addressed by id or by name, as in the other commands."""
    from softone_sync import services

    try:
        return (await services.find_integration(db, id_or_name)).id
    except services.NotFound:
        raise IntegrationNotFound(id_or_name) from None


def _run(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Open the database from settings, run ``work``, turn known errors into one line and an exit code.

    On top of :func:`~softone_sync.cli.common.with_db` (service errors): the run engine's own errors.
    The schema is never migrated here: a sync against an unmigrated database says so instead.
    """
    settings = settings_or_exit()  # fresh: one CLI invocation, one reading of the environment
    try:
        return with_db(settings, lambda db: work(db, settings), upgrade=False)
    except (IntegrationConfigError, LookupError) as exc:  # LookupError covers IntegrationNotFound
        fail(str(exc), EXIT_USAGE)
    except AlreadyRunning as exc:
        fail(str(exc), EXIT_FAILED)
    except SQLAlchemyError as exc:
        fail(
            f"database error: {database_error_reason(exc)} "
            "(is DATABASE_URL right, and migrated with `softone-sync db upgrade`?)",
            EXIT_USAGE,
        )
    except KeyboardInterrupt:
        fail("interrupted", 130)


class _ProgressBar:
    """A rich progress bar fed by run progress events: rows, rows/s and pages."""

    def __enter__(self) -> Callable[[ProgressEvent], None]:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rows/s · {task.fields[pages]} pages"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.task = self.progress.add_task("fetching", total=None, rate="-", pages=0)
        self.progress.start()
        return self.on_event

    def on_event(self, event: ProgressEvent) -> None:
        task = self.progress.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{event.fetched / elapsed:,.0f}" if elapsed > 0 else "-"
        label = {"preview": "previewing", "write": "writing", "delete": "deleting", "done": "done"}[
            event.phase
        ]
        self.progress.update(
            self.task,
            description=label,
            completed=event.fetched,
            total=event.total,
            rate=rate,
            pages=event.pages,
        )

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print_result(result: RunResult) -> None:
    colour = {"succeeded": "green", "held": "yellow"}.get(result.status, "red")
    title = f"run {result.run_id} — [{colour}]{result.status}[/{colour}]" + (
        " (dry run)" if result.dry_run else ""
    )
    table = Table(title=title, show_header=True)
    for name in ("fetched", "created", "updated", "unchanged", "deleted", "failed", "seconds"):
        table.add_column(name, justify="right")
    table.add_row(
        *(
            str(getattr(result, n))
            for n in ("fetched", "created", "updated", "unchanged", "deleted", "failed")
        ),
        f"{result.duration:.2f}",
    )
    out.print(table)
    if result.preview is not None:
        samples = result.preview.get("samples", {})
        for kind in ("create", "update"):
            for sample in samples.get(kind, []):
                out.print(f"  would {kind} {sample['key']}: {sample['changes']}", highlight=False)
    if result.stats.get("direction"):
        out.print(f"[dim]{result.stats['direction']}[/dim]")
    if result.error:
        stream = err if result.status == "failed" else out
        stream.print(f"{result.status}: {result.error}", highlight=False, soft_wrap=True)
    sys.stdout.flush()
