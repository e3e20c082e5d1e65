"""The cluster-wide "at most one run per integration" authority.

A lease lives on the integration's own row (``leaseOwner``, ``leaseRunId``, ``leaseExpiresAt``) and
is taken with ONE conditional UPDATE: the database serialises concurrent UPDATEs of a row, so of any
number of processes, replicas and HTTP triggers racing for it exactly one sees ``rowcount == 1``.
No SELECT-then-UPDATE, no advisory locks, the same statement on SQLite and PostgreSQL.

A holder heartbeats with :func:`renew_lease` well within the TTL; a crashed holder stops renewing,
its lease expires, anyone may take it, and :func:`reap_expired` marks its run failed.

Clock: every ``now`` comes from this host's UTC clock, never the database's. SQLite has no
time-zone-aware clock and its ``CURRENT_TIMESTAMP`` is second-precision text in another format than
the stored values (text comparison would be wrong), and mixing the two clocks would make expiry
depend on which side computed it. The price is that hosts of a cluster must agree on time: keep
them NTP-synced and the TTL far above any skew (the run engine uses tens of seconds; skew is ms).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.engine import Database
from softone_sync.db.models import SoftOneIntegration, SyncRun, utcnow

log = logging.getLogger("softone_sync.db.leases")

EXPIRED_LEASE_ERROR = "lease expired: the process running it stopped (crash or kill)"
STALE_RUN_ERROR = "no heartbeat and no lease: the process running it stopped (crash or kill)"

# A running row whose lease is gone is failed once its last heartbeat is this old. Far above any
# heartbeat interval, so only runs whose process is really gone (or that never held a lease) match.
DEFAULT_STALE_AFTER_SECONDS = 600.0

_I = SoftOneIntegration


class LeaseLost(Exception):
    """The lease of a running run was taken over or expired; the run must stop writing."""

    def __init__(self, integration_id: str, run_id: str) -> None:
        self.integration_id = integration_id
        self.run_id = run_id
        super().__init__(f"lost the lease of integration {integration_id} (run {run_id}): stop this run")


@dataclass
class Lease:
    integration_id: str
    owner: str
    run_id: str
    expires_at: datetime


async def acquire_lease(
    db: Database, integration_id: str, *, owner: str, run_id: str, ttl: float, now: datetime | None = None
) -> Lease | None:
    """Take the lease for ``ttl`` seconds, or return None while someone else holds an unexpired one.

    Re-acquiring with the same ``owner`` and ``run_id`` succeeds (and extends), so a retried call
    after a lost reply is harmless. Returns None too when the integration does not exist.
    """
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    statement = (
        sa.update(_I)
        .where(
            _I.id == integration_id,
            sa.or_(
                _I.leaseOwner.is_(None),
                _I.leaseExpiresAt < now,
                sa.and_(_I.leaseOwner == owner, _I.leaseRunId == run_id),
            ),
        )
        .values(leaseOwner=owner, leaseRunId=run_id, leaseExpiresAt=expires)
        .execution_options(synchronize_session=False)
    )
    async with db.engine.begin() as conn:
        result = await conn.execute(statement)
    if result.rowcount == 1:
        # Holding the lease means no other run of this integration is alive: one still marked
        # running lost an expired lease (its process died), so fail it now rather than leave it
        # "running" until the reaper's stale rule catches it. A transaction of its own: holding the
        # integration row while waiting for a run row would invert the run/integration lock order.
        async with db.engine.begin() as conn:
            taken_over = await conn.execute(
                sa.update(SyncRun)
                .where(
                    SyncRun.integration_id == integration_id,
                    SyncRun.status == "running",
                    SyncRun.id != run_id,
                )
                .values(status="failed", finished_at=now, error=EXPIRED_LEASE_ERROR)
                .returning(SyncRun.id)
                .execution_options(synchronize_session=False)
            )
            dead_runs = list(taken_over.scalars())
        for dead in dead_runs:
            log.warning(
                "[SYNC] integration %s: run %s marked failed (its lease expired before run %s took over)",
                integration_id,
                dead,
                run_id,
                extra={"action": "lease_taken_over", "integration_id": integration_id, "run_id": dead},
            )
    if result.rowcount != 1:
        return None
    log.debug(
        "lease of %s taken by %s for run %s",
        integration_id,
        owner,
        run_id,
        extra={"action": "lease_acquired", "integration_id": integration_id, "run_id": run_id},
    )
    return Lease(integration_id, owner, run_id, expires)


async def renew_lease(db: Database, lease: Lease, *, ttl: float, now: datetime | None = None) -> bool:
    """Extend the lease by ``ttl`` from now and stamp the run's ``heartbeat_at``.

    False means LeaseLost: another owner holds it, it was released or reaped, or it already expired
    (an expired lease is not ours any more even if nobody took it yet — the reaper may be failing
    the run right now). On success ``lease.expires_at`` is updated in place.
    """
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    # Lock order: the run row, then the integration row — the order in which a run's finish
    # (sync_runs, then lastSyncAt) takes them. The opposite order let a run's own heartbeat and its
    # finish deadlock each other on PostgreSQL (seen in the cluster soak test).
    async with db.engine.connect() as conn, conn.begin() as transaction:
        await conn.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == lease.run_id, SyncRun.status == "running")
            .values(heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        result = await conn.execute(
            sa.update(_I)
            .where(
                _I.id == lease.integration_id,
                _I.leaseOwner == lease.owner,
                _I.leaseRunId == lease.run_id,
                _I.leaseExpiresAt >= now,
            )
            .values(leaseExpiresAt=expires)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            await transaction.rollback()  # not ours any more: no heartbeat either
            return False
    lease.expires_at = expires
    return True


async def release_lease(db: Database, lease: Lease) -> None:
    """Give the lease up; a no-op if it is no longer ours (never clears someone else's)."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(_I)
            .where(_I.id == lease.integration_id, _I.leaseOwner == lease.owner, _I.leaseRunId == lease.run_id)
            .values(leaseOwner=None, leaseRunId=None, leaseExpiresAt=None)
            .execution_options(synchronize_session=False)
        )


