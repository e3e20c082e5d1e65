"""ERP rows → target row tuples: resolve field names once per layout, convert values, sort out bad rows.

A page arrives as positional string rows (the browser's fast path) plus its field names. The
mapper resolves every ``erpField`` to a position once, then converts each row into a tuple in
``IntegrationConfig.columns`` order. A row that cannot be written — a value that does not convert,
a missing unique identifier, a key already seen in this run — becomes a :class:`RejectedRow`
with a reason instead of failing the page.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from softone_sync.softone import convert as cv
from softone_sync.sync.config import RECORD_KEY_FIELD, IntegrationConfig, Mapping

# Position meaning "the record id from ZOOMINFO", not a column of the row.
_RECORD_ID = -1

Converter = Callable[[str], Any]


class FieldResolutionError(ValueError):
    """An ``erpField`` names no field of the source, or several."""


@dataclass(frozen=True)
class RejectedRow:
    record_key: str
    reason: str
    payload: dict[str, str]  # the raw ERP row, for the operator
    # The converted unique key when only another column is bad: the row still exists in the ERP,
    # so a full run with deletions must not delete it from the target.
    key: tuple[Any, ...] | None = None


@dataclass
class MappedPage:
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # in IntegrationConfig.columns order
    keys: list[tuple[Any, ...]] = field(default_factory=list)  # key-column values of each row
    record_keys: list[str] = field(default_factory=list)  # encode_record_key(key) of each row
    record_ids: list[str] = field(default_factory=list)  # browser record id of each row ("" for SqlData)
    sources: list[Sequence[str]] = field(default_factory=list)  # the raw ERP row of each row
    rejects: list[RejectedRow] = field(default_factory=list)
    filtered: int = 0  # outside the incremental window, skipped
    max_cursor: datetime | None = None


def _key_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def encode_record_key(values: Sequence[Any]) -> str:
    """The text form of a unique key: the value itself, or a JSON list for composite keys."""
    if len(values) == 1:
        return _key_text(values[0])
    return json.dumps([_key_text(v) for v in values], ensure_ascii=False, separators=(",", ":"))


def resolve_field(name: str, fields: Sequence[str], *, has_record_id: bool) -> int:
    """Position of ``name`` among ``fields``: exact, then case-insensitive, then a unique bare ``FIELD``."""
    if name.lower() == RECORD_KEY_FIELD:
        if not has_record_id:
            raise FieldResolutionError(
                f"{name!r}: this source has no record id (only browsers have ZOOMINFO)"
            )
        return _RECORD_ID
    if name in fields:
        return list(fields).index(name)
    upper = name.upper()
    matches = [i for i, f in enumerate(fields) if f.upper() == upper]
    if not matches and "." not in name:
        matches = [i for i, f in enumerate(fields) if f.upper().rpartition(".")[2] == upper]
        if len(matches) > 1:
            names = ", ".join(fields[i] for i in matches)
            raise FieldResolutionError(f"{name!r} is ambiguous ({names}); write the qualified name")
    if not matches:
        shown = ", ".join(f for f in fields if f.upper() != "ZOOMINFO")
        raise FieldResolutionError(f"{name!r} is not a field of the source (fields: {shown})")
    return matches[0]


# The Python type each ``convert`` produces: what the target column must be able to hold.
VALUE_TYPES: dict[str, type] = {
    "string": str,
    "strip": str,
    "upper": str,
    "lower": str,
    "int": int,
    "decimal": Decimal,
    "bool": bool,
    "date": date,
    "datetime": datetime,
}


def mapping_value_type(mapping: Mapping) -> type | None:
    """The Python type a mapping writes; None when it cannot be told (a null constant)."""
    if mapping.erp_field or isinstance(mapping.constant, str):
        return VALUE_TYPES.get(mapping.convert)
    if mapping.constant is None:
        return None
    return type(mapping.constant)  # a JSON constant is written as it is


def converter_for(kind: str, erp_timezone: str) -> Converter:
    """The function that turns one ERP string into the column's Python value; ``""`` is None."""
    zone = cv.timezone_of(erp_timezone)
    table: dict[str, Converter] = {
        "string": cv.to_str,
        "strip": lambda v: cv.to_str(v.strip()),
        "upper": lambda v: cv.to_str(v.upper()),
        "lower": lambda v: cv.to_str(v.lower()),
        "int": cv.to_int,
        "decimal": cv.to_decimal,
        "bool": cv.to_bool,
        "date": cv.to_date,
        "datetime": lambda v: cv.to_datetime(v, zone),
    }
    return table[kind]


