"""Transport conventions: cp1253 bytes, gzip, any Content-Type, case-insensitive names, ping."""

from __future__ import annotations

import gzip
import json

import httpx

from softone_sync.softone.simulator import RunningSimulator, SimulatorConfig, create_app
from tests.simulator.conftest import CONTEXT, LOGIN, S1, error_of


def test_answers_are_windows_1253_bytes_with_the_s1_header(s1: S1) -> None:
    response = s1.raw(
        {"service": "getData", "clientID": s1.client_id, "appId": "1001", "OBJECT": "CUSTOMER", "KEY": 1},
        headers={"Accept-Encoding": "identity"},
    )
    assert response.headers["content-type"] == "application/json; charset=windows-1253"
    assert "content-encoding" not in response.headers
    name = json.loads(response.content.decode("cp1253"))["data"]["CUSTOMER"][0]["NAME"]
    assert any("\u0370" <= ch <= "\u03ff" for ch in name)  # Greek text
    assert name.encode("cp1253") in response.content  # raw 1253 bytes...
    assert b"\\u" not in response.content  # ...not \u escapes
    try:
        response.content.decode("utf-8")
        raise AssertionError("a Greek answer must not be valid UTF-8")
    except UnicodeDecodeError:
        pass


def test_gzip_only_when_asked(simulator: RunningSimulator) -> None:
    body = {"service": "login", **LOGIN}
    with httpx.Client() as http:
        plain = http.post(simulator.url, json=body, headers={"Accept-Encoding": "identity"})
        with http.stream("POST", simulator.url, json=body, headers={"Accept-Encoding": "gzip"}) as response:
            raw = b"".join(response.iter_raw())
            assert response.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert json.loads(gzip.decompress(raw).decode("cp1253"))["success"] is True


def test_body_is_json_whatever_the_content_type_and_get_with_body_works(simulator: RunningSimulator) -> None:
    payload = json.dumps({"service": "login", **LOGIN}).encode("utf-8")
    content_types = (
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/json; charset=windows-1253",
    )
    with httpx.Client() as http:
        for content_type in content_types:
            answer = http.post(simulator.url, content=payload, headers={"Content-Type": content_type})
            assert json.loads(answer.content.decode("cp1253"))["success"] is True, content_type
        answer = http.request("GET", simulator.url, content=payload)
        assert json.loads(answer.content.decode("cp1253"))["success"] is True


def test_ping_and_refresh_banners(simulator: RunningSimulator) -> None:
    with httpx.Client() as http:
        ping = http.get(simulator.url + "?ping")
        assert ping.status_code == 200
        assert "Ping from Softone WebModule" in ping.text and "<br>" in ping.text
        assert http.get(simulator.url + "?refresh").text == "OK"


def test_malformed_bodies_are_errors_inside_http_200(simulator: RunningSimulator) -> None:
    with httpx.Client() as http:
        for content in (b"not json", b"[1,2]", b""):
            response = http.post(simulator.url, content=content)
            assert response.status_code == 200
            assert error_of(json.loads(response.content.decode("cp1253")))[0] == -9


def test_keys_and_service_names_are_case_insensitive(s1: S1) -> None:
    answer = s1.post(
        {"SERVICE": "GETDATA", "CLIENTID": s1.client_id, "APPID": 1001, "object": "customer", "key": "3"}
    )
    assert answer["data"]["CUSTOMER"][0]["TRDR"] == "3"
    answer = s1.post(
        {"Service": "getbrowserinfo", "clientId": s1.client_id, "AppID": "1001", "Object": "ITEM"}
    )
    assert answer["success"] and answer["reqID"]
    page = {"service": "GetBrowserData", "clientid": s1.client_id, "appid": "1001", "REQID": answer["reqID"]}
    answer = s1.post({**page, "START": 0, "LIMIT": 2})
    assert len(answer["rows"]) == 2


def test_unknown_service_and_missing_client_id(s1: S1) -> None:
    assert error_of(s1.call("fetchEverything")) == (-12, "Invalid Web Service call.")
    assert error_of(s1.post({"service": "getObjects", "appId": "1001"})) == (
        -1,
        "Invalid request. Please login first",
    )
    assert error_of(s1.post({"appId": "1001"}))[0] == -12


def test_control_surface_reports_stats_and_rejects_bad_input(s1: S1) -> None:
    base = s1.running.base_url
    s1.ok("getObjects")
    s1.ok("GETOBJECTS")
    with httpx.Client() as http:
        stats = http.get(f"{base}/_sim/stats").json()
        assert stats["calls"]["getObjects"] == 2
        assert stats["calls"]["login"] == 1 and stats["logins"] == 1
        bad = http.post(f"{base}/_sim/faults", json={"kind": "meteor"})
        assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
        missing = http.patch(f"{base}/_sim/records/CUSTOMER/999999", json={"NAME": "x"})
        assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
        invalid = http.patch(f"{base}/_sim/records/CUSTOMER/1", json={"DISCOUNT": "lots"})
        assert invalid.status_code == 400 and "DISCOUNT" in invalid.json()["error"]
        assert http.post(f"{base}/_sim/records/NOPE", json={}).status_code == 404
        created = http.post(f"{base}/_sim/records/item", json={"CODE": "X1", "NAME": "Νέο είδος"})
        assert created.status_code == 201
        assert http.get(f"{base}/_sim/records/ITEM/{created.json()['id']}").json()["NAME"] == "Νέο είδος"
        assert http.post(f"{base}/_sim/reset").json() == {"ok": True}
        assert http.get(f"{base}/_sim/stats").json()["calls"] == {}


async def test_the_app_also_runs_in_process_through_asgi_transport() -> None:
    app = create_app(SimulatorConfig(customers=10, items=10))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://erp") as http:
        login = await http.post("/s1services", json={"service": "login", **LOGIN, **CONTEXT})
        client_id = json.loads(login.content.decode("cp1253"))["clientID"]
        get_data = {"service": "getData", "clientID": client_id, "appId": "1001", "OBJECT": "ITEM", "KEY": 10}
        answer = await http.post("/s1services", json=get_data)
        assert json.loads(answer.content.decode("cp1253"))["data"]["ITEM"][0]["MTRL"] == "10"
        assert app.state.simulator.stats()["calls"] == {"login": 1, "getData": 1}
