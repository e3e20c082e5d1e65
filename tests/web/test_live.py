"""Actions that reach the ERP: test a connection and run an integration, against the simulator."""

from __future__ import annotations

import asyncio
import re

import httpx
import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from tests.web.conftest import csrf_from
from tests.web.seed import seed_live


async def test_connection_test_reports_version_and_company(
    db: Database, simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    connection_id, _ = await seed_live(db, simulator.url, refid=None)
    token = csrf_from((await admin.get("/connections")).text)
    response = await admin.post(f"/connections/{connection_id}/test", data={"csrf_token": token})
    assert response.status_code == 200
    result = re.search(r'id="test-result">(.*?)</p>', response.text, re.S)
    assert result is not None
    text = result.group(1)
    assert "Logged in and authenticated" in text
    assert "Standard Company" in text
    assert f"SoftOne version <strong>{simulator.simulator.config.version}</strong>" in text


async def test_connection_test_with_a_wrong_password_says_why(
    db: Database, simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    connection_id, _ = await seed_live(db, simulator.url, password="wrong-password")
    token = csrf_from((await admin.get("/connections")).text)
    response = await admin.post(f"/connections/{connection_id}/test", data={"csrf_token": token})
    assert response.status_code == 200
    assert "alert-error" in response.text and "errorcode" in response.text
    assert "wrong-password" not in response.text


async def _follow_run(admin: httpx.AsyncClient, location: str) -> str:
    """Reload the run page as the browser's meta refresh would, until the run has finished."""
    for _ in range(150):
        page = await admin.get(location)
        assert page.status_code == 200
        if 'http-equiv="refresh"' not in page.text:
            return page.text
        await asyncio.sleep(0.2)
    raise AssertionError("the run did not finish in 30 s")


async def test_run_now_runs_and_the_run_page_shows_the_result(
    db: Database, simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    _, integration_id = await seed_live(db, simulator.url)
    token = csrf_from((await admin.get(f"/integrations/{integration_id}")).text)
    response = await admin.post(f"/integrations/{integration_id}/run", data={"csrf_token": token})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/runs/")
    html = await _follow_run(admin, location)
    assert 'data-status="succeeded"' in html
    assert re.search(r'figure-value good">250<', html), "250 customers created"
    async with db.engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM web_customers")) == 250
    # The integration page now lists the run and its chart.
    page = await admin.get(f"/integrations/{integration_id}")
    assert location in page.text and "250 created" in page.text


async def test_dry_run_previews_the_diff_and_writes_nothing(
    db: Database, simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    _, integration_id = await seed_live(db, simulator.url)
    token = csrf_from((await admin.get(f"/integrations/{integration_id}")).text)
    response = await admin.post(f"/integrations/{integration_id}/dry-run", data={"csrf_token": token})
    html = await _follow_run(admin, response.headers["location"])
    assert "Dry-run preview" in html and 'id="diff"' in html
    assert "250 to create" in html and "Nothing was written" in html
    assert "diff-new" in html and "vat_number" in html
    async with db.engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM web_customers")) == 0


async def test_a_run_that_cannot_start_says_why(db: Database, admin: httpx.AsyncClient) -> None:
    # The connection points at a closed port: the run records a failure with a readable reason.
    _, integration_id = await seed_live(db, "http://127.0.0.1:9/s1services")
    token = csrf_from((await admin.get(f"/integrations/{integration_id}")).text)
    response = await admin.post(f"/integrations/{integration_id}/run", data={"csrf_token": token})
    html = await _follow_run(admin, response.headers["location"])
    assert "badge-failed" in html and 'id="run-error"' in html
    assert "Traceback" not in html
