"""Record services' logic: LOCATEINFO, value validation and the writes of setData/calculate.

Values are validated like the ERP does it (errorcode 0 business errors with a precise message),
stored as SoftOne writes them back (strings, ``.`` decimals without trailing zeros, ``"0"/"1"``
flags, ``yyyy-mm-dd hh:mm:ss`` dates) and squeezed through cp1253: characters the code page lacks
become ``?``, as a real install does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from softone_sync.softone.simulator.data import format_datetime
from softone_sync.softone.simulator.protocol import business_error, invalid_request, to_cp1253
from softone_sync.softone.simulator.schema import FieldDef, ObjectDef, TableDef
from softone_sync.softone.simulator.store import Record, RecordStore

# Values a new record starts with when setData does not give them.
_INSERT_DEFAULTS = {"ISACTIVE": "1", "DISCOUNT": "0", "QTY1": "0"}
_STAMPS = ("INSDATE", "UPDDATE")


def parse_locate_info(obj: ObjectDef, text: str) -> dict[str, list[str]] | None:
    """``TABLE:F1,F2;TABLE2:F3`` → {alias: fields}; None (= everything) when empty."""
    if not text.strip():
        return None
    wanted: dict[str, list[str]] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, _, fields = part.partition(":")
        table = obj.table(name.strip())
        if table is None:
            raise business_error(f"LOCATEINFO: table {name.strip()!r} does not exist in object {obj.name}")
        names: list[str] = []
        for raw in fields.split(","):
            if not raw.strip():
                continue
            fdef = table.field(raw.strip())
            if fdef is None:
                raise business_error(f"LOCATEINFO: field {table.alias}.{raw.strip().upper()} does not exist")
            names.append(fdef.name)
        wanted[table.alias] = names or list(table.field_names)
    return wanted


def project(record: Record, wanted: dict[str, list[str]] | None) -> dict[str, list[dict[str, str]]]:
    """The ``data`` of a getData answer: each table an array, even the one-row main table."""
    if wanted is None:
        return {alias: [dict(row)] for alias, row in record.items()}
    return {alias: [{f: record[alias][f] for f in fields}] for alias, fields in wanted.items()}


def normalize(table: TableDef, fdef: FieldDef, raw: Any) -> str:
    """One incoming value as the ERP stores it, or a business error naming the field."""
    full = f"{table.alias}.{fdef.name}"
    if raw is None:
        return ""
    if isinstance(raw, dict | list):
        raise business_error(f"Invalid value for field {full}: expected a scalar")
    if fdef.kind == "string":
        text = to_cp1253(raw if isinstance(raw, str) else _scalar_text(raw))
        if fdef.size and len(text) > fdef.size:
            raise business_error(
                f"Value too long for field {full} ({fdef.caption}): {len(text)} characters, "
                f"maximum {fdef.size}"
            )
        return text
    text = _scalar_text(raw).strip()
    if text == "":
        return ""
    if fdef.kind == "bool":
        if text.lower() in ("1", "true"):
            return "1"
        if text.lower() in ("0", "false"):
            return "0"
        raise business_error(f"Invalid value {text!r} for field {full} ({fdef.caption}): expected 0 or 1")
    if fdef.kind == "date":
        try:
            return format_datetime(datetime.fromisoformat(text))
        except ValueError:
            raise business_error(
                f"Invalid date {text!r} for field {full}: expected yyyy-mm-dd hh:mm:ss"
            ) from None
    try:
        number = Decimal(text)
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise business_error(f"Invalid numeric value {text!r} for field {full} ({fdef.caption})")
    if fdef.kind == "int":
        if number != number.to_integral_value():
            raise business_error(f"Invalid integer value {text!r} for field {full} ({fdef.caption})")
        return str(int(number))
    number = number.quantize(Decimal(1).scaleb(-fdef.decimals), rounding=ROUND_HALF_UP)
    rendered = format(number, "f")
    if "." in rendered:
        rendered = rendered.rstrip("0").rstrip(".")
    return "0" if rendered in ("-0", "") else rendered


def _scalar_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def table_rows(obj: ObjectDef, data: Any) -> dict[str, dict[str, Any]]:
    """setData's ``data`` → {alias: row}, table and field names matched case-insensitively."""
    if not isinstance(data, Mapping):
        raise invalid_request('setData needs "data": {TABLE: [{FIELD: value}]}')
    out: dict[str, dict[str, Any]] = {}
    for name, rows in data.items():
        table = obj.table(str(name))
        if table is None:
            raise business_error(f"Table {name!r} does not exist in object {obj.name}")
        if isinstance(rows, Mapping):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            raise invalid_request(f"data.{name} must be an array of objects")
        if len(rows) > 1:
            raise business_error(f"Table {table.alias} of {obj.name} holds a single row; got {len(rows)}")
        out[table.alias] = dict(rows[0]) if rows else {}
    return out


def build_record(
    store: RecordStore,
    key: int | None,
    data: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    keep_stamps: bool = False,
    validate: bool = True,
) -> tuple[int, Record]:
    """The record setData would write: the current one (or a blank) with ``data`` applied.

    ``keep_stamps`` lets the control surface set INSDATE/UPDDATE as an ERP user's import would;
    otherwise read-only fields in ``data`` are ignored (the ERP ignores them too). ``calculate``
    passes ``validate=False``: a half-filled form may be calculated, only posting checks it.
    """
    obj = store.obj
    if key is None:
        key = store.next_key()
        record: Record = {
            t.alias: {f: _INSERT_DEFAULTS.get(f, "") if t is obj.main else "" for f in t.field_names}
            for t in obj.tables
        }
        for row in record.values():
            row[obj.key] = str(key)
        record[obj.main.alias]["INSDATE"] = format_datetime(now)
    else:
        current = store.get(key)
        if current is None:
            raise business_error(f"{obj.name} record {key} does not exist")
        record = {alias: dict(row) for alias, row in current.items()}
    for alias, values in data.items():
        table = obj.table(alias)
        assert table is not None
        for name, raw in values.items():
            fdef = table.field(str(name))
            if fdef is None:
                raise business_error(f"Field {table.alias}.{str(name).upper()} does not exist")
            if fdef.read_only and not (keep_stamps and fdef.name in _STAMPS):
                continue
            record[alias][fdef.name] = normalize(table, fdef, raw)
    main = record[obj.main.alias]
    if not (keep_stamps and "UPDDATE" in {str(n).upper() for n in data.get(obj.main.alias, {})}):
        main["UPDDATE"] = format_datetime(now)
    if not validate:
        return key, record
    for fdef in obj.main.fields:
        if fdef.required and not main[fdef.name].strip():
            raise business_error(f"Field {obj.main.alias}.{fdef.name} ({fdef.caption}) is required")
    owner = store.key_of_code(main["CODE"])
    if owner is not None and owner != key:
        raise business_error(
            f"Duplicate value {main['CODE']!r} for field {obj.main.alias}.CODE: it belongs to record {owner}"
        )
    return key, record
