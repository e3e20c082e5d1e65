"""Stored "S1 SQL Scripts" served by SqlData.

Each script takes string parameters named as the script declares them and returns rows as
objects keyed by the script's column aliases *in their own case, spaces included* — exactly what
clients must cope with. SqlData has no paging of its own; ``CustomersChangedSince`` implements
``pPage``/``pSize`` itself, as integrators' scripts do.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

from softone_sync.softone.simulator.data import EPOCH
from softone_sync.softone.simulator.protocol import Params, business_error
from softone_sync.softone.simulator.results import MergedRange
from softone_sync.softone.simulator.store import RecordStore, seconds_of

Rows = list[dict[str, str]]
Script = Callable[[Mapping[str, RecordStore], Params], Rows]


def _param_datetime(params: Params, name: str) -> datetime:
    value = params.text(name).strip()
    if not value:
        raise business_error(f"SqlData: parameter {name} is required (yyyy-mm-dd hh:mm:ss)")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise business_error(
            f"SqlData: parameter {name}={value!r} is not a date (yyyy-mm-dd hh:mm:ss)"
        ) from None


def _param_positive(params: Params, name: str) -> int | None:
    value = params.text(name).strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise business_error(f"SqlData: parameter {name}={value!r} must be a positive integer")
    return int(value)


def customers_changed_since(stores: Mapping[str, RecordStore], params: Params) -> Rows:
    """Customers with UPDDATE >= pFrom, oldest change first; optional 1-based pPage of pSize rows."""
    store = stores["CUSTOMER"]
    since = _param_datetime(params, "pFrom")
    page, size = _param_positive(params, "pPage"), _param_positive(params, "pSize")
    if page is not None and size is None:
        raise business_error("SqlData: pPage needs pSize")
    base, overlay = store.base, store.overlay
    since_s = int((since - EPOCH).total_seconds())
    lo = bisect_left(range(base.count), since_s, key=base.upd_seconds)
    since_text = since.isoformat(" ")
    extras = sorted(
        ((seconds_of(rec["CUSTOMER"][0]["UPDDATE"]), key), key)
        for key, rec in overlay.items()
        if rec is not None and rec["CUSTOMER"][0]["UPDDATE"] >= since_text
    )
    excluded = [key - 1 for key in overlay if 1 <= key <= base.count]
    result = MergedRange(lo, base.count, excluded, extras, lambda i: (base.upd_seconds(i), i + 1))
    start = ((page or 1) - 1) * (size or 0)
    keys = result.keys(start, size if size is not None else len(result))
    rows: Rows = []
    for key in keys:
        row = store.main_row(key)
        assert row is not None
        rows.append(
            {
                "TRDR": row["TRDR"],
                "CODE": row["CODE"],
                "NAME": row["NAME"],
                "AFM": row["AFM"],
                "EMAIL": row["EMAIL"],
                "City": row["CITY"],
                "ISACTIVE": row["ISACTIVE"],
                "DISCOUNT": row["DISCOUNT"],
                "UPDDATE": row["UPDDATE"],
            }
        )
    return rows


def items_with_stock(stores: Mapping[str, RecordStore], params: Params) -> Rows:
    """Active items whose stock exceeds pMinQty (default 0), by MTRL."""
    store = stores["ITEM"]
    raw_min = params.text("pMinQty").strip() or "0"
    try:
        min_qty = Decimal(raw_min)
    except ArithmeticError:
        raise business_error(f"SqlData: parameter pMinQty={raw_min!r} is not a number") from None
    rows: Rows = []
    overlay, base = store.overlay, store.base
    keys = [*range(1, base.count + 1), *sorted(k for k in overlay if k > base.count)]
    for key in keys:
        row = store.main_row(key, overlay)
        if row is None or row["ISACTIVE"] != "1" or Decimal(row["QTY1"] or "0") <= min_qty:
            continue
        rows.append(
            {
                "MTRL": row["MTRL"],
                "CODE": row["CODE"],
                "NAME": row["NAME"],
                "RETAILPRICE": row["PRICER"],
                "Stock QTY": row["QTY1"],
            }
        )
    return rows


SCRIPTS: dict[str, Script] = {
    "CustomersChangedSince": customers_changed_since,
    "ItemsWithStock": items_with_stock,
}


def find_script(name: str) -> Script | None:
    """Script names are matched case-insensitively, like every other S1 name."""
    lowered = name.strip().lower()
    for script_name, script in SCRIPTS.items():
        if script_name.lower() == lowered:
            return script
    return None
