"""Schema migrations through Alembic, configured in code (no ``alembic.ini`` at runtime).

The functions here are synchronous — Alembic is — and open their own sync connection (stdlib
sqlite3 for SQLite, psycopg 3 for PostgreSQL). Async code calls them through
``asyncio.to_thread`` (as :func:`softone_sync.db.engine.open_database` does).

The version table is ``softone_sync_alembic_version``, not Alembic's default: the service often
lives in the application's own database, and the application may well use Alembic too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from softone_sync.db.urls import dialect_of, ensure_sqlite_directory, sqlite_file, sync_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "softone_sync_alembic_version"

# Any fixed 64-bit number: concurrent upgraders (several replicas starting at once) queue on it.
_PG_MIGRATION_LOCK = 0x50F7_0E5C_0001


def make_config(url: str | None = None) -> Config:
    """An Alembic config for our migrations folder; also usable with ``alembic.command.revision``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # "v" prefix: file names must be valid module names for mypy/ruff (revision ids may start with a digit).
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def head() -> str:
    """The newest revision shipped with this version of the package."""
    heads = ScriptDirectory.from_config(make_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations have {len(heads)} heads ({', '.join(heads)}); merge them")
    return heads[0]


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; a no-op when already there."""
    with _migration_connection(url) as connection:
        config = make_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(url: str, revision: str) -> None:
    """Revert migrations down to ``revision`` (``"base"`` drops every table of the service)."""
    with _migration_connection(url) as connection:
        config = make_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current(url: str) -> str | None:
    """The revision the database is at, or None when the service's schema was never installed."""
    path = sqlite_file(url)
    if path is not None and not path.expanduser().exists():
        return None  # asking must not create an empty database file as a side effect
    engine = sa.create_engine(sync_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def _migration_connection(url: str) -> Iterator[sa.Connection]:
    if dialect_of(url) == "sqlite":
        ensure_sqlite_directory(url)
    # NullPool: migrations are rare; hold no connection once done. SQLite deliberately runs without
    # foreign_keys=ON here: batch migrations recreate tables, which would cascade-delete child rows.
    engine = sa.create_engine(sync_url(url), poolclass=sa.NullPool)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_busy_timeout)
    try:
        with engine.begin() as connection:
            # Serialise concurrent upgraders (replicas, or the server and the CLI starting together):
            # the second waits, then finds the schema current and does nothing. Both locks are
            # held until commit, which also makes the whole upgrade atomic on both dialects.
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
    finally:
        engine.dispose()


def _sqlite_busy_timeout(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout = 30000")  # type: ignore[attr-defined]
