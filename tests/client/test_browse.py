"""Browsing CUSTOMER pages: layout, paging, reqID and session expiry mid-scan, early exit."""

from __future__ import annotations

import random

import pytest

from softone_sync.softone import BrowserPage, ProtocolError, RequestExpired
from softone_sync.softone.simulator.faults import FaultKind

from .conftest import client_for
from .simstats import calls


async def scan_keys(client, page_size, **kwargs):
    keys: list[str] = []
    pages: list[BrowserPage] = []
    async for page in client.browse("CUSTOMER", page_size=page_size, **kwargs):
        pages.append(page)
        keys.extend(page.keys())
    return keys, pages


@pytest.mark.parametrize("prefetch", [True, False])
async def test_scan_returns_every_row_once_in_pages(sim, prefetch):
    async with client_for(sim) as client:
        info = await client.get_browser_info("CUSTOMER")
        keys, pages = await scan_keys(client, 30, prefetch=prefetch)
    assert info.fields[0] == "ZOOMINFO"
    assert len(keys) == info.totalcount == 200
    assert len(set(keys)) == 200
    assert [p.start for p in pages] == list(range(0, 200, 30))
    assert all(len(p.rows) == 30 for p in pages[:-1]) and len(pages[-1].rows) == 20


async def test_rows_zip_with_field_names_and_zoominfo_gives_the_key(sim):
    async with client_for(sim) as client:
        page = await anext(client.browse("CUSTOMER", page_size=5))
        record = page.records()[0]
        assert set(record) == set(page.fields)
        assert record["ZOOMINFO"].startswith("CUSTOMER;")
        assert page.keys()[0] == record["ZOOMINFO"].split(";")[-1]
        assert "CUSTOMER.CODE" in record
        # The key is the TRDR of the record getData reads.
        data = await client.get_data("CUSTOMER", page.keys()[0], locate_info="CUSTOMER:CODE")
        assert data["CUSTOMER"][0]["CODE"] == record["CUSTOMER.CODE"]


async def test_filters_narrow_the_scan(sim):
    async with client_for(sim) as client:
        first = await anext(client.browse("CUSTOMER", page_size=1))
        code = first.records()[0]["CUSTOMER.CODE"]
        keys, _ = await scan_keys_filtered(client, f"CUSTOMER.CODE={code}")
    assert keys == first.keys()


async def scan_keys_filtered(client, filters):
    keys: list[str] = []
    pages = []
    async for page in client.browse("CUSTOMER", filters=filters, page_size=50):
        keys.extend(page.keys())
        pages.append(page)
    return keys, pages


async def test_reqid_expired_between_pages_resumes_at_the_same_offset(sim):
    async with client_for(sim) as client:
        keys: list[str] = []
        async for page in client.browse("CUSTOMER", page_size=40, prefetch=False):
            keys.extend(page.keys())
            if page.start in (40, 120):
                sim.simulator.expire_reqids()
    assert len(keys) == 200 and len(set(keys)) == 200
    assert calls(sim, "getBrowserInfo") == 3


async def test_reqid_expiry_fault_during_prefetch(sim):
    sim.simulator.faults.add(FaultKind.EXPIRE_REQID, "getBrowserData", times=3, skip=1)
    async with client_for(sim) as client:
        keys, _ = await scan_keys(client, 25)
    assert sorted(keys, key=int) == sorted(set(keys), key=int) and len(keys) == 200
    assert calls(sim, "getBrowserInfo") == 4


async def test_a_reqid_that_keeps_expiring_gives_up(sim):
    sim.simulator.faults.add(FaultKind.EXPIRE_REQID, "getBrowserData", times=None)
    async with client_for(sim) as client:
        with pytest.raises(RequestExpired):
            await scan_keys(client, 50)


async def test_session_expiry_at_random_points_of_a_50_page_scan(sim):
    rng = random.Random(7)
    # Not on the last pages: no call follows them, so no re-login would be counted.
    expire_at = set(rng.sample(range(1, 45), 6))
    async with client_for(sim) as client:
        keys: list[str] = []
        async for page in client.browse("CUSTOMER", page_size=4):
            keys.extend(page.keys())
            if page.start // 4 in expire_at:
                sim.simulator.expire_sessions()
    assert len(keys) == 200 and len(set(keys)) == 200
    assert calls(sim, "login") == 1 + len(expire_at)


async def test_session_expiry_fault_mid_scan(sim):
    for skip in (3, 10, 17, 30, 41):  # apart, so the one retry after a re-login is never hit again
        sim.simulator.faults.add(FaultKind.EXPIRE_SESSION, "getBrowserData", skip=skip)
    async with client_for(sim) as client:
        keys, pages = await scan_keys(client, 4)
    assert len(pages) == 50
    assert len(keys) == 200 and len(set(keys)) == 200
    assert calls(sim, "login") == 6


async def test_leaving_the_loop_early_cancels_the_prefetch(sim):
    async with client_for(sim) as client:
        seen = 0
        async for page in client.browse("CUSTOMER", page_size=10):
            seen += len(page.rows)
            if seen >= 30:
                break
        # The client still works: nothing is left hanging on the connection.
        assert await client.get_objects()


async def test_page_size_must_be_positive(sim):
    async with client_for(sim) as client:
        with pytest.raises(ValueError, match="page_size must be at least 1"):
            await anext(client.browse("CUSTOMER", page_size=0))


async def test_unknown_list_is_a_precise_error(sim):
    async with client_for(sim) as client:
        with pytest.raises((ProtocolError, Exception)) as info:
            await anext(client.browse("CUSTOMER", list_name="NoSuchList"))
    assert "getBrowserInfo" in str(info.value)
