"""Incremental runs: the cursor, the lookback window, browser and SqlData sources."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from softone_sync.sync.run import run_integration
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    customers_config,
    execute,
    fetch_rows,
    make_connection,
    make_integration,
    sync_settings,
)

ATHENS = ZoneInfo("Europe/Athens")


async def cursor_of(db, integration_id) -> datetime:
    ((text,),) = await fetch_rows(
        db, f"SELECT cursor FROM sync_state WHERE integration_id = '{integration_id}'"
    )
    return datetime.fromisoformat(text)


@pytest.fixture
async def prepared(db, simulator, database_url):
    await execute(db, CUSTOMERS_DDL)
    return await make_connection(db, simulator), sync_settings(database_url)


async def test_browser_incremental_with_lookback(db, simulator, prepared):
    connection_id, settings = prepared
    config = customers_config(
        source={"object": "CUSTOMER", "list": "monitor", "pageSize": 50},
        mode="incremental",
        cursorField="UPDDATE",
        lookback="1d",
    )
    integration_id = await make_integration(db, connection_id, config)
    sim = simulator.simulator

    first = await run_integration(db, integration_id, settings=settings)
    assert (first.status, first.created) == ("succeeded", 250)
    first_cursor = await cursor_of(db, integration_id)

    sim.update_record("CUSTOMER", 5, {"NAME": "Edited now"})
    second = await run_integration(db, integration_id, settings=settings)
    assert second.status == "succeeded" and second.updated == 1
    assert second.fetched < 250  # only the window was read
    cursor = await cursor_of(db, integration_id)
    assert cursor > first_cursor
    assert cursor.astimezone(ATHENS).replace(tzinfo=None) == datetime.fromisoformat(
        sim.get_record("CUSTOMER", 5)["UPDDATE"]
    )

    # A row whose UPDDATE lands inside the lookback window, *before* the cursor (a late commit).
    late = (cursor - timedelta(hours=6)).astimezone(ATHENS).strftime("%Y-%m-%d %H:%M:%S")
    sim.update_record("CUSTOMER", 6, {"NAME": "Late writer", "UPDDATE": late})
    third = await run_integration(db, integration_id, settings=settings)
    assert third.updated == 1 and third.created == 0
    assert await fetch_rows(db, """SELECT "name" FROM "CustomerMaster" WHERE "code" = 'C0000006'""") == [
        ("Late writer",)
    ]
    assert await cursor_of(db, integration_id) == cursor  # never moves back

    # --full reads everything again; the cursor stays where it is.
    full = await run_integration(db, integration_id, settings=settings, full=True)
    assert (full.fetched, full.unchanged) == (250, 250)


async def test_sqldata_incremental_passes_the_cursor_param(db, simulator, prepared):
    connection_id, settings = prepared
    config = {
        "source": {"sqlName": "CustomersChangedSince", "pageSize": 100},
        "mappings": [
            {"erpField": "CODE", "column": "code"},
            {"erpField": "NAME", "column": "name"},
            {
                "erpField": "city",
                "column": "city",
            },  # the script's alias is "City": matched case-insensitively
            {"erpField": "TRDR", "column": "order", "convert": "int"},
        ],
        "uniqueIdentifiers": ["CODE"],
        "target": {"table": "CustomerMaster"},
        "mode": "incremental",
        "cursorField": "UPDDATE",
        "cursorParam": "pFrom",
        "lookback": "2h",
    }
    integration_id = await make_integration(db, connection_id, config)
    first = await run_integration(db, integration_id, settings=settings)
    assert (first.status, first.created, first.stats["pages"]) == ("succeeded", 250, 3), first.error

    simulator.simulator.update_record("CUSTOMER", 12, {"CITY": "Σπάρτη"})
    second = await run_integration(db, integration_id, settings=settings)
    assert second.status == "succeeded"
    assert second.fetched < 10 and second.updated == 1
    assert await fetch_rows(db, """SELECT "city" FROM "CustomerMaster" WHERE "order" = 12""") == [("Σπάρτη",)]
