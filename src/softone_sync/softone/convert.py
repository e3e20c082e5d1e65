"""Conversions between SoftOne's string values and Python types.

SoftOne sends every data value as a string: ``""`` for empty, ``.`` as the decimal separator with
no grouping, ``"0"``/``"1"`` for flags and ``yyyy-mm-dd hh:mm:ss`` for dates, naive in the ERP
server's local time. The Delphi zero date ``1899-12-30 00:00:00`` means "no date". The client keeps
values as sent; these functions are applied where a typed value is wanted, and raise
``ConversionError`` naming the value and the expected type when a value does not fit.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ERP_TIMEZONE = "Europe/Athens"

# Delphi's TDateTime zero: what SoftOne shows for an unset date.
DELPHI_ZERO_DATE = date(1899, 12, 30)

_INT_RE = re.compile(r"[+-]?\d+")
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_COMPACT_DATE_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATETIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?")

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


class ConversionError(ValueError):
    """A SoftOne value that cannot be read as the expected type, or a Python value that cannot be sent."""

    def __init__(self, value: object, expected: str, detail: str = "") -> None:
        self.value = value
        self.expected = expected
        message = f"{value!r} is not {expected}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


def timezone_of(tz: str | tzinfo) -> tzinfo:
    """A tzinfo for an IANA name (cached by zoneinfo) or the tzinfo itself."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConversionError(tz, "an IANA timezone name", "e.g. 'Europe/Athens'") from None


def _text(value: object, expected: str) -> str | None:
    """The stripped text of a value, None for empty; non-strings are a caller bug worth naming."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConversionError(value, expected, f"got {type(value).__name__}, expected a string from SoftOne")
    text = value.strip()
    return text or None


def to_str(value: object) -> str | None:
    """Text as sent, None for ``""``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConversionError(value, "text", f"got {type(value).__name__}")
    return value


def to_int(value: object) -> int | None:
    """An integer such as ``"2928"``; ``"5.00"`` is accepted, ``"5.5"`` is not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text(value, "an integer")
    if text is None:
        return None
    if _INT_RE.fullmatch(text):
        return int(text)
    if _DECIMAL_RE.fullmatch(text):
        number = Decimal(text)
        if number == number.to_integral_value():
            return int(number)
        raise ConversionError(value, "an integer", "it has a fractional part")
    raise ConversionError(value, "an integer")


def to_decimal(value: object) -> Decimal | None:
    """An exact decimal such as ``"8074.95"``; money must never go through float."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    text = _text(value, "a decimal number")
    if text is None:
        return None
    if not _DECIMAL_RE.fullmatch(text):
        detail = "SoftOne uses '.' as the decimal separator and no grouping" if "," in text else ""
        raise ConversionError(value, "a decimal number", detail)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
        raise ConversionError(value, "a decimal number") from None


def to_bool(value: object) -> bool | None:
    """A flag: ``"1"``/``"0"`` (SoftOne's smallint flags), also true/false and yes/no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if value in (0, 1):
            return bool(value)
        raise ConversionError(value, "a boolean flag", "expected 0 or 1")
    text = _text(value, "a boolean flag")
    if text is None:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConversionError(value, "a boolean flag", "expected '0' or '1'")


def to_date(value: object) -> date | None:
    """The date of ``yyyy-mm-dd[ hh:mm:ss]`` (or ``yyyymmdd``); the Delphi zero date is None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value, "a date")
    if text is None:
        return None
    match = _DATETIME_RE.fullmatch(text) or _COMPACT_DATE_RE.fullmatch(text)
    if match is None:
        raise ConversionError(value, "a date", "expected yyyy-mm-dd or yyyy-mm-dd hh:mm:ss")
    try:
        parsed = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ConversionError(value, "a date", str(exc)) from None
    return None if parsed == DELPHI_ZERO_DATE else parsed


def to_datetime(value: object, tz: str | tzinfo = DEFAULT_ERP_TIMEZONE) -> datetime | None:
    """An aware datetime from the ERP's naive local ``yyyy-mm-dd hh:mm:ss``, read in ``tz``.

    An ambiguous wall time (the autumn DST repeat) resolves to its first occurrence (fold=0), a
    wall time inside the spring gap keeps the pre-transition offset — the same rule zoneinfo uses.
    The Delphi zero date is None.
    """
    zone = timezone_of(tz)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    text = _text(value, "a date-time")
    if text is None:
        return None
    match = _DATETIME_RE.fullmatch(text)
    if match is None:
        raise ConversionError(value, "a date-time", "expected yyyy-mm-dd hh:mm:ss")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        day_part = date(int(year), int(month), int(day))
        time_part = time(
            int(hour or 0), int(minute or 0), int(second or 0), int((fraction or "0").ljust(6, "0"))
        )
    except ValueError as exc:
        raise ConversionError(value, "a date-time", str(exc)) from None
    if day_part == DELPHI_ZERO_DATE and time_part == time(0):
        return None
    return datetime.combine(day_part, time_part, tzinfo=zone)


def from_python(value: object, tz: str | tzinfo = DEFAULT_ERP_TIMEZONE) -> str:
    """The string SoftOne expects for a Python value.

    None → ``""``; bool → ``"1"``/``"0"``; numbers in plain ``.`` notation (never an exponent);
    dates and naive datetimes as ``yyyy-mm-dd hh:mm:ss``; aware datetimes are first converted to
    the ERP timezone ``tz``, because SoftOne stores naive local time.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ConversionError(value, "a finite number", "SoftOne cannot store NaN or infinity")
        text = format(value, "f")
        return "0" if text in ("-0", "+0") else text
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(value, "a finite number", "SoftOne cannot store NaN or infinity")
        # repr() is the shortest round-tripping form; Decimal() removes any exponent.
        return from_python(Decimal(repr(value)))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone_of(tz)).replace(tzinfo=None)
        # isoformat zero-pads years < 1000, unlike strftime on glibc; sub-second precision is dropped.
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    raise ConversionError(value, "a value SoftOne can store", f"unsupported type {type(value).__name__}")
