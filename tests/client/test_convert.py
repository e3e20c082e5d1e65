"""ERP string values ↔ Python values, as a sync mapping uses them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from softone_sync.softone.convert import (
    ConversionError,
    from_python,
    to_bool,
    to_date,
    to_datetime,
    to_decimal,
    to_int,
    to_str,
)

ATHENS = ZoneInfo("Europe/Athens")


@pytest.mark.parametrize("fn", [to_str, to_int, to_decimal, to_bool, to_date, to_datetime])
def test_empty_string_is_none(fn):
    assert fn("") is None
    assert fn(None) is None


def test_text_is_kept_verbatim():
    assert to_str(" Πελάτης ΑΕ ") == " Πελάτης ΑΕ "


@pytest.mark.parametrize(("raw", "expected"), [("2928", 2928), ("-5", -5), ("5.00", 5), (" 7 ", 7)])
def test_integers(raw, expected):
    assert to_int(raw) == expected


@pytest.mark.parametrize(("raw", "detail"), [("5.5", "fractional part"), ("abc", ""), ("1,000", "")])
def test_bad_integers_name_the_value(raw, detail):
    with pytest.raises(ConversionError) as info:
        to_int(raw)
    assert repr(raw) in str(info.value)
    assert "an integer" in str(info.value)
    assert detail in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"), [("8074.95", Decimal("8074.95")), ("900", Decimal(900)), ("-0.5", Decimal("-0.5"))]
)
def test_decimals_are_exact(raw, expected):
    value = to_decimal(raw)
    assert value == expected
    assert isinstance(value, Decimal)


def test_decimal_with_comma_explains_the_separator():
    with pytest.raises(ConversionError, match=r"'1,5' is not a decimal number \(SoftOne uses '\.'"):
        to_decimal("1,5")


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "1e5", "12a"])
def test_decimal_rejects_non_literals(raw):
    with pytest.raises(ConversionError):
        to_decimal(raw)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("0", False), ("true", True), ("False", False)])
def test_flags(raw, expected):
    assert to_bool(raw) is expected


def test_bad_flag():
    with pytest.raises(ConversionError, match=r"'2' is not a boolean flag \(expected '0' or '1'\)"):
        to_bool("2")


def test_dates():
    assert to_date("2015-03-29 00:00:00") == date(2015, 3, 29)
    assert to_date("2015-03-29") == date(2015, 3, 29)
    assert to_date("20150322") == date(2015, 3, 22)


@pytest.mark.parametrize("zero", ["1899-12-30 00:00:00", "1899-12-30"])
def test_delphi_zero_date_is_no_date(zero):
    assert to_date(zero) is None
    assert to_datetime(zero) is None


@pytest.mark.parametrize("raw", ["2015-02-30 00:00:00", "29/03/2015", "2015-03-29 25:00:00"])
def test_bad_dates(raw):
    with pytest.raises(ConversionError, match="is not a date"):
        to_date(raw) if "25:" not in raw else to_datetime(raw)


def test_datetime_is_erp_local_and_aware():
    value = to_datetime("2024-07-01 12:30:15", "Europe/Athens")
    assert value == datetime(2024, 7, 1, 9, 30, 15, tzinfo=UTC)
    assert value.utcoffset() == timedelta(hours=3)
    winter = to_datetime("2024-01-15 12:00:00", "Europe/Athens")
    assert winter.utcoffset() == timedelta(hours=2)


def test_datetime_in_another_zone():
    assert to_datetime("2024-07-01 12:00:00", "UTC") == datetime(2024, 7, 1, 12, tzinfo=UTC)


def test_autumn_repeat_takes_the_first_occurrence():
    # 2024-10-27 03:30 happens twice in Athens; fold=0 is the earlier (summer-time) instant.
    value = to_datetime("2024-10-27 03:30:00", "Europe/Athens")
    assert value.astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


def test_unknown_timezone_is_a_precise_error():
    with pytest.raises(ConversionError, match="'Mars/Olympus' is not an IANA timezone name"):
        to_datetime("2024-07-01 12:00:00", "Mars/Olympus")


def test_non_string_from_the_wire_is_named():
    with pytest.raises(ConversionError, match=r"got list"):
        to_int(["1"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("Αθήνα", "Αθήνα"),
        (True, "1"),
        (False, "0"),
        (42, "42"),
        (Decimal("1E+3"), "1000"),
        (Decimal("8074.950"), "8074.950"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (date(2024, 8, 5), "2024-08-05 00:00:00"),
        (datetime(2024, 8, 5, 14, 3, 9), "2024-08-05 14:03:09"),
    ],
)
def test_from_python(value, expected):
    assert from_python(value) == expected


def test_aware_datetime_goes_back_in_erp_time():
    instant = datetime(2024, 7, 1, 9, 30, 15, tzinfo=UTC)
    assert from_python(instant, "Europe/Athens") == "2024-07-01 12:30:15"
    assert to_datetime(from_python(instant)) == instant


@pytest.mark.parametrize("value", [float("nan"), Decimal("Infinity")])
def test_from_python_rejects_non_finite(value):
    with pytest.raises(ConversionError, match="finite number"):
        from_python(value)


def test_from_python_rejects_unknown_types():
    with pytest.raises(ConversionError, match="unsupported type dict"):
        from_python({"a": 1})
