"""Cron expressions in words, for the common shapes operators actually write.

Anything this does not recognise falls back to the expression itself: a wrong sentence is worse
than an honest ``0 7-19/2 1,15 * 1-5``.
"""

from __future__ import annotations

_MACROS = {
    "@yearly": "Every year on 1 January at 00:00",
    "@annually": "Every year on 1 January at 00:00",
    "@monthly": "Every month on day 1 at 00:00",
    "@weekly": "Every Sunday at 00:00",
    "@daily": "Every day at 00:00",
    "@midnight": "Every day at 00:00",
    "@hourly": "Every hour at :00",
}
_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_DAY_ALIASES = {name[:3].lower(): index for index, name in enumerate(_DAY_NAMES)}
_MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def describe_cron(expression: str) -> str:
    """A sentence for ``expression`` ("Every 15 minutes", "Weekdays at 08:30"), else the expression."""
    text = " ".join(expression.split())
    if text.lower() in _MACROS:
        return _MACROS[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        return text
    try:
        sentence = _describe_fields(*fields)
    except ValueError:
        return text
    return sentence if sentence is not None else text


def _describe_fields(minute: str, hour: str, dom: str, month: str, dow: str) -> str | None:
    when = _time_phrase(minute, hour)
    if when is None:
        return None
    days = _day_phrase(dom, month, dow)
    if days is None:
        return None
    if not days:
        # Sub-daily shapes read best without "every day" ("Every 15 minutes").
        return when if when.startswith("Every") else f"Every day {when}"
    if when.startswith("Every"):
        return f"{when}, {days}"
    return f"{days[0].upper()}{days[1:]} {when}"


def _time_phrase(minute: str, hour: str) -> str | None:
    if minute == "*" and hour == "*":
        return "Every minute"
    step = _step(minute)
    if step is not None and hour == "*":
        return "Every minute" if step == 1 else f"Every {step} minutes"
    if not minute.isdigit() or not 0 <= int(minute) <= 59:
        return None
    mm = int(minute)
    if hour == "*":
        return f"Every hour at :{mm:02d}"
    hour_step = _step(hour)
    if hour_step is not None:
        return f"Every {hour_step} hours at :{mm:02d}" if hour_step > 1 else f"Every hour at :{mm:02d}"
    if "-" in hour and "," not in hour and "/" not in hour:
        start, end = (_number(part, 0, 23) for part in hour.split("-", 1))
        return f"Every hour at :{mm:02d} from {start:02d}:{mm:02d} to {end:02d}:{mm:02d}"
    hours = [_number(part, 0, 23) for part in hour.split(",")]
    times = [f"{h:02d}:{mm:02d}" for h in hours]
    return "at " + _join(times)


def _day_phrase(dom: str, month: str, dow: str) -> str | None:
    """'' for every day, a phrase such as 'on weekdays', or None when the shape is unusual."""
    if month != "*" and not (month.isdigit() and dom.isdigit()):
        return None
    if dom == "*" and month == "*":
        if dow in ("*", "?"):
            return ""
        days = _weekdays(dow)
        if days == [1, 2, 3, 4, 5]:
            return "on weekdays"
        if days == [0, 6] or days == [6, 0]:
            return "on weekends"
        return "every " + _join([_DAY_NAMES[d] for d in days])
    if dow not in ("*", "?"):
        return None
    if month == "*":
        days_of_month = [_number(part, 1, 31) for part in dom.split(",")]
        return "every month on day " + _join([str(d) for d in days_of_month])
    return f"every year on {int(dom)} {_MONTH_NAMES[_number(month, 1, 12) - 1]}"


def _weekdays(field: str) -> list[int]:
    days: list[int] = []
    for part in field.split(","):
        if "-" in part:
            start, end = (_weekday(p) for p in part.split("-", 1))
            if end < start:
                raise ValueError(part)
            days.extend(range(start, end + 1))
        else:
            days.append(_weekday(part))
    # Cron allows 7 for Sunday; keep the order the operator wrote otherwise.
    return [d % 7 for d in days]


def _weekday(token: str) -> int:
    lowered = token.lower()
    if lowered in _DAY_ALIASES:
        return _DAY_ALIASES[lowered]
    return _number(token, 0, 7)


def _step(field: str) -> int | None:
    if field.startswith("*/") and field[2:].isdigit() and int(field[2:]) > 0:
        return int(field[2:])
    return None


def _number(token: str, low: int, high: int) -> int:
    if not token.isdigit() or not low <= int(token) <= high:
        raise ValueError(token)
    return int(token)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
