"""What happens to the slots of one integration when they come due: a pure plan, no I/O.

Given the slot stored in ``nextRunAt`` (the oldest unprocessed one), the current time and the
integration's schedule settings, :func:`plan_slots` decides which slot runs, which are recorded as
``coalesced``, ``missed`` or ``paused``, and the next ``nextRunAt``. The manager applies the plan in
one transaction; keeping the decision pure makes the catch-up rules testable without a clock.

Catch-up rule: slots within the catch-up window (``configJson.schedule.catchUpSeconds``, default
3600 s, never less than :data:`MIN_GRACE_SECONDS`) coalesce into one run — the latest slot runs,
the earlier ones are ``coalesced``; slots older than the window are ``missed``. At most
:data:`MAX_ROWS_PER_OUTCOME` individual rows are written per outcome (the latest ones) plus one
summary row, so a per-second schedule after a week of downtime writes ~200 rows, not 600,000.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal

from softone_sync.schedule.cron import CronError, CronSchedule, parse_schedule

OverlapPolicy = Literal["skip", "queue-one"]
SlotOutcomeName = Literal["ran", "skipped-running", "coalesced", "missed", "paused", "failed", "queued"]

DEFAULT_CATCH_UP_SECONDS = 3600.0
# A slot a few seconds late (a busy poll, a GC pause) always runs, even with catchUpSeconds = 0:
# the "1 s misfire grace" that makes other schedulers silently skip runs is what we avoid.
MIN_GRACE_SECONDS = 30.0
MAX_ROWS_PER_OUTCOME = 100
# Counting older slots stops here; the summary then says "more than". Bounds the work per claim.
COUNT_LIMIT = 20_000
OVERLAP_POLICIES: tuple[OverlapPolicy, ...] = ("skip", "queue-one")


@dataclass(frozen=True)
class ScheduleConfig:
    """``configJson.schedule`` of an integration, validated."""

    cron_expression: str
    timezone: str = "UTC"
    catch_up_seconds: float = DEFAULT_CATCH_UP_SECONDS
    jitter_seconds: float = 0.0
    overlap: OverlapPolicy = "skip"

    @property
    def schedule(self) -> CronSchedule:
        return parse_schedule(self.cron_expression, self.timezone)

    @property
    def window_seconds(self) -> float:
        return max(self.catch_up_seconds, MIN_GRACE_SECONDS)

    @classmethod
    def from_config_json(cls, config: Mapping[str, Any] | None) -> ScheduleConfig | None:
        """The schedule of an integration, None when it has none; :class:`CronError` when invalid."""
        raw = (config or {}).get("schedule")
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise CronError("configJson.schedule must be an object", field="schedule", value=str(raw))
        return cls.from_mapping(raw)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ScheduleConfig | None:
        expression = raw.get("cronExpression")
        if expression is None or (isinstance(expression, str) and not expression.strip()):
            return None
        if not isinstance(expression, str):
            raise CronError("cronExpression must be a string", field="expression", value=str(expression))
        timezone = raw.get("timezone") or "UTC"
        if not isinstance(timezone, str):
            raise CronError("timezone must be a string", field="timezone", value=str(timezone))
        overlap = raw.get("overlap", "skip")
        if overlap not in OVERLAP_POLICIES:
            raise CronError(
                f"overlap {overlap!r} must be one of {', '.join(OVERLAP_POLICIES)}",
                field="overlap",
                value=str(overlap),
            )
        config = cls(
            cron_expression=expression,
            timezone=timezone,
            catch_up_seconds=_seconds(raw, "catchUpSeconds", DEFAULT_CATCH_UP_SECONDS),
            jitter_seconds=_seconds(raw, "jitterSeconds", 0.0),
            overlap=overlap,
        )
        config.schedule  # noqa: B018 - validates expression and timezone now, with the precise message
        return config


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise CronError(f"{key} must be a number of seconds >= 0, got {value!r}", field=key, value=str(value))
    return float(value)


@dataclass(frozen=True)
class SlotRecord:
    """One slot_log row to write when the plan is applied."""

    slot_at: datetime
    outcome: SlotOutcomeName
    detail: str | None = None


@dataclass(frozen=True)
class SlotPlan:
    run_slot: datetime | None
    """The slot to run now (its row is written ``queued`` and finalised after the run), or None."""
    next_run_at: datetime | None
    records: list[SlotRecord] = field(default_factory=list)
    """Rows other than the run slot's: coalesced / missed / paused."""

    @property
    def is_catch_up(self) -> bool:
        return any(record.outcome in ("coalesced", "missed") for record in self.records)


