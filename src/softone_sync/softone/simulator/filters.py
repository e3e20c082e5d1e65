"""Browser FILTERS (``TABLE.FIELD=value&...``) and the result sets they select.

The S1 filter language (SOFTONE.md §5): only ``=``; a ``*`` wildcard; comma lists mean "any of";
ranges through the companion ``FIELD_TO`` with day granularity (FROM..TO is ``>= FROM`` and
``< TO + 1 day``); a FROM without its TO means **that single day**; only fields the saved list
exposes in its filter dialog may be used.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from softone_sync.softone.simulator.data import EPOCH
from softone_sync.softone.simulator.protocol import business_error
from softone_sync.softone.simulator.results import KeyList, MergedRange, ResultSet
from softone_sync.softone.simulator.schema import BrowserList, FieldDef, ObjectDef
from softone_sync.softone.simulator.store import Overlay, RecordStore

Test = Callable[[str], bool]


@dataclass
class FilterPlan:
    """Residual per-row tests plus, for UPDDATE, a range the base table answers by binary search."""

    tests: list[tuple[str, Test]] = field(default_factory=list)
    upd_range: tuple[str, str] | None = None  # [from, to) as ``yyyy-mm-dd hh:mm:ss`` strings

    def matches(self, row: dict[str, str]) -> bool:
        if self.upd_range is not None and not (self.upd_range[0] <= row["UPDDATE"] < self.upd_range[1]):
            return False
        return all(test(row[name]) for name, test in self.tests)


def parse_filters(obj: ObjectDef, blist: BrowserList, text: str) -> FilterPlan:
    values: dict[str, str] = {}
    tos: dict[str, str] = {}
    for part in text.split("&"):
        if not part.strip():
            continue  # tolerate "&&" and trailing '&'
        ref, eq, value = part.partition("=")
        if not eq:
            raise business_error(f"Invalid filter {part!r}: expected TABLE.FIELD=value")
        table, dot, name = ref.strip().upper().partition(".")
        if not dot or table != obj.main.alias:
            raise business_error(f"Invalid filter field {ref.strip()!r}: expected {obj.main.alias}.FIELD")
        target = tos if name.endswith("_TO") and name[:-3] in blist.filters else values
        name = name[:-3] if target is tos else name
        if name not in blist.filters:
            shown = blist.name or "(default)"
            raise business_error(
                f"Field {obj.main.alias}.{name} is not a filter of browser {shown!r} of {obj.name}; "
                f"available: {', '.join(blist.filters)}"
            )
        target[name] = value.strip()

    plan = FilterPlan()
    for name in dict.fromkeys([*values, *tos]):
        fdef = obj.main.field(name)
        assert fdef is not None  # list filters are fields of the main table
        low, high = values.get(name, ""), tos.get(name, "")
        if not low and not high:
            continue  # an empty dialog field filters nothing
        if fdef.kind == "date":
            start, end = _day_range(fdef, low, high)
            if name == "UPDDATE":
                plan.upd_range = (start, end)
            else:
                plan.tests.append((name, _date_range(start, end)))
        elif high:
            plan.tests.append((name, _numeric_range(fdef, low, high)))
        else:
            plan.tests.append((name, _value_test(fdef, low)))
    return plan


def _date_range(start: str, end: str) -> Test:
    # Dates compare correctly as ``yyyy-mm-dd hh:mm:ss`` strings; "" (no date) never matches.
    return lambda v: bool(v) and start <= v < end


def _parse_day(fdef: FieldDef, value: str) -> date:
    try:
        return datetime.fromisoformat(value.strip()).date()
    except ValueError:
        raise business_error(f"Invalid date {value!r} for filter {fdef.name}; expected yyyy-mm-dd") from None


def _day_range(fdef: FieldDef, low: str, high: str) -> tuple[str, str]:
    """[start, end) as strings; a FROM alone is that day only (the S1 trap for incremental sync)."""
    start = _parse_day(fdef, low) if low else date(1899, 12, 30)
    end = _parse_day(fdef, high) if high else start
    return f"{start.isoformat()} 00:00:00", f"{(end + timedelta(days=1)).isoformat()} 00:00:00"


def _decimal(fdef: FieldDef, value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise business_error(f"Invalid number {value!r} for filter {fdef.name}") from None


def _numeric_range(fdef: FieldDef, low: str, high: str) -> Test:
    lo = _decimal(fdef, low) if low else None
    hi = _decimal(fdef, high) if high else None

    def test(v: str) -> bool:
        if not v:
            return False
        d = Decimal(v)
        return (lo is None or d >= lo) and (hi is None or d <= hi)

    return test


def _value_test(fdef: FieldDef, value: str) -> Test:
    """Comma list of alternatives, each an exact value or a ``*`` pattern (case-insensitive)."""
    exact: set[str] = set()
    numbers: set[Decimal] = set()
    patterns: list[re.Pattern[str]] = []
    for alt in (a.strip() for a in value.split(",")):
        if "*" in alt:
            regex = ".*".join(re.escape(p) for p in alt.split("*"))
            patterns.append(re.compile(regex, re.IGNORECASE | re.DOTALL))
        elif fdef.kind in ("int", "float", "bool"):
            numbers.add(_decimal(fdef, alt))
        else:
            exact.add(alt.casefold())

    def test(v: str) -> bool:
        if v.casefold() in exact or any(p.fullmatch(v) for p in patterns):
            return True
        if numbers and v:
            try:
                return Decimal(v) in numbers
            except InvalidOperation:
                return False
        return False

    return test


def _seconds(value: str) -> int:
    return int((datetime.fromisoformat(value) - EPOCH).total_seconds())


def select(store: RecordStore, plan: FilterPlan, overlay: Overlay) -> ResultSet:
    """The keys matching ``plan`` in key order, as the overlay ``overlay`` sees the records."""
    base = store.base
    lo, hi = 0, base.count
    if plan.upd_range is not None:
        # Base UPDDATE is monotone in the index: the range is an index range.
        lo = bisect_left(range(base.count), _seconds(plan.upd_range[0]), key=base.upd_seconds)
        hi = bisect_left(range(base.count), _seconds(plan.upd_range[1]), key=base.upd_seconds)
    main = store.obj.main.alias
    extras = sorted(
        ((key,), key) for key, rec in overlay.items() if rec is not None and plan.matches(rec[main][0])
    )
    excluded = [key - 1 for key in overlay if 1 <= key <= base.count]
    if not plan.tests:
        return MergedRange(lo, hi, excluded, extras, lambda i: (i + 1,))
    # A residual test needs every candidate row: scan once, when the reqID is created.
    matched: list[int] = []
    for i in range(lo, hi):
        if (i + 1) in overlay:
            continue
        row = base.row(i)
        if all(test(row[name]) for name, test in plan.tests):
            matched.append(i + 1)
    return KeyList(sorted(matched + [k for _, k in extras]))
