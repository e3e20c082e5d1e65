"""The deployment examples work as written: their curl lines run against a live ``softone-sync serve``."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from softone_sync.cli.demo import DEMO_TABLES
from softone_sync.softone.simulator import RunningSimulator
from tests.api.conftest import ADMIN_TOKEN, CRON_SECRET, SECRET_KEY, add_connection, add_integration
from tests.api.serve_process import free_port, running

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CURL_LINE = re.compile(r'(curl -fsS -H "X-Cron-Secret: \$CRON_SECRET".*"\$APP_URL/api/cron/[a-z-]+")')
EXAMPLES = [
    "github-actions/softone-sync-cron.yml",
    "kubernetes/cronjob.yaml",
    "systemd/softone-sync-cron.service",
    "mode-a/post-start.sh",
]


def curl_commands(relative: str) -> list[str]:
    text = (DEPLOY / relative).read_text(encoding="utf-8")
    return CURL_LINE.findall(text)


@pytest.fixture(scope="module")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deploy") / "serve.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    DEMO_TABLES.create_all(engine)  # the application's tables: the service never creates them
    engine.dispose()
    return path


@pytest.fixture(scope="module")
def served(sqlite_path: Path) -> Iterator[str]:
    """One server for the module: starting a process costs seconds, the examples share it."""
    tmp_path = sqlite_path.parent
    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{sqlite_path}",
        "CRON_SECRET": CRON_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "SECRET_KEY": SECRET_KEY,
        "LOG_LEVEL": "WARNING",
    }
    with running(
        ["serve", "--port", str(port), "--no-scheduler"],
        env=env,
        cwd=tmp_path,
        port=port,
        log=tmp_path / "serve.log",
    ):
        yield f"http://127.0.0.1:{port}"


def test_every_example_has_its_curl_line() -> None:
    for example in EXAMPLES:
        assert curl_commands(example), f"no parseable curl line in deploy/{example}"
    assert "/api/cron/sync-integration" in " ".join(curl_commands("github-actions/softone-sync-cron.yml"))
    crons = json.loads((DEPLOY / "vercel/vercel.json").read_text())["crons"]
    assert [c["path"] for c in crons] == ["/api/cron/init"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_curl_lines_run_against_serve(example: str, served: str, simulator: RunningSimulator) -> None:
    with httpx.Client(base_url=served, timeout=30) as client:
        connection = add_connection(client, simulator.url, name=f"erp-{example}")
        integration = add_integration(client, connection["id"], name=f"customers-{example}")
    env = {
        "APP_URL": served,
        "CRON_SECRET": CRON_SECRET,
        "INTEGRATION_ID": str(integration["id"]),
        "PATH": "/usr/bin:/bin",
    }
    for command in curl_commands(example):
        result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (command, result.stderr)
        body = json.loads(result.stdout)
        assert body["status"] in ("initialized", "started", "succeeded"), body
        # The same line with a wrong secret fails loudly (curl -f: exit 22 on HTTP 401).
        wrong = subprocess.run(
            ["bash", "-c", command],
            env={**env, "CRON_SECRET": "wrong"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert wrong.returncode == 22, (command, wrong.stdout)


def test_vercel_cron_call_is_accepted(served: str) -> None:
    """Vercel Cron calls each path with GET and ``Authorization: Bearer $CRON_SECRET``."""
    [cron] = json.loads((DEPLOY / "vercel/vercel.json").read_text())["crons"]
    response = httpx.get(served + cron["path"], headers={"Authorization": f"Bearer {CRON_SECRET}"})
    assert response.status_code == 200, response.text
    assert "dispatched" in response.json()
