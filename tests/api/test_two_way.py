"""Two-way sync through the management API: capture follows the integration, conflicts, push rejects.

Each test drives a real API server (its own thread and loop) over loopback and the simulator as the
ERP; the application's writes go straight to the database, as the application's would.
"""

# ruff: noqa: ASYNC212  (blocking httpx calls to a server on another thread, as in test_management)

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import ADMIN_TOKEN, CRON_SECRET, SECRET_KEY, add_connection, admin, cron
from tests.twoway.helpers import DDL, code_of, two_way_config

SYNC = "/api/cron/sync-integration"
CUSTOMERS = 30


@pytest.fixture
def erp(make_simulator: Any) -> RunningSimulator:
    running: RunningSimulator = make_simulator(customers=CUSTOMERS)
    return running


async def app_sql(db: Database, statement: str, params: dict[str, Any] | None = None) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(statement), params or {})


async def scalar(db: Database, statement: str, params: dict[str, Any] | None = None) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(sa.text(statement), params or {})).scalar_one()


async def capture_triggers(db: Database) -> int:
    if db.dialect == "postgresql":
        query = (
            "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'softone_sync_capture_%' AND NOT tgisinternal"
        )
    else:
        query = (
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'softone_sync_capture_%'"
        )
    return int(await scalar(db, query))


def create(
    client: httpx.Client, connection_id: str, config: dict[str, Any], name: str = "customers"
) -> httpx.Response:
    body = {"name": name, "connectionId": connection_id, "configJson": config}
    return client.post("/api/integrations", json=body, headers=admin())


def sync(client: httpx.Client, integration_id: str) -> dict[str, Any]:
    response = client.post(SYNC, json={"integrationId": integration_id}, headers=cron())
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["status"] == "succeeded", body
    return body


def shown(client: httpx.Client, integration_id: str) -> dict[str, Any]:
    response = client.get(f"/api/integrations/{integration_id}", headers=admin())
    assert response.status_code == 200, response.text
    return dict(response.json())


def assert_no_secrets(text: str) -> None:
    # The simulator's password is "demo", also its user name: the field names stand in for it.
    for secret in ('"password"', "passwordEncrypted", SECRET_KEY, ADMIN_TOKEN, CRON_SECRET):
        assert secret not in text


async def test_two_way_lifecycle_capture_push_and_delete(
    client: httpx.Client, db: Database, erp: RunningSimulator
) -> None:
    await app_sql(db, DDL)
    connection_id = str(add_connection(client, erp.url)["id"])
    created = create(client, connection_id, two_way_config())
    assert created.status_code == 201, created.text
    integration = created.json()
    assert integration["direction"] == "two-way"
    assert integration["twoWay"] == {
        "captureInstalled": True,
        "pendingChanges": 0,
        "openConflicts": 0,
        "resolvingConflicts": 0,
    }
    iid = integration["id"]
    assert sync(client, iid)["created"] == CUSTOMERS

    # An application UPDATE lands in the outbox, and the next sync sends it to the ERP.
    await app_sql(db, """UPDATE "Customers" SET phone = '2101234567' WHERE code = :c""", {"c": code_of(5)})
    assert shown(client, iid)["twoWay"]["pendingChanges"] == 1
    pushed = sync(client, iid)
    assert pushed["pushed"] == 1
    record = erp.simulator.get_record("CUSTOMER", 5)
    assert record is not None and record["PHONE01"] == "2101234567"
    assert shown(client, iid)["twoWay"]["pendingChanges"] == 0

    # Disabling keeps capturing: a change made while paused is not lost.
    assert client.post(f"/api/integrations/{iid}/disable", headers=admin()).status_code == 200
    await app_sql(db, """UPDATE "Customers" SET city = 'Paused' WHERE code = :c""", {"c": code_of(6)})
    paused = shown(client, iid)
    assert (paused["isActive"], paused["twoWay"]["captureInstalled"]) == (False, True)
    assert paused["twoWay"]["pendingChanges"] == 1
    assert_no_secrets(client.get("/api/integrations", headers=admin()).text)

    # Delete removes the triggers first: a later application write succeeds and lands nowhere.
    assert client.delete(f"/api/integrations/{iid}", headers=admin()).status_code == 204
    assert await capture_triggers(db) == 0
    await app_sql(db, """UPDATE "Customers" SET phone = '999' WHERE code = :c""", {"c": code_of(7)})
    assert await scalar(db, "SELECT count(*) FROM sync_outbox") == 0
    assert client.get(f"/api/integrations/{iid}", headers=admin()).status_code == 404