def _literal(mapping: Mapping, value: Any, convert: Converter) -> Any:
    """A constant/default from configJson: strings go through the column's conversion, JSON values stay."""
    return convert(value) if isinstance(value, str) else value


class _Slow(Exception):
    """A value the fast path does not handle exactly like :mod:`convert`: take the precise path."""


def _fast_converter(kind: str, zone: Any) -> Converter:
    """A converter for the common, well-formed shapes of ERP strings; raises _Slow for anything else.

    Each returns exactly what ``converter_for(kind)`` returns for the inputs it accepts (SoftOne
    sends every value as a string); unusual input (padding, ``"5.00"`` as an int, odd date forms,
    garbage) goes to the precise converters, which also produce the error messages. This keeps the
    per-row cost of a million-row run low without a second definition of what a value means.
    """
    if kind == "string":
        return lambda v: v or None
    if kind == "strip":
        return lambda v: v.strip() or None
    if kind == "upper":
        return lambda v: v.upper() or None
    if kind == "lower":
        return lambda v: v.lower() or None
    if kind == "int":

        def to_int(v: str) -> Any:
            if v.isascii() and v.isdigit():
                return int(v)
            if not v:
                return None
            raise _Slow

        return to_int
    if kind == "decimal":
        decimal_re = cv._DECIMAL_RE

        def to_decimal(v: str) -> Any:
            if decimal_re.fullmatch(v):
                return Decimal(v)
            if not v:
                return None
            raise _Slow

        return to_decimal
    if kind == "bool":
        flags = {"1": True, "0": False, "": None}

        def to_bool(v: str) -> Any:
            try:
                return flags[v]
            except KeyError:
                raise _Slow from None

        return to_bool
    if kind in ("date", "datetime"):
        zero = "1899-12-30 00:00:00"

        def to_moment(v: str) -> Any:
            if len(v) != 19 or v[4] != "-" or v[7] != "-" or v[10] != " " or not v[:4].isdigit():
                if not v:
                    return None
                raise _Slow
            if v == zero:
                return None
            if kind == "date":
                return date.fromisoformat(v[:10]) if v[:10] != zero[:10] else None
            return datetime.fromisoformat(v).replace(tzinfo=zone)

        return to_moment
    raise _Slow  # pragma: no cover - config validation admits only the kinds above


def _compile_fast_row(plans: Sequence[_Plan], key_positions: Sequence[int], zone: Any) -> Any:
    """One generated function that converts a whole row, or raises for the precise path to explain.

    Generated code only ever names our own locals (``c0``, ``d0``…); converters, defaults and
    constants are passed in the namespace, never spliced into the source.
    """
    namespace: dict[str, Any] = {"_Slow": _Slow}
    lines = ["def fast_row(row, rid):"]
    names = []
    for i, plan in enumerate(plans):
        name = f"v{i}"
        names.append(name)
        if plan.position is None:
            namespace[f"k{i}"] = plan.constant
            lines.append(f"    {name} = k{i}")
            continue
        source = "rid" if plan.position == _RECORD_ID else f"row[{plan.position}]"
        if plan.kind == "string":  # the most common mapping: no call at all
            lines.append(f"    {name} = {source} or None")
        else:
            namespace[f"c{i}"] = _fast_converter(plan.kind, zone)
            lines.append(f"    {name} = c{i}({source})")
        if plan.default is not None:
            namespace[f"d{i}"] = plan.default
            lines.append(f"    if {name} is None: {name} = d{i}")
        if plan.required or i in key_positions:
            lines.append(f"    if {name} is None: raise _Slow")
    lines.append(f"    return [{', '.join(names)}]")
    exec(compile("\n".join(lines), "<softone_sync.mapping fast_row>", "exec"), namespace)
    return namespace["fast_row"]


