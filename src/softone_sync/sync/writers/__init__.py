"""Set-based page writers, one per dialect: make the target table match a page of ERP rows.

``writer_for(dialect)`` gives a fresh writer for one run; see :class:`PageWriter` for its lifecycle.
"""

from __future__ import annotations

from softone_sync.sync.writers.base import (
    PageError,
    PagePreview,
    PageWriter,
    SampleDiff,
    UpsertResult,
    WriterStateError,
    dedupe_page,
)
from softone_sync.sync.writers.postgres import PostgresWriter
from softone_sync.sync.writers.sqlite import SqliteWriter

__all__ = [
    "PageError",
    "PagePreview",
    "PageWriter",
    "PostgresWriter",
    "SampleDiff",
    "SqliteWriter",
    "UpsertResult",
    "WriterStateError",
    "dedupe_page",
    "writer_for",
]


def writer_for(dialect: str) -> PageWriter:
    """A new writer for one run on ``dialect`` (``"postgresql"`` or ``"sqlite"``, as ``Database.dialect``)."""
    if dialect in ("postgresql", "postgres"):
        return PostgresWriter()
    if dialect == "sqlite":
        return SqliteWriter()
    raise ValueError(f"no page writer for database dialect {dialect!r} (supported: postgresql, sqlite)")
