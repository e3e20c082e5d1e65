"""``softone-sync demo``: the whole product on one machine, in one command, idempotent on re-run.

It starts the SoftOne simulator in-process on a loopback port, keeps a SQLite database and the
generated secrets under ``./var/``, creates the demo *application* tables ``customers`` and
``items`` (here the demo plays the application — the service itself never creates application
tables), a demo connection and two integrations, runs a first sync at once, then serves the API with
its scheduler until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from softone_sync import services
from softone_sync.config import Settings, load_settings

CONNECTION_NAME = "demo-erp"
CUSTOMERS_INTEGRATION = "demo customers"
ITEMS_INTEGRATION = "demo items"

# The demo application's tables. A unique key on the synced identifier is what the writers need.
DEMO_TABLES = sa.MetaData()
sa.Table(
    "customers",
    DEMO_TABLES,
    sa.Column("code", sa.String(25), primary_key=True),
    sa.Column("erp_id", sa.Integer),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("afm", sa.String(20)),
    sa.Column("city", sa.String(50)),
    sa.Column("phone", sa.String(30)),
    sa.Column("is_active", sa.Boolean),
)
sa.Table(
    "items",
    DEMO_TABLES,
    sa.Column("code", sa.String(50), primary_key=True),
    sa.Column("erp_id", sa.Integer),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("item_group", sa.Integer),
    sa.Column("price", sa.Numeric(12, 2)),
    sa.Column("is_active", sa.Boolean),
)


def customers_config(cron: str = "* * * * *") -> dict[str, Any]:
    """One-way ERP → app, every minute: the default CUSTOMER browser into ``customers``."""
    return {
        "source": {"object": "CUSTOMER", "list": ""},
        "mappings": [
            {"erpField": "$key", "column": "erp_id", "convert": "int"},
            {"erpField": "CUSTOMER.CODE", "column": "code"},
            {"erpField": "CUSTOMER.NAME", "column": "name", "convert": "strip"},
            {"erpField": "CUSTOMER.AFM", "column": "afm"},
            {"erpField": "CUSTOMER.CITY", "column": "city"},
            {"erpField": "CUSTOMER.PHONE01", "column": "phone"},
            {"erpField": "CUSTOMER.ISACTIVE", "column": "is_active", "convert": "bool"},
        ],
        "uniqueIdentifiers": ["CUSTOMER.CODE"],
        "target": {"table": "customers"},
        "schedule": {"cronExpression": cron, "timezone": "Europe/Athens"},
    }


def items_config(cron: str = "*/5 * * * *") -> dict[str, Any]:
    """One-way ERP → app, every five minutes: the default ITEM browser into ``items``."""
    return {
        "source": {"object": "ITEM", "list": ""},
        "mappings": [
            {"erpField": "$key", "column": "erp_id", "convert": "int"},
            {"erpField": "ITEM.CODE", "column": "code"},
            {"erpField": "ITEM.NAME", "column": "name", "convert": "strip"},
            {"erpField": "ITEM.MTRGROUP", "column": "item_group", "convert": "int"},
            {"erpField": "ITEM.PRICER", "column": "price", "convert": "decimal"},
            {"erpField": "ITEM.ISACTIVE", "column": "is_active", "convert": "bool"},
        ],
        "uniqueIdentifiers": ["ITEM.CODE"],
        "target": {"table": "items"},
        "schedule": {"cronExpression": cron, "timezone": "Europe/Athens"},
    }


# ---------------------------------------------------------------------------------------- secrets


def load_demo_env(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of ``var/demo.env``, generating and persisting what is missing.

    The process environment wins (an operator's CRON_SECRET stays theirs); otherwise the value
    persisted by an earlier run is kept, so re-runs print the same token and can decrypt the stored
    password.
    """
    import os

    stored: dict[str, str] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                stored[key.strip()] = value.strip()
    generators: dict[str, Callable[[], str]] = {
        "CRON_SECRET": lambda: secrets.token_hex(24),
        "ADMIN_TOKEN": lambda: secrets.token_hex(24),
        "SECRET_KEY": lambda: Fernet.generate_key().decode("ascii"),
    }
    values = dict(stored)
    for key, generate in generators.items():
        values[key] = os.environ.get(key) or stored.get(key) or generate()
    if values != stored:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "# softone-sync demo secrets (generated; keep private). `set -a; . var/demo.env` to reuse.\n"
        body += "".join(f"{key}={value}\n" for key, value in values.items())
        path.write_text(body, encoding="utf-8")
        path.chmod(0o600)
    return values


# ---------------------------------------------------------------------------------------- setup


