"""Webhook notifications: an integration that keeps failing, and the run that brings it back.

Stateless on purpose: the decision is read from ``sync_runs`` after each finished run, so it holds
across processes and restarts without a table of its own, and each streak notifies once —

- ``failing``: this run failed and it is exactly the ``NOTIFY_AFTER_FAILURES``-th failure in a row;
- ``recovered``: this run succeeded and the runs before it were at least that many failures.

Held and skipped runs neither break nor extend a streak; dry runs are ignored. Delivery is
best-effort (one POST, a short timeout): a webhook that is down must never fail a sync.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa

from softone_sync.config import Settings
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration, SyncRun
from softone_sync.logging import register_secret

log = logging.getLogger("softone_sync.notify")

WEBHOOK_TIMEOUT_SECONDS = 10.0


async def _recent_outcomes(db: Database, integration_id: str, limit: int) -> list[tuple[str, str | None]]:
    """(status, error) of the latest finished real runs that count for a streak, newest first."""
    query = (
        sa.select(SyncRun.status, SyncRun.error)
        .where(
            SyncRun.integration_id == integration_id,
            SyncRun.dry_run.is_(False),
            SyncRun.status.in_(("succeeded", "failed")),
        )
        .order_by(SyncRun.finished_at.desc().nulls_last(), SyncRun.started_at.desc())
        .limit(limit)
    )
    async with db.connect() as conn:
        return [(row.status, row.error) for row in (await conn.execute(query)).all()]


def _streak(outcomes: list[tuple[str, str | None]], start: int) -> int:
    count = 0
    for status, _error in outcomes[start:]:
        if status != "failed":
            break
        count += 1
    return count


async def decide(db: Database, integration_id: str, threshold: int) -> str | None:
    """``"failing"``, ``"recovered"`` or None for the integration's latest finished run."""
    outcomes = await _recent_outcomes(db, integration_id, threshold + 1)
    if not outcomes:
        return None
    latest, _ = outcomes[0]
    if latest == "failed":
        return "failing" if _streak(outcomes, 0) == threshold else None
    return "recovered" if _streak(outcomes, 1) >= threshold else None


async def notify_after_run(
    db: Database,
    settings: Settings,
    integration_id: str,
    *,
    run_id: str,
    status: str,
    error: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str | None:
    """Send the webhook if this run starts a failing streak or ends one; returns the event sent."""
    url = settings.notify_webhook_url
    if url is None or status not in ("succeeded", "failed"):
        return None
    secret_url = url.get_secret_value()
    register_secret(secret_url)  # webhook URLs carry tokens (Slack, Teams): never in a log line
    event = await decide(db, integration_id, settings.notify_after_failures)
    if event is None:
        return None
    async with db.connect() as conn:
        name = (
            await conn.execute(
                sa.select(SoftOneIntegration.name).where(SoftOneIntegration.id == integration_id)
            )
        ).scalar_one_or_none()
    payload: dict[str, Any] = {
        "event": event,
        "integrationId": integration_id,
        "integration": name,
        "runId": run_id,
        "status": status,
        "consecutiveFailures": settings.notify_after_failures if event == "failing" else 0,
        "error": error,
        "at": datetime.now(UTC).isoformat(),
        # Slack/Teams-style incoming webhooks show "text"; generic receivers read the fields above.
        "text": (
            f"softone-sync: integration {name!r} failed "
            f"{settings.notify_after_failures} times in a row: {error}"
            if event == "failing"
            else f"softone-sync: integration {name!r} recovered (run {run_id} succeeded)"
        ),
    }
    try:
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS, transport=transport) as client:
            response = await client.post(secret_url, json=payload)
        if response.status_code >= 400:
            log.warning(
                "[SYNC] integration=%s webhook answered HTTP %d for %s",
                integration_id,
                response.status_code,
                event,
                extra={"action": "notify_failed", "integration_id": integration_id, "run_id": run_id},
            )
            return None
    except httpx.HTTPError as exc:
        log.warning(
            "[SYNC] integration=%s webhook for %s not delivered: %s",
            integration_id,
            event,
            type(exc).__name__,
            extra={"action": "notify_failed", "integration_id": integration_id, "run_id": run_id},
        )
        return None
    log.info(
        "[SYNC] integration=%s notified: %s",
        integration_id,
        event,
        extra={"action": "notified", "integration_id": integration_id, "run_id": run_id},
    )
    return event
