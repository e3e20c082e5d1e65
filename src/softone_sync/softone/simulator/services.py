"""The /s1services web services, one function each, dispatched by case-insensitive name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from softone_sync.softone.simulator.browsers import BrowserSnapshot
from softone_sync.softone.simulator.filters import parse_filters, select
from softone_sync.softone.simulator.protocol import (
    MSG_BAD_AUTHENTICATE,
    MSG_BAD_LOGIN,
    MSG_DATA_NOT_FOUND,
    MSG_INVALID_CALL,
    MSG_MODULE_NOT_ACTIVATED,
    MSG_REQID_NOT_FOUND,
    Params,
    ServiceError,
    business_error,
    invalid_request,
)
from softone_sync.softone.simulator.records import build_record, parse_locate_info, project, table_rows
from softone_sync.softone.simulator.schema import OBJECTS, ObjectDef, find_object
from softone_sync.softone.simulator.scripts import find_script
from softone_sync.softone.simulator.store import RecordStore

if TYPE_CHECKING:
    from softone_sync.softone.simulator.core import Simulator

Payload = dict[str, Any]
Handler = Callable[["Simulator", Params], Payload]

_CONTEXT = ("COMPANY", "BRANCH", "MODULE", "REFID")
_SIZES = {"int": "4", "float": "8", "date": "8", "bool": "2"}


def _check_context(sim: Simulator, params: Params) -> None:
    cfg = sim.config
    given = tuple(params.text(name).strip() for name in _CONTEXT)
    if given != (cfg.company, cfg.branch, cfg.module, cfg.refid):
        raise ServiceError(-2, MSG_BAD_AUTHENTICATE)


def login(sim: Simulator, params: Params) -> Payload:
    cfg = sim.config
    if (params.text("username"), params.text("password")) != (cfg.username, cfg.password):
        raise ServiceError(-1, MSG_BAD_LOGIN)
    app_id = params.text("appId").strip()
    if app_id != cfg.app_id:
        raise ServiceError(-3, MSG_MODULE_NOT_ACTIVATED)
    sim.logins += 1
    if all(params.text(name).strip() for name in _CONTEXT):
        # One-step login: the final clientID straight away, no objs.
        _check_context(sim, params)
        return {"success": True, "clientID": sim.sessions.create(app_id, final=True)}
    obj = {
        "COMPANY": cfg.company,
        "COMPANYNAME": cfg.company_name,
        "BRANCH": cfg.branch,
        "BRANCHNAME": "Κεντρικά",
        "MODULE": cfg.module,
        "MODULENAME": "<Blank>",
        "REFID": cfg.refid,
        "REFIDNAME": cfg.username,
        "USERID": cfg.refid,
        "FINALDATE": "1899-12-30 00:00:00",
        "ROLES": "",
        "XSECURITY": "0",
        "EXPTIME": "0",
    }
    client_id = sim.sessions.create(app_id, final=False)
    return {"success": True, "clientID": client_id, "objs": [obj], "ver": cfg.version, "sn": cfg.serial}


def authenticate(sim: Simulator, params: Params) -> Payload:
    temp_id = params.text("clientID")
    temporary = sim.sessions.temporary(temp_id)
    _check_context(sim, params)
    sim.sessions.discard(temp_id)
    final_id = sim.sessions.create(temporary.app_id, final=True)
    return {
        "success": True,
        "clientID": final_id,
        "s1u": 1,
        "hyperlinks": 1,
        "canexport": 1,
        "companyinfo": f"{sim.config.company_name},{sim.config.company}",
    }


def _object(params: Params) -> ObjectDef:
    # OBJECT may carry a form selector: "SALDOC[FORM=Related Files]".
    name = params.text("OBJECT").split("[", 1)[0].strip()
    if not name:
        raise invalid_request("OBJECT is required")
    obj = find_object(name)
    if obj is None:
        raise business_error(f"Object {name!r} does not exist")
    return obj


def _store(sim: Simulator, params: Params) -> RecordStore:
    return sim.stores[_object(params).name]


def _key(params: Params, *, required: bool) -> int | None:
    text = params.text("KEY").strip()
    if not text:
        if required:
            raise ServiceError(2001, MSG_DATA_NOT_FOUND)
        return None
    if not text.lstrip("-").isdigit():
        raise ServiceError(2001, MSG_DATA_NOT_FOUND)
    return int(text)


def get_objects(sim: Simulator, params: Params) -> Payload:
    objects = [{"name": o.name, "type": "EditMaster", "caption": o.caption} for o in OBJECTS.values()]
    return {"success": True, "count": len(objects), "objects": objects}


def get_object_tables(sim: Simulator, params: Params) -> Payload:
    obj = _object(params)
    tables = [
        {"name": t.alias, "dbname": t.dbname, "caption": t.caption, "filltype": "SQL"} for t in obj.tables
    ]
    return {"success": True, "count": len(tables), "tables": tables}


def get_table_fields(sim: Simulator, params: Params) -> Payload:
    obj = _object(params)
    name = params.text("TABLE").strip()
    table = obj.table(name) if name else None
    if table is None:
        raise business_error(f"Table {name!r} does not exist in object {obj.name}")
    fields = [
        {
            "name": f.name,
            "alias": f.name,
            "fullname": f"{table.alias}.{f.name}",
            "caption": f.caption,
            "size": str(f.size) if f.kind == "string" else _SIZES[f.kind],
            "type": f.type_name,
            "edittype": f.edit_type,
            "defaultvalue": "",
            "decimals": str(f.decimals),
            "editor": "",
            "readOnly": f.read_only,
            "visible": True,
            "required": f.required,
            "calculated": f.calculated,
        }
        for f in table.fields
    ]
    return {"success": True, "count": len(fields), "fields": fields}


def get_browser_info(sim: Simulator, params: Params) -> Payload:
    store = _store(sim, params)
    list_name = params.text("LIST").strip()
    blist = store.obj.browser_list(list_name)
    if blist is None:
        names = ", ".join(repr(lst.name) for lst in store.obj.lists)
        raise business_error(f"Browser {list_name!r} does not exist for {store.obj.name}; available: {names}")
    plan = parse_filters(store.obj, blist, params.text("FILTERS"))
    overlay = store.snapshot()
    snapshot = BrowserSnapshot(store, blist, select(store, plan, overlay), overlay)
    info = snapshot.info()
    answer: Payload = {
        "success": True,
        "formDesign": info.pop("formDesign"),
        "reqID": sim.browsers.add(snapshot),
    }
    answer.update(info)
    # VERSION 2 with LIMIT ("server-side limiting") also returns the first rows inline.
    limit = params.integer("LIMIT")
    if params.integer("VERSION", 1) == 2 and limit is not None:
        answer["rows"] = snapshot.rows(0, max(limit, 0))
    return answer


def get_browser_data(sim: Simulator, params: Params) -> Payload:
    req_id = params.text("reqID").strip()
    if not req_id:
        raise ServiceError(102, MSG_REQID_NOT_FOUND)
    snapshot = sim.browsers.get(req_id)
    start = params.integer("start", 0) or 0
    limit = params.integer("limit")
    if start < 0 or (limit is not None and limit < 0):
        raise invalid_request("start and limit must not be negative")
    total = len(snapshot.result)
    rows = snapshot.rows(start, total if limit is None else limit)
    return {"success": True, "totalcount": total, "rows": rows}


def get_data(sim: Simulator, params: Params) -> Payload:
    store = _store(sim, params)
    wanted = parse_locate_info(store.obj, params.text("LOCATEINFO"))
    key = _key(params, required=True)
    record = store.get(key) if key is not None else None
    if record is None:
        raise ServiceError(2001, MSG_DATA_NOT_FOUND)
    main = record[store.obj.main.alias][0]
    return {
        "success": True,
        "readOnly": False,
        "caption": f"{main['CODE']} - {main['NAME']}",
        "data": project(record, wanted),
    }


def set_data(sim: Simulator, params: Params) -> Payload:
    store = _store(sim, params)
    key = _key(params, required=False)
    if key is not None and store.get(key) is None:
        raise ServiceError(2001, MSG_DATA_NOT_FOUND)
    new_key, record = build_record(store, key, table_rows(store.obj, params.get("data")), sim.now())
    store.put(new_key, record)
    return {"success": True, "id": str(new_key)}


def calculate(sim: Simulator, params: Params) -> Payload:
    store = _store(sim, params)
    key = _key(params, required=False)
    if key is not None and store.get(key) is None:
        raise ServiceError(2001, MSG_DATA_NOT_FOUND)
    wanted = parse_locate_info(store.obj, params.text("LOCATEINFO"))
    data = table_rows(store.obj, params.get("data") or {})
    _, record = build_record(store, key, data, sim.now(), validate=False)
    if key is None:  # an unsaved record has no id yet
        for rows in record.values():
            for row in rows:
                row[store.obj.key] = ""
    first_new = store.next_row_id()
    for detail in store.obj.details:  # nor have unsaved detail lines (their LINENUM is shown)
        for row in record[detail.alias]:
            if int(row[detail.row_id]) >= first_new:
                row[detail.row_id] = ""
    return {"success": True, "readOnly": False, "data": project(record, wanted)}


def del_data(sim: Simulator, params: Params) -> Payload:
    store = _store(sim, params)
    key = _key(params, required=True)
    if key is None or not store.delete(key):
        raise ServiceError(2001, MSG_DATA_NOT_FOUND)
    return {"success": True}


def sql_data(sim: Simulator, params: Params) -> Payload:
    name = params.text("SqlName").strip()
    script = find_script(name)
    if script is None:
        raise business_error(f"SqlData: script {name!r} does not exist")
    rows = script(sim.stores, params)
    return {"success": True, "totalcount": len(rows), "rows": rows}


def selector_fields(sim: Simulator, params: Params) -> Payload:
    table_name = params.text("TABLENAME").strip().upper()
    store = next(
        (s for s in sim.stores.values() if table_name in (s.obj.name, s.obj.main.dbname)),
        None,
    )
    if store is None:
        raise business_error(f"selectorFields: table {table_name!r} does not exist")
    table = store.obj.main
    key_field = table.field(params.text("KEYNAME").strip())
    if key_field is None:
        raise business_error(
            f"selectorFields: field {params.text('KEYNAME')!r} does not exist in {table.dbname}"
        )
    wanted = [f.strip() for f in params.text("RESULTFIELDS").split(",") if f.strip()]
    result = [table.field(f) for f in wanted]
    missing = [w for w, f in zip(wanted, result, strict=True) if f is None]
    if missing or not wanted:
        raise business_error(
            f"selectorFields: RESULTFIELDS has unknown fields: {', '.join(missing) or '(none)'}"
        )
    value = params.text("KEYVALUE").strip()
    rows = [
        {w: row[f.name] for w, f in zip(wanted, result, strict=True) if f is not None}
        for row in _rows_where(store, key_field.name, value)
    ]
    return {"success": True, "totalcount": len(rows), "rows": rows}


def _rows_where(store: RecordStore, field: str, value: str) -> list[dict[str, str]]:
    if field == store.obj.key or field == "CODE":
        key = store.key_of_code(value) if field == "CODE" else (int(value) if value.isdigit() else None)
        row = store.main_row(key) if key is not None else None
        return [row] if row is not None else []
    keys = [*range(1, store.base.count + 1), *sorted(k for k in store.overlay if k > store.base.count)]
    lowered = value.casefold()
    return [r for k in keys if (r := store.main_row(k)) is not None and r[field].casefold() == lowered]


HANDLERS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler)
    for name, handler in (
        ("login", login),
        ("authenticate", authenticate),
        ("getObjects", get_objects),
        ("getObjectTables", get_object_tables),
        ("getTableFields", get_table_fields),
        ("getBrowserInfo", get_browser_info),
        ("getBrowserData", get_browser_data),
        ("getData", get_data),
        ("setData", set_data),
        ("calculate", calculate),
        ("delData", del_data),
        ("SqlData", sql_data),
        ("selectorFields", selector_fields),
    )
}
_NO_SESSION = {"login", "authenticate"}


def canonical_service(service: str) -> str:
    entry = HANDLERS.get(service.strip().lower())
    return entry[0] if entry else service.strip()


def dispatch(sim: Simulator, params: Params) -> Payload:
    service = params.text("service").strip()
    entry = HANDLERS.get(service.lower())
    sim.calls[entry[0] if entry else service or "(none)"] += 1
    if entry is None:
        raise ServiceError(-12, MSG_INVALID_CALL)
    name, handler = entry
    if name not in _NO_SESSION:
        sim.sessions.use(params.text("clientID"), params.text("appId").strip())
    return handler(sim, params)
