"""Cron expressions with an IANA timezone: validation with precise messages, and next fire times.

Accepted forms
--------------
* 5 fields: ``minute hour day-of-month month day-of-week`` (standard crontab).
* 6 fields: ``second minute hour day-of-month month day-of-week`` — seconds **first**, the
  node-cron / Quartz convention the original seed used.
* Macros: ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``),
  ``@hourly``, ``@every-minute``, ``@every-second``.

Names (``JAN``-``DEC``, ``SUN``-``SAT``), lists, ranges, steps, ``?`` (same as ``*`` in the day
fields), ``L`` (last day of month) and ``N#k`` (k-th weekday of the month) are accepted. Iteration
itself is croniter's; this module only validates (so a mistake names its field, value and reason)
and applies the timezone rule below.

Timezone and DST rule
---------------------
A schedule is evaluated in the **local wall-clock time** of its timezone (default UTC): croniter
walks naive local times, and each local slot is converted to one UTC instant:

* **Spring-forward gap** (e.g. Europe/Athens 2026-03-29 03:00→04:00): a slot whose wall-clock
  time does not exist runs **once, at the first valid instant after the gap** (04:00 local). Several
  slots inside the gap, and a slot exactly at the gap's end, collapse into that one run.
* **Autumn repeat** (e.g. Europe/Athens 2026-10-25 04:00→03:00): a wall-clock time that occurs
  twice runs **once, at its first occurrence**. A sub-hourly schedule therefore fires once per
  wall-clock slot during the repeated hour, and not again when the clock shows those times a
  second time.

A slot is identified by its UTC instant; the scheduler records outcomes against it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

__all__ = ["MACROS", "CronError", "CronSchedule", "parse_schedule", "validate_timezone"]

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
    "@every-minute": "* * * * *",
    "@every-second": "* * * * * *",
}

_MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: dict[str, int] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        if self.names:
            first, last = next(iter(self.names)), list(self.names)[-1]
            return f"{self.low}-{self.high} or {first}-{last}"
        return f"{self.low}-{self.high}"


_SECOND = _FieldSpec("second", 0, 59)
_MINUTE = _FieldSpec("minute", 0, 59)
_HOUR = _FieldSpec("hour", 0, 23)
_DOM = _FieldSpec("day-of-month", 1, 31)
_MONTH = _FieldSpec("month", 1, 12, {n: i + 1 for i, n in enumerate(_MONTH_NAMES)})
# 7 is Sunday too, as in Vixie cron.
_DOW = _FieldSpec("day-of-week", 0, 7, {n: i for i, n in enumerate(_DAY_NAMES)})
_FIVE = (_MINUTE, _HOUR, _DOM, _MONTH, _DOW)
_SIX = (_SECOND, *_FIVE)

_ITEM = re.compile(r"^(?P<base>[^/]*)(?:/(?P<step>.*))?$")
_NTH_WEEKDAY = re.compile(r"^(?P<day>[A-Za-z0-9]+)#(?P<nth>.*)$")


class CronError(ValueError):
    """A cron expression or timezone is invalid; ``str()`` says which field, which value and why."""

    def __init__(self, message: str, *, field: str | None = None, value: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def validate_timezone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name, or a :class:`CronError` suggesting the closest names."""
    cleaned = name.strip()
    if not cleaned:
        raise CronError(
            "timezone is empty; use an IANA name such as UTC or Europe/Athens", field="timezone", value=name
        )
    try:
        # ZoneInfo also accepts relative file paths; an IANA name never contains "..".
        if ".." in cleaned or cleaned.startswith("/"):
            raise ZoneInfoNotFoundError(cleaned)
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: ZoneInfo opens a file named after the key, and a name longer than the file
        # system allows fails with ENAMETOOLONG instead of "not found".
        suggestions = difflib.get_close_matches(cleaned, sorted(available_timezones()), n=3, cutoff=0.6)
        hint = (
            f" (did you mean {', '.join(suggestions)}?)"
            if suggestions
            else " (use an IANA name such as Europe/Athens)"
        )
        raise CronError(f"unknown timezone {cleaned!r}{hint}", field="timezone", value=name) from None


