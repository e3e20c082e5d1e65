"""Two-way sync's part of the management operations (called by :mod:`softone_sync.services`).

Capture follows the integration's ``direction``, not its ``isActive``:

- creating a ``two-way`` integration, or switching one to ``two-way``, installs the capture
  triggers and takes the baselines (:func:`~softone_sync.sync.twoway.enable_two_way`);
- switching it to ``one-way`` or deleting it removes them first
  (:func:`~softone_sync.sync.twoway.disable_two_way`; the outbox has no foreign key by design, so a
  delete alone would leave the triggers behind);
- **disabling keeps capturing**: a paused integration must not lose the application's changes made
  while it is paused; the first run after it is enabled again pushes them. Enabling reinstalls
  capture only if it went missing (the application recreated its table, say).

Every refusal is a :class:`~softone_sync.services.ServiceError` raised before anything is written:
a target the triggers cannot be put on is a 422 naming the field, a running integration a 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from softone_sync.db.engine import Database
from softone_sync.db.leases import current_holder
from softone_sync.services import Conflict, InvalidInput, NotFound, ServiceError

if TYPE_CHECKING:
    from softone_sync.sync.twoway.conflicts import ConflictResolution
    from softone_sync.sync.twoway.layout import TwoWayLayout
    from softone_sync.sync.twoway.status import ConflictView, TwoWayState

SIDES = ("erp", "app")

# Conflict ids are BIGINT on both dialects; a larger number cannot name a row, and handing it to
# the driver raises OverflowError (SQLite) or DataError (PostgreSQL) instead of "not found".
MAX_CONFLICT_ID = 2**63 - 1


def check_conflict_id(conflict_id: int) -> None:
    """:class:`NotFound` for an id no ``sync_conflicts`` row can have, before any query."""
    if not 1 <= conflict_id <= MAX_CONFLICT_ID:
        raise NotFound(f"no conflict with id {conflict_id}")


@contextmanager
def two_way_refusals() -> Iterator[None]:
    """The two-way layer's errors as the service errors the API and CLI render."""
    from softone_sync.sync.config import IntegrationConfigError
    from softone_sync.sync.target import TargetError
    from softone_sync.sync.twoway.capture_spec import CaptureError
    from softone_sync.sync.twoway.enable import TwoWayBusy
    from softone_sync.sync.twoway.layout import LayoutError

    try:
        yield
    except ServiceError:
        raise
    except TargetError as exc:
        raise InvalidInput(
            [{"field": "configJson.target.table", "message": f"two-way sync: {exc}"}]
        ) from None
    except CaptureError as exc:
        raise InvalidInput([{"field": "configJson.target", "message": f"two-way sync: {exc}"}]) from None
    except (LayoutError, IntegrationConfigError) as exc:
        raise InvalidInput([{"field": "configJson", "message": f"two-way sync: {exc}"}]) from None
    except TwoWayBusy as exc:
        raise Conflict(str(exc)) from None
    except LookupError as exc:
        raise NotFound(str(exc)) from None


def is_two_way(config_json: object) -> bool:
    return isinstance(config_json, dict) and config_json.get("direction") == "two-way"


async def layout_for(db: Database, config_json: object) -> TwoWayLayout:
    from softone_sync.sync.twoway.enable import two_way_layout

    with two_way_refusals():
        return await two_way_layout(db, config_json)


async def enable(db: Database, integration_id: str) -> None:
    from softone_sync.sync.twoway import enable_two_way

    with two_way_refusals():
        await enable_two_way(db, integration_id)


async def disable(db: Database, integration_id: str) -> None:
    from softone_sync.sync.twoway import disable_two_way

    with two_way_refusals():
        await disable_two_way(db, integration_id)


async def refuse_if_running(db: Database, integration_id: str, doing: str) -> None:
    holder = await current_holder(db, integration_id)
    if holder is not None:
        raise Conflict(f"integration is running (run {holder[1]}); {doing} when it ends")


async def state(db: Database, integration_id: str) -> TwoWayState:
    from softone_sync.sync.twoway.status import two_way_states

    return (await two_way_states(db, [integration_id]))[integration_id]


async def ensure_capture(db: Database, integration_id: str) -> None:
    """Reinstall capture (and baselines) if it is missing; a no-op when installed."""
    if not (await state(db, integration_id)).capture_installed:
        await refuse_if_running(db, integration_id, "enable it")
        await enable(db, integration_id)


