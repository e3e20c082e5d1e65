"""Fault injection: every kind, selection by service, times/skip/probability, and over HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from softone_sync.softone.simulator import FaultKind
from tests.fixtures.simulator import MakeSimulator
from tests.simulator.conftest import S1, error_of

NEW_CUSTOMER = {"CUSTOMER": [{"CODE": "IDEMP-1", "NAME": "Δοκιμαστική ΑΕ"}]}


def exists(s1: S1, code: str) -> bool:
    answer = s1.ok("selectorFields", TABLENAME="CUSTOMER", KEYNAME="CODE", KEYVALUE=code, RESULTFIELDS="TRDR")
    return bool(answer["rows"])


def test_latency_slows_only_the_chosen_service(s1: S1) -> None:
    s1.running.simulator.faults.add("latency", "getObjects", seconds=0.3, times=None)
    started = time.perf_counter()
    s1.ok("getObjects")
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    s1.ok("getObjectTables", OBJECT="ITEM")
    assert time.perf_counter() - started < 0.3


def test_http_500_fires_the_given_number_of_times_after_skipping(s1: S1) -> None:
    s1.running.simulator.faults.add(FaultKind.HTTP_500, "GETOBJECTS", skip=1, times=2)
    statuses = [
        s1.raw({"service": "getObjects", "clientID": s1.client_id, "appId": "1001"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 500, 500, 200, 200]


def test_timeout_hangs_longer_than_the_client_waits(s1: S1) -> None:
    s1.running.simulator.faults.add("timeout", "getObjects", seconds=2)
    with pytest.raises(httpx.ReadTimeout):
        s1.raw({"service": "getObjects", "clientID": s1.client_id, "appId": "1001"}, timeout=0.3)
    assert s1.ok("getObjects")  # fired once; the next call is normal


def test_truncated_body_is_not_json(s1: S1) -> None:
    s1.running.simulator.faults.add("truncate", "getData")
    response = s1.raw(
        {"service": "getData", "clientID": s1.client_id, "appId": "1001", "OBJECT": "ITEM", "KEY": 1}
    )
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content.decode("cp1253"))


def test_drop_closes_the_connection_and_runs_nothing(s1: S1) -> None:
    s1.running.simulator.faults.add("drop", "setData")
    with pytest.raises(httpx.RemoteProtocolError):
        s1.call("setData", OBJECT="CUSTOMER", data=NEW_CUSTOMER)
    assert not exists(s1, "IDEMP-1")


@pytest.mark.parametrize(
    ("kind", "error"),
    [("commit_then_500", httpx.HTTPStatusError), ("commit_then_drop", httpx.RemoteProtocolError)],
)
def test_commit_then_lose_the_answer_still_writes_the_record(
    s1: S1, kind: str, error: type[Exception]
) -> None:
    s1.running.simulator.faults.add(kind, "setData")
    with pytest.raises(error):
        s1.raw({"service": "setData", "clientID": s1.client_id, "appId": "1001", "OBJECT": "CUSTOMER",
                "data": NEW_CUSTOMER}).raise_for_status()  # fmt: skip
    assert exists(s1, "IDEMP-1")  # a blind retry would now fail as a duplicate CODE
    assert "Duplicate" in error_of(s1.call("setData", OBJECT="CUSTOMER", data=NEW_CUSTOMER))[1]


def test_forced_session_and_req_id_expiry(s1: S1) -> None:
    faults = s1.running.simulator.faults
    info = s1.ok("getBrowserInfo", OBJECT="ITEM")
    faults.add("expire_reqid", "getBrowserData")
    assert error_of(s1.call("getBrowserData", reqID=info["reqID"], start=0, limit=5))[0] == 13
    faults.add("expire_session", "getObjects")
    assert error_of(s1.call("getObjects"))[0] == -101
    assert error_of(s1.call("getObjectTables", OBJECT="ITEM"))[0] == -101  # the session stays expired
    s1.login()
    assert s1.ok("getObjects")


def test_probabilistic_faults_are_repeatable_for_a_seed(make_simulator: MakeSimulator) -> None:
    def pattern(seed: int) -> list[int]:
        s1 = S1(make_simulator(seed=seed))
        s1.login()
        s1.running.simulator.faults.add("http_500", probability=0.5, times=None)
        body = {"service": "getObjects", "clientID": s1.client_id, "appId": "1001"}
        return [s1.raw(body).status_code for _ in range(30)]

    first = pattern(7)
    assert 5 < first.count(500) < 25
    assert pattern(7) == first


def test_faults_over_the_control_surface(s1: S1) -> None:
    base = s1.running.base_url
    with httpx.Client() as http:
        rule = http.post(
            f"{base}/_sim/faults", json={"kind": "http_500", "service": "getObjects", "times": None}
        )
        assert rule.status_code == 201 and rule.json()["kind"] == "http_500"
        assert s1.raw({"service": "getObjects", "clientID": s1.client_id, "appId": "1001"}).status_code == 500
        assert http.get(f"{base}/_sim/faults").json()[0]["fired"] == 1
        assert http.delete(f"{base}/_sim/faults/{rule.json()['id']}").json() == {"ok": True}
        assert s1.ok("getObjects")
        http.post(f"{base}/_sim/faults", json={"kind": "latency", "seconds": 0.01})
        assert http.delete(f"{base}/_sim/faults").json() == {"ok": True}
        assert http.get(f"{base}/_sim/faults").json() == []
        assert http.post(f"{base}/_sim/faults", json={"kind": "http_500", "times": "many"}).status_code == 400
