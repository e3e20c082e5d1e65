"""Management API: connections, integrations, runs, rejects, health — on both databases."""

# The API server runs in its own thread and loop: a blocking httpx call in an async test waits for
# it without starving it, and keeps the assertions as plain as a user's curl session.
# ruff: noqa: ASYNC212

from __future__ import annotations

import httpx

from softone_sync.cli.demo import customers_config
from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import (
    ERP_PASSWORD,
    SECRET_KEY,
    add_connection,
    add_integration,
    admin,
    count_rows,
    create_demo_tables,
    cron,
)

PASSWORD_MARKERS = ("password", "passwordEncrypted")


def assert_no_password(response: httpx.Response, password: str) -> None:
    assert password not in response.text
    assert SECRET_KEY not in response.text
    assert '"password"' not in response.text
    assert "passwordEncrypted" not in response.text


def test_connection_crud_never_returns_the_password(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    secret = "Sup3r-Secret-Pw!"
    created = client.post(
        "/api/connections",
        json={
            "name": "erp",
            "baseUrl": simulator.url,
            "username": "demo",
            "password": secret,
            "appId": "1001",
        },
        headers=admin(),
    )
    assert created.status_code == 201, created.text
    assert_no_password(created, secret)
    connection = created.json()
    assert connection["hasPassword"] is True
    cid = connection["id"]

    for response in (
        client.get("/api/connections", headers=admin()),
        client.get(f"/api/connections/{cid}", headers=admin()),
        client.patch(
            f"/api/connections/{cid}", json={"company": "1000", "password": "x" + secret}, headers=admin()
        ),
        client.post(f"/api/connections/{cid}/test", headers=admin()),
    ):
        assert response.status_code == 200, response.text
        assert_no_password(response, secret)
        assert "x" + secret not in response.text

    duplicate = client.post(
        "/api/connections",
        json={"name": "erp", "baseUrl": simulator.url, "username": "demo", "password": "p", "appId": "1001"},
        headers=admin(),
    )
    assert duplicate.status_code == 409
    assert client.delete(f"/api/connections/{cid}", headers=admin()).status_code == 204
    assert client.get(f"/api/connections/{cid}", headers=admin()).status_code == 404


def test_connection_test_reports_version_and_company(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    good = add_connection(client, simulator.url)
    report = client.post(f"/api/connections/{good['id']}/test", headers=admin()).json()
    assert report["ok"] is True
    assert report["company"] == "1000"
    # Without the full login context the client logs in, then authenticates: that answer carries
    # the ERP version and the company's name (a one-step login reports neither).
    two_step = add_connection(
        client, simulator.url, name="two-step", company=None, branch=None, module=None, refid=None
    )
    report = client.post(f"/api/connections/{two_step['id']}/test", headers=admin()).json()
    assert (report["ok"], report["company"], report["companyName"]) == (True, "1000", "Standard Company")
    assert report["version"]

    bad = add_connection(client, simulator.url, name="wrong", password="not-demo")
    report = client.post(f"/api/connections/{bad['id']}/test", headers=admin()).json()
    assert report["ok"] is False
    assert report["errorType"] == "BadCredentials"
    assert "not-demo" not in str(report)


def test_connection_writes_are_validated(client: httpx.Client) -> None:
    base = {
        "name": "erp",
        "baseUrl": "http://erp.example/s1services",
        "username": "u",
        "password": "p",
        "appId": "1",
    }
    cases = {
        "baseUrl": {**base, "baseUrl": "ftp://erp"},
        "erpTimezone": {**base, "erpTimezone": "Mars/Olympus"},
        "password": {key: value for key, value in base.items() if key != "password"},
        "maxConcurrentRequests": {**base, "maxConcurrentRequests": 0},
    }
    for field, body in cases.items():
        response = client.post("/api/connections", json=body, headers=admin())
        assert response.status_code == 422, (field, response.text)
        assert field in [e["field"] for e in response.json()["detail"]], response.text
    assert client.get("/api/connections", headers=admin()).json() == {"connections": []}


def test_integration_writes_name_the_invalid_field_and_write_nothing(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    cid = add_connection(client, simulator.url)["id"]

    def config(**changes: object) -> dict[str, object]:
        value = customers_config()
        value.update(changes)
        return value

    cases = [
        (config(schedule={"cronExpression": "61 * * * *"}), "configJson.schedule.cronExpression"),
        (config(schedule={"cronExpression": "* * *"}), "configJson.schedule.cronExpression"),
        (
            config(schedule={"cronExpression": "* * * * *", "timezone": "Europe/Atlantis"}),
            "configJson.schedule.timezone",
        ),
        (
            config(mappings=[{"erpField": "CODE", "column": "code", "convert": "float"}]),
            "configJson.mappings[0].convert",
        ),
        (config(target={}), "configJson.target.table"),
    ]
    for config_json, field in cases:
        response = client.post(
            "/api/integrations",
            json={"name": "x", "connectionId": cid, "configJson": config_json},
            headers=admin(),
        )
        assert response.status_code == 422, (field, response.text)
        assert field in [e["field"] for e in response.json()["detail"]], response.text

    bad_connection = {"name": "x", "connectionId": "nope", "configJson": customers_config()}
    response = client.post("/api/integrations", json=bad_connection, headers=admin())
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "connectionId"
    response = client.post(
        "/api/integrations",
        json={"name": "x", "connectionId": cid, "configJson": {}, "isActve": True},
        headers=admin(),
    )
    assert response.status_code == 422
    assert "isActve" in [e["field"] for e in response.json()["detail"]]
    assert client.get("/api/integrations", headers=admin()).json() == {"integrations": []}


def test_integration_lifecycle_reschedules(client: httpx.Client, simulator: RunningSimulator) -> None:
    integration = add_integration(client, add_connection(client, simulator.url)["id"])
    iid = integration["id"]
    assert integration["isActive"] is True
    assert integration["nextRunAt"] is not None

    disabled = client.post(f"/api/integrations/{iid}/disable", headers=admin()).json()
    assert (disabled["isActive"], disabled["nextRunAt"]) == (False, None)
    enabled = client.post(f"/api/integrations/{iid}/enable", headers=admin()).json()
    assert enabled["isActive"] is True and enabled["nextRunAt"] is not None

    config = customers_config(cron="0 3 * * *")
    updated = client.patch(f"/api/integrations/{iid}", json={"configJson": config}, headers=admin())
    assert updated.status_code == 200, updated.text
    assert updated.json()["nextRunAt"].endswith(("00:00+00:00", "00:00Z"))
    assert updated.json()["scheduleVersion"] > integration["scheduleVersion"]  # type: ignore[operator]
    bad = client.put(
        f"/api/integrations/{iid}", json={"configJson": customers_config(cron="nope")}, headers=admin()
    )
    assert bad.status_code == 422
    assert client.get(f"/api/integrations/{iid}", headers=admin()).json()["configJson"] == config

    assert client.delete(f"/api/integrations/{iid}", headers=admin()).status_code == 204
    assert client.get(f"/api/integrations/{iid}", headers=admin()).status_code == 404
    assert client.delete(f"/api/integrations/{iid}", headers=admin()).status_code == 404


def test_a_connection_in_use_cannot_be_deleted(client: httpx.Client, simulator: RunningSimulator) -> None:
    cid = add_connection(client, simulator.url)["id"]
    add_integration(client, cid)
    response = client.delete(f"/api/connections/{cid}", headers=admin())
    assert response.status_code == 409
    assert "customers" in response.json()["detail"]


async def test_validate_and_dry_run(client: httpx.Client, db: Database, simulator: RunningSimulator) -> None:
    iid = add_integration(client, add_connection(client, simulator.url)["id"])["id"]
    report = client.post(f"/api/integrations/{iid}/validate", headers=admin()).json()
    assert report["ok"] is False  # the application table does not exist yet
    assert any(not check["ok"] and check["name"].startswith("target") for check in report["checks"]), report

    await create_demo_tables(db)
    report = client.post(f"/api/integrations/{iid}/validate", headers=admin()).json()
    assert report["ok"] is True, report

    preview = client.post(f"/api/integrations/{iid}/dry-run", headers=admin())
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["status"], body["dryRun"], body["created"]) == ("succeeded", True, 250)
    assert await count_rows(db, "customers") == 0
    missing = client.post(f"/api/integrations/{'0' * 32}/dry-run", headers=admin())
    assert missing.status_code == 404 and missing.json()["error"] == "not-found", missing.text
    assert "no integration" in missing.json()["detail"]


def test_runs_rejects_and_their_filters(
    client: httpx.Client, db: Database, simulator: RunningSimulator
) -> None:
    cid = add_connection(client, simulator.url)["id"]
    iid = add_integration(client, cid)["id"]
    # The target table is missing: a recorded failed run.
    failed = client.post("/api/cron/sync-integration", json={"integrationId": iid}, headers=cron()).json()
    assert failed["status"] == "failed"
    assert failed["error"]

    runs = client.get("/api/runs", params={"integrationId": iid}, headers=admin()).json()["runs"]
    assert [r["id"] for r in runs] == [failed["runId"]]
    assert client.get("/api/runs", params={"status": "succeeded"}, headers=admin()).json()["runs"] == []
    assert client.get("/api/runs", params={"status": "bogus"}, headers=admin()).status_code == 422
    assert client.get("/api/runs", params={"limit": 0}, headers=admin()).status_code == 422

    assert client.get(f"/api/integrations/{iid}/rejects", headers=admin()).json() == {
        "integrationId": iid,
        "rejects": [],
    }
    assert client.get("/api/integrations/nope/rejects", headers=admin()).status_code == 404
    assert client.get("/api/integrations/nope/slots", headers=admin()).status_code == 404


def test_health_probes(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "scheduler": "disabled"}


def test_openapi_documents_the_cron_contract(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/cron/init", "/api/cron/startup", "/api/cron/sync-integration", "/api/runs/{run_id}"} <= set(
        paths
    )


def test_password_never_in_any_answer(client: httpx.Client, simulator: RunningSimulator) -> None:
    cid = add_connection(client, simulator.url, password=ERP_PASSWORD + "-unique-7731")["id"]
    for path in ("/api/connections", f"/api/connections/{cid}", "/api/integrations", "/openapi.json"):
        assert ERP_PASSWORD + "-unique-7731" not in client.get(path, headers=admin()).text
