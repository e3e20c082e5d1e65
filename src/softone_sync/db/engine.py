"""The service's database handle: one async engine, its sessions, and the per-dialect settings.

SQLite is the embedded default (a file under ``./var/``), PostgreSQL the production database.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

from sqlalchemy import event, pool
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from softone_sync.db.urls import (
    Dialect,
    async_url,
    dialect_of,
    ensure_sqlite_directory,
    redacted,
    sqlite_file,
)

log = logging.getLogger("softone_sync.db.engine")

# SQLite allows one writer at a time; a writer that finds the file locked waits this long (ms)
# instead of failing at once with "database is locked". Runs write one short transaction per page,
# so 30 s is far beyond any legitimate wait and only a stuck process would exceed it.
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """An opened database: ``async with db.session() as s`` for ORM work, ``db.engine.begin()`` for Core."""

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self.url = url
        self.engine = engine
        self.dialect: Dialect = dialect_of(url)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    def session(self) -> AsyncSession:
        """A new ORM session (objects stay readable after commit: ``expire_on_commit=False``)."""
        return self._sessions()

    def connect(self) -> AsyncConnection:
        """A Core connection; use as ``async with db.connect() as conn``."""
        return self.engine.connect()

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.dispose()

    def __repr__(self) -> str:
        return f"Database({redacted(self.url)!r})"


async def open_database(url: str, *, upgrade: bool = False, **engine_options: Any) -> Database:
    """Open ``url`` (any form :func:`softone_sync.config.normalise_database_url` accepts).

    ``upgrade=True`` first applies pending migrations (in a worker thread: Alembic is synchronous).
    The app start passes it for SQLite, the embedded default, so a fresh checkout just runs;
    PostgreSQL deployments usually migrate as a separate release step (``softone-sync db upgrade``).
    ``engine_options`` go to :func:`create_async_engine` (e.g. ``pool_size``).
    """
    url = async_url(url)
    dialect = dialect_of(url)
    if dialect == "sqlite":
        ensure_sqlite_directory(url)
    if upgrade:
        from softone_sync.db import migrate  # Alembic is a heavy import that most opens never need

        await asyncio.to_thread(migrate.upgrade, url)
    if dialect == "sqlite":
        engine = _sqlite_engine(url, engine_options)
    else:
        engine_options.setdefault("pool_pre_ping", True)  # survive PostgreSQL restarts and idle-killers
        engine = create_async_engine(url, **engine_options)
    log.debug("opened database %s", redacted(url))
    return Database(url, engine)


def _sqlite_engine(url: str, engine_options: dict[str, Any]) -> AsyncEngine:
    if sqlite_file(url) is None:
        # An in-memory database exists once per connection: share one so every session sees it.
        engine_options.setdefault("poolclass", pool.StaticPool)
    engine = create_async_engine(url, **engine_options)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Pragmas are per connection (foreign_keys and busy_timeout reset on every new one), so they are
    # set on connect rather than once. WAL lets readers proceed while a run writes; NORMAL sync is
    # the documented safe pairing with WAL (a power cut may lose the last commits, never corrupts).
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
