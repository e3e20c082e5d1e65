"""Browser result caches: what a getBrowserInfo reqID pins and getBrowserData pages through.

A reqID holds the result set *and* the overlay as they were when getBrowserInfo ran, so ERP edits
made afterwards neither shift pages nor change values of an existing reqID — the client sees one
consistent snapshot, like S1's server-side cache. Re-running getBrowserInfo sees the edits.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from softone_sync.softone.simulator.protocol import MSG_REQID_EXPIRED, MSG_REQID_NOT_FOUND, ServiceError
from softone_sync.softone.simulator.results import ResultSet
from softone_sync.softone.simulator.schema import BrowserList
from softone_sync.softone.simulator.store import Record, RecordStore

_MAX_REQIDS = 2_000


@dataclass
class BrowserSnapshot:
    store: RecordStore
    blist: BrowserList
    result: ResultSet
    overlay: dict[int, Record | None]
    created: float = field(default_factory=time.monotonic)
    expired: bool = False

    def info(self) -> dict[str, Any]:
        """The descriptive part of a getBrowserInfo answer."""
        table = self.store.obj.main
        alias = table.alias
        fields: list[dict[str, Any]] = [{"name": "ZOOMINFO", "type": "string"}]
        columns: list[dict[str, Any]] = []
        for name in self.blist.columns:
            fdef = table.field(name)
            assert fdef is not None
            fields.append({"name": f"{alias}.{name}", "type": fdef.browser_type})
            column: dict[str, Any] = {
                "dataIndex": f"{alias}.{name}",
                "header": fdef.caption,
                "width": 120 if fdef.kind in ("string", "date") else 80,
                "sortable": True,
            }
            if fdef.kind in ("int", "float"):
                column["align"] = "right"
                column["decs"] = fdef.decimals
            columns.append(column)
        return {
            "formDesign": self.store.obj.name,
            "totalcount": len(self.result),
            "fields": fields,
            "columns": columns,
            # Totals are configured per list in S1; these lists define none.
            "sums": [""] * len(columns),
        }

    def rows(self, start: int, limit: int) -> list[list[str]]:
        """Positional rows in the order of ``fields``: ZOOMINFO (``OBJECT;key``) first."""
        keys = self.result.keys(start, limit)
        if not keys:
            return []
        store, overlay = self.store, self.overlay
        prefix = f"{store.obj.name};"
        pick = itemgetter(*self.blist.columns)
        base_row = store.base.row
        count = store.base.count
        out: list[list[str]] = []
        for key in keys:
            if key in overlay:
                record = overlay[key]
                assert record is not None  # deleted records never enter a result set
                row = record[store.obj.main.alias][0]
            elif key <= count:
                row = base_row(key - 1)
            else:  # pragma: no cover - result sets only hold live keys
                continue
            values = pick(row)
            out.append(
                [prefix + str(key), *values] if isinstance(values, tuple) else [prefix + str(key), values]
            )
        return out


class BrowserCache:
    def __init__(self, *, ttl_seconds: float | None, seed: int) -> None:
        self.ttl_seconds = ttl_seconds
        self._rng = random.Random(seed)
        self._entries: OrderedDict[str, BrowserSnapshot] = OrderedDict()

    def add(self, snapshot: BrowserSnapshot) -> str:
        # Numeric strings like S1's "0911051864780364875".
        req_id = f"{self._rng.randrange(10**18):019d}"
        while req_id in self._entries:
            req_id = f"{self._rng.randrange(10**18):019d}"
        self._entries[req_id] = snapshot
        while len(self._entries) > _MAX_REQIDS:
            self._entries.popitem(last=False)  # evicted reqIDs answer 102, as on a restarted server
        return req_id

    def get(self, req_id: str) -> BrowserSnapshot:
        snapshot = self._entries.get(req_id)
        if snapshot is None:
            raise ServiceError(102, MSG_REQID_NOT_FOUND)
        if self.ttl_seconds is not None and time.monotonic() - snapshot.created >= self.ttl_seconds:
            snapshot.expired = True
        if snapshot.expired:
            raise ServiceError(13, MSG_REQID_EXPIRED)
        return snapshot

    def expire_all(self) -> int:
        count = 0
        for snapshot in self._entries.values():
            if not snapshot.expired:
                snapshot.expired = True
                count += 1
        return count

    def expire(self, req_id: str) -> bool:
        snapshot = self._entries.get(req_id)
        if snapshot is None:
            return False
        snapshot.expired = True
        return True

    def clear(self) -> None:
        self._entries.clear()
