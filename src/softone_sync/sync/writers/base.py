"""What every page writer does, whatever the dialect: the result types, page checks, dry-run diffs,
ownership of written rows and the deletion sweep of full runs.

The dialect modules hold the statements that make a page fast (COPY + one upsert on PostgreSQL, a
few multi-row upserts on SQLite); the work here is dialect-neutral SQLAlchemy Core.

A writer instance belongs to one run on one connection: temporary tables (PostgreSQL's staging
table, the per-run "seen keys" table) live in that connection's session, so the caller keeps the
same :class:`~sqlalchemy.ext.asyncio.AsyncConnection` for the whole run and opens one transaction
per page on it. The writer never commits.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.models import SyncRecord
from softone_sync.sync.target import (
    TargetError,
    TargetTable,
    check_columns,
    decode_record_key,
    required_unmapped,
    unique_key_backed,
)

Row = tuple[Any, ...]
Key = tuple[Any, ...]
Convert = Callable[[Any], Any]

SYNC_RECORDS: sa.Table = SyncRecord.__table__  # type: ignore[assignment]
SEEN_TABLE = "softone_sync_seen"
# Keys per DELETE/UPDATE statement of the sweep, and record keys read per sweep batch.
SWEEP_BATCH = 500


class PageError(ValueError):
    """A page the writer refuses as a whole (duplicate or missing keys); nothing was written."""


class WriterStateError(RuntimeError):
    """The writer is used out of order (no begin_run on this connection, other columns than begun)."""


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    unchanged: int
    created_keys: list[Key] = field(default_factory=list)
    updated_keys: list[Key] = field(default_factory=list)


@dataclass(frozen=True)
class SampleDiff:
    """One row a dry run would write: its key and ``{column: (old, new)}`` (old is None on create)."""

    key: Key
    changes: dict[str, tuple[Any, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": [_jsonable(v) for v in self.key],
            "changes": {c: [_jsonable(o), _jsonable(n)] for c, (o, n) in self.changes.items()},
        }


@dataclass
class PagePreview:
    would_create: int = 0
    would_update: int = 0
    unchanged: int = 0
    create_samples: list[SampleDiff] = field(default_factory=list)
    update_samples: list[SampleDiff] = field(default_factory=list)

    def add(self, other: PagePreview, *, samples: int = 5) -> None:
        """Accumulate another page into this run-level preview, keeping at most ``samples`` per kind."""
        self.would_create += other.would_create
        self.would_update += other.would_update
        self.unchanged += other.unchanged
        self.create_samples.extend(other.create_samples[: max(0, samples - len(self.create_samples))])
        self.update_samples.extend(other.update_samples[: max(0, samples - len(self.update_samples))])

    def as_json(self) -> dict[str, Any]:
        return {
            "would_create": self.would_create,
            "would_update": self.would_update,
            "unchanged": self.unchanged,
            "create_samples": [s.as_json() for s in self.create_samples],
            "update_samples": [s.as_json() for s in self.update_samples],
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def key_indexes(target: TargetTable, columns: Sequence[str]) -> tuple[int, ...]:
    missing = [k for k in target.key_columns if k not in columns]
    if missing:
        raise TargetError(
            f"key column(s) {', '.join(repr(m) for m in missing)} of {target.qualified_name!r} are not mapped"
        )
    return tuple(columns.index(k) for k in target.key_columns)


def _key_getter(indexes: tuple[int, ...]) -> Callable[[Row], Key]:
    if len(indexes) == 1:
        (i,) = indexes
        return lambda row: (row[i],)
    return lambda row: tuple(row[i] for i in indexes)


def dedupe_page(
    target: TargetTable, columns: Sequence[str], rows: Sequence[Row]
) -> tuple[list[Row], list[Row]]:
    """Split a page into rows to write and rows whose key already occurred earlier in the page.

    ``INSERT … ON CONFLICT`` cannot touch one row twice in a statement, so a page must carry each key
    once. The first occurrence is kept; an exact repeat of it is dropped silently (nothing to report),
    a repeat with other values is returned as a duplicate for the caller to reject.
    """
    key_of = _key_getter(key_indexes(target, columns))
    first: dict[Key, Row] = {}
    kept: list[Row] = []
    duplicates: list[Row] = []
    for row in rows:
        key = key_of(row)
        seen = first.get(key)
        if seen is None:
            first[key] = row
            kept.append(row)
        elif seen != row:
            duplicates.append(row)
    return kept, duplicates


@dataclass(frozen=True)
class RunPlan:
    """One run's validated column layout and the per-column value conversions it needs."""

    target: TargetTable
    columns: tuple[str, ...]
    key_index: tuple[int, ...]
    # (position, conversion) for the columns whose Python values need adjusting before the driver.
    converts: tuple[tuple[int, Convert], ...]

    @property
    def keys_converted(self) -> bool:
        """Whether key values reach the driver changed (then results map them back to the caller's form)."""
        return any(i in self.key_index for i, _ in self.converts)

    def original_keys(self, rows: Sequence[Row], values: Sequence[Row]) -> dict[Key, Key]:
        """Converted key -> the caller's key, so results report keys exactly as the caller passed them."""
        if not self.keys_converted:
            return {}
        index = self.key_index
        pairs = zip(rows, values, strict=True)
        return {tuple(v[i] for i in index): tuple(r[i] for i in index) for r, v in pairs}

    @property
    def non_key_columns(self) -> list[str]:
        return [c for c in self.columns if c not in self.target.key_columns]

    def convert_rows(self, rows: Sequence[Row]) -> Sequence[Row]:
        """The rows as the driver gets them; a value a column cannot take raises TargetError naming it."""
        if not self.converts:
            return rows
        convert_row = self.row_converter
        try:
            return [convert_row(row) for row in rows]
        except (TypeError, ValueError, AttributeError, ArithmeticError):
            raise self._conversion_error(rows) from None

    def _conversion_error(self, rows: Sequence[Row]) -> TargetError:
        for row in rows:
            for index, convert in self.converts:
                value = row[index]
                try:
                    if value is not None:
                        convert(value)
                except (TypeError, ValueError, AttributeError, ArithmeticError) as exc:
                    name = self.columns[index]
                    column = self.target.table.c[name]
                    return TargetError(
                        f"column {name!r} of {self.target.qualified_name!r} is {column.type} and cannot "
                        f"store the {type(value).__name__} value {value!r} ({exc}); nothing of the page "
                        "was written"
                    )
        return TargetError(
            f"a value of the page does not fit {self.target.qualified_name!r}"
        )  # pragma: no cover

    @cached_property
    def row_converter(self) -> Callable[[Row], Row]:
        return _compile_row_converter(len(self.columns), self.converts)


