"""Bad input found by fuzzing the live API: each answer is a precise 4xx, never a 500, nothing written."""

from __future__ import annotations

import httpx

from softone_sync.cli.demo import customers_config
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import add_connection, add_integration, admin, cron

BEYOND_BIGINT = str(2**64)  # no row id can be this large; the drivers overflow on it


def fields_of(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["detail"]]


def test_a_conflict_id_beyond_any_row_is_not_found(client: httpx.Client) -> None:
    for conflict_id in (BEYOND_BIGINT, str(2**63), "0"):
        read = client.get(f"/api/conflicts/{conflict_id}", headers=admin())
        assert read.status_code == 404, read.text
        assert read.json()["error"] == "not-found"
        assert conflict_id in read.json()["detail"]

        resolve = client.post(f"/api/conflicts/{conflict_id}/resolve", json={"side": "erp"}, headers=admin())
        assert resolve.status_code == 404, resolve.text


def test_an_unparsable_base_url_names_base_url_and_writes_nothing(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    body = {"name": "erp", "username": "u", "password": "s3cret-pw", "appId": "1"}
    for url in ("http://[::1", "http://erp.example:port/s1services", "http://u:s3cret-pw@[::1/"):
        created = client.post("/api/connections", json={**body, "baseUrl": url}, headers=admin())
        assert created.status_code == 422, (url, created.text)
        assert fields_of(created) == ["baseUrl"]
        assert "s3cret-pw" not in created.text
    assert client.get("/api/connections", headers=admin()).json() == {"connections": []}

    connection = add_connection(client, simulator.url)
    patched = client.patch(
        f"/api/connections/{connection['id']}", json={"baseUrl": "http://[::1"}, headers=admin()
    )
    assert patched.status_code == 422, patched.text
    assert fields_of(patched) == ["baseUrl"]
    kept = client.get(f"/api/connections/{connection['id']}", headers=admin()).json()
    assert kept["baseUrl"] == simulator.url


def test_a_timezone_too_long_for_a_file_name_names_the_timezone(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    cid = add_connection(client, simulator.url)["id"]
    config = customers_config()
    config["schedule"] = {"cronExpression": "* * * * *", "timezone": "x" * 5000}

    created = client.post(
        "/api/integrations",
        json={"name": "customers", "connectionId": cid, "configJson": config},
        headers=admin(),
    )
    assert created.status_code == 422, created.text
    assert fields_of(created) == ["configJson.schedule.timezone"]
    assert client.get("/api/integrations", headers=admin()).json() == {"integrations": []}

    integration = add_integration(client, cid)
    patched = client.patch(
        f"/api/integrations/{integration['id']}", json={"configJson": config}, headers=admin()
    )
    assert patched.status_code == 422, patched.text
    assert fields_of(patched) == ["configJson.schedule.timezone"]
    kept = client.get(f"/api/integrations/{integration['id']}", headers=admin()).json()
    assert kept["configJson"] == integration["configJson"]


def test_a_nul_character_anywhere_is_refused_naming_the_field(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    """PostgreSQL text cannot hold NUL; every dialect refuses it up front instead of failing in the driver."""
    connection = add_connection(client, simulator.url)
    integration = add_integration(client, connection["id"])
    iid = integration["id"]

    def refused(response: httpx.Response, *fields: str) -> None:
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid-request"
        assert fields_of(response) == list(fields)
        assert "NUL" in response.json()["detail"][0]["message"]

    config = customers_config()
    config["mappings"][1]["column"] = "co\x00de"
    refused(
        client.post(
            "/api/integrations",
            json={"name": "x", "connectionId": connection["id"], "configJson": config},
            headers=admin(),
        ),
        "configJson.mappings[1].column",
    )
    refused(client.patch(f"/api/integrations/{iid}", json={"name": "a\x00b"}, headers=admin()), "name")
    refused(
        client.post(
            "/api/connections",
            json={
                "name": "erp2",
                "baseUrl": simulator.url,
                "username": "\x00",
                "password": "p",
                "appId": "1",
            },
            headers=admin(),
        ),
        "username",
    )
    refused(client.get("/api/integrations/a%00b", headers=admin()), "integration_id")
    refused(client.get("/api/runs?integrationId=%00", headers=admin()), "integrationId")
    refused(
        client.post("/api/cron/sync-integration", json={"integrationId": "\x00"}, headers=cron()),
        "integrationId",
    )

    # Nothing was written or changed.
    assert [i["id"] for i in client.get("/api/integrations", headers=admin()).json()["integrations"]] == [iid]
    assert client.get(f"/api/integrations/{iid}", headers=admin()).json()["name"] == integration["name"]
    assert len(client.get("/api/connections", headers=admin()).json()["connections"]) == 1


def test_an_escaped_backslash_u0000_is_ordinary_text(
    client: httpx.Client, simulator: RunningSimulator
) -> None:
    """The six characters \\u0000 (an escaped backslash in JSON) are not a NUL and are kept as given."""
    connection = add_connection(client, simulator.url)
    renamed = client.patch(
        f"/api/connections/{connection['id']}", json={"name": "erp \\u0000"}, headers=admin()
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "erp \\u0000"