async def current_holder(
    db: Database, integration_id: str, *, now: datetime | None = None
) -> tuple[str, str] | None:
    """``(owner, run_id)`` of the unexpired lease on the integration, or None."""
    now = now or utcnow()
    async with db.connect() as conn:
        row = (
            await conn.execute(
                sa.select(_I.leaseOwner, _I.leaseRunId).where(
                    _I.id == integration_id, _I.leaseOwner.is_not(None), _I.leaseExpiresAt >= now
                )
            )
        ).first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return (row[0], row[1])


async def reap_expired(
    db: Database, *, now: datetime | None = None, stale_after: float = DEFAULT_STALE_AFTER_SECONDS
) -> list[str]:
    """Fail the runs whose process is gone and free their leases; returns the failed run ids.

    Two cases: (1) an expired lease — its run is failed and the lease cleared; (2) a ``running`` row
    with no live lease whose last heartbeat (or start) is older than ``stale_after`` seconds — e.g.
    the lease was already taken over by the next run. Each clear is conditional on the lease still
    being the expired one, so a holder that renews at the same moment keeps its lease and its run.
    """
    now = now or utcnow()
    failed: list[str] = []
    async with db.engine.begin() as conn:
        expired = (
            await conn.execute(
                sa.select(_I.id, _I.leaseOwner, _I.leaseRunId).where(
                    _I.leaseOwner.is_not(None), _I.leaseExpiresAt < now
                )
            )
        ).all()
        for integration_id, owner, run_id in expired:
            cleared = await conn.execute(
                sa.update(_I)
                .where(
                    _I.id == integration_id,
                    _I.leaseOwner == owner,
                    _I.leaseRunId == run_id,
                    _I.leaseExpiresAt < now,
                )
                .values(leaseOwner=None, leaseRunId=None, leaseExpiresAt=None)
                .execution_options(synchronize_session=False)
            )
            if cleared.rowcount != 1:
                continue  # renewed or taken over since the SELECT: not ours to reap
            if run_id is not None:
                failed += await _fail_runs(conn, [run_id], EXPIRED_LEASE_ERROR, now)
            log.warning(
                "[SYNC] lease of integration %s held by %s expired; run %s marked failed",
                integration_id,
                owner,
                run_id,
                extra={"action": "lease_reaped", "integration_id": integration_id, "run_id": run_id},
            )

        cutoff = now - timedelta(seconds=stale_after)
        live_lease = sa.exists().where(_I.leaseRunId == SyncRun.id, _I.leaseExpiresAt >= now)
        stale = (
            await conn.execute(
                sa.select(SyncRun.id).where(
                    SyncRun.status == "running",
                    ~live_lease,
                    sa.or_(
                        SyncRun.heartbeat_at < cutoff,
                        sa.and_(SyncRun.heartbeat_at.is_(None), SyncRun.started_at < cutoff),
                    ),
                )
            )
        ).scalars()
        stale_ids = [run_id for run_id in stale if run_id not in failed]
        if stale_ids:
            failed += await _fail_runs(conn, stale_ids, STALE_RUN_ERROR, now)
            log.warning(
                "[SYNC] %d stale running run(s) without lease marked failed: %s",
                len(stale_ids),
                ", ".join(stale_ids),
                extra={"action": "runs_reaped"},
            )
    return failed


async def _fail_runs(conn: AsyncConnection, run_ids: list[str], error: str, now: datetime) -> list[str]:
    result = await conn.execute(
        sa.update(SyncRun)
        .where(SyncRun.id.in_(run_ids), SyncRun.status == "running")
        .values(status="failed", finished_at=now, error=error)
        .returning(SyncRun.id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())
