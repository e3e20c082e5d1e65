"""Database URL handling shared by the engine and the migration runner.

The service talks to its database through async drivers (``sqlite+aiosqlite``,
``postgresql+psycopg``) while Alembic runs on a sync connection; these helpers translate one
form into the other and keep passwords out of anything printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sqlalchemy.engine import URL, make_url

from softone_sync.config import normalise_database_url

Dialect = Literal["sqlite", "postgresql"]


def async_url(url: str) -> str:
    """The async-driver form of ``url`` (accepts ``postgres://``, ``postgresql://``, ``sqlite:///``)."""
    return normalise_database_url(url)


def sync_url(url: str) -> str:
    """The sync-driver form Alembic runs on: stdlib sqlite3 for SQLite, psycopg 3 (sync) for PostgreSQL."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _render(parsed.set(drivername="sqlite+pysqlite"))
    return _render(parsed)  # psycopg 3 is one driver for both sync and async use


def dialect_of(url: str) -> Dialect:
    backend = make_url(async_url(url)).get_backend_name()
    return "sqlite" if backend == "sqlite" else "postgresql"


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory databases and non-SQLite URLs."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_directory(url: str) -> None:
    """Create the directory of a SQLite file so a fresh checkout runs without a manual ``mkdir var``."""
    path = sqlite_file(url)
    if path is not None:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)


def redacted(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may still hold a password: show none of it
        return "<invalid database URL>"


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
