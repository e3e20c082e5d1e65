"""GET /metrics: cluster-wide numbers from the database, in Prometheus text format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from softone_sync.db.engine import Database
from softone_sync.metrics import observe_erp_call
from tests.web.seed import seed_dashboard


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _get(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_metrics_report_runs_rows_slots_and_lateness(db: Database, anon: httpx.AsyncClient) -> None:
    await seed_dashboard(db)
    observe_erp_call("getBrowserData", 0.2, None)
    observe_erp_call("getBrowserData", 0.3, -101)
    response = await anon.get("/metrics")  # scrapers do not log in
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    s = _samples(response.text)
    healthy, failing = "Customers to shop", "Items nightly"

    # Dry runs are previews: the 999 "created" of the dry run count nowhere.
    assert _get(s, "softone_sync_runs_total", integration=healthy, status="succeeded") == 3
    assert _get(s, "softone_sync_runs_total", integration=failing, status="failed") == 1
    assert _get(s, "softone_sync_runs_total", integration=failing, status="succeeded") == 1
    assert _get(s, "softone_sync_rows_total", integration=healthy, kind="created") == 123
    assert _get(s, "softone_sync_rows_total", integration=healthy, kind="updated") == 16
    assert _get(s, "softone_sync_rows_total", integration=healthy, kind="unchanged") == 150
    assert _get(s, "softone_sync_rows_total", integration=failing, kind="failed") == 2

    # Durations 2 s, 4 s, 1 s: two fall at or under 2.5 s, all three under 5 s.
    assert _get(s, "softone_sync_run_duration_seconds_count", integration=healthy) == 3
    assert abs(_get(s, "softone_sync_run_duration_seconds_sum", integration=healthy) - 7.0) < 1e-6
    assert _get(s, "softone_sync_run_duration_seconds_bucket", integration=healthy, le="1.0") == 1
    assert _get(s, "softone_sync_run_duration_seconds_bucket", integration=healthy, le="2.5") == 2
    assert _get(s, "softone_sync_run_duration_seconds_bucket", integration=healthy, le="5.0") == 3
    assert _get(s, "softone_sync_run_duration_seconds_bucket", integration=healthy, le="+Inf") == 3

    # The healthy integration last succeeded 10 min - 1 s ago; the failing one a day ago.
    since = _get(s, "softone_sync_seconds_since_last_success", integration=healthy)
    assert 595 <= since <= 660
    assert _get(s, "softone_sync_seconds_since_last_success", integration=failing) > 86_000

    assert _get(s, "softone_sync_slots_total", integration=healthy, outcome="ran") == 3
    assert _get(s, "softone_sync_slots_total", integration=healthy, outcome="missed") == 1
    assert _get(s, "softone_sync_schedule_lateness_seconds_count", integration=healthy) == 3
    assert _get(s, "softone_sync_schedule_lateness_seconds_bucket", integration=healthy, le="0.25") == 0
    assert _get(s, "softone_sync_schedule_lateness_seconds_bucket", integration=healthy, le="0.5") == 3
    assert abs(_get(s, "softone_sync_schedule_lateness_seconds_sum", integration=healthy) - 1.5) < 1e-6

    assert _get(s, "softone_sync_integration_active", integration=healthy) == 1
    assert _get(s, "softone_sync_runs_running", integration=healthy) == 0

    # Process-local ERP calls, from the client's hook.
    assert _get(s, "softone_sync_erp_call_seconds_count", service="getbrowserdata") >= 2
    assert _get(s, "softone_sync_erp_errors_total", service="getbrowserdata", errorcode="-101") >= 1


async def test_metrics_on_an_empty_database_parse(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/metrics")
    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"softone_sync_runs", "softone_sync_rows", "softone_sync_slots"} <= names


async def test_real_erp_calls_show_up_with_their_errorcode(simulator: Any, anon: httpx.AsyncClient) -> None:
    """The client reports every call through its observer hook; /metrics exposes them by service."""
    from softone_sync.softone import ConnectionSettings, SoftOneClient
    from softone_sync.softone.errors import DataNotFound

    settings = ConnectionSettings(base_url=simulator.url, username="demo", password="demo", app_id="1001")
    before = _samples((await anon.get("/metrics")).text)
    async with SoftOneClient(settings) as client:
        await client.get_objects()
        with pytest.raises(DataNotFound):
            await client.get_data("CUSTOMER", "999999999")
    s = _samples((await anon.get("/metrics")).text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return s.get(key, 0.0) - before.get(key, 0.0)

    assert delta("softone_sync_erp_call_seconds_count", service="getobjects") == 1
    assert delta("softone_sync_erp_errors_total", service="getdata", errorcode="2001") == 1
