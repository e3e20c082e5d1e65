"""Local inserts make exactly one ERP record, even when the answer is lost; bad records are kept, retried."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from softone_sync.db.models import SyncReject
from tests.twoway.helpers import TwoWaySetup, code_of

INSERT = """INSERT INTO "Customers" (code, name, city, discount) VALUES (:c, :n, 'Πάτρα', :d)"""


async def open_rejects(two_way: TwoWaySetup) -> dict[str, tuple[str, int]]:
    table = SyncReject.__table__
    async with two_way.db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(table.c.record_key, table.c.reason, table.c.attempts).where(
                table.c.resolved_at.is_(None)
            )
        )
        return {r.record_key: (r.reason, r.attempts) for r in rows}


async def test_local_insert_creates_one_erp_record_and_gets_its_id(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    await two_way.sql(INSERT, {"c": "APP-1", "n": "Νέος Πελάτης", "d": Decimal("12.50")})
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.stats["two_way"]["created"] == 1 and result.pushed == 1
    (key,) = two_way.erp_keys_with_code("APP-1")
    assert two_way.erp(key)["NAME"] == "Νέος Πελάτης" and two_way.erp(key)["DISCOUNT"] == "12.5"
    assert (await two_way.local("APP-1"))["erp_id"] == key
    again = await two_way.run()
    assert (again.pushed, again.created, again.updated) == (0, 0, 0)


async def test_a_create_whose_answer_is_lost_is_adopted_not_duplicated(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    await two_way.sql(INSERT, {"c": "APP-2", "n": "Χαμένη απάντηση", "d": Decimal("1")})
    # setData commits, then answers HTTP 500; the lookup right after fails too (4 attempts): the run fails.
    two_way.sim.faults.add("commit_then_500", "setData")
    two_way.sim.faults.add("http_500", "getBrowserInfo", skip=1, times=4)
    failed = await two_way.run()
    assert failed.status == "failed" and "getBrowserInfo" in (failed.error or "")
    assert len(two_way.erp_keys_with_code("APP-2")) == 1
    assert (await two_way.local("APP-2"))["erp_id"] is None

    two_way.sim.faults.clear()
    set_data_calls = two_way.sim.calls["setData"]
    retried = await two_way.run()
    assert retried.status == "succeeded", retried.error
    assert retried.stats["two_way"]["adopted"] == 1
    assert two_way.sim.calls["setData"] == set_data_calls  # found, not sent again
    (key,) = two_way.erp_keys_with_code("APP-2")
    assert (await two_way.local("APP-2"))["erp_id"] == key


async def test_lost_answer_found_at_once_counts_as_created(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    await two_way.sql(INSERT, {"c": "APP-3", "n": "Drop", "d": Decimal("0")})
    two_way.sim.faults.add("commit_then_drop", "setData")
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.stats["two_way"]["created"] == 1
    (key,) = two_way.erp_keys_with_code("APP-3")
    assert (await two_way.local("APP-3"))["erp_id"] == key


async def test_characters_outside_windows_1253_are_rejected_before_sending(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    original = two_way.erp(3)["NAME"]
    await two_way.sql("""UPDATE "Customers" SET name = 'Жуков 😀' WHERE code = :c""", {"c": code_of(3)})
    await two_way.sql("""UPDATE "Customers" SET city = 'Κέρκυρα' WHERE code = :c""", {"c": code_of(4)})
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.failed == 1 and result.pushed == 1  # the other record still went
    assert two_way.erp(3)["NAME"] == original  # nothing mangled into '?'
    assert two_way.erp(4)["CITY"] == "Κέρκυρα"
    reason, _ = (await open_rejects(two_way))[f"push:{code_of(3)}"]
    assert "windows-1253" in reason and "U+0416" in reason
    # The pull does not overwrite the unsent local change either.
    assert (await two_way.local(code_of(3)))["name"] == "Жуков 😀"
    assert result.stats["two_way"]["held_by_pull"] == 1


async def test_business_error_is_kept_retried_and_resolved(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    too_long = "Χ" * 200  # NAME holds 128 characters in SoftOne
    await two_way.sql(
        """UPDATE "Customers" SET name = :n WHERE code = :c""", {"n": too_long, "c": code_of(8)}
    )
    await two_way.sql("""UPDATE "Customers" SET phone = '2310000000' WHERE code = :c""", {"c": code_of(9)})
    first = await two_way.run()
    assert first.status == "succeeded" and first.failed == 1 and first.pushed == 1
    reason, attempts = (await open_rejects(two_way))[f"push:{code_of(8)}"]
    assert "too long" in reason and attempts == 1

    second = await two_way.run()  # retried, refused again
    assert second.failed == 1
    assert (await open_rejects(two_way))[f"push:{code_of(8)}"][1] == 2

    await two_way.sql("""UPDATE "Customers" SET name = 'Σωστό όνομα' WHERE code = :c""", {"c": code_of(8)})
    third = await two_way.run()
    assert (third.failed, third.pushed) == (0, 1)
    assert two_way.erp(8)["NAME"] == "Σωστό όνομα"
    assert f"push:{code_of(8)}" not in await open_rejects(two_way)


async def test_local_deletes_follow_the_deletion_setting(two_way: TwoWaySetup) -> None:
    await two_way.create(deletions="delete")
    assert (await two_way.run()).status == "succeeded"
    await two_way.sql("""DELETE FROM "Customers" WHERE code = :c""", {"c": code_of(11)})
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.stats["two_way"]["deleted"] == 1
    assert two_way.sim.get_record("CUSTOMER", 11) is None


async def test_local_deletes_are_ignored_by_default(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    await two_way.sql("""DELETE FROM "Customers" WHERE code = :c""", {"c": code_of(12)})
    result = await two_way.run()
    assert result.stats["two_way"]["deletions_ignored"] == 1
    assert two_way.sim.get_record("CUSTOMER", 12) is not None
