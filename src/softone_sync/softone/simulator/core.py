"""The simulated ERP: configuration, state, and the control methods tests and demos drive.

``Simulator`` is transport-free: ``call(params)`` answers one /s1services request body, and the
control methods change the ERP the way its users would. ``app.py`` puts HTTP around it. State is
guarded by one lock because the HTTP server runs in its own thread while a test drives the
control methods from another.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from softone_sync.softone.simulator.browsers import BrowserCache
from softone_sync.softone.simulator.faults import FaultPlan
from softone_sync.softone.simulator.protocol import Params, ServiceError
from softone_sync.softone.simulator.records import build_record
from softone_sync.softone.simulator.schema import OBJECTS, find_object
from softone_sync.softone.simulator.services import dispatch
from softone_sync.softone.simulator.sessions import SessionStore
from softone_sync.softone.simulator.store import RecordStore

MAX_ROWS = 1_000_000


@dataclass
class SimulatorConfig:
    seed: int = 1
    customers: int = 1000
    items: int = 500
    username: str = "demo"
    password: str = "demo"
    app_id: str = "1001"
    company: str = "1000"
    branch: str = "1000"
    module: str = "0"
    refid: str = "500"
    company_name: str = "Standard Company"
    session_ttl_seconds: float | None = None
    session_max_calls: int | None = None
    reqid_ttl_seconds: float | None = 600
    erp_timezone: str = "Europe/Athens"
    version: str = "6.00.622.11425"
    serial: str = "01234567890123"

    def __post_init__(self) -> None:
        for name in ("customers", "items"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_ROWS:
                raise ValueError(f"{name} must be between 1 and {MAX_ROWS:,}, got {value}")
        for name in ("session_ttl_seconds", "reqid_ttl_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None")
        if self.session_max_calls is not None and self.session_max_calls < 1:
            raise ValueError("session_max_calls must be >= 1 or None")
        ZoneInfo(self.erp_timezone)  # fail fast on a bad zone name

    def __repr__(self) -> str:
        # The password never appears in reprs or logs.
        return (
            f"SimulatorConfig(seed={self.seed}, customers={self.customers}, items={self.items}, "
            f"username={self.username!r}, app_id={self.app_id!r})"
        )


class Simulator:
    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.lock = threading.RLock()
        self.faults = FaultPlan(self.config.seed)
        self._tz = ZoneInfo(self.config.erp_timezone)
        self.reset()

    def reset(self) -> None:
        """Back to the pristine generated data: no changes, sessions, reqIDs, faults or stats."""
        cfg = self.config
        with self.lock:
            self.stores: dict[str, RecordStore] = {
                "CUSTOMER": RecordStore.for_object(OBJECTS["CUSTOMER"], cfg.seed, cfg.customers),
                "ITEM": RecordStore.for_object(OBJECTS["ITEM"], cfg.seed, cfg.items),
            }
            self.sessions = SessionStore(ttl_seconds=cfg.session_ttl_seconds, max_calls=cfg.session_max_calls)
            self.browsers = BrowserCache(ttl_seconds=cfg.reqid_ttl_seconds, seed=cfg.seed)
            self.calls: Counter[str] = Counter()
            self.logins = 0
            self.faults.clear()

    def now(self) -> datetime:
        """Server-local wall-clock time (naive, as S1 stores it)."""
        return datetime.now(self._tz).replace(tzinfo=None, microsecond=0)

    # -- the web service ------------------------------------------------------------------------

    def call(self, params: Params) -> dict[str, Any]:
        """Answer one request body; application errors come back as the error envelope."""
        with self.lock:
            try:
                return dispatch(self, params)
            except ServiceError as exc:
                return exc.payload()

    # -- control: what ERP users and operators do -----------------------------------------------

    def store(self, obj: str) -> RecordStore:
        odef = find_object(obj)
        if odef is None:
            raise KeyError(f"unknown object {obj!r}; one of: {', '.join(OBJECTS)}")
        return self.stores[odef.name]

    def get_record(self, obj: str, key: int | str) -> dict[str, str] | None:
        """The main-table row of a record as getData would show it, or None."""
        with self.lock:
            row = self.store(obj).main_row(int(key))
            return None if row is None else dict(row)

    def insert_record(self, obj: str, fields: Mapping[str, Any]) -> str:
        """Create a record as an ERP user would; returns its key. Fields are main-table fields."""
        return self._write(obj, None, fields)

    def update_record(self, obj: str, key: int | str, fields: Mapping[str, Any]) -> None:
        """Change fields of a record; UPDDATE becomes now unless ``fields`` sets it explicitly."""
        self._write(obj, int(key), fields)

    def _write(self, obj: str, key: int | None, fields: Mapping[str, Any]) -> str:
        with self.lock:
            store = self.store(obj)
            if key is not None and store.get(key) is None:
                raise KeyError(f"{store.obj.name} record {key} does not exist")
            try:
                new_key, record = build_record(
                    store, key, {store.obj.main.alias: [dict(fields)]}, self.now(), keep_stamps=True
                )
            except ServiceError as exc:
                raise ValueError(exc.message) from None
            store.put(new_key, record)
            return str(new_key)

    def delete_record(self, obj: str, key: int | str) -> None:
        with self.lock:
            if not self.store(obj).delete(int(key)):
                raise KeyError(f"{obj.upper()} record {key} does not exist")

    def expire_sessions(self) -> int:
        """Every live clientID answers -101 from now on; returns how many were live."""
        with self.lock:
            return self.sessions.expire_all()

    def expire_reqids(self) -> int:
        """Every browser reqID answers errorcode 13 from now on."""
        with self.lock:
            return self.browsers.expire_all()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "calls": dict(self.calls),
                "logins": self.logins,
                "active_sessions": self.sessions.active_count(),
                "changed_records": {
                    name: sum(1 for _ in store.overlay) for name, store in self.stores.items()
                },
                "faults": [rule.to_json() for rule in self.faults.rules],
            }
