"""What a record *is* for two-way sync: its synced columns, their comparable values, its hash and keys.

Everything that decides "did this change?" goes through :meth:`TwoWayLayout.normalize`, which turns
a column's value — as the mapper produced it from the ERP, or as the database hands it back — into
one canonical JSON-able form: decimals quantized to the column's scale and written without
exponent or trailing zeros, datetimes as naive UTC ISO text, booleans as booleans. A value pulled
from the ERP and the same value read back from the table therefore hash the same on SQLite (REAL
decimals, text datetimes) and on PostgreSQL, which is what makes echo suppression exact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from softone_sync.sync.config import RECORD_KEY_FIELD, ConflictPolicy, FieldOwner, IntegrationConfig
from softone_sync.sync.mapping import encode_record_key
from softone_sync.sync.target import TargetTable

Normalizer = Callable[[Any], Any]


class LayoutError(ValueError):
    """The target table cannot be synced both ways as configured; the message says why."""


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "+0") else text


def _normalizer(column: sa.Column[Any]) -> Normalizer:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return lambda v: None if v is None else bool(v)
    if isinstance(kind, sa.Float):
        return lambda v: None if v is None else _decimal_text(Decimal(repr(float(v))))
    if isinstance(kind, sa.Numeric):
        scale = kind.scale
        if scale is None:
            return lambda v: None if v is None else _decimal_text(Decimal(str(v)))
        quantum = Decimal(1).scaleb(-scale)
        return lambda v: (
            None if v is None else _decimal_text(Decimal(str(v)).quantize(quantum, rounding=ROUND_HALF_UP))
        )
    if isinstance(kind, sa.Integer):
        return lambda v: None if v is None else int(v)
    if isinstance(kind, sa.DateTime):
        return _datetime_text
    if isinstance(kind, sa.Date):
        return lambda v: None if v is None else (v.date() if isinstance(v, datetime) else v).isoformat()
    return _generic


def _datetime_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # the writers store aware values as UTC wall time
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    return str(value)


def _generic(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, float):
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, datetime | date):
        return _datetime_text(value)
    return str(value)


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)


def record_hash(values: Mapping[str, Any]) -> str:
    """The baseline hash of a record's normalized synced values."""
    return hashlib.blake2b(canonical_json(values).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class ErpField:
    table: str  # the object's table alias setData takes (CUSTOMER, CUSEXTRA)
    field: str


@dataclass
class TwoWayLayout:
    """The two-way view of one integration's target table."""

    config: IntegrationConfig
    target: TargetTable
    object_: str
    synced: list[str]  # columns filled from ERP fields (not the record id, not constants)
    erp_fields: dict[str, ErpField]
    record_key_column: str  # the column mapped from $key: the ERP record id
    pk_columns: list[str]  # the local key: the table's primary key, else the unique identifier
    normalizers: dict[str, Normalizer]

    @classmethod
    def build(cls, config: IntegrationConfig, target: TargetTable) -> TwoWayLayout:
        if not config.source.object_:
            raise LayoutError("two-way sync needs a browser source ('object')")
        record_key_column = config.record_key_column
        if record_key_column is None:
            raise LayoutError("two-way sync needs a mapping of erpField '$key' to a column")
        object_ = config.source.object_.strip().upper()
        synced: list[str] = []
        erp_fields: dict[str, ErpField] = {}
        for m in config.mappings:
            if not m.erp_field or m.erp_field.strip().lower() == RECORD_KEY_FIELD:
                continue
            table, dot, name = m.erp_field.strip().upper().rpartition(".")
            synced.append(m.column)
            erp_fields[m.column] = ErpField(table if dot else object_, name)
        pk = [c.name for c in target.table.primary_key.columns] or list(target.key_columns)
        normalizers = {c: _normalizer(target.column(c)) for c in {*synced, *pk, *target.key_columns}}
        return cls(config, target, object_, synced, erp_fields, record_key_column, pk, normalizers)

    # -- values -----------------------------------------------------------------------------------

    def normalize(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The synced columns of a row, each in its canonical comparable form."""
        out: dict[str, Any] = {}
        for column in self.synced:
            try:
                out[column] = self.normalizers[column](values.get(column))
            except (ValueError, TypeError, InvalidOperation):
                out[column] = _generic(values.get(column))
        return out

    def owner(self, column: str) -> FieldOwner:
        return self.config.two_way.ownership.get(column, "both")

    def policy(self, column: str) -> ConflictPolicy:
        return self.config.two_way.field_policies.get(column, self.config.two_way.conflict_policy)

    def pushable(self, column: str) -> bool:
        return column in self.erp_fields and self.owner(column) != "erp"

    # -- keys -------------------------------------------------------------------------------------

    def local_key(self, row: Mapping[str, Any]) -> str:
        """The local key's text: a JSON array of the primary-key values, as the capture triggers write it."""
        return local_key_text([row[c] for c in self.pk_columns])

    def record_key(self, row: Mapping[str, Any]) -> str:
        """The unique identifier's text (``sync_records.record_key``), as the pull encodes it."""
        return encode_record_key([row[c] for c in self.target.key_columns])

    def pk_values(self, pk_json: str) -> tuple[Any, ...]:
        """Primary-key values from a trigger's JSON array, typed for the columns."""
        values = json.loads(pk_json)
        if not isinstance(values, list) or len(values) != len(self.pk_columns):
            raise LayoutError(f"outbox key {pk_json!r} does not match the key columns {self.pk_columns}")
        return tuple(
            typed_value(self.target.column(c), v) for c, v in zip(self.pk_columns, values, strict=True)
        )

    def key_filter(self, keys: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> sa.ColumnElement[bool]:
        cols = [self.target.column(c) for c in columns]
        if len(cols) == 1:
            return cols[0].in_([k[0] for k in keys])
        return sa.tuple_(*cols).in_([tuple(k) for k in keys])

    @property
    def read_columns(self) -> list[str]:
        """Columns a push or guard reads from a local row."""
        wanted = [*self.pk_columns, *self.target.key_columns, self.record_key_column, *self.synced]
        return list(dict.fromkeys(wanted))


def local_key_text(values: Sequence[Any]) -> str:
    return json.dumps([_json_scalar(v) for v in values], ensure_ascii=False, separators=(",", ":"))


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return str(value)


def typed_value(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.Integer) and not isinstance(value, bool):
        return int(value)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return Decimal(str(value))
    if isinstance(kind, sa.DateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(kind, sa.Date) and isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value
