"""The service's own database: engine, ORM models, migrations and the per-integration lease."""

from __future__ import annotations

from softone_sync.db.engine import Database, open_database

__all__ = ["Database", "open_database"]
