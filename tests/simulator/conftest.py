"""A minimal raw /s1services caller for the simulator's own tests (independent of the client part)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from softone_sync.softone.simulator import RunningSimulator

LOGIN = {"username": "demo", "password": "demo", "appId": "1001"}
CONTEXT = {"COMPANY": "1000", "BRANCH": "1000", "MODULE": "0", "REFID": "500"}


class S1:
    """Posts JSON, decodes windows-1253 answers, keeps the clientID."""

    def __init__(self, running: RunningSimulator, *, timeout: float = 10.0) -> None:
        self.running = running
        self.url = running.url
        self.http = httpx.Client(timeout=timeout)
        self.client_id = ""
        self.app_id = "1001"

    def close(self) -> None:
        self.http.close()

    def raw(self, body: Any, **kwargs: Any) -> httpx.Response:
        return self.http.post(self.url, json=body, **kwargs)

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.raw(body)
        assert response.status_code == 200, response.text
        decoded: dict[str, Any] = json.loads(response.content.decode("cp1253"))
        return decoded

    def login(self, **extra: Any) -> str:
        answer = self.post({"service": "login", **LOGIN, **extra})
        assert answer["success"], answer
        if "objs" in answer:
            answer = self.post({"service": "authenticate", "clientID": answer["clientID"], **CONTEXT})
            assert answer["success"], answer
        self.client_id = answer["clientID"]
        return self.client_id

    def call(self, service: str, **params: Any) -> dict[str, Any]:
        return self.post({"service": service, "clientID": self.client_id, "appId": self.app_id, **params})

    def ok(self, service: str, **params: Any) -> dict[str, Any]:
        answer = self.call(service, **params)
        assert answer.get("success") is True, answer
        return answer

    def browse_all(
        self, obj: str, list_name: str = "", filters: str = "", page: int = 100
    ) -> list[list[str]]:
        info = self.ok("getBrowserInfo", OBJECT=obj, LIST=list_name, FILTERS=filters)
        rows: list[list[str]] = []
        for start in range(0, info["totalcount"], page):
            rows += self.ok("getBrowserData", reqID=info["reqID"], start=start, limit=page)["rows"]
        assert len(rows) == info["totalcount"]
        return rows


def error_of(answer: dict[str, Any]) -> tuple[int, str]:
    assert answer["success"] is False, answer
    return answer["errorcode"], answer["error"]


@pytest.fixture
def s1(simulator: RunningSimulator) -> Iterator[S1]:
    caller = S1(simulator)
    caller.login()
    yield caller
    caller.close()
