"""Conflicts: a record changed on both sides since its baseline, decided field by field.

:func:`merge` is the whole rule set, a pure function over normalized values:

- a field equal on both sides needs nothing;
- ownership first: an ``erp``-owned field always takes the ERP value (the application's change is
  discarded, never pushed); an ``app``-owned field always takes the application's;
- a field changed on one side only takes that side's value (field-level merge: the application
  changed the phone, the ERP the city — both survive);
- a field changed on both sides to different values is a conflict, settled by the field's
  policy (``twoWay.fieldPolicies``, else ``twoWay.conflictPolicy``): ``erp-wins``, ``app-wins``,
  ``newest-wins`` (ERP change stamp vs the time the outbox captured the local change; a tie or an
  unknown ERP time goes to the ERP) or ``manual``.

A record with a ``manual`` conflict is held whole: nothing is pushed or pulled for it, and a
``sync_conflicts`` row keeps both versions and the baseline until a person calls
:func:`resolve_conflict`. That only records the choice and queues the record; the next run's push
applies it against the ERP's then-current state, like any other change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from softone_sync.db.engine import Database
from softone_sync.db.models import utcnow
from softone_sync.sync.twoway.layout import TwoWayLayout
from softone_sync.sync.twoway.models import CONFLICTS, OUTBOX

Side = Literal["erp", "app"]
_SIDES: dict[str, Side] = {"erp": "erp", "erp-wins": "erp", "app": "app", "app-wins": "app"}


class ConflictError(ValueError):
    """A conflict cannot be resolved as asked (unknown id, bad side, already resolved)."""


class ConflictNotFound(ConflictError, LookupError):
    pass


@dataclass
class MergeResult:
    final: dict[str, Any]  # normalized values both sides will hold
    push: list[str] = field(default_factory=list)  # columns whose local value goes to the ERP
    pull: list[str] = field(default_factory=list)  # columns whose ERP value goes to the local row
    manual: list[str] = field(default_factory=list)  # conflicting columns held for a person
    decisions: list[dict[str, Any]] = field(default_factory=list)  # one per true conflict, for stats


def merge(
    layout: TwoWayLayout,
    local: Mapping[str, Any],
    erp: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    *,
    local_changed_at: datetime | None = None,
    erp_changed_at: datetime | None = None,
    forced: Mapping[str, Side] | None = None,
) -> MergeResult:
    """Decide every synced column of one record (see the module docstring for the rules)."""
    result = MergeResult(final={})
    for column in layout.synced:
        mine, theirs = local.get(column), erp.get(column)
        if mine == theirs:
            result.final[column] = mine
            continue
        local_changed = base is None or column not in base or base[column] != mine
        erp_changed = base is None or column not in base or base[column] != theirs
        owner = layout.owner(column)
        winner: Side | Literal["manual"]
        if forced and column in forced:
            winner = forced[column]
            result.decisions.append(
                {"column": column, "policy": "resolved", "winner": winner, "local": mine, "erp": theirs}
            )
        elif owner != "both":
            winner = owner
        elif local_changed and not erp_changed:
            winner = "app"
        elif erp_changed and not local_changed:
            winner = "erp"
        else:
            policy = layout.policy(column)
            if policy == "manual":
                winner = "manual"
            elif policy == "app-wins":
                winner = "app"
            elif policy == "newest-wins":
                newer = local_changed_at is not None and (
                    erp_changed_at is None or local_changed_at > erp_changed_at
                )
                winner = "app" if newer else "erp"
            else:
                winner = "erp"
            result.decisions.append(
                {"column": column, "policy": policy, "winner": winner, "local": mine, "erp": theirs}
            )
        if winner == "manual":
            result.manual.append(column)
            result.final[column] = theirs
        elif winner == "app" and layout.pushable(column):
            result.push.append(column)
            result.final[column] = mine
        else:
            result.pull.append(column)
            result.final[column] = theirs
    return result


async def store_conflict(
    conn: AsyncConnection,
    *,
    integration_id: str,
    run_id: str | None,
    record_key: str,
    local_key: str,
    erp_id: str | None,
    columns: list[str],
    local: Mapping[str, Any],
    erp: Mapping[str, Any],
    base: Mapping[str, Any] | None,
) -> int:
    """Open (or refresh the open) conflict of a record; returns its id."""
    now = utcnow()
    values = {
        "run_id": run_id,
        "local_key": local_key,
        "erp_id": erp_id,
        "fields_json": columns,
        "local_json": dict(local),
        "erp_json": dict(erp),
        "baseline_json": None if base is None else dict(base),
        "updated_at": now,
    }
    existing = (
        await conn.execute(
            sa.select(CONFLICTS.c.id).where(
                CONFLICTS.c.integration_id == integration_id,
                CONFLICTS.c.record_key == record_key,
                CONFLICTS.c.status == "open",
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        await conn.execute(sa.update(CONFLICTS).where(CONFLICTS.c.id == existing).values(values))
        return int(existing)
    result = await conn.execute(
        sa.insert(CONFLICTS)
        .values(integration_id=integration_id, record_key=record_key, status="open", created_at=now, **values)
        .returning(CONFLICTS.c.id)
    )
    return int(result.scalar_one())


async def forced_sides(
    conn: AsyncConnection, integration_id: str, record_key: str
) -> tuple[list[int], dict[str, Side]]:
    """Resolutions chosen for a record and not applied yet: (conflict ids, {column: side})."""
    result = await conn.execute(
        sa.select(CONFLICTS.c.id, CONFLICTS.c.fields_json, CONFLICTS.c.resolution)
        .where(
            CONFLICTS.c.integration_id == integration_id,
            CONFLICTS.c.record_key == record_key,
            CONFLICTS.c.status == "resolving",
        )
        .order_by(CONFLICTS.c.id)
    )
    ids: list[int] = []
    sides: dict[str, Side] = {}
    for conflict_id, columns, resolution in result:
        ids.append(int(conflict_id))
        for column in columns or []:
            sides[str(column)] = _SIDES[str(resolution)]
    return ids, sides


async def mark_applied(conn: AsyncConnection, conflict_ids: list[int]) -> None:
    if conflict_ids:
        await conn.execute(
            sa.update(CONFLICTS)
            .where(CONFLICTS.c.id.in_(conflict_ids))
            .values(status="resolved", updated_at=utcnow())
        )


@dataclass(frozen=True)
class ConflictResolution:
    conflict_id: int
    integration_id: str
    record_key: str
    side: Side
    status: str


async def resolve_conflict(db: Database, conflict_id: int, side: str) -> ConflictResolution:
    """Settle a manual conflict: ``side`` is ``"erp"`` or ``"app"`` (``"erp-wins"``/``"app-wins"`` too).

    The choice is recorded and the record queued; the next run applies it (the ERP may have moved
    on since, so it is applied to the then-current state, for the conflicting fields only).
    Raises :class:`ConflictNotFound` or :class:`ConflictError` with a precise message.
    """
    chosen = _SIDES.get(str(side).strip().lower())
    if chosen is None:
        raise ConflictError(f"side must be 'erp' or 'app', not {side!r}")
    now = utcnow()
    async with db.engine.begin() as conn:
        row = (await conn.execute(sa.select(CONFLICTS).where(CONFLICTS.c.id == conflict_id))).first()
        if row is None:
            raise ConflictNotFound(f"no conflict with id {conflict_id}")
        if row.status == "resolved":
            raise ConflictError(f"conflict {conflict_id} was already resolved ({row.resolution})")
        await conn.execute(
            sa.update(CONFLICTS)
            .where(CONFLICTS.c.id == conflict_id)
            .values(status="resolving", resolution=chosen, resolved_at=now, updated_at=now)
        )
        await conn.execute(
            sa.insert(OUTBOX).values(
                integration_id=row.integration_id,
                op="U",
                pk_json=row.local_key,
                erp_id=row.erp_id,
                changed_columns=",".join(row.fields_json or []),
                changed_at=now,
            )
        )
    return ConflictResolution(conflict_id, row.integration_id, row.record_key, chosen, "resolving")


async def list_conflicts(
    db: Database, integration_id: str, *, status: str | None = "open", limit: int = 100
) -> list[dict[str, Any]]:
    """Conflicts of an integration, newest first, as JSON-able dicts (for the API and CLI)."""
    query = sa.select(CONFLICTS).where(CONFLICTS.c.integration_id == integration_id)
    if status is not None:
        query = query.where(CONFLICTS.c.status == status)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(CONFLICTS.c.id.desc()).limit(limit))).mappings().all()
    return [
        {
            key: (value.isoformat() if isinstance(value, datetime) else value)
            for key, value in dict(row).items()
        }
        for row in rows
    ]
