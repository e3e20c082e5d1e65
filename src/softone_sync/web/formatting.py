"""Jinja filters: times in the schedule's timezone, relative times, durations, counts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything this service stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_time(value: datetime | None, tz: str | None = None) -> str:
    moment = as_utc(value)
    if moment is None:
        return "—"
    try:
        zone = ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    moment = as_utc(value)
    if moment is None:
        return ""
    delta = (moment - (now or datetime.now(UTC))).total_seconds()
    span = human_span(abs(delta))
    if abs(delta) < 1:
        return "now"
    return f"in {span}" if delta > 0 else f"{span} ago"


def human_span(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours} h {rest // 60} min" if rest >= 60 else f"{hours} h"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h" if rest >= 3600 else f"{days} d"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def count(value: int | None) -> str:
    # A thin space keeps 1 234 567 readable without implying a locale's decimal mark.
    return "—" if value is None else f"{value:,}".replace(",", "\u202f")


def iso(value: datetime | None) -> str:
    moment = as_utc(value)
    return moment.isoformat() if moment else ""


def as_table(value: object) -> tuple[list[str], list[list[object]]] | None:
    """A list of flat dicts (diff samples, rejected payloads) as (columns, rows); None otherwise."""
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    columns: list[str] = []
    for item in value:
        columns.extend(str(key) for key in item if str(key) not in columns)
    return columns, [[item.get(column, "") for column in columns] for item in value]