def _table_identity(layout: TwoWayLayout) -> tuple[Any, ...]:
    target = layout.target
    return (target.schema, target.name, tuple(layout.pk_columns), layout.record_key_column)


def _watched(layout: TwoWayLayout) -> tuple[str, ...]:
    return (*_table_identity(layout), *layout.synced)


Action = Literal["none", "enable", "reinstall", "replace", "disable"]


@dataclass
class TwoWayPlan:
    """What a configJson change does to capture: checked and prepared before the row is written.

    - ``enable``: one-way → two-way (or capture went missing): install and baseline after the write;
    - ``reinstall``: same table, other synced columns: replace the triggers, keep outbox and baselines;
    - ``replace``: another table or key: needs an empty outbox (its entries name the old table's
      rows), removes the old capture before the write and installs the new one after;
    - ``disable``: two-way → one-way: capture and unpushed changes removed before the write.
    """

    integration_id: str
    action: Action
    was_two_way: bool
    layout: TwoWayLayout | None = None

    async def before_write(self, db: Database) -> None:
        if self.action == "none":
            return
        doing = "change its direction" if self.action == "disable" else "change its configJson"
        await refuse_if_running(db, self.integration_id, doing)
        if self.action == "replace":
            pending = (await state(db, self.integration_id)).pending_changes
            if pending:
                raise Conflict(
                    f"{pending} application change(s) captured on the current target table wait to be "
                    "pushed; run a sync first, then change the table or key"
                )
        if self.action in ("replace", "disable"):
            await disable(db, self.integration_id)

    async def after_write(self, db: Database) -> None:
        if self.action in ("enable", "replace"):
            await enable(db, self.integration_id)
        elif self.action == "reinstall":
            from softone_sync.sync.twoway.capture import install_capture

            assert self.layout is not None
            with two_way_refusals():
                async with db.engine.begin() as conn:
                    await install_capture(conn, self.integration_id, self.layout)

    async def undo(self, db: Database) -> None:
        """After a failed :meth:`after_write` and the old configJson restored: the old capture back."""
        if self.was_two_way and self.action == "replace":
            await enable(db, self.integration_id)


async def plan_change(db: Database, integration_id: str, old: object, new: object) -> TwoWayPlan:
    was, will = is_two_way(old), is_two_way(new)
    if not will:
        return TwoWayPlan(integration_id, "disable" if was else "none", was)
    new_layout = await layout_for(db, new)  # 422 here, before anything is written
    if not was:
        return TwoWayPlan(integration_id, "enable", was)
    try:
        old_layout: TwoWayLayout | None = await layout_for(db, old)
    except ServiceError:  # the old table or config is what is being fixed
        old_layout = None
    if old_layout is None or _table_identity(old_layout) != _table_identity(new_layout):
        return TwoWayPlan(integration_id, "replace", was)
    if not (await state(db, integration_id)).capture_installed:
        return TwoWayPlan(integration_id, "enable", was)
    if _watched(old_layout) != _watched(new_layout):
        return TwoWayPlan(integration_id, "reinstall", was, new_layout)
    return TwoWayPlan(integration_id, "none", was)


# ---------------------------------------------------------------------------------------- conflicts


async def list_conflicts(
    db: Database, *, integration_id: str | None = None, status: str = "open", limit: int = 100
) -> list[ConflictView]:
    """Conflicts of one integration (or all), newest first; ``status`` is open, resolved or all."""
    from softone_sync.sync.twoway.status import CONFLICT_FILTERS, find_conflicts

    if status not in CONFLICT_FILTERS:
        raise InvalidInput([{"field": "status", "message": f"must be one of {', '.join(CONFLICT_FILTERS)}"}])
    return await find_conflicts(
        db,
        integration_ids=None if integration_id is None else [integration_id],
        statuses=CONFLICT_FILTERS[status],
        limit=limit,
    )


async def resolve_conflict(db: Database, conflict_id: int, side: str) -> ConflictResolution:
    """Keep the ERP's or the application's values; the next run applies the choice."""
    from softone_sync.sync.twoway.conflicts import ConflictError, ConflictNotFound
    from softone_sync.sync.twoway.conflicts import resolve_conflict as resolve

    if side not in SIDES:
        raise InvalidInput([{"field": "side", "message": f"must be 'erp' or 'app', not {side!r}"}])
    check_conflict_id(conflict_id)
    try:
        return await resolve(db, conflict_id, side)
    except ConflictNotFound as exc:
        raise NotFound(str(exc)) from None
    except ConflictError as exc:
        raise Conflict(str(exc)) from None
