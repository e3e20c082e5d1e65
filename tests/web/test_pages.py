"""The dashboard as an operator sees it: login, the integrations list, an integration, connections."""

from __future__ import annotations

import httpx

from softone_sync.db.engine import Database
from softone_sync.web.session import COOKIE_NAME
from tests.web.conftest import ADMIN_TOKEN, csrf_from
from tests.web.seed import ERP_PASSWORD, seed_dashboard


async def test_pages_redirect_to_login_without_a_session(anon: httpx.AsyncClient) -> None:
    for path in ("/", "/connections", "/integrations/abc", "/runs/abc"):
        response = await anon.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    deep = await anon.get("/integrations/abc")
    assert deep.headers["location"] == "/login?next=/integrations/abc"
    page = await anon.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text


async def test_wrong_token_is_rejected_and_sets_no_session(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/login", data={"token": "guess", "next": "/"})
    assert response.status_code == 401
    assert "Wrong admin token" in response.text
    assert COOKIE_NAME not in response.cookies
    assert (await anon.get("/")).status_code == 303
    # A forged cookie (right shape, wrong signature) is no session either.
    anon.cookies.set(COOKIE_NAME, "eyJzaWQiOiJ4IiwiaWF0IjoxfQ.forged")
    assert (await anon.get("/")).status_code == 303


async def test_login_sets_a_hardened_cookie_and_returns_to_next(anon: httpx.AsyncClient) -> None:
    response = await anon.post("/login", data={"token": ADMIN_TOKEN, "next": "/connections"})
    assert response.status_code == 303 and response.headers["location"] == "/connections"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert ADMIN_TOKEN.lower() not in cookie
    assert (await anon.get("/connections")).status_code == 200
    # An absolute "next" must not turn the login into an open redirect.
    other = await anon.post("/login", data={"token": ADMIN_TOKEN, "next": "//evil.example/x"})
    assert other.headers["location"] == "/"


async def test_logout_needs_csrf_and_ends_the_session(admin: httpx.AsyncClient) -> None:
    page = await admin.get("/")
    token = csrf_from(page.text)
    assert (await admin.post("/logout", data={})).status_code in (400, 403)
    response = await admin.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    admin.cookies.clear()
    assert (await admin.get("/")).status_code == 303


async def test_list_shows_schedule_runs_and_marks_the_failing_integration(
    db: Database, admin: httpx.AsyncClient
) -> None:
    seeded = await seed_dashboard(db)
    page = await admin.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Customers to shop" in html and "Items nightly" in html and "Demo ERP" in html
    assert "Every 15 minutes" in html and "*/15 * * * *" in html
    assert "On weekdays at 08:30" in html
    assert "1 failing" in html
    failing_row = _row(html, seeded.failing_id)
    healthy_row = _row(html, seeded.healthy_id)
    assert "row-failing" in failing_row and "badge-failing" in failing_row
    assert "row-failing" not in healthy_row and "badge-failing" not in healthy_row
    assert "column vat_number does not exist" in failing_row
    # The latest real run (+0 ~2), not the later dry run (+999), is what the list reports.
    assert "+0" in healthy_row and "+999" not in healthy_row
    assert "in 4 min" in healthy_row or "in 5 min" in healthy_row  # next run, relative
    assert "EET" in healthy_row or "EEST" in healthy_row  # local time in the schedule's timezone
    assert "1 rejected" in healthy_row


async def test_integration_page_shows_config_history_slots_rejects_and_chart(
    db: Database, admin: httpx.AsyncClient
) -> None:
    seeded = await seed_dashboard(db)
    page = await admin.get(f"/integrations/{seeded.healthy_id}")
    assert page.status_code == 200
    html = page.text
    mappings = html[html.index('id="mappings"') :]
    assert "CUSTOMER.AFM" in mappings and "vat_number" in mappings and "strip" in mappings
    runs = html[html.index('id="runs"') : html.index("Scheduled slots")]
    assert runs.count("badge-succeeded") == 4  # three runs plus the dry run, which is labelled
    assert "dry run" in runs
    assert "4.00 s" in runs  # a duration
    slots = html[html.index('id="slots"') :]
    assert "missed" in slots and "server was down" in slots and "0.50 s" in slots
    assert "CUST-0042" in html and "name: required value is empty" in html
    assert "<svg" in html and "bar-created" in html and "line-duration" in html
    assert "120 created, 4 updated" in html  # chart tooltip of the first run


async def test_unknown_integration_is_a_404_page(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/integrations/does-not-exist")
    assert response.status_code == 404
    assert "No integration with this id" in response.text
    assert "Traceback" not in response.text


async def test_connections_page_never_shows_secrets(db: Database, admin: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    pages = [await admin.get(path) for path in ("/", "/connections", f"/integrations/{seeded.healthy_id}")]
    connections = pages[1].text
    assert "Demo ERP" in connections and "http://127.0.0.1:9/s1services" in connections
    assert "password stored encrypted" in connections
    async with db.session() as session:
        from softone_sync.db.models import SoftOneConnection

        connection = await session.get(SoftOneConnection, seeded.connection_id)
        assert connection is not None
        stored = connection.passwordEncrypted
    for page in pages:
        assert page.status_code == 200
        assert ERP_PASSWORD not in page.text
        assert stored not in page.text
        assert ADMIN_TOKEN not in page.text


async def test_pages_send_security_headers(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/")
    assert response.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    css = await admin.get("/static/app.css")
    assert css.status_code == 200 and ".badge-failing" in css.text


def _row(html: str, integration_id: str) -> str:
    start = html.index(f'data-integration="{integration_id}"')
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


async def test_a_nul_in_an_id_is_a_not_found_page_not_a_server_error(admin: httpx.AsyncClient) -> None:
    """PostgreSQL cannot compare text holding NUL; the dashboard answers 404 before asking it."""
    for path in ("/integrations/a%00b", "/runs/a%00b"):
        response = await admin.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
