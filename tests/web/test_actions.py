"""Dashboard actions: CSRF-protected POST forms that change what the scheduler does."""

from __future__ import annotations

import httpx

from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration
from tests.web.conftest import csrf_from
from tests.web.seed import seed_dashboard


async def _is_active(db: Database, integration_id: str) -> bool:
    async with db.session() as session:
        integration = await session.get(SoftOneIntegration, integration_id)
        assert integration is not None
        return bool(integration.isActive)


async def test_actions_refuse_a_missing_or_forged_csrf_token(db: Database, admin: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    for action in ("disable", "enable", "run", "dry-run"):
        url = f"/integrations/{seeded.healthy_id}/{action}"
        missing = await admin.post(url, data={})
        forged = await admin.post(url, data={"csrf_token": "forged"})
        assert forged.status_code == 403, action
        assert missing.status_code in (400, 403), action
        assert "expired or was sent from another site" in forged.text
    assert await _is_active(db, seeded.healthy_id) is True
    test = await admin.post(f"/connections/{seeded.connection_id}/test", data={"csrf_token": "forged"})
    assert test.status_code == 403


async def test_a_token_from_another_session_is_refused(db: Database, admin: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    stale = csrf_from((await admin.get("/")).text)
    # Log in again: a new session id, so the old page's token no longer matches.
    from tests.web.conftest import ADMIN_TOKEN

    await admin.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})
    response = await admin.post(f"/integrations/{seeded.healthy_id}/disable", data={"csrf_token": stale})
    assert response.status_code == 403
    assert await _is_active(db, seeded.healthy_id) is True


async def test_actions_need_a_session_even_with_a_token(db: Database, anon: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    response = await anon.post(f"/integrations/{seeded.healthy_id}/disable", data={"csrf_token": "x"})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert await _is_active(db, seeded.healthy_id) is True


async def test_disable_then_enable_toggles_is_active(db: Database, admin: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    page = await admin.get(f"/integrations/{seeded.healthy_id}")
    token = csrf_from(page.text)
    response = await admin.post(f"/integrations/{seeded.healthy_id}/disable", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == f"/integrations/{seeded.healthy_id}"
    assert await _is_active(db, seeded.healthy_id) is False
    page = await admin.get(f"/integrations/{seeded.healthy_id}")
    assert "disabled" in page.text and ">Enable<" in page.text

    # From the list, the toggle comes back to the list.
    listing = await admin.get("/")
    assert "row-inactive" in listing.text
    response = await admin.post(
        f"/integrations/{seeded.healthy_id}/enable",
        data={"csrf_token": token},
        headers={"referer": str(admin.base_url) + "/"},
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert await _is_active(db, seeded.healthy_id) is True


async def test_actions_on_an_unknown_integration_are_404(admin: httpx.AsyncClient) -> None:
    token = csrf_from((await admin.get("/")).text)
    for action in ("disable", "enable", "run", "dry-run"):
        response = await admin.post(f"/integrations/nope/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
