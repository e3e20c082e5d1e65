"""A one-way run against the simulator over loopback HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from softone_sync.sync.run import run_integration
from tests.sync.helpers import (
    CUSTOMERS_DDL,
    customers_config,
    execute,
    fetch_rows,
    integration_row,
    make_connection,
    make_integration,
    run_row,
    sync_settings,
)


@pytest.fixture
async def setup(db, simulator, database_url):
    await execute(db, CUSTOMERS_DDL)
    connection_id = await make_connection(db, simulator)

    async def integration(**overrides):
        return await make_integration(db, connection_id, customers_config(**overrides))

    return integration, sync_settings(database_url)


async def test_full_run_creates_then_leaves_rows_unchanged(db, simulator, setup, caplog):
    integration, settings = setup
    integration_id = await integration()
    caplog.set_level(logging.INFO, logger="softone_sync.sync.run")

    first = await run_integration(db, integration_id, settings=settings, trigger="cli")
    assert first.status == "succeeded", first.error
    assert (first.fetched, first.created, first.updated, first.failed) == (250, 250, 0, 0)
    rows = await fetch_rows(
        db, 'SELECT "code", "name", "afm", "active", "order" FROM "CustomerMaster" ORDER BY "code"'
    )
    erp = simulator.simulator.get_record("CUSTOMER", 1)
    assert rows[0] == ("C0000001", erp["NAME"], int(erp["AFM"]), erp["ISACTIVE"] == "1", 1)
    assert len(rows) == 250

    simulator.simulator.update_record("CUSTOMER", 7, {"NAME": "Renamed Ltd"})
    second = await run_integration(db, integration_id, settings=settings)
    assert (second.created, second.updated, second.unchanged) == (0, 1, 249)
    assert await fetch_rows(db, 'SELECT "name" FROM "CustomerMaster" WHERE "order" = 7') == [("Renamed Ltd",)]

    recorded = await run_row(db, second.run_id)
    assert recorded["status"] == "succeeded" and recorded["updated"] == 1 and recorded["error"] is None
    assert (await integration_row(db, integration_id)).lastSyncAt == second.finished_at
    assert any(
        f"[SYNC] integration={integration_id} run={second.run_id}" in r.message and "updated=1" in r.message
        for r in caplog.records
    )


async def test_bad_rows_are_kept_and_retried(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration()
    sim = simulator.simulator
    sim.update_record("CUSTOMER", 3, {"AFM": "12-34"})  # not an integer
    sim.update_record("CUSTOMER", 4, {"NAME": "Before"})

    first = await run_integration(db, integration_id, settings=settings)
    assert first.status == "succeeded"
    assert (first.created, first.failed) == (249, 1)
    rejects = await fetch_rows(db, "SELECT record_key, reason, attempts, resolved_at FROM sync_rejects")
    assert len(rejects) == 1
    key, reason, attempts, resolved = rejects[0]
    assert key == "C0000003" and "'12-34' is not an integer" in reason and attempts == 1 and resolved is None

    again = await run_integration(db, integration_id, settings=settings)
    assert again.failed == 1
    assert await fetch_rows(db, "SELECT attempts FROM sync_rejects") == [(2,)]

    sim.update_record("CUSTOMER", 3, {"AFM": "1234"})
    fixed = await run_integration(db, integration_id, settings=settings)
    assert (fixed.created, fixed.failed) == (1, 0)
    (resolved_at,) = (await fetch_rows(db, "SELECT resolved_at FROM sync_rejects"))[0]
    assert resolved_at is not None
    assert await fetch_rows(db, """SELECT "afm" FROM "CustomerMaster" WHERE "code" = 'C0000003'""") == [
        (1234,)
    ]


async def test_composite_key(db, simulator, database_url):
    await execute(
        db,
        'CREATE TABLE "Items" ("code" VARCHAR(50) NOT NULL, "grp" INTEGER NOT NULL, "price" NUMERIC(12, 2), '
        'PRIMARY KEY ("code", "grp"))',
    )
    connection_id = await make_connection(db, simulator)
    config = {
        "source": {"object": "ITEM", "pageSize": 40},
        "mappings": [
            {"erpField": "ITEM.CODE", "column": "code"},
            {"erpField": "MTRGROUP", "column": "grp", "convert": "int", "default": "0"},
            {"erpField": "PRICER", "column": "price", "convert": "decimal"},
        ],
        "uniqueIdentifiers": ["CODE", "MTRGROUP"],
        "target": {"table": "Items"},
    }
    integration_id = await make_integration(db, connection_id, config, name="items")
    settings = sync_settings(database_url)
    result = await run_integration(db, integration_id, settings=settings)
    assert result.status == "succeeded", result.error
    assert result.created == 100
    simulator.simulator.update_record("ITEM", 5, {"PRICER": "12.5"})
    second = await run_integration(db, integration_id, settings=settings)
    assert (second.updated, second.unchanged) == (1, 99)
    # Without deletions nothing reads ownership records, so none are written (1M inserts saved).
    assert await fetch_rows(db, "SELECT count(*) FROM sync_records") == [(0,)]


async def test_guard_holds_a_mass_change_until_forced(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration(guard={"maxChangePercent": 10})
    assert (
        await run_integration(db, integration_id, settings=settings)
    ).created == 250  # empty target: no limit
    first_sync = (await integration_row(db, integration_id)).lastSyncAt
    for key in range(1, 41):  # 16 % of the rows
        simulator.simulator.update_record("CUSTOMER", key, {"CITY": "Νέα Πόλη Τεστ"})

    held = await run_integration(db, integration_id, settings=settings)
    assert held.status == "held"
    assert "update 40 and delete 0 of 250 rows (16.0% > maxChangePercent 10%)" in (held.error or "")
    assert held.preview is not None and held.preview["update"] == 40
    assert await fetch_rows(
        db, """SELECT count(*) FROM "CustomerMaster" WHERE "city" = 'Νέα Πόλη Τεστ'"""
    ) == [(0,)]
    assert (await run_row(db, held.run_id))["status"] == "held"
    assert (await integration_row(db, integration_id)).lastSyncAt == first_sync

    forced = await run_integration(db, integration_id, settings=settings, force=True)
    assert forced.status == "succeeded" and forced.updated == 40


async def test_dry_run_writes_nothing(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration()
    result = await run_integration(db, integration_id, settings=settings, dry_run=True)
    assert result.status == "succeeded" and result.dry_run
    assert result.preview is not None
    assert (result.preview["create"], result.preview["update"]) == (250, 0)
    assert len(result.preview["samples"]["create"]) == 5
    assert await fetch_rows(db, 'SELECT count(*) FROM "CustomerMaster"') == [(0,)]
    assert await fetch_rows(db, "SELECT count(*) FROM sync_records") == [(0,)]
    assert (await integration_row(db, integration_id)).lastSyncAt is None
    recorded = await run_row(db, result.run_id)
    assert recorded["dry_run"] and recorded["stats_json"]["preview"]["create"] == 250

    await run_integration(db, integration_id, settings=settings)
    simulator.simulator.update_record("CUSTOMER", 9, {"NAME": "Changed"})
    preview = await run_integration(db, integration_id, settings=settings, dry_run=True)
    assert preview.preview is not None and preview.preview["update"] == 1
    (sample,) = preview.preview["samples"]["update"]
    assert sample["key"] == ["C0000009"] and sample["changes"]["name"][1] == "Changed"
    assert await fetch_rows(db, """SELECT "name" FROM "CustomerMaster" WHERE "code" = 'C0000009'""") != [
        ("Changed",)
    ]


@pytest.mark.parametrize("mode", ["ignore", "soft", "hard"])
async def test_deletions(db, simulator, setup, mode):
    integration, settings = setup
    deletions = {"mode": mode}
    if mode == "soft":
        deletions |= {"column": "is_deleted", "value": True, "restoreValue": False}
    integration_id = await integration(deletions=deletions)
    await run_integration(db, integration_id, settings=settings)
    # A row the application created itself: not the integration's to delete.
    await execute(db, """INSERT INTO "CustomerMaster" ("code", "name") VALUES ('APP-1', 'local only')""")
    simulator.simulator.delete_record("CUSTOMER", 10)
    simulator.simulator.delete_record("CUSTOMER", 11)

    result = await run_integration(db, integration_id, settings=settings)
    assert result.status == "succeeded", result.error
    gone = """SELECT "code", "is_deleted" FROM "CustomerMaster"
              WHERE "code" IN ('C0000010', 'C0000011') ORDER BY 1"""
    if mode == "ignore":
        assert result.deleted == 0
        assert len(await fetch_rows(db, gone)) == 2
    elif mode == "soft":
        assert result.deleted == 2
        assert [bool(r[1]) for r in await fetch_rows(db, gone)] == [True, True]
    else:
        assert result.deleted == 2
        assert await fetch_rows(db, gone) == []
    assert await fetch_rows(db, """SELECT "name" FROM "CustomerMaster" WHERE "code" = 'APP-1'""") == [
        ("local only",)
    ]
    assert await fetch_rows(db, 'SELECT count(*) FROM "CustomerMaster"') == [
        (251 if mode != "hard" else 249,)
    ]


async def test_broken_erp_response_fails_cleanly(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration()
    # The second getBrowserData answer (rows 50-99) and every later one arrive truncated.
    simulator.simulator.faults.add("truncate", "getBrowserData", times=None, skip=1)
    result = await run_integration(db, integration_id, settings=settings)
    assert result.status == "failed"
    assert result.error and "getBrowserData" in result.error and "Traceback" not in result.error
    assert "\n" not in result.error
    # Whole pages only: the first page committed, nothing of the broken one.
    assert await fetch_rows(db, 'SELECT count(*) FROM "CustomerMaster"') == [(50,)]
    recorded = await run_row(db, result.run_id)
    assert recorded["status"] == "failed" and recorded["error"] == result.error
    integration_after = await integration_row(db, integration_id)
    assert integration_after.lastSyncAt is None
    assert integration_after.leaseOwner is None  # released

    simulator.simulator.faults.clear()
    ok = await run_integration(db, integration_id, settings=settings)
    assert (ok.status, ok.created, ok.unchanged) == ("succeeded", 200, 50)


async def test_a_held_lease_means_already_running(db, simulator, setup):
    from softone_sync.db.leases import acquire_lease
    from softone_sync.sync.run import AlreadyRunning

    integration, settings = setup
    integration_id = await integration(direction="two-way")
    assert await acquire_lease(db, integration_id, owner="other-host:1", run_id="r" * 32, ttl=60)
    with pytest.raises(AlreadyRunning) as info:
        await run_integration(db, integration_id, settings=settings)
    assert info.value.run_id == "r" * 32
    assert await fetch_rows(db, "SELECT count(*) FROM sync_runs") == [(0,)]


async def test_two_way_runs_the_pull_half_and_says_so(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration(direction="two-way")
    result = await run_integration(db, integration_id, settings=settings)
    assert result.status == "succeeded" and result.created == 250
    assert "only the pull half" in (await run_row(db, result.run_id))["stats_json"]["direction"]


async def test_a_key_repeated_on_a_later_page_is_rejected(db, simulator, database_url):
    # The unique identifier is the name here, which the ERP does not keep unique.
    await execute(db, 'CREATE TABLE "ByName" ("name" VARCHAR(200) PRIMARY KEY, "code" VARCHAR(25))')
    connection_id = await make_connection(db, simulator)
    config = customers_config(
        mappings=[{"erpField": "NAME", "column": "name"}, {"erpField": "CUSTOMER.CODE", "column": "code"}],
        uniqueIdentifiers=["NAME"],
        target={"table": "ByName"},
    )
    integration_id = await make_integration(db, connection_id, config)
    settings = sync_settings(database_url)
    sim = simulator.simulator
    # Record 60 (second page, pageSize 50) repeats record 1's name; the generated names repeat too.
    sim.update_record("CUSTOMER", 60, {"NAME": sim.get_record("CUSTOMER", 1)["NAME"]})
    first_code: dict[str, str] = {}
    for key in range(1, 251):
        record = sim.get_record("CUSTOMER", key)
        first_code.setdefault(record["NAME"], record["CODE"])
    repeats = 250 - len(first_code)
    first = await run_integration(db, integration_id, settings=settings)
    assert first.status == "succeeded", first.error
    assert (first.created, first.failed) == (len(first_code), repeats)
    stored = dict(await fetch_rows(db, 'SELECT "name", "code" FROM "ByName"'))
    assert stored == first_code  # every name holds its first occurrence
    rejects = await fetch_rows(db, "SELECT reason, payload_json FROM sync_rejects")
    assert {r.split(" (")[0] for r, _ in rejects} == {"duplicate unique identifier in the source"}
    assert any("C0000060" in str(payload) for _, payload in rejects)
    again = await run_integration(db, integration_id, settings=settings)
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, len(first_code), repeats)


async def test_only_rows_the_integration_created_are_owned_and_deleted(db, simulator, setup):
    integration, settings = setup
    integration_id = await integration(deletions="hard")
    # Already in the application's table before the first run: the application's row, updated by the
    # sync but never deleted by it.
    await execute(db, """INSERT INTO "CustomerMaster" ("code", "name") VALUES ('C0000005', 'mine')""")
    first = await run_integration(db, integration_id, settings=settings)
    assert (first.status, first.created, first.updated) == ("succeeded", 249, 1)
    assert await fetch_rows(db, "SELECT count(*) FROM sync_records") == [(249,)]
    simulator.simulator.delete_record("CUSTOMER", 5)
    simulator.simulator.delete_record("CUSTOMER", 6)
    second = await run_integration(db, integration_id, settings=settings)
    assert (second.status, second.deleted) == ("succeeded", 1)
    codes = await fetch_rows(
        db, """SELECT "code" FROM "CustomerMaster" WHERE "code" IN ('C0000005', 'C0000006')"""
    )
    assert codes == [("C0000005",)]


async def test_a_mapping_the_column_cannot_hold_fails_before_writing(db, simulator, setup):
    integration, settings = setup
    mappings = customers_config()["mappings"] + [
        {"erpField": "UPDDATE", "column": "active", "convert": "datetime"}
    ]
    mappings = [m for m in mappings if m["column"] != "active" or m["convert"] == "datetime"]
    integration_id = await integration(
        mappings=mappings, source={"object": "CUSTOMER", "list": "monitor", "pageSize": 50}
    )
    result = await run_integration(db, integration_id, settings=settings)
    assert result.status == "failed"
    assert result.error is not None and "\n" not in result.error
    assert "erpField 'UPDDATE' → column 'active', convert 'datetime'" in result.error
    assert "gives datetime values, but column 'active' of 'CustomerMaster' is BOOLEAN" in result.error
    assert await fetch_rows(db, 'SELECT count(*) FROM "CustomerMaster"') == [(0,)]


async def test_date_time_columns_as_sqlite_applications_declare_them(db, simulator, database_url):
    declarations = ["TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP(3)"]
    if db.dialect == "sqlite":
        declarations += ["DATETIME", "datetime(6)", "TIMESTAMPTZ"]
    columns = ", ".join(f'"at{i}" {d}' for i, d in enumerate(declarations))
    await execute(db, f'CREATE TABLE "Moments" ("code" VARCHAR(25) PRIMARY KEY, {columns})')
    connection_id = await make_connection(db, simulator)
    config = customers_config(
        mappings=[{"erpField": "CUSTOMER.CODE", "column": "code"}]
        + [
            {"erpField": "UPDDATE", "column": f"at{i}", "convert": "datetime"}
            for i in range(len(declarations))
        ],
        target={"table": "Moments"},
        source={"object": "CUSTOMER", "list": "monitor", "pageSize": 50},
    )
    integration_id = await make_integration(db, connection_id, config)
    settings = sync_settings(database_url)
    first = await run_integration(db, integration_id, settings=settings)
    assert (first.status, first.created, first.error) == ("succeeded", 250, None)
    again = await run_integration(db, integration_id, settings=settings)
    assert (again.unchanged, again.updated) == (250, 0)
    if db.dialect == "sqlite":
        # ISO 8601 text in UTC, as SQLite's date functions, SQLAlchemy, Django and Rails store it.
        erp = simulator.simulator.get_record("CUSTOMER", 1)["UPDDATE"]  # Europe/Athens wall time
        stored = (await fetch_rows(db, """SELECT * FROM "Moments" WHERE "code" = 'C0000001'"""))[0][1:]
        local = datetime.fromisoformat(erp).replace(tzinfo=ZoneInfo("Europe/Athens"))
        utc = local.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        assert set(stored) == {utc}
        assert await fetch_rows(db, """SELECT count(*) FROM "Moments" WHERE datetime("at0") IS NULL""") == [
            (0,)
        ]
