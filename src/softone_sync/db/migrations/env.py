"""Alembic environment of softone-sync, driven by softone_sync.db.migrate (no alembic.ini).

``migrate`` hands over an open sync connection in ``config.attributes["connection"]`` (so it can
hold a PostgreSQL advisory lock around the upgrade); the URL fallback serves ad-hoc use of the
Alembic API with :func:`softone_sync.db.migrate.make_config`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from softone_sync.db.migrate import VERSION_TABLE
from softone_sync.db.models import Base

config = context.config
target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # The service usually shares the application's database: autogenerate must never propose
    # dropping tables it does not own.
    if type_ == "table" and reflected and compare_to is None:
        return name in target_metadata.tables
    return True


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_object,
        compare_type=True,
        **kwargs,
    )


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    _configure(url=url, literal_binds=True, render_as_batch=bool(url and url.startswith("sqlite")))
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: sa.Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_online(given)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            run_online(connection)
    finally:
        engine.dispose()
