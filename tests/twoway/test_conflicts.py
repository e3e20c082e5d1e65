"""Records changed on both sides: each policy, field-level merge, ownership, manual resolution."""

from __future__ import annotations

import pytest

from softone_sync.sync.twoway import ConflictError, list_conflicts, resolve_conflict
from tests.twoway.helpers import TwoWaySetup, code_of

PAST = "2020-01-01 00:00:00"
FUTURE = "2099-01-01 00:00:00"


async def both_edit_name(two_way: TwoWaySetup, key: int, *, erp_stamp: str | None = None) -> None:
    fields = {"NAME": f"ERP name {key}"}
    if erp_stamp:
        fields["UPDDATE"] = erp_stamp
    two_way.sim.update_record("CUSTOMER", key, fields)
    await two_way.sql(
        """UPDATE "Customers" SET name = :n WHERE code = :c""", {"n": f"App name {key}", "c": code_of(key)}
    )


@pytest.mark.parametrize(
    ("policy", "stamp", "winner"),
    [
        ("erp-wins", None, "erp"),
        ("app-wins", None, "app"),
        ("newest-wins", PAST, "app"),  # the local change is newer than the ERP's stamp
        ("newest-wins", FUTURE, "erp"),
    ],
)
async def test_conflict_policies(two_way: TwoWaySetup, policy: str, stamp: str | None, winner: str) -> None:
    await two_way.create(conflictPolicy=policy)
    assert (await two_way.run()).status == "succeeded"
    await both_edit_name(two_way, 5, erp_stamp=stamp)
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    expected = "App name 5" if winner == "app" else "ERP name 5"
    assert two_way.erp(5)["NAME"] == expected
    assert (await two_way.local(code_of(5)))["name"] == expected
    (decision,) = result.stats["two_way"]["decisions"]
    assert decision == {
        "record": code_of(5),
        "column": "name",
        "policy": policy,
        "winner": winner,
        "local": "App name 5",
        "erp": "ERP name 5",
    }
    settled = await two_way.run()
    assert (settled.pushed, settled.updated, settled.stats["two_way"]["conflicts"]) == (0, 0, 0)


async def test_field_level_merge_keeps_both_sides_changes(two_way: TwoWaySetup) -> None:
    await two_way.create()
    assert (await two_way.run()).status == "succeeded"
    two_way.sim.update_record("CUSTOMER", 6, {"CITY": "Λάρισα"})
    await two_way.sql("""UPDATE "Customers" SET phone = '2410555555' WHERE code = :c""", {"c": code_of(6)})
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    assert result.stats["two_way"]["conflicts"] == 0
    erp, local = two_way.erp(6), await two_way.local(code_of(6))
    assert (erp["CITY"], erp["PHONE01"]) == ("Λάρισα", "2410555555")
    assert (local["city"], local["phone"]) == ("Λάρισα", "2410555555")


async def test_field_policy_overrides_the_integration_policy(two_way: TwoWaySetup) -> None:
    await two_way.create(conflictPolicy="erp-wins", fieldPolicies={"name": "app-wins"})
    assert (await two_way.run()).status == "succeeded"
    await both_edit_name(two_way, 7)
    two_way.sim.update_record("CUSTOMER", 7, {"CITY": "ERP city"})
    await two_way.sql("""UPDATE "Customers" SET city = 'App city' WHERE code = :c""", {"c": code_of(7)})
    assert (await two_way.run()).status == "succeeded"
    assert (two_way.erp(7)["NAME"], two_way.erp(7)["CITY"]) == ("App name 7", "ERP city")


async def test_ownership_map(two_way: TwoWaySetup) -> None:
    await two_way.create(ownership={"city": "erp", "phone": "app"})
    assert (await two_way.run()).status == "succeeded"
    erp_city = two_way.erp(8)["CITY"]
    # An app change to an ERP-owned field is never pushed and is put back.
    await two_way.sql(
        """UPDATE "Customers" SET city = 'App city', name = 'Pushed' WHERE code = :c""", {"c": code_of(8)}
    )
    # An ERP change to an app-owned field is overwritten by the app's value.
    two_way.sim.update_record("CUSTOMER", 8, {"PHONE01": "ERP phone"})
    result = await two_way.run()
    assert result.status == "succeeded", result.error
    erp, local = two_way.erp(8), await two_way.local(code_of(8))
    assert (erp["CITY"], erp["NAME"]) == (erp_city, "Pushed")
    assert erp["PHONE01"] == local["phone"] != "ERP phone"
    assert local["city"] == erp_city


async def test_manual_conflict_is_kept_then_resolved(two_way: TwoWaySetup) -> None:
    await two_way.create(conflictPolicy="manual")
    assert (await two_way.run()).status == "succeeded"
    await both_edit_name(two_way, 9)
    held = await two_way.run()
    assert held.status == "succeeded", held.error
    assert held.stats["two_way"]["manual_conflicts"] == 1
    # Held on both sides: the ERP keeps its value, the pull does not overwrite the app's.
    assert two_way.erp(9)["NAME"] == "ERP name 9"
    assert (await two_way.local(code_of(9)))["name"] == "App name 9"
    (conflict,) = await list_conflicts(two_way.db, two_way.integration_id)
    assert conflict["fields_json"] == ["name"]
    assert conflict["local_json"]["name"] == "App name 9" and conflict["erp_json"]["name"] == "ERP name 9"
    assert conflict["baseline_json"]["name"] not in ("App name 9", "ERP name 9")

    with pytest.raises(ConflictError):
        await resolve_conflict(two_way.db, conflict["id"], "mine")
    resolution = await resolve_conflict(two_way.db, conflict["id"], "app")
    assert resolution.side == "app"
    applied = await two_way.run()
    assert applied.status == "succeeded", applied.error
    assert two_way.erp(9)["NAME"] == (await two_way.local(code_of(9)))["name"] == "App name 9"
    assert await list_conflicts(two_way.db, two_way.integration_id) == []
    (done,) = await list_conflicts(two_way.db, two_way.integration_id, status="resolved")
    assert done["resolution"] == "app"
    with pytest.raises(ConflictError):
        await resolve_conflict(two_way.db, conflict["id"], "erp")


async def test_manual_conflict_resolved_for_the_erp(two_way: TwoWaySetup) -> None:
    await two_way.create(conflictPolicy="manual")
    assert (await two_way.run()).status == "succeeded"
    await both_edit_name(two_way, 10)
    assert (await two_way.run()).stats["two_way"]["manual_conflicts"] == 1
    (conflict,) = await list_conflicts(two_way.db, two_way.integration_id)
    await resolve_conflict(two_way.db, conflict["id"], "erp-wins")
    assert (await two_way.run()).status == "succeeded"
    assert two_way.erp(10)["NAME"] == (await two_way.local(code_of(10)))["name"] == "ERP name 10"