def _number(spec: _FieldSpec, token: str, whole: str) -> int:
    upper = token.upper()
    if upper in spec.names:
        return spec.names[upper]
    if not token.isdigit():
        if spec.names:
            raise CronError(
                f"{spec.name} {token!r} is not a number or a {spec.name} name ({spec.hint})",
                field=spec.name,
                value=whole,
            )
        raise CronError(f"{spec.name} {token!r} is not a number ({spec.hint})", field=spec.name, value=whole)
    value = int(token)
    if not spec.low <= value <= spec.high:
        raise CronError(
            f"{spec.name} {value} out of range {spec.low}-{spec.high}", field=spec.name, value=whole
        )
    return value


def _validate_item(spec: _FieldSpec, item: str, whole: str) -> None:
    if item == "":
        raise CronError(f"{spec.name} has an empty list item in {whole!r}", field=spec.name, value=whole)
    if spec is _DOM and item.upper() == "L":
        return
    if spec is _DOW:
        nth = _NTH_WEEKDAY.match(item)
        if nth:
            _number(spec, nth["day"], whole)
            if not (nth["nth"].isdigit() and 1 <= int(nth["nth"]) <= 5):
                raise CronError(
                    f"day-of-week occurrence {nth['nth']!r} in {item!r} must be 1-5",
                    field=spec.name,
                    value=whole,
                )
            return
    match = _ITEM.match(item)
    assert match is not None  # the pattern matches any string
    base, step = match["base"], match["step"]
    if step is not None:
        if not step.isdigit() or int(step) == 0:
            raise CronError(
                f"{spec.name} step {step!r} must be a positive integer", field=spec.name, value=whole
            )
        if int(step) > spec.high - spec.low + 1:
            raise CronError(
                f"{spec.name} step {int(step)} is larger than the field's range {spec.low}-{spec.high}",
                field=spec.name,
                value=whole,
            )
    if base in ("*", "?"):
        if base == "?" and spec not in (_DOM, _DOW):
            raise CronError(
                f"'?' is only allowed in day-of-month and day-of-week, not {spec.name}",
                field=spec.name,
                value=whole,
            )
        return
    if base == "":
        raise CronError(f"{spec.name} step {item!r} has nothing before '/'", field=spec.name, value=whole)
    if "-" in base:
        start_token, _, end_token = base.partition("-")
        start = _number(spec, start_token, whole)
        end = _number(spec, end_token, whole)
        # Wrapping weekday ranges (FRI-MON) are idiomatic; elsewhere a reversed range is a typo.
        if start > end and spec is not _DOW:
            raise CronError(
                f"{spec.name} range {base} is reversed (start > end); "
                f"write {start}-{spec.high},{spec.low}-{end} to wrap around",
                field=spec.name,
                value=whole,
            )
        return
    _number(spec, base, whole)


def _validate_fields(fields: list[str]) -> tuple[_FieldSpec, ...]:
    if len(fields) == 5:
        specs: tuple[_FieldSpec, ...] = _FIVE
    elif len(fields) == 6:
        specs = _SIX
    else:
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first "
            f"(second minute hour day-of-month month day-of-week), got {len(fields)}",
            field="expression",
            value=" ".join(fields),
        )
    for spec, text in zip(specs, fields, strict=True):
        for item in text.split(","):
            _validate_item(spec, item, text)
    return specs


