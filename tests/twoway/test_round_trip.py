"""Local edits reach SoftOne, ERP edits reach the table, and nothing bounces back (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from tests.twoway.helpers import CUSTOMERS, TwoWaySetup, code_of


async def test_round_trip_without_echoes(two_way: TwoWaySetup) -> None:
    await two_way.create()
    first = await two_way.run()
    assert first.status == "succeeded", first.error
    assert (first.created, first.pushed) == (CUSTOMERS, 0)
    assert await two_way.outbox() == 0  # the pull's own writes are not captured

    # The application edits a row: the next run sends it, and only it.
    await two_way.sql(
        """UPDATE "Customers" SET name = 'Renamed by the app' WHERE code = :c""", {"c": code_of(5)}
    )
    await two_way.sql("""UPDATE "Customers" SET app_note = 'not synced' WHERE code = :c""", {"c": code_of(6)})
    assert await two_way.outbox() == 1  # an app-only column is not a change to push
    second = await two_way.run()
    assert second.status == "succeeded", second.error
    assert second.pushed == 1 and second.stats["two_way"]["updated"] == 1
    assert two_way.erp(5)["NAME"] == "Renamed by the app"
    # The pull that follows sees the ERP record changed, but its values are ours: no write.
    assert (second.updated, second.created) == (0, 0)
    assert await two_way.outbox() == 0

    # Nothing changed anywhere: nothing is pushed or written.
    calls_before = two_way.sim.calls["setData"]
    third = await two_way.run()
    assert (third.pushed, third.updated, third.created, third.unchanged) == (0, 0, 0, CUSTOMERS)
    assert two_way.sim.calls["setData"] == calls_before

    # An ERP edit reaches the table, and does not come back as a push.
    two_way.sim.update_record("CUSTOMER", 7, {"CITY": "Θεσσαλονίκη"})
    fourth = await two_way.run()
    assert (fourth.updated, fourth.pushed) == (1, 0)
    assert (await two_way.local(code_of(7)))["city"] == "Θεσσαλονίκη"
    fifth = await two_way.run()
    assert (fifth.updated, fifth.pushed) == (0, 0)


async def test_session_expiry_mid_push_logs_in_again(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    for key in (3, 4):
        await two_way.sql(
            """UPDATE "Customers" SET phone = '2101234567' WHERE code = :c""", {"c": code_of(key)}
        )
    two_way.sim.faults.add("expire_session", "setData", skip=1)
    logins = two_way.sim.logins
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.pushed == 2
    assert two_way.sim.logins == logins + 2  # the run's login and one re-login
    assert two_way.erp(3)["PHONE01"] == two_way.erp(4)["PHONE01"] == "2101234567"


async def test_greek_text_and_decimals_survive_app_to_erp_to_app(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    greek = "Ωμέγα Α.Ε. — «Ελληνικά» ΆΈΉΊΌΎΏ ϊϋ"
    await two_way.sql(
        """UPDATE "Customers" SET name = :n, discount = :d, remarks = :r WHERE code = :c""",
        {"n": greek, "d": Decimal("7.25"), "r": "Σχόλιο: 0,5% έκπτωση", "c": code_of(9)},
    )
    pushed = await two_way.run()
    assert pushed.status == "succeeded" and pushed.pushed == 1, pushed.error
    erp = two_way.erp(9)
    assert (erp["NAME"], erp["DISCOUNT"], erp["REMARKS"]) == (greek, "7.25", "Σχόλιο: 0,5% έκπτωση")
    back = await two_way.run()
    assert (back.updated, back.pushed) == (0, 0)
    local = await two_way.local(code_of(9))
    assert (local["name"], Decimal(str(local["discount"])), local["remarks"]) == (
        greek,
        Decimal("7.25"),
        "Σχόλιο: 0,5% έκπτωση",
    )
