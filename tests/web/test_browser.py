"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright.

Also refreshes the README's screenshots in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from softone_sync.db.engine import Database
from softone_sync.softone.simulator import RunningSimulator
from tests.fixtures.live_server import LiveServer
from tests.web.conftest import ADMIN_TOKEN
from tests.web.seed import seed_dashboard, seed_live

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("CI", "").lower() != "true",
        reason="needs Debian's chromium at /usr/bin/chromium (scripts/install-browser.sh installs it)",
    ),
]


# One dialect is enough here: the pages' SQL runs on both in the other tests of this folder.
@pytest.mark.parametrize("db_dialect", ["sqlite"])
async def test_operator_logs_in_runs_an_integration_and_sees_the_run(
    db: Database, simulator: RunningSimulator, ui_server: LiveServer
) -> None:
    from playwright.async_api import async_playwright, expect

    seeded = await seed_dashboard(db)
    live_connection_id, _ = await seed_live(db, simulator.url, refid=None)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(ui_server.url + "/")
            await expect(page).to_have_url(ui_server.url + "/login")
            await page.fill("#token", "not-the-token")
            await page.click("button[type=submit]")
            await expect(page.locator(".alert-error")).to_contain_text("Wrong admin token")

            await page.fill("#token", ADMIN_TOKEN)
            await page.click("button[type=submit]")
            await expect(page.locator("h1")).to_have_text("Integrations")
            failing_row = page.locator(f'tr[data-integration="{seeded.failing_id}"]')
            await expect(failing_row).to_have_class(re.compile(r"\brow-failing\b"))
            await expect(failing_row.locator(".badge-failing")).to_be_visible()
            await page.screenshot(path=str(SCREENSHOTS / "integrations.png"), full_page=True)

            await page.goto(f"{ui_server.url}/integrations/{seeded.healthy_id}")
            await expect(page.locator("svg.chart")).to_be_visible()
            await page.screenshot(path=str(SCREENSHOTS / "integration.png"), full_page=True)

            await page.goto(ui_server.url + "/")
            await page.click("text=Customers live")
            await expect(page.locator("h1")).to_contain_text("Customers live")
            await page.click("#run-now")
            await expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
            # The run page refreshes itself until the run has finished.
            summary = page.locator("#run-summary")
            await expect(summary).to_have_attribute("data-status", "succeeded", timeout=30_000)
            await expect(summary.locator(".figure-value.good")).to_have_text("250")
            run_id = page.url.rsplit("/", 1)[-1]

            await page.click("text=Back to integration")
            await expect(page.locator(f'#runs a[href="/runs/{run_id}"]')).to_be_visible()
            await expect(page.locator("#runs .badge-succeeded").first).to_be_visible()

            await page.goto(ui_server.url + "/connections")
            await page.locator(f"#connection-{live_connection_id} button").click()
            await expect(page.locator("#test-result")).to_contain_text("Standard Company")
            await page.screenshot(path=str(SCREENSHOTS / "connections.png"), full_page=True)
        finally:
            await browser.close()


@pytest.mark.parametrize("db_dialect", ["sqlite"])
async def test_operator_keeps_the_app_side_of_a_conflict(db: Database, ui_server: LiveServer) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.web.test_two_way import two_way_integration

    integration_id, conflict_id = await two_way_integration(db)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            await page.goto(f"{ui_server.url}/login?next=/integrations/{integration_id}")
            await page.fill("#token", ADMIN_TOKEN)
            await page.click("button[type=submit]")
            await expect(page.locator("#two-way-status")).to_contain_text("capturing")
            row = page.locator(f"#conflict-{conflict_id}")
            await expect(row).to_contain_text("App name")
            await expect(row).to_contain_text("ERP name")
            await page.locator("#conflicts").screenshot(path=str(SCREENSHOTS / "conflicts.png"))
            await row.locator("text=Keep app").click()
            await expect(page).to_have_url(f"{ui_server.url}/integrations/{integration_id}#conflicts")
            await expect(page.locator(f"#conflict-{conflict_id}")).to_contain_text("applied by the next run")
        finally:
            await browser.close()
