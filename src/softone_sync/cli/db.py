"""``softone-sync db``: install, upgrade, downgrade and inspect the service's schema.

Alembic is imported inside the commands: the root CLI imports every part's module, and
``softone-sync --help`` or ``serve`` should not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer

from softone_sync.cli.common import database_error_reason, fail, settings_or_exit
from softone_sync.db.urls import redacted

T = TypeVar("T")

db_app = typer.Typer(
    name="db",
    help="Manage the service's own tables (Alembic migrations shipped with the package).",
    no_args_is_help=True,
)

URL_OPTION = typer.Option(
    None, "--database-url", help="Database to act on (default: DATABASE_URL / .env).", show_default=False
)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root app."""
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_command(
    revision: str = typer.Option("head", "--revision", help="Target revision."),
    database_url: str | None = URL_OPTION,
) -> None:
    """Apply pending migrations (creates the tables on a fresh database)."""
    from softone_sync.db import migrate

    url = _url(database_url)
    before, after = _migrate(url, lambda: migrate.upgrade(url, revision))
    if before == after:
        typer.echo(f"{redacted(url)}: already at {after or 'base'}")
    else:
        typer.echo(f"{redacted(url)}: upgraded {before or 'base'} -> {after}")


@db_app.command("downgrade")
def downgrade_command(
    revision: str = typer.Argument(..., help='Target revision; "base" removes every table of the service.'),
    database_url: str | None = URL_OPTION,
) -> None:
    """Revert migrations down to REVISION."""
    from softone_sync.db import migrate

    url = _url(database_url)
    before, after = _migrate(url, lambda: migrate.downgrade(url, revision))
    typer.echo(f"{redacted(url)}: downgraded {before or 'base'} -> {after or 'base'}")


@db_app.command("current")
def current_command(database_url: str | None = URL_OPTION) -> None:
    """Show the database's revision and the newest one this version ships."""
    from softone_sync.db import migrate

    url = _url(database_url)
    revision = _run(lambda: migrate.current(url), url)
    head = migrate.head()
    state = "up to date" if revision == head else f"behind: run `softone-sync db upgrade` (head is {head})"
    typer.echo(f"{redacted(url)}: {revision or 'base (no tables)'} — {state}")


def _url(override: str | None) -> str:
    settings = settings_or_exit(database_url=override) if override else settings_or_exit()
    return settings.database_url


def _migrate(url: str, step: Callable[[], None]) -> tuple[str | None, str | None]:
    """Run a migration ``step``; the database's revision before and after it (None: no tables)."""
    from softone_sync.db import migrate

    before = _run(lambda: migrate.current(url), url)
    _run(step, url)
    return before, _run(lambda: migrate.current(url), url)


def _run(action: Callable[[], T], url: str) -> T:
    """Turn the expected failures into one line each; anything else is a bug and keeps its traceback."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return action()
    except CommandError as exc:  # unknown revision, branch problems: Alembic's message is precise
        fail(f"migration failed: {exc}")
    except SQLAlchemyError as exc:
        # The URL is shown redacted; the driver's message never carries the password.
        fail(f"database error on {redacted(url)}: {database_error_reason(exc)}")