def _expand_macro(expr: str) -> str:
    lowered = expr.lower()
    if lowered in MACROS:
        return MACROS[lowered]
    known = ", ".join(MACROS)
    raise CronError(f"unknown macro {expr!r}; expected one of {known}", field="expression", value=expr)


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression bound to a timezone; see the module docstring for the DST rule."""

    expression: str
    """As the user wrote it (whitespace normalised)."""
    fields: tuple[str, ...]
    """Expanded fields (macros resolved), 5 or 6 of them."""
    timezone: str
    has_seconds: bool

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def croniter_expression(self) -> str:
        return " ".join(self.fields)

    def _iterator(self, start_local: datetime) -> croniter:
        return croniter(self.croniter_expression, start_local, second_at_beginning=self.has_seconds)

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Fire instants (UTC) strictly after ``after`` (aware; naive is taken as UTC), ascending."""
        after_utc = _as_utc(after)
        tz = self.tz
        local = after_utc.astimezone(tz)
        start = local.replace(tzinfo=None)
        if local.fold == 1:
            # In the second pass of a repeated hour every wall-clock slot up to the repeat's end has
            # already fired at its first occurrence; start after the repeat instead of skipping slot by slot.
            start = _end_of_repeat(start, tz) - timedelta(seconds=1)
        iterator = self._iterator(start)
        last = after_utc
        while True:
            instant = _wall_to_utc(iterator.get_next(datetime), tz)
            # Gap slots collapse onto the gap's end and repeat slots map to their first occurrence,
            # so an instant can repeat or lie before ``after``: yield each instant once, in order.
            if instant > last:
                last = instant
                yield instant

    def iter_before(self, before: datetime) -> Iterator[datetime]:
        """Fire instants (UTC) strictly before ``before``, descending (the mirror of :meth:`iter_after`)."""
        before_utc = _as_utc(before)
        tz = self.tz
        local = before_utc.astimezone(tz)
        start = local.replace(tzinfo=None)
        if local.fold == 1:
            # Wall-clock slots later in the repeated hour fired in its first pass, i.e. before ``before``.
            start = _end_of_repeat(start, tz)
        iterator = croniter(
            self.croniter_expression, start, second_at_beginning=self.has_seconds, is_prev=True
        )
        last = before_utc
        while True:
            instant = _wall_to_utc(iterator.get_prev(datetime), tz)
            if instant < last:
                last = instant
                yield instant

    def next_after(self, after: datetime) -> datetime:
        """The first fire instant strictly after ``after`` (aware; naive is taken as UTC), in UTC."""
        return next(self.iter_after(after))

    def preview(self, n: int, start: datetime | None = None) -> list[datetime]:
        """The next ``n`` fire instants (UTC) after ``start`` (default: now)."""
        iterator = self.iter_after(start if start is not None else datetime.now(UTC))
        return [next(iterator) for _ in range(n)]

    def slots_between(self, after: datetime, until: datetime, *, limit: int | None = None) -> list[datetime]:
        """Fire instants in ``(after, until]`` in order, at most ``limit`` (the earliest ones)."""
        end = _as_utc(until)
        result: list[datetime] = []
        for instant in self.iter_after(after):
            if instant > end or (limit is not None and len(result) >= limit):
                break
            result.append(instant)
        return result


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _is_ambiguous(wall: datetime, tz: ZoneInfo) -> bool:
    return wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def _end_of_repeat(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first wall-clock second at or after ``wall`` that is not ambiguous."""
    probe = wall.replace(microsecond=0)
    # Transitions sit on whole minutes; walk minutes (at most a few hours' worth) then seconds.
    probe = probe.replace(second=0)
    for _ in range(24 * 60):
        if not _is_ambiguous(probe, tz):
            return max(probe, wall.replace(microsecond=0))
        probe += timedelta(minutes=1)
    return wall  # pragma: no cover - no zone repeats more than a day


def _wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local slot: first occurrence when repeated, end of the gap when skipped."""
    if _exists(wall, tz):
        return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # Inside a spring-forward gap: fold=1 maps with the offset after the transition (earlier instant),
    # fold=0 with the offset before it (later instant); the transition lies between them.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    after_offset = high.astimezone(tz).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(tz).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return high


@lru_cache(maxsize=4096)
def parse_schedule(expr: str, tz: str = "UTC") -> CronSchedule:
    """Validate ``expr`` and ``tz`` and return a :class:`CronSchedule`; raises :class:`CronError`.

    Cached: thousands of integrations typically share a handful of expressions.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise CronError("cron expression is empty", field="expression", value=str(expr))
    normalised = " ".join(expr.split())
    expanded = _expand_macro(normalised) if normalised.startswith("@") else normalised
    fields = expanded.split(" ")
    specs = _validate_fields(fields)
    validate_timezone(tz)
    schedule = CronSchedule(
        expression=normalised, fields=tuple(fields), timezone=tz.strip(), has_seconds=len(specs) == 6
    )
    try:
        iterator = schedule._iterator(datetime(2000, 1, 1))
        iterator.get_next(datetime)
    except CroniterBadDateError:
        raise CronError(
            f"day-of-month {fields[-3]} never occurs in month {fields[-2]}; the expression would never fire",
            field="day-of-month",
            value=fields[-3],
        ) from None
    except (
        CroniterError
    ) as exc:  # pragma: no cover - the field validation above catches what croniter rejects
        raise CronError(
            f"invalid cron expression {normalised!r}: {exc}", field="expression", value=normalised
        ) from None
    return schedule
