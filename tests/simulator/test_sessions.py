"""login / authenticate / one-step login, and every way a clientID stops working."""

from __future__ import annotations

import time

import httpx

from softone_sync.softone.simulator import RunningSimulator
from tests.fixtures.simulator import MakeSimulator
from tests.simulator.conftest import CONTEXT, LOGIN, S1, error_of


def test_two_step_login_gives_objs_then_a_final_client_id(simulator: RunningSimulator) -> None:
    s1 = S1(simulator)
    answer = s1.post({"service": "login", **LOGIN})
    assert answer["success"] is True and answer["ver"] and answer["sn"]
    obj = answer["objs"][0]
    assert {k: obj[k] for k in CONTEXT} == CONTEXT
    assert obj["COMPANYNAME"] == "Standard Company" and obj["FINALDATE"] == "1899-12-30 00:00:00"
    temporary = answer["clientID"]
    # A temporary clientID is not a session yet.
    assert error_of(s1.post({"service": "getObjects", "clientID": temporary, "appId": "1001"}))[0] == -1
    final = s1.post({"service": "authenticate", "clientID": temporary, **CONTEXT})
    assert final["success"] is True and final["clientID"] != temporary
    assert s1.post({"service": "getObjects", "clientID": final["clientID"], "appId": "1001"})["success"]
    # The temporary id was consumed by the exchange.
    assert error_of(s1.post({"service": "authenticate", "clientID": temporary, **CONTEXT}))[0] == -1


def test_one_step_login_returns_the_final_client_id(simulator: RunningSimulator) -> None:
    s1 = S1(simulator)
    answer = s1.post({"service": "login", **LOGIN, **CONTEXT})
    assert set(answer) == {"success", "clientID"}
    assert s1.post({"service": "getObjects", "clientID": answer["clientID"], "appId": "1001"})["success"]


def test_client_ids_look_like_opaque_base64_with_percent_escapes(simulator: RunningSimulator) -> None:
    s1 = S1(simulator)
    ids = [s1.post({"service": "login", **LOGIN, **CONTEXT})["clientID"] for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(len(i) > 60 and i.replace("%2b", "").replace("/", "").isalnum() for i in ids)
    assert any("%2b" in i for i in ids)


def test_login_and_authenticate_errors(simulator: RunningSimulator) -> None:
    s1 = S1(simulator)
    assert error_of(s1.post({"service": "login", **LOGIN, "password": "nope"})) == (
        -1,
        "Login fails due to invalid login credentials.",
    )
    assert error_of(s1.post({"service": "login", **LOGIN, "appId": "2002"}))[0] == -3
    assert error_of(s1.post({"service": "login", **LOGIN, **CONTEXT, "COMPANY": "9"}))[0] == -2
    temporary = s1.post({"service": "login", **LOGIN})["clientID"]
    assert error_of(s1.post({"service": "authenticate", "clientID": temporary, **CONTEXT, "REFID": "1"})) == (
        -2,
        "Authenticate fails due to invalid credentials.",
    )
    # A failed authenticate leaves the temporary id usable.
    assert s1.post({"service": "authenticate", "clientID": temporary, **CONTEXT})["success"]
    assert error_of(s1.post({"service": "authenticate", "clientID": "bogus", **CONTEXT}))[0] == -1


def test_unknown_client_id_and_app_id_mismatch(s1: S1) -> None:
    assert error_of(s1.post({"service": "getObjects", "clientID": "nope", "appId": "1001"}))[0] == -1
    s1.app_id = "1002"
    assert error_of(s1.call("getObjects"))[0] == -6
    s1.app_id = ""
    assert error_of(s1.call("getObjects"))[0] == -6
    s1.app_id = "1001"
    assert s1.ok("getObjects")


def test_session_expires_after_its_ttl(make_simulator: MakeSimulator) -> None:
    s1 = S1(make_simulator(session_ttl_seconds=0.3))
    s1.login()
    assert s1.ok("getObjects")
    time.sleep(0.35)
    assert error_of(s1.call("getObjects")) == (-101, "Invalid Request, session has expired!")
    s1.login()  # a fresh login is the cure
    assert s1.ok("getObjects")


def test_session_expires_after_its_call_budget(make_simulator: MakeSimulator) -> None:
    s1 = S1(make_simulator(session_max_calls=3))
    s1.login()
    for _ in range(3):
        s1.ok("getObjects")
    assert error_of(s1.call("getObjects"))[0] == -101
    assert error_of(s1.call("getObjects"))[0] == -101


def test_operator_can_expire_every_session(s1: S1) -> None:
    other = S1(s1.running)
    other.login()
    with httpx.Client() as http:
        assert http.post(f"{s1.running.base_url}/_sim/sessions/expire").json() == {"expired": 2}
    assert error_of(s1.call("getObjects"))[0] == -101
    assert error_of(other.call("getObjects"))[0] == -101
    assert s1.running.simulator.stats()["active_sessions"] == 0
