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

# Values a new record (or a new detail line) starts with when setData does not give them.
_INSERT_DEFAULTS = {"ISACTIVE": "1", "DISCOUNT": "0", "QTY1": "0"}
_DETAIL_DEFAULTS = {"ISACTIVE": "1"}
_STAMPS = ("INSDATE", "UPDDATE")

LINENUM = "LINENUM"
NEW_LINE_FROM = 9_000_001
"""Detail rows sent with LINENUM >= this are new lines (SoftOne's documented convention)."""


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
    """The ``data`` of a getData answer: each table an array, even the one-row main table, and a
    detail table without rows an empty one."""
    if wanted is None:
        return {alias: [dict(row) for row in rows] for alias, rows in record.items()}
    return {alias: [{f: row[f] for f in fields} for row in record[alias]] for alias, fields in wanted.items()}


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


def table_rows(obj: ObjectDef, data: Any) -> dict[str, list[dict[str, Any]]]:
    """setData's ``data`` → {alias: rows}, table and field names matched case-insensitively.

    Only the tables present in ``data`` are touched by the write: a detail table the request does
    not name keeps its rows, while ``"CUSBRANCH": []`` names it with no rows and so deletes them all.
    """
    if not isinstance(data, Mapping):
        raise invalid_request('setData needs "data": {TABLE: [{FIELD: value}]}')
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rows in data.items():
        table = obj.table(str(name))
        if table is None:
            raise business_error(f"Table {name!r} does not exist in object {obj.name}")
        if isinstance(rows, Mapping):
            rows = [rows]
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
            raise invalid_request(f"data.{name} must be an array of objects")
        if len(rows) > 1 and not obj.is_detail(table):
            raise business_error(f"Table {table.alias} of {obj.name} holds a single row; got {len(rows)}")
        out[table.alias] = [dict(r) for r in rows]
    return out


def build_record(
    store: RecordStore,
    key: int | None,
    data: Mapping[str, list[dict[str, Any]]],
    now: datetime,
    *,
    keep_stamps: bool = False,
    validate: bool = True,
) -> tuple[int, Record]:
    """The record setData would write: the current one (or a blank) with ``data`` applied.

    ``keep_stamps`` lets the control surface set INSDATE/UPDDATE as an ERP user's import would;
    otherwise read-only fields in ``data`` are ignored (the ERP ignores them too). ``calculate``
    passes ``validate=False``: a half-filled form may be calculated, only posting checks it (a
    LINENUM that names no line is refused either way: it is not a value but a reference).
    Detail tables follow the LINENUM rules of ``merge_lines``. The header's UPDDATE becomes
    ``now`` on every write, so a change to the branches alone moves it too.
    """
    obj = store.obj
    inserting = key is None
    owner = f"the new {obj.name} record" if key is None else f"{obj.name} record {key}"
    if key is None:
        key = store.next_key()
        record: Record = {
            t.alias: [{f: _INSERT_DEFAULTS.get(f, "") if t is obj.main else "" for f in t.field_names}]
            for t in (obj.main, *obj.extras)
        }
        for rows in record.values():
            rows[0][obj.key] = str(key)
        record[obj.main.alias][0]["INSDATE"] = format_datetime(now)
        for detail in obj.details:
            record[detail.alias] = []
    else:
        current = store.get(key)
        if current is None:
            raise business_error(f"{obj.name} record {key} does not exist")
        record = {alias: [dict(row) for row in rows] for alias, rows in current.items()}
    next_row_id = store.next_row_id()
    for alias, rows in data.items():
        table = obj.table(alias)
        assert table is not None
        if obj.is_detail(table):
            record[alias], next_row_id = merge_lines(
                table,
                obj.key,
                key,
                owner,
                record[alias],
                rows,
                next_row_id,
                inserting=inserting,
                validate=validate,
            )
        elif rows:
            apply_values(table, record[alias][0], rows[0], keep_stamps=keep_stamps)
    main = record[obj.main.alias][0]
    if not (keep_stamps and "UPDDATE" in {str(n).upper() for r in data.get(obj.main.alias, []) for n in r}):
        main["UPDDATE"] = format_datetime(now)
    if not validate:
        return key, record
    for fdef in obj.main.fields:
        if fdef.required and not main[fdef.name].strip():
            raise business_error(f"Field {obj.main.alias}.{fdef.name} ({fdef.caption}) is required")
    code_owner = store.key_of_code(main["CODE"])
    if code_owner is not None and code_owner != key:
        raise business_error(
            f"Duplicate value {main['CODE']!r} for field {obj.main.alias}.CODE: "
            f"it belongs to record {code_owner}"
        )
    return key, record


