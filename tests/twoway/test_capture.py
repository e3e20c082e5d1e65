"""Capture triggers: installed and removed idempotently; they see application writes, not the sync's."""

from __future__ import annotations

import pytest

from softone_sync.sync.config import IntegrationConfigError
from softone_sync.sync.twoway import disable_two_way, enable_two_way
from softone_sync.sync.twoway.capture_spec import CaptureError, CaptureNames
from tests.sync.helpers import CUSTOMERS_DDL, customers_config, execute, make_connection, make_integration
from tests.twoway.helpers import TwoWaySetup, code_of


async def test_enable_and_disable_are_idempotent(two_way: TwoWaySetup) -> None:
    await two_way.create(enable=False)
    assert (await two_way.run()).stats["direction"].startswith("two-way: only the pull half")
    await two_way.sql("""UPDATE "Customers" SET name = 'before capture' WHERE code = :c""", {"c": code_of(1)})
    assert await two_way.outbox() == 0

    first = await enable_two_way(two_way.db, two_way.integration_id)
    again = await enable_two_way(two_way.db, two_way.integration_id)
    assert first.baselines == again.baselines == 30
    await two_way.sql("""INSERT INTO "Customers" (code, name) VALUES ('X-1', 'app row')""")
    await two_way.sql("""UPDATE "Customers" SET name = 'captured' WHERE code = :c""", {"c": code_of(2)})
    await two_way.sql("""DELETE FROM "Customers" WHERE code = 'X-1'""")
    rows = await two_way.rows("SELECT op, pk_json, changed_columns FROM sync_outbox ORDER BY id")
    assert [(op, cols) for op, _, cols in rows] == [("I", None), ("U", "name"), ("D", None)]
    assert rows[1][1].replace(" ", "") == f'["{code_of(2)}"]'

    await disable_two_way(two_way.db, two_way.integration_id)
    await disable_two_way(two_way.db, two_way.integration_id)
    assert await two_way.outbox() == 0
    await two_way.sql("""UPDATE "Customers" SET name = 'after capture' WHERE code = :c""", {"c": code_of(3)})
    assert await two_way.outbox() == 0


async def test_enabling_needs_a_two_way_config(two_way: TwoWaySetup) -> None:
    await two_way.create(enable=False)
    await execute(two_way.db, CUSTOMERS_DDL)
    connection_id = await make_connection(two_way.db, two_way.running)
    one_way = await make_integration(two_way.db, connection_id, customers_config())
    with pytest.raises(IntegrationConfigError, match="two-way"):
        await enable_two_way(two_way.db, one_way)


def test_trigger_names_come_from_safe_ids_only() -> None:
    assert CaptureNames.of("ab12").trigger == "softone_sync_capture_ab12"
    with pytest.raises(CaptureError):
        CaptureNames.of("x'; DROP TABLE t; --")
