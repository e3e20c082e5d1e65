"""Transport faults: what gets retried, what must not be, and the per-connection concurrency cap."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from softone_sync.softone import ConnectionSettings, OutcomeUnknown, SoftOneClient, TransportError
from softone_sync.softone.simulator.faults import FaultKind

from .conftest import DEMO, DEMO_CONTEXT, client_for, recording_client
from .simstats import calls


async def customer_count(client) -> int:
    return (await client.get_browser_info("CUSTOMER")).totalcount


async def test_latency_within_the_timeout_is_just_slow(sim):
    sim.simulator.faults.add(FaultKind.LATENCY, "getObjects", seconds=0.3)
    async with client_for(sim) as client:
        started = time.monotonic()
        assert await client.get_objects()
        assert time.monotonic() - started >= 0.3
    assert calls(sim, "getObjects") == 1


@pytest.mark.parametrize("kind", [FaultKind.HTTP_500, FaultKind.TRUNCATE, FaultKind.DROP])
async def test_transient_failures_are_retried(sim, kind):
    sim.simulator.faults.add(kind, "getObjectTables", times=2)
    client, transport = recording_client(sim)
    async with client:
        tables = await client.get_object_tables("CUSTOMER")
    assert any(t["name"] == "CUSTOMER" for t in tables)
    assert transport.attempts("getObjectTables") == 3


async def test_timeout_is_retried(sim):
    sim.simulator.faults.add(FaultKind.TIMEOUT, "getObjects", seconds=3.0)
    async with client_for(sim, timeout=1.0) as client:
        assert await client.get_objects()


async def test_retries_are_bounded_then_a_transport_error(sim):
    sim.simulator.faults.add(FaultKind.HTTP_500, "getObjects", times=None)
    client, transport = recording_client(sim, retries=2)
    async with client:
        with pytest.raises(TransportError, match=r"HTTP 500 .*gave up after 3 attempts"):
            await client.get_objects()
    assert transport.attempts("getObjects") == 3


async def test_backoff_grows_between_attempts(sim):
    sim.simulator.faults.add(FaultKind.HTTP_500, "getObjects", times=None)
    client = SoftOneClient(
        ConnectionSettings(base_url=sim.url, **DEMO, **DEMO_CONTEXT, retries=3), backoff_base=0.1
    )
    async with client:
        await client.login()
        started = time.monotonic()
        with pytest.raises(TransportError):
            await client.get_objects()
    # 3 waits of (0.1, 0.2, 0.4) x jitter in [0.5, 1]: at least 0.35 s, and bounded.
    assert 0.35 <= time.monotonic() - started < 5


@pytest.mark.parametrize("kind", [FaultKind.COMMIT_THEN_500, FaultKind.COMMIT_THEN_DROP, FaultKind.TRUNCATE])
async def test_lost_insert_answer_is_outcome_unknown_not_a_duplicate(sim, kind):
    sim.simulator.faults.add(kind, "setData")
    async with client_for(sim) as client:
        before = await customer_count(client)
        with pytest.raises(OutcomeUnknown, match=r"may have been processed.*look it up before retrying"):
            await client.set_data("CUSTOMER", {"CUSTOMER": [{"CODE": "LOST-1", "NAME": "Χαμένη απάντηση"}]})
        assert await customer_count(client) == before + 1  # created exactly once
    assert calls(sim, "setData") == 1


async def test_insert_that_never_reached_the_server_is_retried(sim):
    sim.simulator.faults.add(FaultKind.EXPIRE_SESSION, "setData")
    async with client_for(sim) as client:
        before = await customer_count(client)
        created = await client.set_data("CUSTOMER", {"CUSTOMER": [{"CODE": "RETRY-1", "NAME": "ok"}]})
        assert created.id
        assert await customer_count(client) == before + 1


async def test_lost_update_answer_is_retried_because_updates_are_idempotent(sim):
    async with client_for(sim) as client:
        key = (await anext(client.browse("CUSTOMER", page_size=1))).keys()[0]
        sim.simulator.faults.add(FaultKind.COMMIT_THEN_500, "setData")
        result = await client.set_data("CUSTOMER", {"CUSTOMER": [{"NAME": "Ενημέρωση"}]}, key=key)
        assert result.id == key
        assert (await client.get_data("CUSTOMER", key))["CUSTOMER"][0]["NAME"] == "Ενημέρωση"


async def test_lost_delete_answer_counts_as_deleted(sim):
    async with client_for(sim) as client:
        created = await client.set_data("CUSTOMER", {"CUSTOMER": [{"CODE": "DEL-LOST", "NAME": "x"}]})
        sim.simulator.faults.add(FaultKind.COMMIT_THEN_500, "delData")
        await client.del_data("CUSTOMER", created.id)
    assert calls(sim, "delData") == 2


async def test_unreachable_server_is_a_transport_error_naming_the_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    settings = ConnectionSettings(base_url=f"http://127.0.0.1:{port}/s1services", **DEMO, retries=1)
    async with SoftOneClient(settings, backoff_base=0.01) as client:
        expected = rf"cannot connect to http://127\.0\.0\.1:{port}/s1services"
        with pytest.raises(TransportError, match=expected) as info:
            await client.get_objects()
    assert not isinstance(info.value, OutcomeUnknown)
    assert "check that the connection's URL is reachable" in str(info.value)


async def test_concurrency_is_capped_per_connection(sim):
    sim.simulator.faults.add(FaultKind.LATENCY, "getObjectTables", seconds=0.1, times=None)
    client, transport = recording_client(sim, max_concurrency=3)
    async with client:
        await client.login()
        started = time.monotonic()
        await asyncio.gather(*(client.get_object_tables("CUSTOMER") for _ in range(9)))
        elapsed = time.monotonic() - started
    assert transport.peak == 3
    assert elapsed >= 0.3  # 9 calls, 3 at a time, 0.1 s each
