"""``softone-sync connection …`` and ``integration …``: the same services as the API, from a shell."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from softone_sync.cli.demo import customers_config
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import invoke


def test_connection_and_integration_commands(
    cli_runner: CliRunner, simulator: RunningSimulator, tmp_path: Path
) -> None:
    runner = cli_runner
    common = ["--url", simulator.url, "--username", "demo", "--app-id", "1001", "--company", "1000"]
    invoke(
        runner,
        "connection",
        "add",
        "--name",
        "erp",
        *common,
        "--branch",
        "1000",
        "--module",
        "0",
        "--refid",
        "500",
        "--password",
        "demo",
    )
    assert "erp" in invoke(runner, "connection", "list")
    assert "demo" not in invoke(runner, "connection", "list").replace("demo@", "")  # never the password
    assert "ok:" in invoke(runner, "connection", "test", "erp")
    invoke(runner, "connection", "add", "--name", "bad", *common, "--password", "wrong")
    assert "BadCredentials" in invoke(runner, "connection", "test", "bad", code=1)

    config = tmp_path / "customers.json"
    config.write_text(json.dumps(customers_config()))
    out = invoke(
        runner, "integration", "add", "--name", "customers", "--connection", "erp", "--config", str(config)
    )
    assert "added" in out
    shown = json.loads(invoke(runner, "integration", "show", "customers"))
    assert shown["isActive"] is True and shown["nextRunAt"]
    assert "disabled, next run -" in invoke(runner, "integration", "disable", "customers")
    assert "enabled" in invoke(runner, "integration", "enable", "customers")
    assert "customers" in invoke(runner, "integration", "list")

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(customers_config(cron="* * * * * * * *")))
    out = invoke(
        runner, "integration", "add", "--name", "x", "--connection", "erp", "--config", str(bad), code=2
    )
    assert "configJson.schedule.cronExpression" in out
    assert "not valid JSON" in invoke(
        runner, "integration", "add", "--name", "x", "--connection", "erp", "--config", __file__, code=2
    )

    assert "used by integration" in invoke(runner, "connection", "remove", "erp", code=1)
    assert "removed" in invoke(runner, "integration", "remove", "customers")
    assert "removed" in invoke(runner, "connection", "remove", "erp")
    assert "no integration" in invoke(runner, "integration", "show", "customers", code=2)


def test_runs_lists_history_and_filters_failures(
    cli_runner: CliRunner, simulator: RunningSimulator, tmp_path: Path, database_url: str
) -> None:
    """`sync` twice (one good, one with a wrong ERP password), then `runs` answers "what happened?"."""
    import asyncio

    from softone_sync.cli.demo import DEMO_TABLES
    from softone_sync.db.engine import open_database

    async def create_tables() -> None:
        db = await open_database(database_url)
        async with db.engine.begin() as conn:
            await conn.run_sync(DEMO_TABLES.create_all)
        await db.dispose()

    asyncio.run(create_tables())
    runner = cli_runner
    common = ["--url", simulator.url, "--username", "demo", "--app-id", "1001"]
    invoke(runner, "connection", "add", "--name", "erp", *common, "--password", "demo")
    invoke(runner, "connection", "add", "--name", "bad", *common, "--password", "wrong")
    config = tmp_path / "customers.json"
    config.write_text(json.dumps(customers_config()))
    for name, connection in (("good", "erp"), ("broken", "bad")):
        invoke(
            runner, "integration", "add", "--name", name, "--connection", connection, "--config", str(config)
        )
    good = json.loads(invoke(runner, "integration", "show", "good"))["id"]
    broken = json.loads(invoke(runner, "integration", "show", "broken"))["id"]
    invoke(runner, "sync", good)
    invoke(runner, "sync", broken, code=1)

    runs = json.loads(invoke(runner, "runs", "--json"))
    assert {(r["integration"], r["status"]) for r in runs} == {("good", "succeeded"), ("broken", "failed")}
    good_run = next(r for r in runs if r["integration"] == "good")
    assert good_run["created"] == simulator.simulator.config.customers and good_run["seconds"] > 0

    failed = json.loads(invoke(runner, "runs", "--failed", "--json"))
    assert [r["integration"] for r in failed] == ["broken"]
    assert "password" in failed[0]["error"] and "wrong" not in failed[0]["error"]
    assert [r["integration"] for r in json.loads(invoke(runner, "runs", "-i", "good", "--json"))] == ["good"]
    assert "broken" in invoke(runner, "runs")  # the table form
    assert "no integration" in invoke(runner, "runs", "-i", "nope", code=2)
