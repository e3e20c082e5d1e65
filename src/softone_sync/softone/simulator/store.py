"""One object's records: generated base rows plus an overlay of changes made in the simulator.

A record is ``{table alias: rows}`` with every value a string, shaped like getData's ``data``:
exactly one row in the main and extension tables (CUSTOMER, CUSEXTRA), zero or more in detail
tables (CUSBRANCH). The overlay maps
a key to its full new record, or to ``None`` when deleted; inserted records get keys after the
base range. Records in the overlay are replaced, never mutated, so a shallow copy of the overlay
(``snapshot()``) pins the state a browser reqID saw at a cost of O(changes).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from softone_sync.softone.simulator.data import (
    DETAIL_ROWS_MAX,
    EPOCH,
    BaseTable,
    CustomerBase,
    ItemBase,
    code_index,
    empty_extra_row,
)
from softone_sync.softone.simulator.schema import ObjectDef, TableDef

Row = dict[str, str]
Record = dict[str, list[Row]]
Overlay = Mapping[int, Record | None]


def seconds_of(value: str) -> int:
    """Seconds after EPOCH of a ``yyyy-mm-dd hh:mm:ss`` value; "" sorts first."""
    if not value:
        return -(1 << 62)
    return int((datetime.fromisoformat(value) - EPOCH).total_seconds())


class RecordStore:
    def __init__(self, obj: ObjectDef, base: BaseTable) -> None:
        self.obj = obj
        self.base = base
        self._overlay: dict[int, Record | None] = {}
        self._codes: dict[str, int] = {}  # CODE -> key, for overlay records only
        self._next_key = base.count + 1
        # Detail rows' ids (TRDBRANCH) are unique across the table; generated ones stay below this.
        self._next_row_id = base.count * DETAIL_ROWS_MAX + 1

    @classmethod
    def for_object(cls, obj: ObjectDef, seed: int, count: int) -> RecordStore:
        base: BaseTable = CustomerBase(seed, count) if obj.name == "CUSTOMER" else ItemBase(seed, count)
        return cls(obj, base)

    @property
    def overlay(self) -> Overlay:
        return self._overlay

    def snapshot(self) -> dict[int, Record | None]:
        return dict(self._overlay)

    def base_record(self, index: int) -> Record:
        """The whole generated record, detail rows included (only getData/setData need those)."""
        key = index + 1
        record: Record = {self.obj.main.alias: [self.base.row(index)]}
        for extra in self.obj.extras:
            record[extra.alias] = [empty_extra_row(key, extra.field_names, self.obj.key)]
        details = self.base.details(index)
        for detail in self.obj.details:
            record[detail.alias] = details.get(detail.alias, [])
        return record

    def get(self, key: int, overlay: Overlay | None = None) -> Record | None:
        view = self._overlay if overlay is None else overlay
        if key in view:
            return view[key]
        if 1 <= key <= self.base.count:
            return self.base_record(key - 1)
        return None

    def main_row(self, key: int, overlay: Overlay | None = None) -> dict[str, str] | None:
        view = self._overlay if overlay is None else overlay
        if key in view:
            record = view[key]
            return None if record is None else record[self.obj.main.alias][0]
        if 1 <= key <= self.base.count:
            return self.base.row(key - 1)
        return None

    def key_of_code(self, code: str) -> int | None:
        """The live record with this CODE (case-insensitive, as SQL Server's default collation)."""
        upper = code.upper()
        if upper in self._codes:
            return self._codes[upper]
        index = code_index(upper, self.base.code_prefix, self.base.count)
        if index is not None and (index + 1) not in self._overlay:
            return index + 1
        return None

    def next_key(self) -> int:
        """The key the next insert gets; consumed only when ``put`` stores it."""
        return self._next_key

    def next_row_id(self) -> int:
        """The id the next new detail row gets; consumed only when ``put`` stores it."""
        return self._next_row_id

    def put(self, key: int, record: Record) -> None:
        self._forget_code(key)
        self._overlay[key] = record
        code = record[self.obj.main.alias][0].get("CODE", "")
        if code:
            self._codes[code.upper()] = key
        if key >= self._next_key:
            self._next_key = key + 1
        for detail in self.obj.details:
            for row in record[detail.alias]:
                row_id = int(row[detail.row_id])
                if row_id >= self._next_row_id:
                    self._next_row_id = row_id + 1

    def delete(self, key: int) -> bool:
        """Delete a record with its detail rows (they live in the record, so they go with it)."""
        if self.main_row(key) is None:
            return False
        self._forget_code(key)
        self._overlay[key] = None
        return True

    def _forget_code(self, key: int) -> None:
        previous = self._overlay.get(key)
        if previous is not None:
            self._codes.pop(previous[self.obj.main.alias][0].get("CODE", "").upper(), None)

    def table(self, alias: str) -> TableDef | None:
        return self.obj.table(alias)