def plan_slots(config: ScheduleConfig | None, active: bool, due: datetime, now: datetime) -> SlotPlan:
    """Decide the fate of every slot from ``due`` (the stored ``nextRunAt``) up to ``now``."""
    if not active:
        return SlotPlan(None, None, [SlotRecord(due, "paused", "integration inactive at its slot")])
    if config is None:
        return SlotPlan(None, None, [])
    schedule = config.schedule
    following = schedule.next_after(due)
    if following > now:  # the common case: one slot due, on time
        return SlotPlan(due, following, [])

    records: list[SlotRecord] = []
    cutoff = now - timedelta(seconds=config.window_seconds)
    first_in_window = due
    if due < cutoff:
        first_in_window = schedule.next_after(cutoff - timedelta(microseconds=1))
        records += _summarise(schedule, due, min(first_in_window, _after(now)), "missed", window=config)
    next_run_at = schedule.next_after(now)
    latest = next(schedule.iter_before(next_run_at))  # the last slot <= now
    if first_in_window <= now:
        records += _summarise(schedule, first_in_window, latest, "coalesced", window=config)
        return SlotPlan(latest, next_run_at, records)
    return SlotPlan(None, next_run_at, records)  # every due slot was older than the window


def _after(now: datetime) -> datetime:
    return now + timedelta(microseconds=1)


def _summarise(
    schedule: CronSchedule,
    first: datetime,
    end: datetime,
    outcome: SlotOutcomeName,
    *,
    window: ScheduleConfig,
) -> list[SlotRecord]:
    """Rows for the slots in ``[first, end)``: the latest ones individually, plus one summary row."""
    if first >= end:
        return []
    count = _count(schedule, first, end)
    latest = sorted(islice(_before(schedule, end, first), MAX_ROWS_PER_OUTCOME))
    why = (
        "older than the catch-up window"
        if outcome == "missed"
        else "coalesced into the run of the latest slot"
    )
    records = [SlotRecord(slot, outcome, why) for slot in latest]
    if count is None or count > len(latest):
        total = f"more than {COUNT_LIMIT}" if count is None else str(count)
        summary = (
            f"{total} slots from {first.isoformat()} to {latest[0].isoformat()} {why} "
            f"(catch-up window {window.window_seconds:g} s); the latest {len(latest)} are listed individually"
        )
        records.insert(0, SlotRecord(first, outcome, summary))
    return records


def _before(schedule: CronSchedule, end: datetime, first: datetime) -> Iterator[datetime]:
    """Slots in ``[first, end)``, newest first. ``first`` is the stored ``nextRunAt`` and counts as a
    slot even when it is off the schedule (an operator's SQL edit, a schedule changed under it)."""
    for slot in schedule.iter_before(end):
        if slot < first:
            break
        yield slot
        if slot == first:
            return
    yield first


def _count(schedule: CronSchedule, first: datetime, end: datetime) -> int | None:
    """Slots in ``[first, end)``; None when there are more than :data:`COUNT_LIMIT`."""
    count = 1  # ``first`` itself is a slot: it came from nextRunAt
    for slot in schedule.iter_after(first):
        if slot >= end:
            return count
        count += 1
        if count > COUNT_LIMIT:
            return None
    return count  # pragma: no cover - iter_after is infinite