@dataclass(frozen=True)
class _Plan:
    """One output column: where its value comes from and how it is converted."""

    column: str
    erp_field: str | None
    position: int | None  # None: constant
    convert: Converter
    required: bool
    default: Any
    constant: Any
    kind: str = "string"


DUPLICATE_REASON = "duplicate unique identifier in the source (the first occurrence was written)"


class RowMapper:
    """Converts the pages of one run (field positions are resolved once per page layout)."""

    def __init__(
        self,
        config: IntegrationConfig,
        *,
        erp_timezone: str,
        has_record_id: bool,
        window_start: datetime | None = None,
    ) -> None:
        self.config = config
        self.erp_timezone = erp_timezone
        self.has_record_id = has_record_id
        self.window_start = window_start
        self._fields: list[str] | None = None
        self._plans: list[_Plan] = []
        self._key_positions: list[int] = []
        self._cursor_position: int | None = None
        self._cursor_zone = cv.timezone_of(erp_timezone)

    def bind(self, fields: Sequence[str]) -> None:
        """Resolve every mapping against a page layout; raises FieldResolutionError naming the mapping."""
        fields = list(fields)
        if fields == self._fields:
            return
        config = self.config
        plans: list[_Plan] = []
        for index, m in enumerate(config.mappings):
            convert = converter_for(m.convert, self.erp_timezone)
            position: int | None = None
            if m.erp_field:
                try:
                    position = resolve_field(m.erp_field, fields, has_record_id=self.has_record_id)
                except FieldResolutionError as exc:
                    raise FieldResolutionError(f"mappings[{index}].erpField {exc}") from None
            try:
                default = _literal(m, m.default, convert)
                constant = _literal(m, m.constant, convert) if position is None else None
            except cv.ConversionError as exc:
                raise FieldResolutionError(f"mappings[{index}]: default/constant {exc}") from None
            plans.append(
                _Plan(m.column, m.erp_field, position, convert, m.required, default, constant, m.convert)
            )
        if config.restores_soft_delete:
            assert config.deletions.column is not None
            plans.append(
                _Plan(
                    config.deletions.column,
                    None,
                    None,
                    cv.to_str,
                    False,
                    None,
                    config.deletions.restore_value,
                )
            )
        key_columns = config.key_columns
        self._key_positions = [next(i for i, p in enumerate(plans) if p.column == c) for c in key_columns]
        self._cursor_position = None
        if config.mode == "incremental" and config.cursor_field:
            try:
                self._cursor_position = resolve_field(config.cursor_field, fields, has_record_id=False)
            except FieldResolutionError as exc:
                raise FieldResolutionError(f"cursorField {exc}") from None
        self._plans = plans
        self._fields = fields
        self._fast_row = _compile_fast_row(plans, self._key_positions, cv.timezone_of(self.erp_timezone))

    def map_page(
        self, fields: Sequence[str], rows: Sequence[Sequence[str]], record_ids: Sequence[str] | None = None
    ) -> MappedPage:
        self.bind(fields)
        out = MappedPage()
        cursor_position = self._cursor_position
        window_start = self.window_start
        page_keys: set[str] = set()  # repeats within the page; across pages see reject_repeated()
        for row_index, row in enumerate(rows):
            record_id = record_ids[row_index] if record_ids is not None else ""
            if cursor_position is not None:
                try:
                    cursor = cv.to_datetime(row[cursor_position], self._cursor_zone)
                except cv.ConversionError as exc:
                    problem = f"cursorField {self.config.cursor_field}: {exc}"
                    out.rejects.append(self._reject(row, record_id, problem))
                    continue
                if cursor is not None:
                    if window_start is not None and cursor < window_start:
                        out.filtered += 1
                        continue
                    if out.max_cursor is None or cursor > out.max_cursor:
                        out.max_cursor = cursor
            try:
                values: list[Any] | None = self._fast_row(row, record_id)
            except (_Slow, ValueError, TypeError, AttributeError, IndexError):
                values, problem = self._convert(row, record_id)
            if values is None:
                out.rejects.append(self._reject(row, record_id, problem))
                continue
            key = tuple(values[p] for p in self._key_positions)
            record_key = encode_record_key(key)
            if record_key in page_keys:
                out.rejects.append(RejectedRow(record_key, DUPLICATE_REASON, self._payload(row), key))
                continue
            page_keys.add(record_key)
            out.rows.append(tuple(values))
            out.keys.append(key)
            out.record_keys.append(record_key)
            out.sources.append(row)
            out.record_ids.append(record_id)
        return out

    def reject_repeated(self, page: MappedPage, repeated: set[str]) -> None:
        """Move the rows whose record key an earlier page already wrote from ``page.rows`` to its rejects."""
        if not repeated:
            return
        kept = MappedPage(filtered=page.filtered, max_cursor=page.max_cursor, rejects=page.rejects)
        columns = zip(page.rows, page.keys, page.record_keys, page.sources, page.record_ids, strict=True)
        for row, key, record_key, source, record_id in columns:
            if record_key in repeated:
                kept.rejects.append(RejectedRow(record_key, DUPLICATE_REASON, self._payload(source), key))
                continue
            kept.rows.append(row)
            kept.keys.append(key)
            kept.record_keys.append(record_key)
            kept.sources.append(source)
            kept.record_ids.append(record_id)
        page.rows, page.keys, page.record_keys = kept.rows, kept.keys, kept.record_keys
        page.sources, page.record_ids = kept.sources, kept.record_ids

    def _convert(self, row: Sequence[str], record_id: str) -> tuple[list[Any] | None, str]:
        """The row's values in column order, or None and the first problem found."""
        values: list[Any] = []
        for plan in self._plans:
            if plan.position is None:
                values.append(plan.constant)
                continue
            raw = record_id if plan.position == _RECORD_ID else row[plan.position]
            try:
                value = plan.convert(raw)
            except cv.ConversionError as exc:
                return None, f"{plan.erp_field} → {plan.column}: {exc}"
            if value is None:
                value = plan.default
                if value is None and plan.required:
                    return None, f"{plan.erp_field} → {plan.column}: required but empty"
            values.append(value)
        missing = [self._plans[p].erp_field or "" for p in self._key_positions if values[p] is None]
        if missing:
            return None, f"unique identifier {', '.join(missing)} is empty"
        return values, ""

    def _key_of(self, row: Sequence[str], record_id: str) -> tuple[Any, ...] | None:
        """The converted unique key of a rejected row, when the key itself is fine."""
        key: list[Any] = []
        for p in self._key_positions:
            plan = self._plans[p]
            if plan.position is None:
                key.append(plan.constant)
                continue
            raw = record_id if plan.position == _RECORD_ID else row[plan.position]
            try:
                value = plan.convert(raw)
            except cv.ConversionError:
                return None
            value = plan.default if value is None else value
            if value is None:
                return None
            key.append(value)
        return tuple(key)

    def _payload(self, row: Sequence[str]) -> dict[str, str]:
        return dict(zip(self._fields or [], row, strict=False))

    def _reject(self, row: Sequence[str], record_id: str, reason: str) -> RejectedRow:
        key = self._key_of(row, record_id)
        record_key = encode_record_key(key) if key is not None else self._fallback_key(row, record_id)
        return RejectedRow(record_key=record_key, reason=reason, payload=self._payload(row), key=key)

    def _fallback_key(self, row: Sequence[str], record_id: str) -> str:
        """Key of a row whose identifier is unusable: its raw key text, else the ERP id, else a hash."""
        raw = [self._raw_value(row, record_id, self._plans[p].position) for p in self._key_positions]
        if raw and all(raw):
            return encode_record_key(raw)
        if record_id:
            return f"{RECORD_KEY_FIELD}:{record_id}"
        return "row:" + hashlib.blake2b("\x1f".join(row).encode(), digest_size=8).hexdigest()

    @staticmethod
    def _raw_value(row: Sequence[str], record_id: str, position: int | None) -> str:
        if position is None:
            return ""
        if position == _RECORD_ID:
            return record_id
        return row[position].strip() if position < len(row) else ""
