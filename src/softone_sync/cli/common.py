"""Plumbing shared by the CLI commands: settings, one database per command, errors as exit codes.

Exit codes are the CLI's contract with scripts: 0 ok, 1 the operation failed (a sync failed or was
held, a conflict), 2 usage or configuration error (bad setting, unknown id, invalid input).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer

from softone_sync.config import Settings, SettingsError, load_settings

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc), code=EXIT_USAGE)


def with_db(settings: Settings, action: Callable[[Any], Awaitable[T]], *, upgrade: bool | None = None) -> T:
    """Open the database, run ``action(db)``, close it; service errors become one line and an exit code.

    ``upgrade`` None: a SQLite file is created/migrated on first use (a PostgreSQL schema is the
    operator's to migrate); False never migrates.
    """
    from softone_sync import services
    from softone_sync.db.engine import open_database

    async def main() -> T:
        db = await open_database(
            settings.database_url, upgrade=settings.is_sqlite if upgrade is None else upgrade
        )
        try:
            return await action(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except services.InvalidInput as exc:
        for error in exc.errors:
            typer.echo(f"error: {error['field']}: {error['message']}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except (services.NotFound, services.NotConfigured) as exc:
        fail(str(exc), EXIT_USAGE)  # an unknown id or a missing setting is the caller's to fix
    except services.ServiceError as exc:
        fail(str(exc))


def database_error_reason(exc: BaseException) -> str:
    """The first line of a database error: the driver's own words (connection refused, auth failed,
    locked...), which never carry the password, rather than SQLAlchemy's wrapper with the SQL."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
