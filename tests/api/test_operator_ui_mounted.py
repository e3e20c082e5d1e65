"""The product's app (what `serve` and `demo` run) carries the dashboard and /metrics, not just the API."""

from __future__ import annotations

import httpx


def test_dashboard_and_metrics_are_served_by_the_app(client: httpx.Client) -> None:
    page = client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("/login")
    login = client.get("/login")
    assert login.status_code == 200 and "text/html" in login.headers["content-type"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "softone_sync_integration_active" in metrics.text
    assert client.get("/static/app.css").status_code == 200
