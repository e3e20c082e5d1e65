"""Protocol edges the simulator cannot produce (a UTF-8 server, a proxy's error pages).

These use httpx.MockTransport on purpose: the simulator always answers like SoftOne, and these
cases are about answers that do not come from SoftOne itself.
"""

from __future__ import annotations

import gzip
import logging

import httpx
import orjson
import pytest

from softone_sync.softone import (
    ConnectionSettings,
    ProtocolError,
    SoftOneClient,
    TransportError,
)

SECRET_PASSWORD = "s3cr3t-Πάσσγουορντ"
CLIENT_ID = "9J8pH7-temporary-and-final-%2bSECRETID"


def settings(**overrides):
    values = {
        "base_url": "http://erp.invalid/s1services",
        "username": "demo",
        "password": SECRET_PASSWORD,
        "app_id": "1001",
        "company": "1000",
        "branch": "1000",
        "module": "0",
        "refid": "500",
        "retries": 2,
    }
    values.update(overrides)
    return ConnectionSettings(**values)


def soft_one(handler_for_data):
    """A transport that logs in (one-step) and hands every other call to ``handler_for_data``."""
    calls: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        calls.append(body)
        if body["service"] == "login":
            return httpx.Response(200, json={"success": True, "clientID": CLIENT_ID})
        return handler_for_data(request, body)

    return httpx.MockTransport(handler), calls


def client_for(handler_for_data, **overrides):
    transport, calls = soft_one(handler_for_data)
    return SoftOneClient(settings(**overrides), transport=transport, backoff_base=0.001), calls


async def test_utf8_answer_is_decoded_as_utf8_when_the_header_says_so():
    greek = {"success": True, "count": 1, "objects": [{"name": "CUSTOMER", "caption": "Πελάτες €"}]}

    def handler(request, body):
        return httpx.Response(
            200, content=orjson.dumps(greek), headers={"Content-Type": "application/json; charset=utf-8"}
        )

    client, _ = client_for(handler)
    async with client:
        assert (await client.get_objects())[0]["caption"] == "Πελάτες €"


async def test_cp1253_is_the_default_without_a_charset():
    text = '{"success":true,"objects":[{"name":"CUSTOMER","caption":"Πελάτες Ά €"}]}'

    def handler(request, body):
        headers = {"Content-Type": "application/json"}
        return httpx.Response(200, content=text.encode("cp1253"), headers=headers)

    client, _ = client_for(handler)
    async with client:
        assert (await client.get_objects())[0]["caption"] == "Πελάτες Ά €"


async def test_envelope_keys_are_case_insensitive_and_gzip_is_asked_for():
    seen_headers = []

    def handler(request, body):
        seen_headers.append(request.headers)
        payload = b'{"SUCCESS":true,"TotalCount":1,"ROWS":[{"mtrl":"328"}]}'
        return httpx.Response(200, content=gzip.compress(payload), headers={"Content-Encoding": "gzip"})

    client, _ = client_for(handler)
    async with client:
        result = await client.sql_data("getItems", {"pMins": "60"})
    assert result.rows == [{"mtrl": "328"}]
    assert result.totalcount == 1
    assert "gzip" in seen_headers[0]["accept-encoding"]
    assert seen_headers[0]["content-type"].startswith("application/json")


async def test_proxy_error_page_is_retried_then_reported_with_its_text():
    def handler(request, body):
        return httpx.Response(502, text="<html><body>502 Bad Gateway: S1 Agent offline</body></html>")

    client, calls = client_for(handler)
    async with client:
        with pytest.raises(TransportError) as info:
            await client.get_objects()
    message = str(info.value)
    assert "HTTP 502" in message and "gave up after 3 attempts" in message
    assert len([c for c in calls if c["service"] == "getObjects"]) == 3


async def test_wrong_path_404_is_not_retried_and_says_what_to_check():
    def handler(request, body):
        return httpx.Response(404, text="Not Found")

    client, calls = client_for(handler)
    async with client:
        with pytest.raises(TransportError, match=r"HTTP 404 .* check that the URL ends in /s1services"):
            await client.get_objects()
    assert len([c for c in calls if c["service"] == "getObjects"]) == 1


async def test_ping_banner_instead_of_json_is_a_transport_error():
    def handler(request, body):
        return httpx.Response(200, text="Ping from Softone WebModule<br>ISAPI is working - Module configured")

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(TransportError, match=r"not SoftOne JSON.*Ping from Softone WebModule"):
            await client.get_objects()


async def test_answer_without_success_flag_is_a_protocol_error():
    def handler(request, body):
        return httpx.Response(200, json={"hello": "world"})

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(ProtocolError, match="no 'success' flag"):
            await client.get_objects()


async def test_secrets_never_reach_messages_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="softone_sync")

    def handler(request, body):
        # A broken gateway that echoes the clientID in its error text.
        return httpx.Response(200, json={"success": False, "errorcode": 0, "error": f"bad {CLIENT_ID}"})

    client, _ = client_for(handler)
    async with client:
        with pytest.raises(Exception) as info:
            await client.get_objects()
        session_repr = repr(client.session)
    texts = [str(info.value), repr(info.value), repr(client), repr(client.settings), session_repr]
    texts.append(caplog.text)
    for text in texts:
        assert SECRET_PASSWORD not in text
        assert CLIENT_ID not in text
    assert "<clientID>" in str(info.value)


def test_settings_are_validated_with_precise_messages():
    with pytest.raises(ValueError, match="base_url must be an http"):
        settings(base_url="erp.example.com/s1services")
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        settings(max_concurrency=0)
    with pytest.raises(ValueError, match="erp_timezone: 'Nowhere' is not an IANA timezone"):
        settings(erp_timezone="Nowhere")
    with pytest.raises(ValueError) as info:
        settings(base_url="ftp://user:pw@host/s1services")
    assert "pw" not in str(info.value)