async def test_switching_direction_installs_and_removes_capture(
    client: httpx.Client, db: Database, erp: RunningSimulator
) -> None:
    await app_sql(db, DDL)
    connection_id = str(add_connection(client, erp.url)["id"])
    one_way = two_way_config()
    one_way["direction"] = "one-way"
    integration = create(client, connection_id, one_way).json()
    assert (integration["direction"], integration["twoWay"]) == ("one-way", None)
    iid = integration["id"]
    assert sync(client, iid)["created"] == CUSTOMERS
    assert await capture_triggers(db) == 0

    switched = client.patch(
        f"/api/integrations/{iid}", json={"configJson": two_way_config()}, headers=admin()
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["twoWay"]["captureInstalled"] is True
    assert await capture_triggers(db) > 0

    # Same table, one more synced column left out: the triggers are replaced, the pending change kept.
    await app_sql(db, """UPDATE "Customers" SET name = 'Pending' WHERE code = :c""", {"c": code_of(2)})
    fewer = two_way_config()
    fewer["mappings"] = [m for m in fewer["mappings"] if m["column"] != "remarks"]
    edited = client.patch(f"/api/integrations/{iid}", json={"configJson": fewer}, headers=admin())
    assert edited.status_code == 200, edited.text
    assert edited.json()["twoWay"] == {**switched.json()["twoWay"], "pendingChanges": 1}

    back = client.patch(f"/api/integrations/{iid}", json={"configJson": one_way}, headers=admin())
    assert back.status_code == 200, back.text
    assert back.json()["twoWay"] is None
    assert await capture_triggers(db) == 0
    assert await scalar(db, "SELECT count(*) FROM sync_outbox") == 0


async def test_a_target_two_way_cannot_capture_is_refused_with_nothing_written(
    client: httpx.Client, db: Database, erp: RunningSimulator
) -> None:
    connection_id = str(add_connection(client, erp.url)["id"])
    missing = create(client, connection_id, two_way_config())  # no "Customers" table yet
    assert missing.status_code == 422, missing.text
    (error,) = missing.json()["detail"]
    assert error["field"] == "configJson.target.table" and "Customers" in error["message"]
    assert client.get("/api/integrations", headers=admin()).json()["integrations"] == []
    assert "Traceback" not in missing.text

    await app_sql(db, DDL)
    one_way = two_way_config()
    one_way["direction"] = "one-way"
    iid = create(client, connection_id, one_way).json()["id"]
    wrong_table = copy.deepcopy(two_way_config())
    wrong_table["target"] = {"table": "NoSuchTable"}
    refused = client.patch(f"/api/integrations/{iid}", json={"configJson": wrong_table}, headers=admin())
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["field"] == "configJson.target.table"
    assert shown(client, iid)["configJson"] == one_way  # unchanged
    assert await capture_triggers(db) == 0


async def make_manual_conflicts(
    client: httpx.Client, db: Database, erp: RunningSimulator, keys: list[int]
) -> str:
    """A two-way integration with the manual policy and one open conflict per key (name edited both sides)."""
    await app_sql(db, DDL)
    connection_id = str(add_connection(client, erp.url)["id"])
    iid = str(create(client, connection_id, two_way_config(conflictPolicy="manual")).json()["id"])
    sync(client, iid)
    for key in keys:
        erp.simulator.update_record("CUSTOMER", key, {"NAME": f"ERP name {key}"})
        await app_sql(
            db,
            """UPDATE "Customers" SET name = :n WHERE code = :c""",
            {"n": f"App name {key}", "c": code_of(key)},
        )
    sync(client, iid)
    return iid


async def test_conflicts_listed_and_resolved_through_the_api(
    client: httpx.Client, db: Database, erp: RunningSimulator
) -> None:
    iid = await make_manual_conflicts(client, db, erp, [5, 6])
    assert shown(client, iid)["twoWay"]["openConflicts"] == 2
    listed = client.get(f"/api/integrations/{iid}/conflicts", headers=admin())
    assert listed.status_code == 200, listed.text
    assert_no_secrets(listed.text)
    conflicts = {c["recordKey"]: c for c in listed.json()["conflicts"]}
    assert set(conflicts) == {code_of(5), code_of(6)}
    (field,) = conflicts[code_of(5)]["fields"]
    assert (field["field"], field["app"], field["erp"]) == ("name", "App name 5", "ERP name 5")
    assert field["baseline"] not in (None, "App name 5", "ERP name 5")

    first, second = conflicts[code_of(5)]["id"], conflicts[code_of(6)]["id"]
    assert (
        client.post(f"/api/conflicts/{first}/resolve", json={"side": "mine"}, headers=admin()).status_code
        == 422
    )
    assert client.post(f"/api/conflicts/{first}/resolve", json={}, headers=admin()).status_code == 422
    unknown = client.post("/api/conflicts/999999/resolve", json={"side": "app"}, headers=admin())
    assert unknown.status_code == 404 and unknown.json()["error"] == "not-found"
    assert client.post(f"/api/conflicts/{first}/resolve", json={"side": "app"}).status_code == 401

    kept_app = client.post(f"/api/conflicts/{first}/resolve", json={"side": "app"}, headers=admin())
    assert kept_app.status_code == 200, kept_app.text
    assert (kept_app.json()["side"], kept_app.json()["status"]) == ("app", "resolving")
    kept_erp = client.post(f"/api/conflicts/{second}/resolve", json={"side": "erp"}, headers=admin())
    assert kept_erp.status_code == 200
    assert client.get(f"/api/integrations/{iid}/conflicts", headers=admin()).json()["conflicts"] == []

    sync(client, iid)
    local = {
        code: name
        for code, name in await rows(
            db, """SELECT code, name FROM "Customers" WHERE code IN (:a, :b)""", code_of(5), code_of(6)
        )
    }
    assert erp.simulator.get_record("CUSTOMER", 5)["NAME"] == local[code_of(5)] == "App name 5"
    assert erp.simulator.get_record("CUSTOMER", 6)["NAME"] == local[code_of(6)] == "ERP name 6"
    again = client.post(f"/api/conflicts/{first}/resolve", json={"side": "erp"}, headers=admin())
    assert again.status_code == 409 and "already resolved" in again.json()["detail"]
    resolved = client.get(f"/api/integrations/{iid}/conflicts?status=resolved", headers=admin()).json()
    assert {(c["id"], c["status"], c["resolution"]) for c in resolved["conflicts"]} == {
        (first, "resolved", "app"),
        (second, "resolved", "erp"),
    }
    assert client.get(f"/api/integrations/{iid}/conflicts?status=nope", headers=admin()).status_code == 422
    assert client.get("/api/integrations/unknown/conflicts", headers=admin()).status_code == 404


async def rows(db: Database, statement: str, a: str, b: str) -> list[tuple[Any, ...]]:
    async with db.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text(statement), {"a": a, "b": b})]


