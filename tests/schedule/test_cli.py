"""`softone-sync cron check` and `cron slots` as a user runs them."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from typer.testing import CliRunner

from softone_sync.cli import app
from softone_sync.db.engine import Database
from softone_sync.db.models import SlotLog, SoftOneIntegration
from tests.fixtures.cli_process import run_cli
from tests.schedule.conftest import scheduled


def test_check_prints_local_and_utc_fire_times() -> None:
    result = CliRunner().invoke(
        app, ["cron", "check", "*/15 * * * *", "--tz", "Europe/Athens", "--count", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "Europe/Athens" in result.output and "UTC" in result.output
    assert (
        sum(
            1
            for line in result.output.splitlines()
            if ":00 EE" in line or ":15 EE" in line or ":30 EE" in line or ":45 EE" in line
        )
        == 3
    )


def test_check_rejects_with_precise_message_and_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["cron", "check", "0 61 * * *"])
    assert result.exit_code == 2
    assert "hour 61 out of range 0-23" in result.output
    assert "Traceback" not in result.output
    bad_tz = CliRunner().invoke(app, ["cron", "check", "* * * * *", "--tz", "Mars/Olympus"])
    assert bad_tz.exit_code == 2 and "unknown timezone 'Mars/Olympus'" in bad_tz.output


async def test_slots_lists_outcomes(db: Database) -> None:
    integration = await scheduled(db, "* * * * *", timezone="Europe/Athens")
    async with db.session() as session, session.begin():
        session.add(
            SlotLog(
                integration_id=integration,
                slot_at=datetime(2026, 1, 5, 10, tzinfo=UTC),
                outcome="missed",
                detail="older than the catch-up window",
            )
        )
    env = {**os.environ, "DATABASE_URL": db.url, "COLUMNS": "200"}
    result = await asyncio.to_thread(run_cli, "cron", "slots", integration, "--limit", "5", env=env)
    assert result.returncode == 0, result.stderr
    assert "2026-01-05 12:00:00 EET" in result.stdout and "missed" in result.stdout


async def test_top_level_slots_takes_a_name_and_unknown_is_a_usage_error(db: Database) -> None:
    integration = await scheduled(db, "* * * * *", timezone="Europe/Athens")
    async with db.session() as session, session.begin():
        session.add(
            SlotLog(integration_id=integration, slot_at=datetime(2026, 1, 5, 10, tzinfo=UTC), outcome="ran")
        )
        name = (await session.get(SoftOneIntegration, integration)).name  # type: ignore[union-attr]
    env = {**os.environ, "DATABASE_URL": db.url, "COLUMNS": "200"}
    result = await asyncio.to_thread(run_cli, "slots", name, env=env)
    assert result.returncode == 0, result.stderr
    assert "2026-01-05 12:00:00 EET" in result.stdout and "ran" in result.stdout
    unknown = await asyncio.to_thread(run_cli, "slots", "no-such-integration", env=env)
    assert unknown.returncode == 2 and "no integration" in unknown.stderr
