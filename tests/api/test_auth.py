"""Who may call the cron and management endpoints: secrets, the admin token, the IP allow-list.

Authentication does not depend on the database dialect, so these run on SQLite only; the
endpoints' database behaviour is covered on both dialects in the other modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from softone_sync.api import create_app
from tests.api.conftest import ADMIN_TOKEN, CRON_SECRET, admin, cron, make_settings
from tests.fixtures.live_server import start_server

SYNC = "/api/cron/sync-integration"
UNKNOWN = {"integrationId": "0" * 32}


@pytest.fixture(params=["sqlite"])
def db_dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def serve(database_url: str, **overrides: object) -> Iterator[httpx.Client]:
    live = start_server(create_app(make_settings(database_url, **overrides), scheduler=False))
    try:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            yield http
    finally:
        live.stop()


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert "detail" in body
    assert "Traceback" not in response.text
    return dict(body)


def test_sync_integration_without_secret_is_401(client: httpx.Client) -> None:
    response = client.post(SYNC, json=UNKNOWN)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_secret_is_401_on_every_cron_endpoint(client: httpx.Client) -> None:
    wrong = {"X-Cron-Secret": CRON_SECRET + "x"}
    assert_error(client.post(SYNC, json=UNKNOWN, headers=wrong), 401, "unauthorized")
    assert_error(client.get("/api/cron/init", headers=wrong), 401, "unauthorized")
    assert_error(client.get("/api/cron/startup", headers=wrong), 401, "unauthorized")
    bearer_wrong = {"Authorization": "Bearer nope"}
    assert_error(client.get("/api/cron/init", headers=bearer_wrong), 401, "unauthorized")


def test_secret_accepted_as_header_and_as_bearer(client: httpx.Client) -> None:
    # Past authentication the unknown id is what fails: proof the secret was accepted.
    assert_error(client.post(SYNC, json=UNKNOWN, headers=cron()), 404, "not-found")
    bearer = {"Authorization": f"Bearer {CRON_SECRET}"}
    assert_error(client.post(SYNC, json=UNKNOWN, headers=bearer), 404, "not-found")


def test_non_ascii_secret_is_a_401_not_a_crash(client: httpx.Client) -> None:
    response = client.post(SYNC, json=UNKNOWN, headers={"X-Cron-Secret": "καλημέρα".encode()})
    assert_error(response, 401, "unauthorized")


def test_unset_cron_secret_refuses_with_503_saying_what_to_set(database_url: str) -> None:
    with serve(database_url, cron_secret=None) as http:
        body = assert_error(http.post(SYNC, json=UNKNOWN), 503, "cron-secret-not-configured")
        assert "CRON_SECRET" in str(body["detail"])
        # A secret presented to a server that has none cannot be checked either.
        assert_error(http.get("/api/cron/init", headers=cron()), 503, "cron-secret-not-configured")


def test_ip_allow_list_refuses_other_callers_with_403(database_url: str) -> None:
    with serve(database_url, cron_allowed_ips="10.0.0.0/8") as http:
        assert_error(http.post(SYNC, json=UNKNOWN, headers=cron()), 403, "forbidden")
        assert_error(http.get("/api/cron/init"), 403, "forbidden")
        # X-Forwarded-For from an untrusted peer is not believed.
        spoofed = {**cron(), "X-Forwarded-For": "10.1.2.3"}
        assert_error(http.post(SYNC, json=UNKNOWN, headers=spoofed), 403, "forbidden")


def test_ip_allow_list_admits_listed_callers(database_url: str) -> None:
    with serve(database_url, cron_allowed_ips="127.0.0.1/32, ::1/128") as http:
        assert_error(http.post(SYNC, json=UNKNOWN, headers=cron()), 404, "not-found")


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(database_url: str) -> None:
    with serve(database_url, cron_allowed_ips="10.0.0.0/8", trusted_proxies="127.0.0.0/8") as http:
        via_proxy = {**cron(), "X-Forwarded-For": "10.1.2.3"}
        assert_error(http.post(SYNC, json=UNKNOWN, headers=via_proxy), 404, "not-found")
        # The client-controlled left part cannot smuggle an allowed address past the last hop.
        smuggled = {**cron(), "X-Forwarded-For": "10.1.2.3, 203.0.113.9"}
        assert_error(http.post(SYNC, json=UNKNOWN, headers=smuggled), 403, "forbidden")
        garbled = {**cron(), "X-Forwarded-For": "not-an-ip"}
        assert_error(http.post(SYNC, json=UNKNOWN, headers=garbled), 403, "forbidden")


def test_management_api_needs_the_admin_token(client: httpx.Client) -> None:
    assert_error(client.get("/api/integrations"), 401, "unauthorized")
    assert_error(
        client.get("/api/integrations", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized"
    )
    # The cron secret is not an admin token.
    assert_error(
        client.get("/api/connections", headers={"Authorization": f"Bearer {CRON_SECRET}"}),
        401,
        "unauthorized",
    )
    assert client.get("/api/integrations", headers=admin()).json() == {"integrations": []}


def test_unset_admin_token_refuses_with_503(database_url: str) -> None:
    with serve(database_url, admin_token=None) as http:
        body = assert_error(http.get("/api/connections", headers=admin()), 503, "admin-token-not-configured")
        assert "ADMIN_TOKEN" in str(body["detail"])


def test_run_status_is_readable_with_either_credential(client: httpx.Client) -> None:
    missing = "/api/runs/" + "f" * 32
    assert_error(client.get(missing), 401, "unauthorized")
    assert_error(client.get(missing, headers=cron()), 404, "not-found")
    assert_error(client.get(missing, headers={"Authorization": f"Bearer {CRON_SECRET}"}), 404, "not-found")
    assert_error(client.get(missing, headers=admin()), 404, "not-found")


def test_malformed_bodies_are_422_naming_the_problem(client: httpx.Client) -> None:
    headers = {**cron(), "Content-Type": "application/json"}
    body = assert_error(
        client.post(SYNC, content=b'{"integrationId": ', headers=headers), 422, "invalid-request"
    )
    assert "malformed JSON" in str(body["detail"])
    body = assert_error(client.post(SYNC, json={"integrationId": 5}, headers=cron()), 422, "invalid-request")
    assert body["detail"][0]["field"] == "integrationId"  # type: ignore[index]
    body = assert_error(client.post(SYNC, json={}, headers=cron()), 422, "invalid-request")
    assert body["detail"][0]["field"] == "integrationId"  # type: ignore[index]
    body = assert_error(client.post(SYNC, json=["x"], headers=cron()), 422, "invalid-request")
    assert_error(client.post(SYNC, json={"integrationId": ""}, headers=cron()), 422, "invalid-request")


def test_oversized_body_is_413_announced_or_streamed(client: httpx.Client) -> None:
    big = b'{"integrationId": "' + b"x" * 100_000 + b'"}'
    headers = {**cron(), "Content-Type": "application/json"}
    assert_error(client.post(SYNC, content=big, headers=headers), 413, "body-too-large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    assert_error(client.post(SYNC, content=chunks(), headers=headers), 413, "body-too-large")


def test_unknown_paths_and_methods_answer_json(client: httpx.Client) -> None:
    assert_error(client.get("/api/nope"), 404, "not-found")
    assert_error(client.get(SYNC, headers=cron()), 405, "method-not-allowed")


def test_secrets_never_appear_in_answers(client: httpx.Client) -> None:
    responses = [
        client.post(SYNC, json=UNKNOWN, headers={"X-Cron-Secret": CRON_SECRET[:-1]}),
        client.post(SYNC, json={"integrationId": 5}, headers=cron()),
        client.get("/api/integrations", headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"}),
        client.get("/openapi.json"),
    ]
    for response in responses:
        assert CRON_SECRET not in response.text
        assert ADMIN_TOKEN not in response.text
        assert CRON_SECRET[:-1] not in response.text