async def test_rejects_say_whether_the_pull_or_the_push_failed(
    client: httpx.Client, db: Database, erp: RunningSimulator
) -> None:
    await app_sql(db, DDL)
    connection_id = str(add_connection(client, erp.url)["id"])
    iid = str(create(client, connection_id, two_way_config()).json()["id"])
    sync(client, iid)
    # Text SoftOne cannot store (outside windows-1253): the push of this record is refused.
    await app_sql(db, """UPDATE "Customers" SET name = 'Жуков 😀' WHERE code = :c""", {"c": code_of(3)})
    assert sync(client, iid)["failed"] == 1
    listed = client.get(f"/api/integrations/{iid}/rejects", headers=admin()).json()["rejects"]
    (reject,) = listed
    assert (reject["kind"], reject["record"], reject["recordKey"]) == (
        "push",
        code_of(3),
        f"push:{code_of(3)}",
    )
    assert "windows-1253" in reject["reason"]
    assert client.get(f"/api/integrations/{iid}/rejects?kind=pull", headers=admin()).json()["rejects"] == []
    assert (
        len(client.get(f"/api/integrations/{iid}/rejects?kind=push", headers=admin()).json()["rejects"]) == 1
    )
    assert client.get(f"/api/integrations/{iid}/rejects?kind=sideways", headers=admin()).status_code == 422
