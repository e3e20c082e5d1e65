"""`integration validate` and `sync` from the command line, against the simulator and a real database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from softone_sync.config import get_settings
from softone_sync.sync.doctor import validate_integration
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    SECRET_KEY,
    customers_config,
    execute,
    fetch_rows,
    make_connection,
    make_integration,
    sync_settings,
)


async def test_validate_reports_each_problem_precisely(db, simulator, database_url):
    await execute(
        db,
        CUSTOMERS_DDL,
        'CREATE TABLE "NoKey" ("code" VARCHAR(25), "name" VARCHAR(200), "must" INTEGER NOT NULL)',
    )
    connection_id = await make_connection(db, simulator)
    settings = sync_settings(database_url)
    good = await make_integration(db, connection_id, customers_config())
    checks = await validate_integration(db, good, settings=settings)
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert [c.name for c in checks] == [
        "config", "erp.login", "erp.object", "erp.list", "erp.fields",
        "target.table", "target.columns", "target.unique_key", "target.required",
    ]  # fmt: skip

    bad_config = customers_config(target={"table": "NoKey"})
    bad_config["mappings"] = [
        {"erpField": "CUSTOMER.CODE", "column": "code"},
        {"erpField": "CUSTOMER.EMAIL", "column": "name"},  # not in the default list
        {"erpField": "ISACTIVE", "column": "name2", "convert": "bool"},  # no such column
    ]
    bad = await make_integration(db, connection_id, bad_config)
    failed = {c.name: c for c in await validate_integration(db, bad, settings=settings) if not c.ok}
    assert "CUSTOMER.EMAIL exists in CUSTOMER but not in the list" in failed["erp.fields"].hint
    assert "has no column 'name2'" in failed["target.columns"].message
    assert (
        "no primary key, unique constraint or unique index on exactly (code)"
        in failed["target.unique_key"].message
    )
    assert "must" in failed["target.required"].message

    wrong_case = await make_integration(
        db, connection_id, customers_config(target={"table": "customermaster"})
    )
    failed = {c.name: c for c in await validate_integration(db, wrong_case, settings=settings) if not c.ok}
    assert "did you mean 'CustomerMaster'" in failed["target.table"].message

    wrong_password = await make_connection(db, simulator, password="nope")
    locked_out = await make_integration(db, wrong_password, customers_config())
    failed = {c.name: c for c in await validate_integration(db, locked_out, settings=settings) if not c.ok}
    assert "erp.login" in failed and "password" in failed["erp.login"].hint


@pytest.fixture
def cli_env(monkeypatch, database_url):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def cli(*args: str):
    # The product's own root app: `integration validate` must be reachable where users type it.
    from softone_sync.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture
async def cli_integration(db, simulator):
    await execute(db, CUSTOMERS_DDL)
    connection_id = await make_connection(db, simulator)
    return await make_integration(db, connection_id, customers_config())


def test_sync_cli_json_and_exit_codes(cli_env, cli_integration, db):
    result = cli("sync", cli_integration, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "succeeded" and payload["dry_run"] and payload["preview"]["create"] == 250

    result = cli("sync", cli_integration, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 250

    result = cli("sync", cli_integration)
    assert result.exit_code == 0
    assert "unchanged" in result.stdout and "250" in result.stdout

    result = cli("sync", "no-such-id")
    assert result.exit_code == 2
    assert "no integration with id 'no-such-id'" in result.output
    assert "Traceback" not in result.output

    result = cli("integration", "validate", cli_integration, "--json")
    assert result.exit_code == 0, result.output
    assert all(check["ok"] for check in json.loads(result.stdout))


async def test_invalid_config_is_a_usage_error(cli_env, db, simulator):
    connection_id = await make_connection(db, simulator)
    broken = await make_integration(db, connection_id, {"source": {"object": "CUSTOMER"}, "mappings": []})
    result = await _in_thread(cli, "sync", broken)
    assert result.exit_code == 2
    assert result.output.startswith("error: invalid configJson:")
    assert "mappings: List should have at least 1 item" in result.output
    assert await fetch_rows(db, "SELECT count(*) FROM sync_runs") == [(0,)]


async def _in_thread(fn, *args):
    import asyncio

    return await asyncio.to_thread(fn, *args)
