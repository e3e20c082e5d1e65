"""``softone-sync db …`` as an operator runs it, configured by DATABASE_URL.

The main flow goes through the installed ``.venv/bin/softone-sync`` in a subprocess; the other
cases run the same Typer app in-process (CliRunner) to keep interpreter start-ups few.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from softone_sync.cli import app
from softone_sync.db import migrate

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ROOT / ".venv" / "bin" / "softone-sync"


def run_installed(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [str(COMMAND), "db", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def run_in_process(*args: str, database_url: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["db", *args], env={"DATABASE_URL": database_url})
    return result.exit_code, result.stdout, result.stderr


def test_installed_command_upgrades_a_fresh_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "var" / "data" / "sync.db"  # the directory does not exist yet
    url = f"sqlite:///{path}"

    upgraded = run_installed("upgrade", database_url=url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded base -> {migrate.head()}" in upgraded.stdout
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"softone_connections", "softone_integrations", "sync_runs", "slot_log"} <= tables

    current = run_installed("current", database_url=url, cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert f"{migrate.head()} — up to date" in current.stdout


def test_current_upgrade_again_and_downgrade(empty_database_url: str) -> None:
    code, out, _ = run_in_process("current", database_url=empty_database_url)
    assert code == 0 and "base (no tables)" in out
    assert run_in_process("upgrade", database_url=empty_database_url)[0] == 0

    code, out, _ = run_in_process("upgrade", "--revision", "head", database_url=empty_database_url)
    assert code == 0 and f"already at {migrate.head()}" in out

    code, out, _ = run_in_process("downgrade", "base", database_url=empty_database_url)
    assert code == 0 and f"downgraded {migrate.head()} -> base" in out
    assert migrate.current(empty_database_url) is None


@pytest.mark.parametrize(
    ("args", "url", "code", "expected"),
    [
        (["downgrade", "nope"], "sqlite:///{tmp}/x.db", 1, "error: migration failed: Can't locate revision"),
        (
            ["upgrade"],
            "postgresql://svc:pa55word-xyz@127.0.0.1:1/app",
            1,
            "error: database error on postgresql+psycopg://svc:***@127.0.0.1:1/app: connection failed",
        ),
        (["current"], "mysql://x/y", 2, "error: invalid setting DATABASE_URL:"),
    ],
    ids=["unknown-revision", "unreachable", "unsupported-url"],
)
def test_mistakes_are_one_line_errors_without_secrets(
    tmp_path: Path, args: list[str], url: str, code: int, expected: str
) -> None:
    exit_code, out, err = run_in_process(*args, database_url=url.format(tmp=tmp_path))
    assert exit_code == code
    assert err.startswith(expected)
    assert len(err.strip().splitlines()) == 1
    assert "pa55word-xyz" not in out + err
