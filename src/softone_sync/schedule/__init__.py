"""Scheduling: cron expressions with timezones and DST, the database-backed cron manager, executors."""

from __future__ import annotations

from softone_sync.schedule.cron import CronError, CronSchedule, parse_schedule, validate_timezone
from softone_sync.schedule.executors import (
    ExecutionResult,
    Executor,
    HttpExecutor,
    InlineExecutor,
    ProcrastinateExecutor,
    register_slot_task,
)
from softone_sync.schedule.manager import (
    CronManager,
    ScheduleReport,
    SlotOutcome,
    initialize_cron_jobs,
    running_manager,
)
from softone_sync.schedule.slots import ScheduleConfig, SlotPlan, plan_slots

__all__ = [
    "CronError",
    "CronManager",
    "CronSchedule",
    "ExecutionResult",
    "Executor",
    "HttpExecutor",
    "InlineExecutor",
    "ProcrastinateExecutor",
    "ScheduleConfig",
    "ScheduleReport",
    "SlotOutcome",
    "SlotPlan",
    "initialize_cron_jobs",
    "parse_schedule",
    "plan_slots",
    "register_slot_task",
    "running_manager",
    "validate_timezone",
]
