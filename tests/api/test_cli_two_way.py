"""``softone-sync integration edit`` and ``softone-sync conflicts``: the same services as the API."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner

from softone_sync.db.engine import open_database
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import invoke
from tests.twoway.helpers import DDL, code_of, two_way_config


def app_sql(database_url: str, statement: str, params: dict[str, Any] | None = None) -> None:
    """An application write (the CLI runs its own event loop, so these are plain functions)."""

    async def write() -> None:
        db = await open_database(database_url)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(sa.text(statement), params or {})
        finally:
            await db.dispose()

    asyncio.run(write())


def write_config(tmp_path: Path, name: str, config: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return str(path)


def test_edit_switches_direction_and_conflicts_are_listed_and_resolved(
    cli_runner: CliRunner, make_simulator: Any, tmp_path: Path, database_url: str
) -> None:
    erp: RunningSimulator = make_simulator(customers=20)
    app_sql(database_url, DDL)
    common = ["--url", erp.url, "--username", "demo", "--app-id", "1001", "--password", "demo"]
    invoke(cli_runner, "connection", "add", "--name", "sim", *common)
    one_way = two_way_config()
    one_way["direction"] = "one-way"
    invoke(
        cli_runner, "integration", "add", "--name", "customers", "--connection", "sim",
        "--config", write_config(tmp_path, "one.json", one_way),
    )  # fmt: skip
    invoke(cli_runner, "sync", "customers")
    assert json.loads(invoke(cli_runner, "integration", "show", "customers"))["twoWay"] is None

    # --set switches it to two-way with the manual policy: capture installed, reported at once.
    out = invoke(
        cli_runner, "integration", "edit", "customers",
        "--set", "direction=two-way", "--set", "twoWay.conflictPolicy=manual",
    )  # fmt: skip
    assert "updated" in out and "two-way: capture installed, 0 change(s) waiting" in out
    shown = json.loads(invoke(cli_runner, "integration", "show", "customers"))
    assert shown["configJson"]["twoWay"] == {"conflictPolicy": "manual"}
    assert shown["twoWay"]["captureInstalled"] is True

    # Invalid edits are refused with the field named, and change nothing.
    bad = invoke(
        cli_runner, "integration", "edit", "customers", "--set", "schedule.cronExpression=61 * * * *", code=2
    )
    assert "configJson.schedule.cronExpression" in bad
    assert "nothing to change" in invoke(cli_runner, "integration", "edit", "customers", code=2)
    assert "KEY=VALUE" in invoke(cli_runner, "integration", "edit", "customers", "--set", "direction", code=2)
    assert "no integration" in invoke(cli_runner, "integration", "edit", "nope", "--set", "a=1", code=2)
    missing_table = two_way_config(conflictPolicy="manual")
    missing_table["target"] = {"table": "Nope"}
    bad_file = write_config(tmp_path, "bad.json", missing_table)
    refused = invoke(cli_runner, "integration", "edit", "customers", "--config", bad_file, code=2)
    assert "configJson.target.table" in refused
    assert json.loads(invoke(cli_runner, "integration", "show", "customers"))["configJson"]["target"] == {
        "table": "Customers"
    }

    # Both sides change the same names: the manual policy holds them as conflicts.
    for key in (3, 4):
        erp.simulator.update_record("CUSTOMER", key, {"NAME": f"ERP name {key}"})
        app_sql(
            database_url,
            """UPDATE "Customers" SET name = :n WHERE code = :c""",
            {"n": f"App name {key}", "c": code_of(key)},
        )
    invoke(cli_runner, "sync", "customers")
    listed = invoke(cli_runner, "conflicts", "--integration", "customers")
    assert listed.count("conflict ") == 2 and "[open]" in listed
    assert "App name 3" in listed and "ERP name 3" in listed  # side by side, with the baseline
    header = next(line for line in listed.splitlines() if line.strip().startswith("field"))
    assert header.split() == ["field", "app", "ERP", "baseline"]
    conflicts = json.loads(invoke(cli_runner, "conflicts", "--json"))["conflicts"]
    ids = {c["recordKey"]: c["id"] for c in conflicts}
    assert set(ids) == {code_of(3), code_of(4)}
    assert all(c["fields"][0]["baseline"] for c in conflicts)

    assert "must be 'erp' or 'app'" in invoke(
        cli_runner, "conflicts", "resolve", str(ids[code_of(3)]), "--side", "mine", code=2
    )
    assert "no conflict" in invoke(cli_runner, "conflicts", "resolve", "424242", "--side", "erp", code=2)
    assert "keeping the application's values" in invoke(
        cli_runner, "conflicts", "resolve", str(ids[code_of(3)]), "--side", "app"
    )
    invoke(cli_runner, "conflicts", "resolve", str(ids[code_of(4)]), "--side", "ERP")
    assert invoke(cli_runner, "conflicts") == "no open conflicts\n"
    invoke(cli_runner, "sync", "customers")
    assert erp.simulator.get_record("CUSTOMER", 3)["NAME"] == "App name 3"
    assert erp.simulator.get_record("CUSTOMER", 4)["NAME"] == "ERP name 4"
    assert "already resolved" in invoke(
        cli_runner, "conflicts", "resolve", str(ids[code_of(3)]), "--side", "erp", code=1
    )
    everything = invoke(cli_runner, "conflicts", "--all")
    assert "[resolved, keep app]" in everything and "[resolved, keep erp]" in everything

    # Removing it takes the triggers away: the application's next write lands nowhere.
    invoke(cli_runner, "integration", "remove", "customers")
    app_sql(database_url, """UPDATE "Customers" SET phone = '1' WHERE code = :c""", {"c": code_of(5)})
    assert "no integration" in invoke(cli_runner, "conflicts", "-i", "customers", code=2)