def apply_values(
    table: TableDef, row: dict[str, str], values: Mapping[str, Any], *, keep_stamps: bool
) -> None:
    """Write the request's values of one row into ``row``, normalised; LINENUM is the caller's."""
    for name, raw in values.items():
        fdef = table.field(str(name))
        if fdef is None:
            raise business_error(f"Field {table.alias}.{str(name).upper()} does not exist")
        if fdef.name == LINENUM or (fdef.read_only and not (keep_stamps and fdef.name in _STAMPS)):
            continue
        row[fdef.name] = normalize(table, fdef, raw)


def merge_lines(
    table: TableDef,
    key_field: str,
    key: int,
    owner: str,
    current: list[dict[str, str]],
    incoming: list[dict[str, Any]],
    next_row_id: int,
    *,
    inserting: bool,
    validate: bool,
) -> tuple[list[dict[str, str]], int]:
    """A detail table after setData, by SoftOne's LINENUM rules (SOFTONE.md §3.4).

    - a row whose LINENUM names an existing line updates that line with the fields it carries
      (``{"LINENUM": n}`` alone keeps it unchanged);
    - existing lines the request does not list are deleted;
    - LINENUM >= 9000001 means a new line: the server gives it the next real LINENUM (one past
      the highest line the record had) and a new row id;
    - on insert, ``0`` or no LINENUM also means a new line (integrators' documents send that);
      on update they are refused like any LINENUM below 9000001 that names no line, with a
      business error naming it: an update row without a line number is ambiguous (which line?)
      and replaying it could add lines twice, so the simulator is the strict reading.

    Returns the rows in LINENUM order and the next free row id.
    """
    lines = {int(row[LINENUM]): row for row in current}
    next_line = max(lines, default=0) + 1
    linenum = table.field(LINENUM)
    assert linenum is not None and table.row_id
    out: list[dict[str, str]] = []
    listed: set[int] = set()
    for position, values in enumerate(incoming, 1):
        where = f"{table.alias} row {position}"
        raw = next((v for n, v in values.items() if str(n).upper() == LINENUM), None)
        text = normalize(table, linenum, raw)
        line = int(text) if text else 0
        if line < 0:
            raise business_error(f"{where}: invalid LINENUM {line}")
        if line >= NEW_LINE_FROM or (line == 0 and inserting):
            row = {f: _DETAIL_DEFAULTS.get(f, "") for f in table.field_names}
            row.update({LINENUM: str(next_line), table.row_id: str(next_row_id), key_field: str(key)})
            next_line += 1
            next_row_id += 1
        elif line in lines:
            if line in listed:
                raise business_error(f"{where}: LINENUM {line} is listed twice")
            listed.add(line)
            row = dict(lines[line])
        else:
            named = f"LINENUM {line}" if text else "a row without LINENUM"
            raise business_error(
                f"{where}: {named} does not exist in {owner}; list kept lines by their LINENUM, "
                f"new lines use LINENUM {NEW_LINE_FROM} and up"
            )
        apply_values(table, row, values, keep_stamps=False)
        if validate:
            for fdef in table.fields:
                if fdef.required and not row[fdef.name].strip():
                    raise business_error(
                        f"Field {table.alias}.{fdef.name} ({fdef.caption}) is required ({where}, "
                        f"LINENUM {text or 'none'})"
                    )
        out.append(row)
    out.sort(key=lambda row: int(row[LINENUM]))
    return out, next_row_id
