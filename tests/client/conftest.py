"""Client tests run against the real simulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from softone_sync.softone import ConnectionSettings, SoftOneClient
from softone_sync.softone.simulator import RunningSimulator
from tests.fixtures.simulator import MakeSimulator

DEMO = {"username": "demo", "password": "demo", "app_id": "1001"}
DEMO_CONTEXT = {"company": "1000", "branch": "1000", "module": "0", "refid": "500"}


@pytest.fixture
def start_simulator(make_simulator: MakeSimulator) -> MakeSimulator:
    """Start simulators with a given config (tests/fixtures/simulator.py stops them afterwards);
    client tests default to a smaller data set: 200 customers, 50 items."""

    def start(**config: Any) -> RunningSimulator:
        return make_simulator(**{"customers": 200, "items": 50, **config})

    return start


@pytest.fixture
def sim(start_simulator: Callable[..., Any]) -> Any:
    return start_simulator()


def settings_for(sim: Any, *, one_step: bool = True, **overrides: Any) -> ConnectionSettings:
    values: dict[str, Any] = {"base_url": sim.url, **DEMO, "timeout": 5.0, "retries": 3}
    if one_step:
        values.update(DEMO_CONTEXT)
    values.update(overrides)
    return ConnectionSettings(**values)


def client_for(sim: Any, *, one_step: bool = True, **overrides: Any) -> SoftOneClient:
    # A tiny backoff keeps the retry tests fast; the schedule itself is covered by its own test.
    return SoftOneClient(settings_for(sim, one_step=one_step, **overrides), backoff_base=0.01)


class RecordingTransport(httpx.AsyncHTTPTransport):
    """The real HTTP transport, recording each request's service and the requests in flight.

    The simulator only counts calls it ran; faults such as HTTP 500 or a dropped connection
    answer without running the call, so attempts are counted here, on the client's side.
    """

    def __init__(self) -> None:
        super().__init__()
        self.services: list[str] = []
        self.in_flight = 0
        self.peak = 0

    def attempts(self, service: str) -> int:
        return sum(1 for s in self.services if s.lower() == service.lower())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.services.append(str(orjson.loads(request.content).get("service", "")))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            response = await super().handle_async_request(request)
            await response.aread()
            return response
        finally:
            self.in_flight -= 1


def recording_client(sim: Any, **overrides: Any) -> tuple[SoftOneClient, RecordingTransport]:
    transport = RecordingTransport()
    client = SoftOneClient(settings_for(sim, **overrides), transport=transport, backoff_base=0.01)
    return client, transport
