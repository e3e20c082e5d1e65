"""The push half of a two-way run: captured application changes → SoftOne.

Order within a run: **push first, then pull**, both under the run's one lease.

- Pushing first means the pull that follows reads an ERP that already holds the application's
  changes, so one run leaves both sides converged (and the pull confirms the pushed values, with
  whatever the ERP normalised, as the new baselines).
- The other order would pull ERP rows over records the application changed but had not pushed
  yet. The pull never does that anyway — :class:`~softone_sync.sync.twoway.baseline.PullGuard`
  holds back any row whose local values differ from its baseline — but then those records would
  wait a whole run for their merge. With push first, only changes made *during* the run wait.

Per record (all outbox entries of one local row in a batch are collapsed into one change):

1. read the local row and its baseline; a row that still hashes to its baseline is an echo of the
   sync's own write (or a change undone) — drop it;
2. no ERP id yet → create: look the record up by its unique identifier first and *adopt* it if it
   exists (that is how a create whose answer was lost is never sent twice); else ``setData`` with
   an empty KEY; a lost answer (``OutcomeUnknown``) is looked up again at once, and otherwise left
   for the next run, which looks it up before sending anything;
3. ERP id → ``getData``, merge field by field against the baseline (:mod:`.conflicts`), ``setData``
   with KEY and only the fields the application wins;
4. one transaction: the ERP values that won go into the local row (only into columns the
   application has not changed again meanwhile), the ERP id into its column, the new baseline, the
   outbox entries deleted, the record's push reject resolved.

A crash between 3 and 4 leaves the outbox entries in place: the rerun finds the ERP already equal
to the local row (an update re-sent with the same values is harmless) or, for a create, finds the
record by its identifier and adopts it. Records SoftOne refuses (business errors, text outside
windows-1253) are kept in ``sync_rejects`` under ``push:<record key>``, counted as failed, retried
on every later run, and never stop the other records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.models import utcnow
from softone_sync.softone.errors import BusinessError, OutcomeUnknown
from softone_sync.sync import rejects as reject_store
from softone_sync.sync.mapping import RejectedRow
from softone_sync.sync.twoway import conflicts
from softone_sync.sync.twoway.baseline import (
    Baseline,
    NewBaseline,
    baseline_by_local_key,
    drop_baseline,
    read_local_rows,
    save_baselines,
)
from softone_sync.sync.twoway.capture import resume_capture, suppress_capture
from softone_sync.sync.twoway.erp import ErpRecord, ErpSide, PushRejected
from softone_sync.sync.twoway.layout import TwoWayLayout, local_key_text, record_hash, typed_value
from softone_sync.sync.twoway.models import OUTBOX

log = logging.getLogger("softone_sync.sync.twoway.push")

REJECT_PREFIX = "push:"
MAX_DECISIONS_IN_STATS = 50


@dataclass
class Change:
    """The collapsed outbox entries of one local row."""

    local_key: str
    pk_json: str
    ids: list[int]
    op: str
    erp_id: str | None
    changed_at: datetime


@dataclass
class PushStats:
    changes: int = 0  # outbox entries read
    records: int = 0  # distinct local rows they touched
    echoes: int = 0
    created: int = 0
    adopted: int = 0
    updated: int = 0
    deleted: int = 0
    deletions_ignored: int = 0
    merged_into_app: int = 0  # local rows that received ERP values during a merge
    failed: int = 0
    manual: int = 0
    conflicts: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pushed(self) -> int:
        """ERP writes: creates, updates and deletes."""
        return self.created + self.updated + self.deleted

    def note(self, record_key: str, decisions: Sequence[dict[str, Any]]) -> None:
        self.conflicts += len(decisions)
        room = MAX_DECISIONS_IN_STATS - len(self.decisions)
        for decision in decisions[: max(room, 0)]:
            self.decisions.append({"record": record_key, **decision})

    def as_json(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "records": self.records,
            "echoes": self.echoes,
            "created": self.created,
            "adopted": self.adopted,
            "updated": self.updated,
            "deleted": self.deleted,
            "deletions_ignored": self.deletions_ignored,
            "merged_into_app": self.merged_into_app,
            "failed": self.failed,
            "manual_conflicts": self.manual,
            "conflicts": self.conflicts,
            "decisions": self.decisions,
        }


def collapse(entries: Sequence[Any]) -> list[Change]:
    """Outbox rows (ordered by id) → one change per local row, in first-seen order."""
    changes: dict[str, Change] = {}
    for entry in entries:
        key = local_key_text(json.loads(entry.pk_json))
        change = changes.get(key)
        if change is None:
            changes[key] = Change(key, entry.pk_json, [entry.id], entry.op, entry.erp_id, entry.changed_at)
            continue
        change.ids.append(entry.id)
        change.op = entry.op
        change.erp_id = entry.erp_id or change.erp_id
        change.changed_at = max(change.changed_at, entry.changed_at)
    return list(changes.values())


async def pending_changes(conn: AsyncConnection, integration_id: str) -> int:
    result = await conn.execute(
        sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.integration_id == integration_id)
    )
    return int(result.scalar_one())


class PushPhase:
    """Pushes every captured change of one integration, batch by batch, on the run's connection."""

    def __init__(
        self,
        conn: AsyncConnection,
        *,
        integration_id: str,
        run_id: str,
        layout: TwoWayLayout,
        erp: ErpSide,
        check_lease: Callable[[], None],
    ) -> None:
        self.conn = conn
        self.integration_id = integration_id
        self.run_id = run_id
        self.layout = layout
        self.erp = erp
        self.check_lease = check_lease
        self.stats = PushStats()
        self.extra = {"integration_id": integration_id, "run_id": run_id}

    async def run(self) -> PushStats:
        last_id = 0
        batch_size = self.layout.config.two_way.batch_size
        while True:
            entries = (
                await self.conn.execute(
                    sa.select(OUTBOX)
                    .where(OUTBOX.c.integration_id == self.integration_id, OUTBOX.c.id > last_id)
                    .order_by(OUTBOX.c.id)
                    .limit(batch_size)
                )
            ).all()
            # commit, not rollback: on PostgreSQL the writer's temp tables were created on the raw
            # driver connection inside a transaction SQLAlchemy does not know about; a rollback
            # here would drop them.
            await self.conn.commit()
            if not entries:
                return self.stats
            last_id = entries[-1].id
            self.stats.changes += len(entries)
            for change in collapse(entries):
                self.check_lease()
                self.stats.records += 1
                await self._push(change)

    # -- one record ---------------------------------------------------------------------------------

    async def _push(self, change: Change) -> None:
        layout = self.layout
        pk = layout.pk_values(change.pk_json)
        local = (await read_local_rows(self.conn, layout, layout.pk_columns, [pk])).get(pk)
        base = await baseline_by_local_key(self.conn, self.integration_id, change.local_key)
        record_key = layout.record_key(local) if local is not None else (base.record_key if base else None)
        forced_ids, forced = (
            await conflicts.forced_sides(self.conn, self.integration_id, record_key)
            if record_key is not None
            else ([], {})
        )
        await self.conn.commit()  # no transaction (or row lock) stays open while the ERP is called
        if local is None:
            await self._deleted(change, base)
            return
        assert record_key is not None
        normalized = layout.normalize(local)
        if base is not None and base.hash == record_hash(normalized) and not forced:
            self.stats.echoes += 1
            await self._commit(change, local, record_key, None, {}, None)
            return
        try:
            erp_id = local.get(layout.record_key_column)
            if erp_id is None:
                await self._create(change, local, normalized, record_key)
            else:
                await self._update(
                    change, local, normalized, base, record_key, str(erp_id), forced, forced_ids
                )
        except PushRejected as exc:
            await self._reject(change, local, record_key, str(exc))
        except BusinessError as exc:
            await self._reject(change, local, record_key, f"SoftOne refused it: {exc.message}")

    async def _create(
        self, change: Change, local: dict[str, Any], normalized: dict[str, Any], record_key: str
    ) -> None:
        layout, erp = self.layout, self.erp
        existing = await erp.lookup(local)
        if existing is not None:
            record = await erp.fetch(existing)
            if record is not None:
                self.stats.adopted += 1
                log.info(
                    "[SYNC] adopted ERP record %s for new local row %s (found by its identifier)",
                    existing,
                    record_key,
                    extra={"action": "push_adopt", **self.extra},
                )
                await self._merge_and_apply(change, local, normalized, None, record_key, record, {}, [])
                return
        columns = [c for c in layout.synced if layout.pushable(c) and local.get(c) is not None]
        payload = erp.payload(local, columns)
        try:
            erp_id = await erp.create(payload)
        except OutcomeUnknown:
            found = await erp.lookup(local)
            if found is None:
                raise PushRejected(
                    "the create's answer was lost and the record is not in SoftOne; it is looked up "
                    "again before it is re-sent on the next run"
                ) from None
            erp_id = found
        self.stats.created += 1
        baseline = NewBaseline(record_key, change.local_key, erp_id, normalized)
        await self._commit(change, local, record_key, baseline, {}, erp_id)

    async def _update(
        self,
        change: Change,
        local: dict[str, Any],
        normalized: dict[str, Any],
        base: Baseline | None,
        record_key: str,
        erp_id: str,
        forced: dict[str, conflicts.Side],
        forced_ids: list[int],
    ) -> None:
        record = await self.erp.fetch(erp_id)
        if record is None:
            raise PushRejected(
                f"the ERP record {erp_id} no longer exists; delete the row in the application or clear "
                f"its {self.layout.record_key_column} to create it again"
            )
        await self._merge_and_apply(
            change, local, normalized, base.values if base else None, record_key, record, forced, forced_ids
        )

    async def _merge_and_apply(
        self,
        change: Change,
        local: dict[str, Any],
        normalized: dict[str, Any],
        base_values: dict[str, Any] | None,
        record_key: str,
        record: ErpRecord,
        forced: dict[str, conflicts.Side],
        forced_ids: list[int],
    ) -> None:
        merged = conflicts.merge(
            self.layout,
            normalized,
            record.normalized,
            base_values,
            local_changed_at=change.changed_at,
            erp_changed_at=record.updated_at,
            forced=forced,
        )
        self.stats.note(record_key, merged.decisions)
        if merged.manual:
            async with self.conn.begin():
                await conflicts.store_conflict(
                    self.conn,
                    integration_id=self.integration_id,
                    run_id=self.run_id,
                    record_key=record_key,
                    local_key=change.local_key,
                    erp_id=record.erp_id,
                    columns=merged.manual,
                    local=normalized,
                    erp=record.normalized,
                    base=base_values,
                )
                await self._delete_entries(change)
            self.stats.manual += 1
            return
        if merged.push:
            await self.erp.update(record.erp_id, self.erp.payload(local, merged.push))
            self.stats.updated += 1
        pulled = {c: record.values[c] for c in merged.pull}
        if pulled:
            self.stats.merged_into_app += 1
        baseline = NewBaseline(record_key, change.local_key, record.erp_id, merged.final)
        await self._commit(change, local, record_key, baseline, pulled, record.erp_id, forced_ids)

    async def _deleted(self, change: Change, base: Baseline | None) -> None:
        if base is not None:
            erp_id = base.erp_id or change.erp_id
            if self.layout.config.two_way.deletions == "delete" and erp_id:
                await self.erp.delete(erp_id)
                self.stats.deleted += 1
            else:
                self.stats.deletions_ignored += 1
        async with self.conn.begin():
            if base is not None:
                await drop_baseline(self.conn, self.integration_id, base.record_key)
            await self._delete_entries(change)

    # -- the record's one transaction ------------------------------------------------------------------

    async def _commit(
        self,
        change: Change,
        local: dict[str, Any],
        record_key: str,
        baseline: NewBaseline | None,
        pulled: dict[str, Any],
        erp_id: str | None,
        applied_conflicts: Sequence[int] = (),
    ) -> None:
        layout = self.layout
        table = layout.target.table
        pk = layout.pk_values(change.pk_json)
        where = sa.and_(*(table.c[c] == v for c, v in zip(layout.pk_columns, pk, strict=True)))
        async with self.conn.begin():
            await suppress_capture(self.conn, self.integration_id)
            if pulled:
                await self._apply_pulled(pk, where, local, pulled)
            if erp_id is not None and local.get(layout.record_key_column) is None:
                erp_column = table.c[layout.record_key_column]
                await self.conn.execute(
                    sa.update(table)
                    .where(where, erp_column.is_(None))
                    .values({erp_column.key: typed_value(erp_column, erp_id)})
                )
            if baseline is not None:
                await save_baselines(self.conn, self.integration_id, [baseline])
            await self._delete_entries(change)
            await reject_store.resolve_rejects(
                self.conn,
                integration_id=self.integration_id,
                record_keys=[REJECT_PREFIX + record_key],
                now=utcnow(),
            )
            await conflicts.mark_applied(self.conn, list(applied_conflicts))
            await resume_capture(self.conn, self.integration_id)

    async def _apply_pulled(
        self,
        pk: tuple[Any, ...],
        where: sa.ColumnElement[bool],
        local: dict[str, Any],
        pulled: dict[str, Any],
    ) -> None:
        """Write the ERP's winning values, except into columns the application changed since we read them."""
        layout = self.layout
        current = (await read_local_rows(self.conn, layout, layout.pk_columns, [pk], lock=True)).get(pk)
        if current is None:
            return
        norm = layout.normalizers
        values = {c: v for c, v in pulled.items() if norm[c](current.get(c)) == norm[c](local.get(c))}
        if values:
            await self.conn.execute(sa.update(layout.target.table).where(where).values(values))

    async def _delete_entries(self, change: Change) -> None:
        await self.conn.execute(sa.delete(OUTBOX).where(OUTBOX.c.id.in_(change.ids)))

    async def _reject(self, change: Change, local: dict[str, Any], record_key: str, reason: str) -> None:
        """Keep the outbox entries (retried next run) and record why, without stopping the others."""
        self.stats.failed += 1
        log.warning(
            "[SYNC] push of %s rejected: %s",
            record_key,
            reason,
            extra={"action": "push_reject", **self.extra},
        )
        payload = {c: "" if local.get(c) is None else str(local.get(c)) for c in self.layout.synced}
        async with self.conn.begin():
            await reject_store.store_rejects(
                self.conn,
                dialect=self.conn.dialect.name,
                integration_id=self.integration_id,
                run_id=self.run_id,
                rejects=[RejectedRow(REJECT_PREFIX + record_key, reason, payload)],
                now=utcnow(),
            )
