"""The application's own table: reflect it, check a mapping against it, read record keys back.

The service never creates or alters application tables; it only writes rows into one that exists.
Everything a writer needs to know about that table is reflected once per run into a
:class:`TargetTable`, and every identifier that ever reaches SQL comes from that reflection (quoted
by SQLAlchemy's identifier preparer or ``psycopg.sql.Identifier``), never from configuration text.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection


class TargetError(Exception):
    """The target table or a mapped column is unusable; ``str()`` says exactly what and where."""


@dataclass
class TargetTable:
    """A reflected application table and the columns that identify a row in it."""

    schema: str | None
    name: str
    table: sa.Table
    key_columns: list[str]
    # Column sets ON CONFLICT can infer an arbiter from: the primary key, unique constraints and
    # unique indexes without a predicate or expressions.
    unique_keys: list[frozenset[str]] = field(default_factory=list)
    dialect: str = ""
    # SQLite only: the table is WITHOUT ROWID, or its INTEGER PRIMARY KEY aliases the rowid.
    without_rowid: bool = False
    rowid_alias: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def column(self, name: str) -> sa.Column[Any]:
        try:
            return self.table.c[name]
        except KeyError:
            raise TargetError(_unknown_column_message(self, name)) from None

    def with_keys(self, key_columns: Sequence[str]) -> TargetTable:
        """The same table identified by ``key_columns`` (checked to exist) instead of the primary key."""
        keys = list(key_columns)
        if not keys:
            raise TargetError(f"table {self.qualified_name!r}: no key columns given")
        for name in keys:
            self.column(name)
        return TargetTable(
            self.schema,
            self.name,
            self.table,
            keys,
            self.unique_keys,
            self.dialect,
            self.without_rowid,
            self.rowid_alias,
        )


async def reflect_target(
    conn: AsyncConnection, name: str, schema: str | None = None, *, key_columns: Sequence[str] | None = None
) -> TargetTable:
    """Reflect the table called exactly ``name`` (case-sensitive) in ``schema`` (None: the default).

    ``key_columns`` default to the primary key. Raises :class:`TargetError` naming close matches
    when the schema, table or a key column does not exist.
    """
    target = await conn.run_sync(_reflect, name, schema)
    if key_columns is not None:
        return target.with_keys(key_columns)
    if not target.key_columns:
        raise TargetError(
            f"table {target.qualified_name!r} has no primary key; name the unique identifier columns"
        )
    return target


def _reflect(sync_conn: Connection, name: str, schema: str | None) -> TargetTable:
    inspector = sa.inspect(sync_conn)
    if schema is not None:
        schemas = inspector.get_schema_names()
        if schema not in schemas:
            raise TargetError(f"schema {schema!r} does not exist{_near(schema, schemas)}")
    names = inspector.get_table_names(schema=schema)
    where = f" in schema {schema!r}" if schema else ""
    # SQLite resolves table names case-insensitively; demanding the exact name everywhere keeps a
    # configuration that works on SQLite valid on PostgreSQL, where "CustomerMaster" <> customermaster.
    if name not in names:
        views = inspector.get_view_names(schema=schema)
        if name in views:
            raise TargetError(f"{name!r}{where} is a view; the target must be a table")
        raise TargetError(f"table {name!r} does not exist{where}{_near(name, names)}")
    table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=sync_conn, resolve_fks=False)
    unique_keys: list[frozenset[str]] = []
    primary_key = [c.name for c in table.primary_key.columns]
    if primary_key:
        unique_keys.append(frozenset(primary_key))
    for constraint in inspector.get_unique_constraints(name, schema=schema):
        unique_keys.append(frozenset(c for c in constraint["column_names"] if c))
    for index in inspector.get_indexes(name, schema=schema):
        options = index.get("dialect_options", {})
        partial = any(key.endswith("_where") and value is not None for key, value in options.items())
        columns = index["column_names"]
        if index["unique"] and not partial and columns and all(columns):
            unique_keys.append(frozenset(c for c in columns if c))
    target = TargetTable(schema, name, table, primary_key, unique_keys, sync_conn.dialect.name)
    if target.dialect == "sqlite":
        _sqlite_rowid_facts(sync_conn, target)
        _sqlite_moment_types(sync_conn, target)
    return target


# Declared SQLite types that mean "a point in time" to the applications that write them: Django
# ("datetime"), Rails ("datetime(6)"), Prisma ("DATETIME"), hand-written DDL ("TIMESTAMP",
# "TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ").
_SQLITE_MOMENT = re.compile(r"^\s*(DATETIME|TIMESTAMP)", re.IGNORECASE)
_SQLITE_WITH_ZONE = re.compile(r"WITH\s+TIME\s+ZONE|^\s*TIMESTAMPTZ", re.IGNORECASE)


def _sqlite_moment_types(sync_conn: Connection, target: TargetTable) -> None:
    """Give columns declared as a date-time type SQLAlchemy's DATETIME, whatever the declaration's suffix.

    SQLite only has type *affinities*: SQLAlchemy reflects ``TIMESTAMP WITH TIME ZONE`` (or
    ``TIMESTAMPTZ``) by the affinity rules as NUMERIC, which would make a datetime mapping fail.
    As DATETIME, such a column receives ISO 8601 text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) — what
    SQLite's own date functions, SQLAlchemy, Django and Rails read and write there.
    """
    prefix = f'"{target.schema}".' if target.schema else ""
    quoted = target.name.replace('"', '""')
    declared = {
        row[1]: str(row[2] or "")
        for row in sync_conn.exec_driver_sql(f'PRAGMA {prefix}table_info("{quoted}")').fetchall()
    }
    for column in target.table.columns:
        text = declared.get(column.name, "")
        if _SQLITE_MOMENT.match(text) and not isinstance(column.type, sa.DateTime):
            column.type = sa.DateTime(timezone=bool(_SQLITE_WITH_ZONE.search(text)))


def _sqlite_rowid_facts(sync_conn: Connection, target: TargetTable) -> None:
    prefix = f'"{target.schema}".' if target.schema else ""
    sql = sync_conn.exec_driver_sql(
        f"SELECT sql FROM {prefix}sqlite_master WHERE type = 'table' AND name = ?", (target.name,)
    ).scalar()
    # Table options (WITHOUT ROWID, STRICT) follow the closing parenthesis of the column list.
    target.without_rowid = bool(sql and re.search(r"WITHOUT\s+ROWID", sql.rpartition(")")[2], re.IGNORECASE))
    pk = list(target.table.primary_key.columns)
    if not target.without_rowid and len(pk) == 1:
        declared = str(pk[0].type).upper()
        if declared == "INTEGER":
            target.rowid_alias = pk[0].name


def _near(name: str, candidates: Sequence[str]) -> str:
    folded = {c.lower(): c for c in candidates}
    close = [folded[c] for c in difflib.get_close_matches(name.lower(), list(folded), n=5, cutoff=0.6)]
    if close:
        return f"; did you mean {', '.join(repr(c) for c in close)}? (names are case-sensitive)"
    if not candidates:
        return " (there are none)"
    shown = ", ".join(repr(c) for c in sorted(candidates)[:20])
    more = f" and {len(candidates) - 20} more" if len(candidates) > 20 else ""
    return f" (available: {shown}{more})"


def _unknown_column_message(target: TargetTable, name: str) -> str:
    return f"table {target.qualified_name!r} has no column {name!r}{_near(name, list(target.table.c.keys()))}"


# SQLAlchemy generic type -> the Python value types a column stores without loss. Order matters:
# Float is a Numeric and DateTime is checked before Date.
_ACCEPTS: tuple[tuple[type[sa.types.TypeEngine[Any]], tuple[type, ...]], ...] = (
    (sa.Boolean, (bool,)),
    (sa.Integer, (int,)),
    (sa.Float, (float, Decimal, int)),
    (sa.Numeric, (Decimal, int)),
    (sa.DateTime, (datetime,)),
    (sa.Date, (date,)),
    (sa.Time, (time,)),
    (sa.String, (str,)),
    (sa.Enum, (str,)),
)


def column_python_type(column: sa.Column[Any]) -> type | None:
    """The Python type a column naturally holds (``Decimal`` for NUMERIC), or None when unknown."""
    for generic, accepted in _ACCEPTS:
        if isinstance(column.type, generic):
            return accepted[0]
    return None


def column_accepts(column: sa.Column[Any], value_type: type) -> bool:
    """Whether ``column`` stores values of ``value_type`` without loss (unknown column types: yes)."""
    return _accepts(column, value_type)


def _accepts(column: sa.Column[Any], value_type: type) -> bool:
    for generic, accepted in _ACCEPTS:
        if isinstance(column.type, generic):
            if value_type is bool and generic is not sa.Boolean:
                return False  # bool is an int subclass, but True into an INTEGER column is a mapping mistake
            if value_type is datetime and generic is sa.Date:
                return False  # datetime is a date subclass; the time of day would be lost
            return issubclass(value_type, accepted)
    return True  # NullType (an untyped SQLite column) or a type we cannot judge: let the database decide


def check_columns(
    target: TargetTable, columns: Sequence[str], value_types: Mapping[str, type] | None = None
) -> None:
    """Raise :class:`TargetError` unless every column exists, is writable and accepts its value type."""
    problems: list[str] = []
    for name in columns:
        if name not in target.table.c:
            problems.append(_unknown_column_message(target, name))
            continue
        column = target.table.c[name]
        if column.computed is not None:
            problems.append(
                f"column {name!r} of {target.qualified_name!r} is generated and cannot be written"
            )
        wanted = (value_types or {}).get(name)
        if wanted is not None and not _accepts(column, wanted):
            problems.append(
                f"column {name!r} of {target.qualified_name!r} is {column.type} and cannot hold "
                f"{wanted.__name__} values"
            )
    if problems:
        raise TargetError("; ".join(problems))


def unique_key_backed(target: TargetTable, key_columns: Sequence[str]) -> bool:
    """Whether a primary key, unique constraint or plain unique index covers exactly these columns."""
    return frozenset(key_columns) in target.unique_keys


def required_unmapped(target: TargetTable, columns: Sequence[str]) -> list[str]:
    """NOT NULL columns without a default that the mapping leaves out: inserting a new row would fail."""
    mapped = set(columns)
    missing = []
    for column in target.table.columns:
        if column.name in mapped or column.nullable or column.computed is not None:
            continue
        if column.server_default is not None or column.identity is not None:
            continue
        if column.name == target.rowid_alias:
            continue  # SQLite assigns an INTEGER PRIMARY KEY itself
        missing.append(column.name)
    return missing


def decode_record_key(target: TargetTable, text: str) -> tuple[Any, ...]:
    """The key tuple behind a record key, typed for ``target.key_columns``.

    The record key format (``softone_sync.sync.mapping.encode_record_key``) is the key value's text
    for a one-column key, and a JSON array of the values' texts for a composite key; texts are
    ``str(value)`` except ISO 8601 for dates and datetimes and plain fixed-point for decimals.
    """
    parts = [text] if len(target.key_columns) == 1 else json.loads(text)
    if not isinstance(parts, list) or len(parts) != len(target.key_columns):
        raise ValueError(f"record key {text!r} does not match key columns {target.key_columns}")
    return tuple(
        _parse_key_part(target.table.c[c], str(p)) for c, p in zip(target.key_columns, parts, strict=True)
    )


def _parse_key_part(column: sa.Column[Any], text: str) -> Any:
    kind = column_python_type(column)
    try:
        if kind is bool:
            return text.lower() in {"true", "1"}
        if kind is int:
            return int(text)
        if kind is Decimal:
            return Decimal(text)
        if kind is float:
            return float(text)
        if kind is datetime:
            return datetime.fromisoformat(text)
        if kind is date:
            return date.fromisoformat(text)
    except (ValueError, InvalidOperation) as exc:
        raise ValueError(
            f"record key part {text!r} is not a valid {kind.__name__ if kind else 'value'}"
        ) from exc
    return text
