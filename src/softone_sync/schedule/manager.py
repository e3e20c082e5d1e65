"""CronManager: the database-backed scheduler. Any number of processes may run one on one database.

* ``softone_integrations.nextRunAt`` (indexed) holds each active integration's next slot; the
  database is the only source of truth, nothing about schedules lives only in memory.
* **Claiming** a due slot is one transaction: select due rows (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so concurrent schedulers take disjoint rows), advance ``nextRunAt`` with a conditional
  UPDATE (``WHERE nextRunAt = <the value read>``) and insert the slot's ``slot_log`` row, whose
  UNIQUE (integration_id, slot_at) makes a second claim of the same slot a no-op. Exactly one
  process wins each slot.
* **Running** goes through an :class:`~softone_sync.schedule.executors.Executor`; the run engine's
  lease guarantees one run per integration (held → ``skipped-running``, or with ``overlap:
  "queue-one"`` one pending run that starts when the current one ends).
* **Changes** made through the API call :meth:`CronManager.reschedule`; changes made by another
  process or directly in SQL are noticed by comparing a signature of (id, isActive, schedule) every
  ``change_interval`` seconds (≤ 5 s) — on PostgreSQL one aggregate md5, computed by the server.
* Every slot ends with an outcome in ``slot_log``: ran, skipped-running, coalesced, missed, paused,
  failed (see :mod:`softone_sync.schedule.slots` for the catch-up rule).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.config import Settings, get_settings
from softone_sync.db import leases
from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration, new_id, utcnow
from softone_sync.schedule import store
from softone_sync.schedule.cron import CronError, parse_schedule
from softone_sync.schedule.executors import ExecutionResult, Executor, InlineExecutor
from softone_sync.schedule.slots import ScheduleConfig, SlotPlan, SlotRecord, plan_slots

log = logging.getLogger("softone_sync.schedule.manager")

_I = SoftOneIntegration
# A lease expiring sooner than this belongs to a holder that stopped renewing (holders renew every
# TTL/3, and TTLs are tens of seconds in production).
LEASE_EXPIRY_MARGIN = 1.0
_SCHEDULE = _I.configJson["schedule"]


@dataclass(frozen=True)
class ScheduleReport:
    """One line of :meth:`CronManager.initialize`'s report."""

    integration_id: str
    name: str
    cron: str | None
    timezone: str | None
    next_run_utc: datetime | None
    next_run_local: datetime | None
    status: str
    """scheduled | catch-up (a past-due slot kept) | inactive | no schedule | invalid: <why>"""


@dataclass(frozen=True)
class SlotOutcome:
    integration_id: str
    slot_at: datetime
    outcome: str
    run_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class _Claim:
    integration_id: str
    slot_at: datetime
    run_id: str
    trigger: str
    config: ScheduleConfig
    lease_seen: bool = False
    """The integration had a lease when the slot was claimed (a run going on, or a dead one's)."""


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _signature(active: bool, schedule: Any, has_next: bool) -> str:
    return f"{bool(active)}|{json.dumps(schedule, sort_keys=True, default=str)}|{has_next}"


# How long stop() waits for the poll loop to finish its current iteration before cancelling it.
LOOP_STOP_TIMEOUT = 15.0


