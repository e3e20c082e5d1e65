"""Login, authenticate, session reuse, re-login on expiry (single-flight), and errors that must not retry."""

from __future__ import annotations

import asyncio

import pytest

from softone_sync.softone import (
    AuthenticateFailed,
    BadCredentials,
    ProtocolError,
    SessionExpired,
    SoftOneClient,
    SoftOneError,
)
from softone_sync.softone.simulator.faults import FaultKind

from .conftest import client_for, settings_for
from .simstats import calls


async def test_two_step_login_takes_the_first_context(sim):
    async with client_for(sim, one_step=False) as client:
        session = await client.login()
        context = (session.company, session.branch, session.module, session.refid)
        assert context == ("1000", "1000", "0", "500")
        assert session.company_name  # the objs entry's COMPANYNAME
        assert await client.get_objects()
    assert calls(sim, "login") == 1
    assert calls(sim, "authenticate") == 1


async def test_one_step_login_skips_authenticate(sim):
    async with client_for(sim) as client:
        await client.get_objects()
        assert client.session is not None and client.session.company == "1000"
    assert calls(sim, "login") == 1
    assert calls(sim, "authenticate") == 0


async def test_partial_context_selects_the_matching_objs_entry(sim):
    async with client_for(sim, one_step=False, company="1000") as client:
        assert (await client.login()).company == "1000"


async def test_partial_context_that_matches_nothing_lists_what_exists(sim):
    async with client_for(sim, one_step=False, company="9999") as client:
        with pytest.raises(AuthenticateFailed, match=r"no login context matches .*COMPANY.*1000/1000/0/500"):
            await client.login()


async def test_session_is_reused_across_calls(sim):
    async with client_for(sim) as client:
        for _ in range(5):
            assert await client.get_objects()
    assert calls(sim, "login") == 1
    assert calls(sim, "getObjects") == 5  # every call reached the ERP on the one session


async def test_wrong_password_is_bad_credentials_and_not_retried(sim):
    async with client_for(sim, password="wrong") as client:
        with pytest.raises(BadCredentials, match="check the connection's username and password"):
            await client.get_objects()
        with pytest.raises(BadCredentials):
            await client.get_objects()
    assert calls(sim, "login") == 2  # one per call, no automatic retry


async def test_wrong_company_fails_authenticate_without_retry(sim):
    async with client_for(sim, company="4242") as client:
        with pytest.raises((AuthenticateFailed, SoftOneError)) as info:
            await client.get_objects()
    assert "COMPANY" in str(info.value)
    assert calls(sim, "login") == 1


async def test_expired_session_logs_in_again_and_retries_once(sim):
    async with client_for(sim) as client:
        await client.get_objects()
        first = client.session
        sim.simulator.expire_sessions()
        tables = await client.get_object_tables("CUSTOMER")
        assert tables
        assert client.session is not first
    assert calls(sim, "login") == 2


async def test_concurrent_callers_share_one_relogin(sim):
    async with client_for(sim, max_concurrency=8) as client:
        await client.get_objects()
        sim.simulator.expire_sessions()
        results = await asyncio.gather(*(client.get_object_tables("CUSTOMER") for _ in range(20)))
        assert all(results)
    assert calls(sim, "login") == 2  # the first login plus exactly one shared re-login


async def test_concurrent_first_calls_share_one_login(sim):
    async with client_for(sim, max_concurrency=8) as client:
        await asyncio.gather(*(client.get_objects() for _ in range(10)))
    assert calls(sim, "login") == 1


async def test_a_session_that_dies_again_after_relogin_is_reported(sim):
    sim.simulator.faults.add(FaultKind.EXPIRE_SESSION, "getObjects", times=None)
    async with client_for(sim) as client:
        with pytest.raises(SessionExpired):
            await client.get_objects()
    assert calls(sim, "login") == 2  # exactly one retry


async def test_login_attempts_are_capped(sim):
    sim.simulator.faults.add(FaultKind.EXPIRE_SESSION, "getObjects", times=None)
    client = SoftOneClient(settings_for(sim), max_login_attempts=3, backoff_base=0.01)
    async with client:
        for _ in range(3):
            with pytest.raises(SessionExpired):
                await client.get_objects()
        with pytest.raises(ProtocolError, match=r"logged in again 3 times in a row.*EXPTIME"):
            await client.get_objects()
    assert calls(sim, "login") == 4  # the first login and three re-logins, then no more


async def test_wrong_app_id_is_not_retried(sim):
    async with client_for(sim, app_id="999") as client:
        with pytest.raises(SoftOneError) as info:
            await client.get_objects()
    assert not info.value.relogin
    assert calls(sim, "login") == 1