def _compile_row_converter(width: int, converts: tuple[tuple[int, Convert], ...]) -> Callable[[Row], Row]:
    """One function that converts a whole row: no per-value loop in Python, which dominated page time.

    The generated source holds only positions and names of our own functions, never data or
    identifiers from configuration.
    """
    by_index = dict(converts)
    parts = [
        f"(c{i}(r[{i}]) if r[{i}] is not None else None)" if i in by_index else f"r[{i}]"
        for i in range(width)
    ]
    namespace: dict[str, Any] = {f"c{i}": f for i, f in by_index.items()}
    exec(f"def convert(r):\n    return ({', '.join(parts)},)", namespace)
    function: Callable[[Row], Row] = namespace["convert"]
    return function


def to_utc_naive(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def stores_naive_utc(column: sa.Column[Any], dialect: str) -> bool:
    """Columns without a time zone get aware datetimes as UTC wall time (PostgreSQL would drop the offset)."""
    return isinstance(column.type, sa.DateTime) and (dialect == "sqlite" or not column.type.timezone)


class PageWriter(ABC):
    """Makes the target table match pages of ERP rows, one set-based statement per page."""

    dialect: ClassVar[str]
    # Rows of a page sample at most this many diffs per kind in a dry run.
    default_samples: ClassVar[int] = 5

    def __init__(self) -> None:
        self._plan: RunPlan | None = None
        self._tracking_seen = False

    # -- run lifecycle -------------------------------------------------------------------------------

    def plan(self, target: TargetTable, columns: Sequence[str]) -> RunPlan:
        """Validate ``columns`` against ``target`` and work out value conversions (no SQL)."""
        columns = list(columns)
        if len(set(columns)) != len(columns):
            raise TargetError(f"columns {columns} name a column more than once")
        check_columns(target, columns)
        index = key_indexes(target, columns)
        if not unique_key_backed(target, target.key_columns):
            keys = ", ".join(target.key_columns)
            raise TargetError(
                f"table {target.qualified_name!r} has no primary key, unique constraint or unique index on "
                f"exactly ({keys}); the upsert needs one (the service never alters application tables)"
            )
        missing = required_unmapped(target, columns)
        if missing:
            raise TargetError(
                f"table {target.qualified_name!r}: NOT NULL column(s) without a default are not mapped: "
                f"{', '.join(missing)}"
            )
        converts = []
        for i, name in enumerate(columns):
            convert = self._column_convert(target.table.c[name])
            if convert is not None:
                converts.append((i, convert))
        return RunPlan(target, tuple(columns), index, tuple(converts))

    def _column_convert(self, column: sa.Column[Any]) -> Convert | None:
        return to_utc_naive if stores_naive_utc(column, self.dialect) else None

    async def begin_run(
        self, conn: AsyncConnection, target: TargetTable, columns: Sequence[str], *, track_seen: bool = False
    ) -> None:
        """Validate the layout and create this run's temporary tables on ``conn``.

        The DDL runs in the connection's transaction (begun here if none is open, as ``execute``
        would): the caller commits it before the first page — rolled back, the tables are gone.
        The per-run "seen keys" table always exists (:meth:`claim_written` catches a unique key
        repeated across pages with it); ``track_seen`` additionally allows :meth:`sweep_unseen` and
        :meth:`count_unseen`, which read it (full runs with deletions).
        """
        plan = self.plan(target, columns)
        await self._begin(conn, plan)
        await self._create_seen_table(conn)
        self._plan = plan
        self._tracking_seen = track_seen

    async def end_run(self, conn: AsyncConnection) -> None:
        """Drop the run's temporary tables (pooled connections outlive the run); the caller commits."""
        await self._drop_temp_tables(conn)
        self._plan = None
        self._tracking_seen = False

    async def forget_seen(self, conn: AsyncConnection) -> None:
        """Empty the "seen keys" table: a second pass over the source (after a guard's preview) starts anew.

        The caller commits."""
        if self._plan is None:
            raise WriterStateError("begin_run() was not called for this writer")
        await self._clear_seen(conn)

    def _begun_plan(self, target: TargetTable, columns: Sequence[str]) -> RunPlan:
        plan = self._plan
        if plan is None:
            raise WriterStateError("begin_run() was not called for this writer")
        if plan.target.table is not target.table or plan.columns != tuple(columns):
            raise WriterStateError("upsert_page() got another table or column list than begin_run()")
        return plan

    # -- pages ---------------------------------------------------------------------------------------

    async def upsert_page(
        self, conn: AsyncConnection, target: TargetTable, columns: Sequence[str], rows: Sequence[Row]
    ) -> UpsertResult:
        """Insert new rows, update changed ones, leave identical ones untouched; counts are exact.

        ``rows`` must carry each key once (see :func:`dedupe_page`) and no NULL key values.
        """
        plan = self._begun_plan(target, columns)
        if not rows:
            return UpsertResult(0, 0, 0)
        self._check_page_keys(plan, rows)
        return await self._upsert(conn, plan, rows)

    @staticmethod
    def _check_page_keys(plan: RunPlan, rows: Sequence[Row]) -> None:
        key_of = _key_getter(plan.key_index)
        keys = [key_of(row) for row in rows]
        if len(set(keys)) != len(keys):
            raise PageError("the page repeats a key; split it with dedupe_page() first")
        if any(v is None for key in keys for v in key):
            raise PageError(f"the page has rows without a value in key column(s) {plan.target.key_columns}")

    async def preview_page(
        self,
        conn: AsyncConnection,
        target: TargetTable,
        columns: Sequence[str],
        rows: Sequence[Row],
        *,
        samples: int | None = None,
    ) -> PagePreview:
        """What :meth:`upsert_page` would do, from one SELECT of the page's keys; writes nothing."""
        plan = self.plan(target, columns) if self._plan is None else self._begun_plan(target, columns)
        limit = self.default_samples if samples is None else samples
        preview = PagePreview()
        if not rows:
            return preview
        self._check_page_keys(plan, rows)
        table = target.table
        key_of = _key_getter(plan.key_index)
        new_values = [
            tuple(_comparable(table.c[c], v, self.dialect) for c, v in zip(plan.columns, row, strict=True))
            for row in rows
        ]
        keys = [key_of(row) for row in new_values]
        existing: dict[Key, Row] = {}
        selected = [table.c[c] for c in plan.columns]
        for chunk in _chunks(keys, SWEEP_BATCH):
            result = await conn.execute(sa.select(*selected).where(_key_filter(target, chunk)))
            for old in result:
                existing[key_of(tuple(old))] = tuple(old)
        for original, new in zip(rows, new_values, strict=True):
            key = key_of(original)
            old_row = existing.get(key_of(new))
            if old_row is None:
                preview.would_create += 1
                if len(preview.create_samples) < limit:
                    changes = {c: (None, v) for c, v in zip(plan.columns, original, strict=True)}
                    preview.create_samples.append(SampleDiff(key, changes))
                continue
            changed = {
                c: (o, v)
                for c, o, n, v in zip(plan.columns, old_row, new, original, strict=True)
                if not _same(o, n)
            }
            if changed:
                preview.would_update += 1
                if len(preview.update_samples) < limit:
                    preview.update_samples.append(SampleDiff(key, changed))
            else:
                preview.unchanged += 1
        return preview

    # -- ownership and deletions -----------------------------------------------------------------------

    @abstractmethod
    async def record_owned(
        self, conn: AsyncConnection, integration_id: str, record_keys: Sequence[str]
    ) -> int:
        """Mark these record keys as the integration's own (set-based; existing marks stay).

        Only an owned row is ever deleted by :meth:`sweep_unseen`. The run marks the rows it
        *creates* while deletions are configured: a row that existed in the table before the
        integration wrote it is the application's, and rows created while deletions were off are
        not marked either (switching deletions on never deletes them — the safe side).
        """

    async def claim_written(self, conn: AsyncConnection, record_keys: Sequence[str]) -> set[str]:
        """Mark these keys written in this run; returns those an earlier page of the run already wrote.

        The source repeating a unique key across pages is caught here, in the run's temporary
        "seen keys" table, at O(page) memory however long the run: the caller rejects the repeats
        before the upsert (the first occurrence was written). ``record_keys`` must not repeat a key
        (the mapper rejects repeats within a page). Keys only :meth:`record_seen` saw so far (rows
        rejected for another column) are claimed, not reported.
        """
        if self._plan is None:
            raise WriterStateError("begin_run() was not called for this writer")
        if not record_keys:
            return set()
        return await self._claim_written(conn, record_keys)

    async def record_seen(self, conn: AsyncConnection, record_keys: Sequence[str]) -> None:
        """Remember that this run saw these record keys in the ERP without writing them (rejected rows).

        Written keys are remembered by :meth:`claim_written`; a sweep deletes neither.
        """
        if self._plan is None:
            raise WriterStateError("begin_run() was not called for this writer")
        if record_keys:
            await self._insert_seen(conn, record_keys)

    def _unseen_query(self, integration_id: str) -> sa.Select[tuple[str]]:
        seen = self._seen_table()
        return sa.select(SYNC_RECORDS.c.record_key).where(
            SYNC_RECORDS.c.integration_id == integration_id,
            ~sa.exists().where(seen.c.record_key == SYNC_RECORDS.c.record_key),
        )

    async def count_unseen(self, conn: AsyncConnection, integration_id: str) -> int:
        """How many owned rows a sweep would delete (for guards and dry runs)."""
        if not self._tracking_seen:
            raise WriterStateError("begin_run(track_seen=True) was not called for this writer")
        query = sa.select(sa.func.count()).select_from(self._unseen_query(integration_id).subquery())
        return int((await conn.execute(query)).scalar_one())

    async def sweep_unseen(
        self,
        conn: AsyncConnection,
        target: TargetTable,
        integration_id: str,
        mode: Literal["soft", "hard"],
        *,
        soft_column: str | None = None,
        soft_value: Any = True,
    ) -> int:
        """Delete (or mark deleted) owned rows whose keys this full run did not see; returns rows touched.

        Only rows recorded in ``sync_records`` for the integration are candidates, so rows the
        application created itself are never touched. Call once, at the end of a *complete* full run.
        Hard deletes also drop the ownership records; soft deletes keep them (the row still exists).
        """
        if not self._tracking_seen:
            raise WriterStateError("begin_run(track_seen=True) was not called for this writer")
        if mode not in ("soft", "hard"):
            raise ValueError(f"deletion mode must be 'soft' or 'hard', not {mode!r}")
        table = target.table
        if mode == "soft":
            if soft_column is None:
                raise TargetError("soft deletions need the column that marks a row deleted")
            marker = target.column(soft_column)
            check_columns(target, [soft_column])
        touched = 0
        last = ""
        while True:
            query = self._unseen_query(integration_id).where(SYNC_RECORDS.c.record_key > last)
            result = await conn.execute(query.order_by(SYNC_RECORDS.c.record_key).limit(SWEEP_BATCH))
            batch: list[str] = [str(k) for k in result.scalars()]
            if not batch:
                return touched
            last = batch[-1]
            keys = [decode_record_key(target, text) for text in batch]
            if mode == "hard":
                written = await conn.execute(sa.delete(table).where(_key_filter(target, keys)))
                await conn.execute(
                    sa.delete(SYNC_RECORDS).where(
                        SYNC_RECORDS.c.integration_id == integration_id, SYNC_RECORDS.c.record_key.in_(batch)
                    )
                )
            else:
                written = await conn.execute(
                    sa.update(table)
                    .where(_key_filter(target, keys), marker.is_distinct_from(soft_value))
                    .values({marker.key: soft_value})
                )
            touched += max(written.rowcount, 0)

    # -- dialect hooks -------------------------------------------------------------------------------

    @abstractmethod
    async def _begin(self, conn: AsyncConnection, plan: RunPlan) -> None: ...

    @abstractmethod
    async def _upsert(self, conn: AsyncConnection, plan: RunPlan, rows: Sequence[Row]) -> UpsertResult: ...

    @abstractmethod
    async def _create_seen_table(self, conn: AsyncConnection) -> None: ...

    @abstractmethod
    async def _insert_seen(self, conn: AsyncConnection, record_keys: Sequence[str]) -> None: ...

    @abstractmethod
    async def _claim_written(self, conn: AsyncConnection, record_keys: Sequence[str]) -> set[str]: ...

    @abstractmethod
    async def _clear_seen(self, conn: AsyncConnection) -> None: ...

    @abstractmethod
    def _seen_table(self) -> sa.TableClause: ...

    @abstractmethod
    async def _drop_temp_tables(self, conn: AsyncConnection) -> None: ...


def _key_filter(target: TargetTable, keys: Sequence[Key]) -> sa.ColumnElement[bool]:
    columns = [target.table.c[c] for c in target.key_columns]
    if len(columns) == 1:
        return columns[0].in_([k[0] for k in keys])
    return sa.tuple_(*columns).in_([tuple(k) for k in keys])


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _comparable(column: sa.Column[Any], value: Any, dialect: str) -> Any:
    """The new value as the database will hand it back, so a dry run compares like the upsert does."""
    if value is None:
        return None
    if stores_naive_utc(column, dialect):
        return to_utc_naive(value)
    col_type = column.type
    if (
        isinstance(col_type, sa.Numeric)
        and not isinstance(col_type, sa.Float)
        and col_type.scale is not None
        and isinstance(value, Decimal | int)
        and not isinstance(value, bool)
    ):
        return Decimal(value).quantize(Decimal(1).scaleb(-col_type.scale), rounding=ROUND_HALF_UP)
    return value


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, float) or isinstance(new, float):
        if old is None or new is None:
            return old is new
        try:
            return math.isclose(float(old), float(new), rel_tol=1e-15, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return bool(old == new)
