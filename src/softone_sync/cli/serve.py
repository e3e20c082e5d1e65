"""``softone-sync serve``, ``demo``, and the ``connection`` / ``integration`` management commands
(``integration add|edit|list|show|enable|disable|remove``).

The management commands are thin wrappers over :mod:`softone_sync.services`, the same functions the
HTTP API calls, so the CLI and the API validate and reschedule identically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from softone_sync import services
from softone_sync.cli.common import fail, print_json, settings_or_exit, with_db

T = TypeVar("T")

connection_app = typer.Typer(
    name="connection", help="SoftOne connections (passwords stored encrypted).", no_args_is_help=True
)
integration_app = typer.Typer(
    name="integration", help="Integrations: what to sync, where, and when.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.command("serve")(serve_command)
    app.command("demo")(demo_command)
    app.add_typer(connection_app, name="connection")
    from softone_sync.cli import sync

    sync.add_integration_commands(integration_app)
    app.add_typer(integration_app, name="integration")


# ---------------------------------------------------------------------------------------- serve


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    no_scheduler: bool = typer.Option(
        False, "--no-scheduler", help="Serve the API only; schedules advance via /api/cron/init (mode C)."
    ),
) -> None:
    """Run the HTTP API and the scheduler (mode B) with uvicorn; Ctrl-C / SIGTERM stops gracefully."""
    import uvicorn

    from softone_sync.api import create_app
    from softone_sync.logging import setup_logging

    settings = settings_or_exit()
    setup_logging(settings)
    app = create_app(settings, scheduler=not no_scheduler)
    # proxy_headers off: TRUSTED_PROXIES is the one place that decides whether X-Forwarded-For is
    # believed (uvicorn would otherwise rewrite the client address from it for 127.0.0.1 peers).
    uvicorn.run(app, host=host, port=port, proxy_headers=False, log_config=None, access_log=False)


# ---------------------------------------------------------------------------------------- connection


@connection_app.command("add")
def connection_add(
    name: str = typer.Option(..., "--name", help="A unique name for this connection."),
    url: str = typer.Option(
        ..., "--url", help="The S1 web services URL, e.g. https://NAME.oncloud.gr/s1services"
    ),
    username: str = typer.Option(..., "--username"),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        envvar="SOFTONE_PASSWORD",
        help="Prompted when omitted.",
    ),
    app_id: str = typer.Option(..., "--app-id", help="The Web Service appId defined in SoftOne."),
    company: str | None = typer.Option(None, "--company"),
    branch: str | None = typer.Option(None, "--branch"),
    module: str | None = typer.Option(None, "--module"),
    refid: str | None = typer.Option(None, "--refid"),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds per ERP request."),
    erp_timezone: str = typer.Option("Europe/Athens", "--erp-timezone"),
) -> None:
    """Add a SoftOne connection (the password is encrypted with SECRET_KEY)."""
    from pydantic import SecretStr, ValidationError

    from softone_sync.api.schemas import ConnectionCreate

    try:
        spec = ConnectionCreate(
            name=name,
            baseUrl=url,
            username=username,
            password=SecretStr(password),
            appId=app_id,
            company=company,
            branch=branch,
            module=module,
            refid=refid,
            timeoutSeconds=timeout,
            erpTimezone=erp_timezone,
        )
    except ValidationError as exc:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), code=2)
    settings = settings_or_exit()
    row = with_db(settings, lambda db: services.create_connection(db, settings, spec))
    typer.echo(f"connection {row.name} added (id {row.id})")


@connection_app.command("list")
def connection_list() -> None:
    """List connections (never their passwords)."""
    rows = with_db(settings_or_exit(), services.list_connections)
    if not rows:
        typer.echo("no connections; add one with `softone-sync connection add`")
    for row in rows:
        typer.echo(
            f"{row.id}  {row.name:<24} {row.username}@{row.baseUrl}  appId={row.appId} company={row.company}"
        )


@connection_app.command("test")
def connection_test(connection: str = typer.Argument(..., help="Connection id or name.")) -> None:
    """Log in and authenticate; print the ERP version and the company reached."""
    settings = settings_or_exit()

    async def run(db: Any) -> services.ConnectionTestResult:
        row = await services.find_connection(db, connection)
        return await services.test_connection(db, settings, row.id)

    result = with_db(settings, run)
    if not result.ok:
        fail(f"{result.error_type}: {result.error}")
    typer.echo(
        f"ok: {result.company_name or '?'} (company {result.company}, branch {result.branch}), "
        f"SoftOne {result.version or '?'}, in {result.elapsed_seconds:.2f}s"
    )


@connection_app.command("remove")
def connection_remove(connection: str = typer.Argument(..., help="Connection id or name.")) -> None:
    """Remove a connection no integration uses."""

    async def run(db: Any) -> str:
        row = await services.find_connection(db, connection)
        await services.delete_connection(db, row.id)
        return row.name

    typer.echo(f"connection {with_db(settings_or_exit(), run)} removed")


# ---------------------------------------------------------------------------------------- integration


def _read_config(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}", code=2)
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{path} is not valid JSON: {exc}", code=2)
    if not isinstance(value, dict):
        fail(f"{path} must hold a JSON object (the configJson)", code=2)
    return value


@integration_app.command("add")
def integration_add(
    name: str = typer.Option(..., "--name"),
    connection: str = typer.Option(..., "--connection", help="Connection id or name."),
    config: str = typer.Option(..., "--config", help="configJson file ('-' for stdin)."),
    inactive: bool = typer.Option(False, "--inactive", help="Create it disabled."),
) -> None:
    """Add an integration; configJson and its schedule are validated first."""
    from softone_sync.api.schemas import IntegrationCreate

    config_json = _read_config(config)
    settings = settings_or_exit()

    async def run(db: Any) -> Any:
        conn = await services.find_connection(db, connection)
        spec = IntegrationCreate(
            name=name, connectionId=conn.id, configJson=config_json, isActive=not inactive
        )
        return await services.create_integration(db, spec, manager=services.build_manager(db, settings))

    row = with_db(settings, run)
    typer.echo(f"integration {row.name} added (id {row.id}), next run {row.nextRunAt or '-'}")


def _parse_set(assignment: str) -> tuple[list[str], Any]:
    path, sep, raw = assignment.partition("=")
    keys = path.strip().split(".")
    if not sep or not all(keys):
        fail(f"--set {assignment!r}: expected KEY=VALUE, e.g. schedule.cronExpression='*/5 * * * *'", code=2)
    try:
        value: Any = json.loads(raw)  # numbers, true/false, null, lists and objects as JSON
    except ValueError:
        value = raw  # anything else is a string: no quoting needed for text
    return keys, value


def _apply_sets(config: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    for assignment in assignments:
        keys, value = _parse_set(assignment)
        node = config
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if not isinstance(child, dict):
                fail(
                    f"--set {assignment!r}: configJson.{'.'.join(keys[: depth + 1])} is not an object", code=2
                )
            node = child
        node[keys[-1]] = value
    return config


@integration_app.command("edit")
def integration_edit(
    integration: str = typer.Argument(..., help="Integration id or name."),
    config: str | None = typer.Option(None, "--config", help="New configJson file ('-' for stdin)."),
    assignments: list[str] = typer.Option(
        [],
        "--set",
        help="Change one configJson key (dotted path), e.g. --set direction=two-way "
        "--set schedule.cronExpression='0 * * * *'. Values are JSON when they parse, text otherwise.",
    ),
    name: str | None = typer.Option(None, "--name", help="Rename it."),
    connection: str | None = typer.Option(None, "--connection", help="Connection id or name."),
) -> None:
    """Change an integration: validated like `add`, rescheduled at once; two-way capture follows
    ``direction`` (installed when switched to two-way, removed when switched to one-way)."""
    from softone_sync.api.schemas import IntegrationUpdate

    new_config = _read_config(config) if config is not None else None
    if new_config is None and not assignments and name is None and connection is None:
        fail("nothing to change: give --config, --set, --name or --connection", code=2)
    settings = settings_or_exit()

    async def run(db: Any) -> Any:
        row = await services.find_integration(db, integration)
        changes: dict[str, Any] = {}
        if new_config is not None or assignments:
            base = new_config if new_config is not None else dict(row.configJson or {})
            changes["configJson"] = _apply_sets(json.loads(json.dumps(base)), assignments)
        if name is not None:
            changes["name"] = name
        if connection is not None:
            changes["connectionId"] = (await services.find_connection(db, connection)).id
        try:
            patch = IntegrationUpdate(**changes)
        except ValidationError as exc:
            raise services.InvalidInput(
                [{"field": ".".join(map(str, e["loc"])) or "body", "message": e["msg"]} for e in exc.errors()]
            ) from None
        updated = await services.update_integration(
            db, row.id, patch, manager=services.build_manager(db, settings)
        )
        return updated, (await services.two_way_states(db, [updated])).get(updated.id)

    row, two_way = with_db(settings, run)
    typer.echo(f"integration {row.name} updated, next run {row.nextRunAt or '-'}")
    if two_way is not None:
        typer.echo(
            f"two-way: capture {'installed' if two_way.capture_installed else 'NOT installed'}, "
            f"{two_way.pending_changes} change(s) waiting to be pushed, "
            f"{two_way.open_conflicts} open conflict(s)"
        )


@integration_app.command("list")
def integration_list() -> None:
    """List integrations with their state and next run."""
    rows = with_db(settings_or_exit(), services.list_integrations)
    if not rows:
        typer.echo("no integrations; add one with `softone-sync integration add`")
    for row in rows:
        state = "active  " if row.isActive else "inactive"
        cron = (row.configJson.get("schedule") or {}).get("cronExpression", "-")
        typer.echo(
            f"{row.id}  {row.name:<24} {state} cron={cron!s:<14} "
            f"next={row.nextRunAt or '-'} last={row.lastSyncAt or '-'}"
        )


@integration_app.command("show")
def integration_show(integration: str = typer.Argument(..., help="Integration id or name.")) -> None:
    """Print one integration as JSON (what GET /api/integrations/{id} returns)."""
    from softone_sync.api.schemas import integration_view

    async def run(db: Any) -> dict[str, Any]:
        row = await services.find_integration(db, integration)
        return integration_view(row, (await services.two_way_states(db, [row])).get(row.id))

    print_json(with_db(settings_or_exit(), run))


def _set_active(integration: str, active: bool) -> None:
    settings = settings_or_exit()

    async def run(db: Any) -> Any:
        row = await services.find_integration(db, integration)
        manager = services.build_manager(db, settings)
        return await services.set_integration_active(db, row.id, active, manager=manager)

    row = with_db(settings, run)
    typer.echo(
        f"integration {row.name} {'enabled' if active else 'disabled'}, next run {row.nextRunAt or '-'}"
    )


@integration_app.command("enable")
def integration_enable(integration: str = typer.Argument(..., help="Integration id or name.")) -> None:
    """Enable (validates its configJson and schedules it)."""
    _set_active(integration, True)


@integration_app.command("disable")
def integration_disable(integration: str = typer.Argument(..., help="Integration id or name.")) -> None:
    """Disable: no more scheduled runs (a running one finishes); two-way capture keeps recording."""
    _set_active(integration, False)


@integration_app.command("remove")
def integration_remove(integration: str = typer.Argument(..., help="Integration id or name.")) -> None:
    """Remove an integration with its run history, slot log, rejects and two-way capture triggers
    (not its target table)."""
    settings = settings_or_exit()

    async def run(db: Any) -> str:
        row = await services.find_integration(db, integration)
        await services.delete_integration(db, row.id, manager=services.build_manager(db, settings))
        return row.name

    typer.echo(f"integration {with_db(settings, run)} removed")


# ---------------------------------------------------------------------------------------- demo


def demo_command(
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port of the API (loopback)."),
    customers: int = typer.Option(2000, "--customers", min=1, help="Customers in the simulated ERP."),
    items: int = typer.Option(500, "--items", min=1, help="Items in the simulated ERP."),
    var_dir: Path = typer.Option(
        Path("var"), "--var-dir", help="Where the demo keeps its database and secrets."
    ),
) -> None:
    """The product end to end on this machine: simulated ERP, SQLite, two integrations, API + scheduler."""
    from softone_sync.cli.demo import run_demo

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the demo ends
        asyncio.run(run_demo(port=port, customers=customers, items=items, var_dir=var_dir.resolve()))
