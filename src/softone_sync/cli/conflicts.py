"""``softone-sync conflicts``: two-way records changed on both sides that wait for a person.

``conflicts`` lists them (both versions side by side with the baseline they diverged from);
``conflicts resolve ID --side erp|app`` keeps one side's values, which the next run applies.
Exit codes as everywhere (cli/common.py): 2 for an unknown id or a bad side, 1 for a conflict that
was already resolved.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from softone_sync import services
from softone_sync.cli.common import print_json, settings_or_exit, with_db

conflicts_app = typer.Typer(
    name="conflicts",
    help="Two-way conflicts: list them, keep the ERP's or the application's values.",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.add_typer(conflicts_app, name="conflicts")


@conflicts_app.callback()
def conflicts_command(
    ctx: typer.Context,
    integration: str | None = typer.Option(None, "--integration", "-i", help="Integration id or name."),
    all_: bool = typer.Option(False, "--all", help="Resolved ones too (default: open only)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (what the API returns)."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
) -> None:
    """List conflicts, newest first: each conflicting field's app value, ERP value and baseline."""
    if ctx.invoked_subcommand is not None:
        return
    from softone_sync.api.schemas import conflict_view

    status = "all" if all_ else "open"

    async def load(db: Any) -> tuple[list[Any], dict[str, str]]:
        integration_id = None
        if integration is not None:
            integration_id = (await services.find_integration(db, integration)).id
        found = await services.list_conflicts(db, integration_id=integration_id, status=status, limit=limit)
        names = {row.id: row.name for row in await services.list_integrations(db)}
        return found, names

    found, names = with_db(settings_or_exit(), load)
    if as_json:
        print_json({"status": status, "conflicts": [conflict_view(c) for c in found]})
        return
    if not found:
        typer.echo("no open conflicts" if status == "open" else "no conflicts")
        return
    for conflict in found:
        _print_conflict(conflict, names.get(conflict.integration_id, conflict.integration_id))


def _text(value: Any) -> str:
    if value is None:
        return "∅"  # NULL, distinct from an empty string
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _print_conflict(conflict: Any, integration_name: str) -> None:
    state = conflict.status
    if conflict.resolution:
        state += f", keep {conflict.resolution}"
    erp_id = f" (ERP id {conflict.erp_id})" if conflict.erp_id else ""
    typer.echo(
        f"conflict {conflict.id}  {integration_name}  record {conflict.record_key}{erp_id}  [{state}]  "
        f"since {conflict.created_at:%Y-%m-%d %H:%M} UTC"
    )
    baseline = conflict.baseline or {}
    rows = [("field", "app", "ERP", "baseline")] + [
        (name, _text(conflict.app.get(name)), _text(conflict.erp.get(name)), _text(baseline.get(name)))
        for name in conflict.fields
    ]
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(4)]
    for row in rows:
        typer.echo("  " + "  ".join(cell[:40].ljust(width) for cell, width in zip(row, widths, strict=True)))
    if conflict.status == "open":
        typer.echo(f"  resolve: softone-sync conflicts resolve {conflict.id} --side erp|app")
    typer.echo("")


@conflicts_app.command("resolve")
def resolve_command(
    conflict_id: int = typer.Argument(..., help="The conflict's id (from `softone-sync conflicts`)."),
    side: str = typer.Option(..., "--side", help="Whose values to keep: 'erp' or 'app'."),
) -> None:
    """Keep the ERP's or the application's values for a conflict; the next run applies the choice."""
    chosen = side.strip().lower()
    resolution = with_db(settings_or_exit(), lambda db: services.resolve_conflict(db, conflict_id, chosen))
    whose = "the ERP's" if resolution.side == "erp" else "the application's"
    typer.echo(
        f"conflict {resolution.conflict_id} (record {resolution.record_key}): keeping {whose} values; "
        "the next run of the integration applies it"
    )