class CronManager:
    def __init__(
        self,
        db: Database,
        settings: Settings | None = None,
        *,
        executor: Executor | None = None,
        owner: str | None = None,
        poll_interval: float = 1.0,
        change_interval: float = 2.0,
        reap_interval: float = 5.0,
        batch_size: int = 200,
        pending_poll: float = 0.25,
    ) -> None:
        self.db = db
        self.settings = settings or get_settings()
        self.owner = owner or default_owner()
        self.executor = executor or InlineExecutor(db, self.settings)
        self.executor.bind(self.owner)
        self.poll_interval = poll_interval
        self.change_interval = min(change_interval, 5.0)
        self.reap_interval = reap_interval
        # Peers repair this manager's queued rows only after several missed refreshes (see reap()).
        self.stale_queued_seconds = max(store.STALE_QUEUED_SECONDS, 6 * reap_interval)
        self.batch_size = batch_size
        self.pending_poll = pending_poll
        self._signatures: dict[str, str] = {}
        self._aggregate: str | None = None
        self._primed = False
        # Final outcomes waiting to be written in one transaction by the flusher (see flush_results).
        self._results: list[tuple[str, datetime, Any, str | None, str | None]] = []
        self._results_ready = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.flush_interval = 0.1
        self._inflight: dict[tuple[str, datetime], asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._claiming = False

    # ------------------------------------------------------------------ start-up and changes

    async def initialize(self, now: datetime | None = None) -> list[ScheduleReport]:
        """Give every active integration its ``nextRunAt`` (keeping a past-due one for catch-up)."""
        now = now or utcnow()
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(_I.id, _I.name, _I.isActive, _SCHEDULE, _I.nextRunAt).order_by(_I.name)
                )
            ).all()
        reports: list[ScheduleReport] = []
        changes: list[tuple[str, datetime | None, datetime | None]] = []
        signatures: dict[str, str] = {}
        for integration_id, name, active, schedule, stored in rows:
            config, error = _config_of(schedule)
            desired, status = _desired_next(config, error, bool(active), stored, now)
            if desired != stored:
                changes.append((integration_id, stored, desired))
            signatures[integration_id] = _signature(active, schedule, desired is not None)
            local = desired.astimezone(config.schedule.tz) if desired and config else None
            reports.append(
                ScheduleReport(
                    integration_id,
                    name,
                    config.cron_expression if config else None,
                    config.timezone if config else None,
                    desired,
                    local,
                    status,
                )
            )
        await self._write_next(changes)
        self._signatures = signatures
        self._primed = True
        self._aggregate = await self._aggregate_signature()
        scheduled = sum(1 for report in reports if report.next_run_utc is not None)
        log.info(
            "[CRON] initialized %d integrations (%d scheduled)",
            len(reports),
            scheduled,
            extra={"action": "cron_initialized"},
        )
        for report in reports:
            if report.status.startswith("invalid"):
                log.warning(
                    "[CRON] integration=%s name=%s %s",
                    report.integration_id,
                    report.name,
                    report.status,
                    extra={"action": "schedule_invalid", "integration_id": report.integration_id},
                )
        self._wake.set()
        return reports

    async def reschedule(self, integration_id: str, now: datetime | None = None) -> datetime | None:
        """Recompute one integration's next slot after a create/update/enable/disable/delete.

        Returns the new ``nextRunAt`` (None when inactive, unscheduled or deleted).
        """
        now = now or utcnow()
        async with self.db.engine.begin() as conn:
            row = (
                await conn.execute(sa.select(_I.isActive, _SCHEDULE).where(_I.id == integration_id))
            ).first()
            if row is None:
                self._signatures.pop(integration_id, None)
                log.info(
                    "[CRON] integration=%s deleted; unscheduled",
                    integration_id,
                    extra={"action": "unscheduled", "integration_id": integration_id},
                )
                return None
            active, schedule = row
            config, error = _config_of(schedule)
            desired, status = _desired_next(config, error, bool(active), None, now)
            await conn.execute(
                sa.update(_I)
                .where(_I.id == integration_id)
                .values(nextRunAt=desired, scheduleVersion=_I.scheduleVersion + 1)
            )
        self._signatures[integration_id] = _signature(active, schedule, desired is not None)
        log.info(
            "[CRON] integration=%s rescheduled: %s next=%s",
            integration_id,
            status,
            desired.isoformat() if desired else "-",
            extra={"action": "rescheduled", "integration_id": integration_id},
        )
        self._wake.set()
        return desired

    async def check_changes(self, now: datetime | None = None) -> list[str]:
        """Reschedule integrations whose (isActive, schedule) changed elsewhere; returns their ids."""
        aggregate = await self._aggregate_signature()
        if aggregate is not None and aggregate == self._aggregate:
            return []
        async with self.db.connect() as conn:
            rows = (await conn.execute(sa.select(_I.id, _I.isActive, _SCHEDULE, _I.nextRunAt))).all()
        current = {row[0]: _signature(row[1], row[2], row[3] is not None) for row in rows}
        if not self._primed:
            # First look (started without initialize()): adopt the stored schedules as known and fix
            # only rows whose nextRunAt contradicts isActive; reconciling 10,000 rows one by one would
            # stall dispatching for seconds.
            self._signatures = dict(current)
            self._primed = True
            changed = [row[0] for row in rows if row[2] is not None and bool(row[1]) != (row[3] is not None)]
        else:
            changed = [
                integration_id
                for integration_id, sig in current.items()
                if self._signatures.get(integration_id) != sig
            ]
        for integration_id in changed:
            await self._reconcile(integration_id, now or utcnow())
        for gone in set(self._signatures) - set(current):
            del self._signatures[gone]
        self._aggregate = aggregate
        return changed

    async def _reconcile(self, integration_id: str, now: datetime) -> None:
        """Like :meth:`reschedule`, but writes only when the stored nextRunAt disagrees."""
        async with self.db.engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(_I.isActive, _SCHEDULE, _I.nextRunAt).where(_I.id == integration_id)
                )
            ).first()
            if row is None:
                return
            active, schedule, stored = row
            config, error = _config_of(schedule)
            known = self._signatures.get(integration_id)
            schedule_changed = (
                known is None
                or known.rsplit("|", 1)[0] != _signature(active, schedule, True).rsplit("|", 1)[0]
            )
            # A changed schedule restarts from now; an unchanged one keeps its (possibly past-due) slot.
            keep = None if schedule_changed else stored
            desired, _status = _desired_next(config, error, bool(active), keep, now)
            if desired != stored:
                await conn.execute(
                    sa.update(_I)
                    .where(_I.id == integration_id, _I.nextRunAt.is_not_distinct_from(stored))
                    .values(nextRunAt=desired, scheduleVersion=_I.scheduleVersion + 1, updatedAt=_I.updatedAt)
                )
                log.info(
                    "[CRON] integration=%s schedule changed elsewhere; next=%s",
                    integration_id,
                    desired.isoformat() if desired else "-",
                    extra={"action": "rescheduled", "integration_id": integration_id},
                )
        self._signatures[integration_id] = _signature(active, schedule, desired is not None)
        self._wake.set()

    async def _aggregate_signature(self) -> str | None:
        """PostgreSQL hashes every (id, isActive, schedule) server-side; SQLite: None."""
        if self.db.dialect != "postgresql":
            return None
        query = sa.text(
            "SELECT md5(coalesce(string_agg(id || ':' || \"isActive\"::text || ':' || "
            "coalesce((\"configJson\"->'schedule')::text, '') || ':' || (\"nextRunAt\" IS NULL)::text, "
            "',' ORDER BY id), '')) FROM softone_integrations"
        )
        async with self.db.connect() as conn:
            value = (await conn.execute(query)).scalar_one()
        return str(value)

    async def _write_next(self, changes: Sequence[tuple[str, datetime | None, datetime | None]]) -> None:
        """Write many nextRunAt values, each conditional on the value read (another process may be faster)."""
        if not changes:
            return
        async with self.db.engine.begin() as conn:
            if self.db.dialect == "postgresql":
                await conn.execute(
                    sa.text(
                        'UPDATE softone_integrations AS i SET "nextRunAt" = v.next '
                        "FROM (SELECT unnest(CAST(:ids AS text[])) AS id, "
                        "unnest(CAST(:olds AS timestamptz[])) AS old, "
                        "unnest(CAST(:nexts AS timestamptz[])) AS next) AS v "
                        'WHERE i.id = v.id AND i."nextRunAt" IS NOT DISTINCT FROM v.old'
                    ),
                    {
                        "ids": [change[0] for change in changes],
                        "olds": [change[1] for change in changes],
                        "nexts": [change[2] for change in changes],
                    },
                )
                return
            datetime_type = _I.__table__.c.nextRunAt.type
            await conn.execute(
                sa.update(_I)
                .where(
                    _I.id == sa.bindparam("b_id"),
                    _I.nextRunAt.is_not_distinct_from(sa.bindparam("b_old", type_=datetime_type)),
                )
                .values(nextRunAt=sa.bindparam("b_next", type_=datetime_type), updatedAt=_I.updatedAt),
                [{"b_id": i, "b_old": old, "b_next": new} for i, old, new in changes],
            )

    # ------------------------------------------------------------------ dispatch

    async def dispatch_due(self, now: datetime | None = None) -> list[SlotOutcome]:
        """Claim every due slot (in batches) and hand the runs to the executor."""
        outcomes: list[SlotOutcome] = []
        while True:
            claimed, batch_outcomes, full, expired_leases = await self._claim_batch(now or utcnow())
            outcomes += batch_outcomes
            if expired_leases:
                # Fail a dead holder's run before the new run takes the expired lease over; once taken
                # over, the old run would only be found by the much slower stale-heartbeat rule.
                await self.reap()
            for claim in claimed:
                key = (claim.integration_id, claim.slot_at)
                self._inflight[key] = asyncio.create_task(self._run_slot(claim), name=f"slot {key}")
            if not full:
                return outcomes

    async def _claim_batch(self, now: datetime) -> tuple[list[_Claim], list[SlotOutcome], bool, bool]:
        query = (
            sa.select(_I.id, _I.isActive, _SCHEDULE, _I.nextRunAt, _I.leaseExpiresAt)
            .where(_I.nextRunAt <= now)
            .order_by(_I.nextRunAt)
            .limit(self.batch_size)
        )
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claims: list[_Claim] = []
        outcomes: list[SlotOutcome] = []
        async with self.db.engine.begin() as conn:
            rows = (await conn.execute(query)).all()
            expired_leases = any(row[4] is not None and row[4] < now for row in rows)
            planned: list[tuple[str, datetime, SlotPlan, ScheduleConfig | None]] = []
            for integration_id, active, schedule, due, _lease_expiry in rows:
                config, error = _config_of(schedule)
                if error is not None:
                    plan = SlotPlan(None, None, [SlotRecord(due, "failed", f"invalid schedule: {error}")])
                else:
                    plan = plan_slots(config, bool(active), due, now)
                planned.append((integration_id, due, plan, config))
            if self.db.dialect == "postgresql":
                # The rows are locked (FOR UPDATE SKIP LOCKED): apply the whole batch in three statements.
                applied = await self._apply_plans_locked(conn, planned, now)
            else:
                applied = [
                    await self._apply_plan(conn, integration_id, due, plan, config, now)
                    for integration_id, due, plan, config in planned
                ]
            leased = {row[0] for row in rows if row[4] is not None}
            for (integration_id, _due, plan, _config), claim in zip(planned, applied, strict=True):
                if isinstance(claim, _Claim) and integration_id in leased:
                    claim = dataclasses.replace(claim, lease_seen=True)
                if claim is False:
                    continue
                outcomes += [
                    SlotOutcome(integration_id, r.slot_at, r.outcome, None, r.detail) for r in plan.records
                ]
                if isinstance(claim, _Claim):
                    claims.append(claim)
                    outcomes.append(SlotOutcome(integration_id, claim.slot_at, "queued", claim.run_id))
        for outcome in outcomes:
            if outcome.outcome != "queued":
                self._log_outcome(outcome)
        return claims, outcomes, len(rows) == self.batch_size, expired_leases

    async def _apply_plans_locked(
        self,
        conn: AsyncConnection,
        planned: list[tuple[str, datetime, SlotPlan, ScheduleConfig | None]],
        now: datetime,
    ) -> list[_Claim | bool]:
        """PostgreSQL: advance every locked row and write every slot row in a few statements."""
        if not planned:
            return []
        datetime_type = _I.__table__.c.nextRunAt.type
        await conn.execute(
            sa.update(_I)
            .where(_I.id == sa.bindparam("b_id"), _I.nextRunAt == sa.bindparam("b_due", type_=datetime_type))
            .values(nextRunAt=sa.bindparam("b_next", type_=datetime_type), updatedAt=_I.updatedAt),
            [{"b_id": i, "b_due": due, "b_next": plan.next_run_at} for i, due, plan, _ in planned],
        )
        run_ids = {integration_id: new_id() for integration_id, _, plan, _ in planned if plan.run_slot}
        inserted = await store.insert_run_slots(
            conn,
            [
                (integration_id, plan.run_slot, run_ids[integration_id], f"claimed by {self.owner}")
                for integration_id, _, plan, config in planned
                if plan.run_slot is not None and config is not None
            ],
            now,
        )
        results: list[_Claim | bool] = []
        for integration_id, _due, plan, config in planned:
            await store.insert_slots(conn, integration_id, plan.records, run_ids.get(integration_id), now)
            if plan.run_slot is not None and config is not None and integration_id in inserted:
                trigger = "catchup" if plan.is_catch_up else "schedule"
                results.append(
                    _Claim(integration_id, plan.run_slot, run_ids[integration_id], trigger, config)
                )
            else:
                results.append(True)
        return results

    async def _apply_plan(
        self,
        conn: AsyncConnection,
        integration_id: str,
        due: datetime,
        plan: SlotPlan,
        config: ScheduleConfig | None,
        now: datetime,
    ) -> _Claim | bool:
        """Advance nextRunAt and write the slot rows; False if another process got there first."""
        advanced = await conn.execute(
            sa.update(_I)
            .where(_I.id == integration_id, _I.nextRunAt == due)
            .values(nextRunAt=plan.next_run_at, updatedAt=_I.updatedAt)
        )
        if advanced.rowcount != 1:
            return False
        run_id = new_id()
        claim: _Claim | bool = True
        if plan.run_slot is not None and config is not None:
            inserted = await store.insert_slot(
                conn,
                integration_id,
                SlotRecord(plan.run_slot, "queued", f"claimed by {self.owner}"),
                run_id,
                now,
            )
            if inserted:
                trigger = "catchup" if plan.is_catch_up else "schedule"
                claim = _Claim(integration_id, plan.run_slot, run_id, trigger, config)
            else:  # a clock-skewed peer recomputed an already-claimed slot: the row proves it ran
                log.info(
                    "[CRON] integration=%s slot=%s already claimed", integration_id, plan.run_slot.isoformat()
                )
        await store.insert_slots(conn, integration_id, plan.records, run_id, now)
        return claim

    async def _run_slot(self, claim: _Claim) -> None:
        key = (claim.integration_id, claim.slot_at)
        try:
            if claim.config.jitter_seconds > 0:
                await asyncio.sleep(random.uniform(0, claim.config.jitter_seconds))
            if claim.lease_seen:
                # The lease may expire between the claim and the run taking it over; reap first so a
                # dead holder's run is failed by the reaper rather than left "running".
                await self._reap_leases(claim.integration_id)
            result = await self.executor.submit(
                claim.integration_id, claim.slot_at, claim.trigger, run_id=claim.run_id
            )
            if result.outcome == "skipped-running" and claim.config.overlap == "queue-one":
                result = await self._queue_one(claim, result)
            if result.final:
                self._results.append(
                    (claim.integration_id, claim.slot_at, result.outcome, result.run_id, result.detail)
                )
                self._results_ready.set()
                if self._flusher is None:
                    # Not started (modes A and C: /api/cron/init dispatches): nobody batches the
                    # outcomes, so write them now rather than leave the slot "queued".
                    await self.flush_results()
            self._log_outcome(
                SlotOutcome(claim.integration_id, claim.slot_at, result.outcome, result.run_id, result.detail)
            )
        except asyncio.CancelledError:
            # Shutdown past its grace: record it and free the lease the run may still hold.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._abandon(claim))
            raise
        except Exception as exc:
            log.exception("[CRON] integration=%s slot=%s failed in the scheduler", *key)
            with contextlib.suppress(Exception):
                await store.finish_slot(
                    self.db,
                    claim.integration_id,
                    claim.slot_at,
                    "failed",
                    detail=f"scheduler error: {type(exc).__name__}: {exc}",
                )
        finally:
            self._inflight.pop(key, None)

    async def _queue_one(self, claim: _Claim, skipped: ExecutionResult) -> ExecutionResult:
        """Keep one pending run: wait for the current holder to finish, then run it."""
        if await store.has_pending(self.db, claim.integration_id, excluding=claim.slot_at):
            return ExecutionResult("skipped-running", None, f"{skipped.detail}; a run is already pending")
        await store.set_slot_detail(
            self.db,
            claim.integration_id,
            claim.slot_at,
            f"{store.PENDING_PREFIX} {skipped.detail or ''}".strip(),
        )
        self._log_outcome(SlotOutcome(claim.integration_id, claim.slot_at, "queued", None, "pending"))
        while True:
            # Polling, not an event: the holder may be another process.
            while await leases.current_holder(self.db, claim.integration_id) is not None:  # noqa: ASYNC110
                await asyncio.sleep(self.pending_poll)
            result = await self.executor.submit(
                claim.integration_id, claim.slot_at, claim.trigger, run_id=claim.run_id
            )
            if result.outcome != "skipped-running":
                return result

    async def _abandon(self, claim: _Claim) -> None:
        await leases.release_lease(
            self.db, leases.Lease(claim.integration_id, self.owner, claim.run_id, utcnow())
        )
        await store.finish_slot(
            self.db,
            claim.integration_id,
            claim.slot_at,
            "failed",
            run_id=claim.run_id,
            detail="cancelled: the scheduler shut down before the run finished",
        )

    def _log_outcome(self, outcome: SlotOutcome) -> None:
        log.info(
            "[CRON] integration=%s slot=%s outcome=%s run=%s%s",
            outcome.integration_id,
            outcome.slot_at.isoformat(),
            outcome.outcome,
            outcome.run_id or "-",
            f" ({outcome.detail})" if outcome.detail and outcome.outcome != "ran" else "",
            extra={"action": "slot", "integration_id": outcome.integration_id, "run_id": outcome.run_id},
        )

    # ------------------------------------------------------------------ maintenance

    async def _reap_leases(self, integration_id: str) -> None:
        async with self.db.connect() as conn:
            expires: datetime | None = (
                await conn.execute(sa.select(_I.leaseExpiresAt).where(_I.id == integration_id))
            ).scalar_one_or_none()
        if expires is None:
            return
        remaining = (expires - utcnow()).total_seconds()
        if remaining > LEASE_EXPIRY_MARGIN:
            return  # a live holder renews long before expiry: this run will simply be skipped
        # About to expire (or expired): a dead holder. Wait for the expiry so the reaper, not the
        # take-over, ends the old run — otherwise it would stay "running" until the stale rule.
        await asyncio.sleep(max(0.0, remaining) + 0.05)
        reaped = await leases.reap_expired(self.db)
        if reaped:
            await store.repair_slots(self.db, reaped)

    async def reap(self) -> list[str]:
        """Fail runs whose process died (expired leases) and give their slots an outcome."""
        reaped = await leases.reap_expired(self.db)
        await store.touch_slots(self.db, list(self._inflight))
        repaired = await store.repair_slots(self.db, reaped, stale_after=self.stale_queued_seconds)
        if reaped or repaired:
            log.warning(
                "[CRON] reaped %d run(s), repaired %d slot(s)",
                len(reaped),
                repaired,
                extra={"action": "reaped"},
            )
        return reaped

    async def drain(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the runs this manager started (tests and shutdown)."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        await self.flush_results()

    async def flush_results(self) -> None:
        """Write the final outcomes collected since the last flush, in one transaction."""
        batch, self._results = self._results, []
        self._results_ready.clear()
        if batch:
            try:
                await store.finish_slots(self.db, batch)
            except Exception:
                self._results[:0] = batch  # keep them for the next flush
                raise

    async def _flush_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            await asyncio.sleep(self.flush_interval)  # gather a batch
            try:
                await self.flush_results()
            except Exception:
                log.exception("[CRON] writing slot outcomes failed; retrying")

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    # ------------------------------------------------------------------ loop

    async def start(self, *, initialize: bool = True) -> None:
        if self._task is not None:
            return
        await self.executor.start()
        if initialize:
            await self.initialize()
        self._claiming = True
        self._task = asyncio.create_task(self._loop(), name=f"cron manager {self.owner}")
        self._flusher = asyncio.create_task(self._flush_loop(), name=f"cron outcomes {self.owner}")

    async def stop(self, grace: float = 30.0) -> None:
        """Stop claiming; let running syncs finish within ``grace`` seconds, then cancel them."""
        self._claiming = False
        self._wake.set()
        if self._task is not None:
            # Let the loop finish its iteration: cancelling it between a committed claim and the
            # hand-over of the claimed slots to tasks would leave those slots "queued" for good.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=LOOP_STOP_TIMEOUT)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        tasks = list(self._inflight.values())
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=10)
                log.warning(
                    "[CRON] cancelled %d run(s) still going after %.0f s",
                    len(pending),
                    grace,
                    extra={"action": "cancelled"},
                )
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush_results()
        await self.executor.close()
        log.info("[CRON] scheduler %s stopped", self.owner, extra={"action": "cron_stopped"})

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_change = loop.time() + self.change_interval
        next_reap = loop.time()
        while self._claiming:
            delay = self.poll_interval
            try:
                if loop.time() >= next_change:
                    await self.check_changes()
                    next_change = loop.time() + self.change_interval
                if loop.time() >= next_reap:
                    await self.reap()
                    next_reap = loop.time() + self.reap_interval
                now = utcnow()
                earliest = await self._earliest()
                if earliest is not None and earliest <= now:
                    await self.dispatch_due(now)
                    earliest = await self._earliest()
                if earliest is not None:
                    delay = max(0.0, min(delay, (earliest - utcnow()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("[CRON] poll failed; retrying in %.1f s", self.poll_interval)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _earliest(self) -> datetime | None:
        async with self.db.connect() as conn:
            value: datetime | None = (await conn.execute(sa.select(sa.func.min(_I.nextRunAt)))).scalar_one()
        return value


def _config_of(schedule: Any) -> tuple[ScheduleConfig | None, CronError | None]:
    if schedule is None:
        return None, None
    try:
        if not isinstance(schedule, dict):
            raise CronError("configJson.schedule must be an object", field="schedule", value=str(schedule))
        return ScheduleConfig.from_mapping(schedule), None
    except CronError as exc:
        return None, exc


def _desired_next(
    config: ScheduleConfig | None,
    error: CronError | None,
    active: bool,
    stored: datetime | None,
    now: datetime,
) -> tuple[datetime | None, str]:
    if error is not None:
        return None, f"invalid: {error}"
    if config is None:
        return None, "no schedule"
    if not active:
        return None, "inactive"
    if stored is not None and stored <= now:
        return stored, "catch-up"
    return _next_after_cached(config.cron_expression, config.timezone, now), "scheduled"


@functools.lru_cache(maxsize=1024)
def _next_after_cached(expression: str, timezone: str, now: datetime) -> datetime:
    # Thousands of integrations share a few expressions and one ``now`` during initialize(): compute
    # each (expression, timezone) once — croniter needs ~0.1-0.5 ms per fresh iterator.
    return parse_schedule(expression, timezone).next_after(now)


async def initialize_cron_jobs(
    db: Database | None = None, settings: Settings | None = None, *, start: bool = False
) -> list[ScheduleReport]:
    """The seed's ``initializeCronJobs()``: compute every integration's next run and report it.

    With ``start=True`` a :class:`CronManager` keeps running in the current event loop (embedding in
    the user's own app) and is returned via :func:`running_manager`.
    """
    from softone_sync.db.engine import open_database

    settings = settings or get_settings()
    own_db = db is None
    database = db or await open_database(settings.database_url, upgrade=settings.is_sqlite)
    manager = CronManager(database, settings)
    try:
        reports = await manager.initialize()
        if start:
            await manager.start(initialize=False)
            _RUNNING.append(manager)
        return reports
    finally:
        if own_db and not start:
            await database.dispose()


_RUNNING: list[CronManager] = []


def running_manager() -> CronManager | None:
    """The manager started by ``initialize_cron_jobs(start=True)``, if any."""
    return _RUNNING[-1] if _RUNNING else None