async def prepare(db: Any, settings: Settings, erp_url: str) -> list[str]:
    """Tables, connection and integrations, created or brought up to date; returns integration ids."""
    from softone_sync.api.schemas import (
        ConnectionCreate,
        ConnectionUpdate,
        IntegrationCreate,
        IntegrationUpdate,
    )

    async with db.engine.begin() as conn:
        await conn.run_sync(DEMO_TABLES.create_all)  # CREATE TABLE IF NOT EXISTS, per table

    password = SecretStr("demo")
    connection = next((c for c in await services.list_connections(db) if c.name == CONNECTION_NAME), None)
    if connection is None:
        connection = await services.create_connection(
            db,
            settings,
            ConnectionCreate(
                name=CONNECTION_NAME,
                baseUrl=erp_url,
                username="demo",
                password=password,
                appId="1001",
                company="1000",
                branch="1000",
                module="0",
                refid="500",
            ),
        )
    else:  # the simulator got a new port; the key may have been regenerated
        connection = await services.update_connection(
            db, settings, connection.id, ConnectionUpdate(baseUrl=erp_url, password=password)
        )

    manager = services.build_manager(db, settings)
    existing = {i.name: i for i in await services.list_integrations(db)}
    ids = []
    for name, config in ((CUSTOMERS_INTEGRATION, customers_config()), (ITEMS_INTEGRATION, items_config())):
        if name in existing:
            row = await services.update_integration(
                db,
                existing[name].id,
                IntegrationUpdate(connectionId=connection.id, configJson=config, isActive=True),
                manager=manager,
            )
        else:
            row = await services.create_integration(
                db,
                IntegrationCreate(name=name, connectionId=connection.id, configJson=config),
                manager=manager,
            )
        ids.append(row.id)
    return ids


async def first_sync(db: Any, settings: Settings, integration_ids: list[str]) -> None:
    from softone_sync.sync.run import AlreadyRunning, run_integration

    for integration_id in integration_ids:
        row = await services.get_integration(db, integration_id)
        try:
            result = await run_integration(db, integration_id, trigger="demo", settings=settings)
        except AlreadyRunning:
            _say(f"  {row.name}: already running (another demo process?)")
            continue
        _say(
            f"  {row.name}: {result.status} — fetched {result.fetched}, created {result.created}, "
            f"updated {result.updated}, unchanged {result.unchanged} in {result.duration:.1f}s"
            + (f" ({result.error})" if result.error else "")
        )


def _say(text: str = "") -> None:
    print(text, flush=True)


def banner(base_url: str, env_path: Path, values: dict[str, str], integration_ids: list[str]) -> str:
    cron, admin = values["CRON_SECRET"], values["ADMIN_TOKEN"]
    lines = [
        "",
        f"softone-sync demo is running at {base_url}   (API docs: {base_url}/docs)",
        "",
        f"  Dashboard: {base_url}/   (log in with the ADMIN_TOKEN below)   Metrics: {base_url}/metrics",
        "",
        f"  ADMIN_TOKEN={admin}",
        f"  CRON_SECRET={cron}",
        f"  (kept in {env_path}; `set -a; . {env_path}` reuses them in another shell)",
        "",
        "Call the three cron endpoints:",
        "",
        f'  curl -fsS -H "X-Cron-Secret: {cron}" "{base_url}/api/cron/init"',
        f'  curl -fsS -H "X-Cron-Secret: {cron}" "{base_url}/api/cron/startup"',
        f'  curl -fsS -H "X-Cron-Secret: {cron}" -H "Content-Type: application/json" '
        f'-d \'{{"integrationId": "{integration_ids[0]}"}}\' "{base_url}/api/cron/sync-integration"',
        "",
        "Look around:",
        "",
        f'  curl -fsS -H "Authorization: Bearer {admin}" "{base_url}/api/integrations"',
        f'  curl -fsS -H "Authorization: Bearer {admin}" "{base_url}/api/runs?limit=5"',
        "",
        "customers sync every minute, items every 5 minutes. Ctrl-C stops.",
        "",
    ]
    return "\n".join(lines)


async def run_demo(*, port: int, customers: int, items: int, var_dir: Path) -> None:
    import uvicorn

    from softone_sync.api import create_app
    from softone_sync.db.engine import open_database
    from softone_sync.logging import setup_logging
    from softone_sync.softone.simulator import SimulatorConfig, run_in_thread

    env_path = var_dir / "demo.env"
    values = load_demo_env(env_path)
    # The demo never touches DATABASE_URL: it creates application tables, which must not land in
    # a real database the operator configured.
    database_url = f"sqlite+aiosqlite:///{var_dir / 'demo.db'}"
    base_url = f"http://127.0.0.1:{port}"
    settings = load_settings(
        database_url=database_url,
        cron_secret=values["CRON_SECRET"],
        admin_token=values["ADMIN_TOKEN"],
        secret_key=values["SECRET_KEY"],
        app_url=base_url,
        executor="inline",
    )
    setup_logging(settings)

    _say(f"starting the SoftOne simulator ({customers:,} customers, {items:,} items) ...")
    simulator = run_in_thread(SimulatorConfig(customers=customers, items=items))
    try:
        db = await open_database(database_url, upgrade=True)
        try:
            ids = await prepare(db, settings, simulator.url)
            _say(f"simulated ERP at {simulator.url}; database {var_dir / 'demo.db'}")
            _say("first sync:")
            await first_sync(db, settings, ids)
        finally:
            await db.dispose()

        app = create_app(settings, scheduler=True)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, proxy_headers=False, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn exposes a flag only
            await asyncio.sleep(0.05)
        if not server.started:
            await serving
            print(f"error: could not serve on 127.0.0.1:{port} (in use? try --port)", file=sys.stderr)
            raise SystemExit(1)
        _say(banner(base_url, env_path, values, ids))
        await serving
    finally:
        simulator.stop()
