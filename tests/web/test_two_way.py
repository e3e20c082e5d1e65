"""The integration page of a two-way integration: capture status, conflicts with keep-app/keep-ERP
buttons, push rejects labelled as such."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from softone_sync.db.engine import Database
from softone_sync.sync import rejects as reject_store
from softone_sync.sync.mapping import RejectedRow
from softone_sync.sync.twoway import enable_two_way
from softone_sync.sync.twoway.conflicts import mark_applied, store_conflict
from softone_sync.sync.twoway.models import CONFLICTS, OUTBOX
from tests.twoway.helpers import DDL, two_way_config
from tests.web.conftest import csrf_from
from tests.web.seed import seed_dashboard


async def two_way_integration(db: Database) -> tuple[str, int]:
    """A two-way integration over "Customers" with one manual conflict, one push and one pull reject."""
    seeded = await seed_dashboard(db)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(DDL)
        await conn.execute(
            sa.text(
                """INSERT INTO "Customers" (code, name, city, erp_id) VALUES ('C1', 'App name', 'Volos', 1)"""
            )
        )
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text('UPDATE softone_integrations SET "configJson" = :c WHERE id = :i').bindparams(
                sa.bindparam("c", type_=sa.JSON)
            ),
            {"c": two_way_config(conflictPolicy="manual"), "i": seeded.healthy_id},
        )
    await enable_two_way(db, seeded.healthy_id)
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        conflict_id = await store_conflict(
            conn,
            integration_id=seeded.healthy_id,
            run_id=None,
            record_key="C1",
            local_key='["C1"]',
            erp_id="1",
            columns=["name"],
            local={"name": "App name", "city": "Volos"},
            erp={"name": "ERP name", "city": "Volos"},
            base={"name": "Old name", "city": "Volos"},
        )
        await reject_store.store_rejects(
            conn,
            dialect=db.dialect,
            integration_id=seeded.healthy_id,
            run_id="r" * 32,
            rejects=[RejectedRow("push:C2", "SoftOne refused it: VAT number invalid", {"name": "x"})],
            now=now,
        )
    return seeded.healthy_id, conflict_id


async def test_conflict_card_shows_both_versions_and_resolves(db: Database, admin: httpx.AsyncClient) -> None:
    integration_id, conflict_id = await two_way_integration(db)
    page = await admin.get(f"/integrations/{integration_id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "two-way" in text and "capturing" in text
    assert "0 app changes waiting to be pushed" in text and "1 open conflict" in text
    card = text[text.index('id="conflicts-table"') :]
    card = card[: card.index("</table>")]
    for value in ("C1", "name", "App name", "ERP name", "Old name", "Keep app", "Keep ERP"):
        assert value in card, value
    rejects = text[text.index('id="rejects-table"') :]
    assert "push" in rejects and "VAT number invalid" in rejects and "push:C2" not in rejects

    token = csrf_from(page.text)
    url = f"/conflicts/{conflict_id}/resolve"
    assert (await admin.post(url, data={"side": "erp", "csrf_token": "forged"})).status_code == 403
    assert (await admin.post(url, data={"side": "mine", "csrf_token": token})).status_code == 400
    assert (
        await admin.post("/conflicts/999999/resolve", data={"side": "app", "csrf_token": token})
    ).status_code == 404

    done = await admin.post(url, data={"side": "app", "csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == f"/integrations/{integration_id}#conflicts"
    async with db.engine.connect() as conn:
        status, resolution = (
            await conn.execute(
                sa.select(CONFLICTS.c.status, CONFLICTS.c.resolution).where(CONFLICTS.c.id == conflict_id)
            )
        ).one()
        queued = (await conn.execute(sa.select(sa.func.count()).select_from(OUTBOX))).scalar_one()
    assert (status, resolution, queued) == ("resolving", "app", 1)  # the next run applies it
    after = html.unescape((await admin.get(f"/integrations/{integration_id}")).text)
    assert "applied by the next run" in after and "Keep app" not in after
    assert "1 app change waiting to be pushed" in after

    async with db.engine.begin() as conn:
        await mark_applied(conn, [conflict_id])
    again = await admin.post(url, data={"side": "erp", "csrf_token": token})
    assert again.status_code == 409 and "already resolved" in again.text
    assert "No conflicts." in (await admin.get(f"/integrations/{integration_id}")).text


async def test_one_way_integrations_have_no_two_way_sections(db: Database, admin: httpx.AsyncClient) -> None:
    seeded = await seed_dashboard(db)
    response = await admin.get(f"/integrations/{seeded.healthy_id}")
    page = response.text
    # The page itself rendered (an error page would lack the sections too).
    assert response.status_code == 200 and "Customers to shop" in page
    assert 'id="conflicts"' not in page and "Change capture" not in page
