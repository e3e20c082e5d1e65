"""``softone-sync runs``: the run history an operator reads first ("did it run, what did it do?")."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from softone_sync.cli.common import print_json, settings_or_exit, with_db

STAT_COLUMNS = ("fetched", "created", "updated", "unchanged", "deleted", "failed", "pushed")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_command)


def runs_command(
    integration: str | None = typer.Option(None, "--integration", "-i", help="Integration id or name."),
    failed: bool = typer.Option(False, "--failed", help="Only failed runs."),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status (e.g. held)."),
    limit: int = typer.Option(20, "--limit", min=1, max=10_000, help="How many of the latest runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
) -> None:
    """List the latest sync runs with their statistics, newest first."""
    from softone_sync import services

    wanted = "failed" if failed else status

    async def load(db: Any) -> list[dict[str, Any]]:
        integration_id = None
        names = {i.id: i.name for i in await services.list_integrations(db)}
        if integration is not None:
            integration_id = (await services.find_integration(db, integration)).id
        runs = await services.list_runs(db, integration_id=integration_id, status=wanted, limit=limit)
        return [
            {
                "id": r.id,
                "integration": names.get(r.integration_id, r.integration_id),
                "integrationId": r.integration_id,
                "trigger": r.trigger,
                "status": r.status,
                "dryRun": r.dry_run,
                "startedAt": r.started_at,
                "finishedAt": r.finished_at,
                "seconds": (r.finished_at - r.started_at).total_seconds() if r.finished_at else None,
                **{
                    k: getattr(r, k)
                    for k in ("fetched", "created", "updated", "unchanged", "deleted", "failed")
                },
                "pushed": r.pushed,
                "error": r.error,
            }
            for r in runs
        ]

    rows = with_db(settings_or_exit(), load)
    if as_json:
        print_json(rows)
        return
    table = Table(title="sync runs (newest first)")
    for column in ("started (UTC)", "integration", "status", "rows", "seconds"):
        table.add_column(column, overflow="fold")
    for r in rows:
        status_text = r["status"] + (" (dry run)" if r["dryRun"] else "")
        style = "red" if r["status"] == "failed" else "yellow" if r["status"] == "held" else ""
        if r["error"]:
            status_text += f": {r['error']}"
        counts = f"{r['fetched']:,} fetched +{r['created']:,} ~{r['updated']:,} ={r['unchanged']:,}"
        counts += f" -{r['deleted']:,}" if r["deleted"] else ""
        counts += f" !{r['failed']:,}" if r["failed"] else ""
        table.add_row(
            r["startedAt"].strftime("%Y-%m-%d %H:%M:%S"),
            f"{r['integration']} ({r['trigger']})",
            f"[{style}]{status_text}[/{style}]" if style else status_text,
            counts,
            f"{r['seconds']:.2f}" if r["seconds"] is not None else "running",
        )
    Console().print(table)
    typer.echo("rows: +created ~updated =unchanged -deleted !failed")
