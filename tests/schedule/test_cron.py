"""Cron validation messages and next fire times, including DST in Athens and New York."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from softone_sync.schedule.cron import CronError, parse_schedule


@pytest.mark.parametrize(
    ("expr", "field", "message"),
    [
        (
            "* * * *",
            "expression",
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with "
            "seconds first (second minute hour day-of-month month day-of-week), got 4",
        ),
        ("1 2 3 4 5 6 7", "expression", None),
        ("61 * * * *", "minute", "minute 61 out of range 0-59"),
        ("* 24 * * *", "hour", "hour 24 out of range 0-23"),
        ("* * 32 * *", "day-of-month", "day-of-month 32 out of range 1-31"),
        ("* * * 13 *", "month", "month 13 out of range 1-12"),
        ("* * * * 8", "day-of-week", "day-of-week 8 out of range 0-7"),
        ("60 * * * * *", "second", "second 60 out of range 0-59"),
        ("*/0 * * * *", "minute", "minute step '0' must be a positive integer"),
        ("*/a * * * *", "minute", "minute step 'a' must be a positive integer"),
        ("*/61 * * * *", "minute", "minute step 61 is larger than the field's range 0-59"),
        (
            "5-1 * * * *",
            "minute",
            "minute range 5-1 is reversed (start > end); write 5-59,0-1 to wrap around",
        ),
        ("1,,2 * * * *", "minute", "minute has an empty list item in '1,,2'"),
        ("x * * * *", "minute", "minute 'x' is not a number (0-59)"),
        ("* * * FOO *", "month", "month 'FOO' is not a number or a month name (1-12 or JAN-DEC)"),
        ("0 0 * * 1#6", "day-of-week", "day-of-week occurrence '6' in '1#6' must be 1-5"),
        (
            "0 0 30 2 *",
            "day-of-month",
            "day-of-month 30 never occurs in month 2; the expression would never fire",
        ),
        (
            "@fortnightly",
            "expression",
            "unknown macro '@fortnightly'; expected one of @yearly, @annually, "
            "@monthly, @weekly, @daily, @midnight, @hourly, @every-minute, @every-second",
        ),
        ("", "expression", "cron expression is empty"),
    ],
)
def test_invalid_expressions_name_field_value_and_reason(expr: str, field: str, message: str | None) -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule(expr)
    assert caught.value.field == field
    if message is not None:
        assert str(caught.value) == message


def test_unknown_timezone_suggests_names() -> None:
    with pytest.raises(CronError) as caught:
        parse_schedule("* * * * *", "Europe/Athen")
    assert caught.value.field == "timezone"
    assert str(caught.value).startswith("unknown timezone 'Europe/Athen' (did you mean Europe/Athens")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_macros(expr: str, expected: str) -> None:
    assert parse_schedule(expr).croniter_expression == expected


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_six_fields_have_seconds_first() -> None:
    schedule = parse_schedule("*/15 * * * * *")
    assert schedule.preview(3, utc(2026, 1, 1)) == [
        utc(2026, 1, 1, 0, 0, 15),
        utc(2026, 1, 1, 0, 0, 30),
        utc(2026, 1, 1, 0, 0, 45),
    ]


def test_timezone_local_wall_clock() -> None:
    # 09:00 in Athens is 07:00 UTC in winter and 06:00 UTC in summer.
    schedule = parse_schedule("0 9 * * *", "Europe/Athens")
    assert schedule.next_after(utc(2026, 1, 10)) == utc(2026, 1, 10, 7)
    assert schedule.next_after(utc(2026, 7, 10)) == utc(2026, 7, 10, 6)


def test_athens_spring_gap_runs_once_at_end_of_gap() -> None:
    # 2026-03-29 03:00 EET jumps to 04:00 EEST (01:00 UTC): 03:00-03:59 do not exist.
    quarter = parse_schedule("*/15 * * * *", "Europe/Athens")
    assert quarter.preview(4, utc(2026, 3, 29, 0, 30)) == [
        utc(2026, 3, 29, 0, 45),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 15),
        utc(2026, 3, 29, 1, 30),
    ]
    daily = parse_schedule("30 3 * * *", "Europe/Athens")
    assert daily.preview(3, utc(2026, 3, 28)) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
    ]


def test_athens_autumn_repeat_runs_first_occurrence_once_per_wall_clock_slot() -> None:
    # 2026-10-25 04:00 EEST falls back to 03:00 EET: 03:00-03:59 happen twice (00:00-02:00 UTC).
    every20 = parse_schedule("*/20 * * * *", "Europe/Athens")
    assert every20.preview(6, utc(2026, 10, 24, 23, 50)) == [
        utc(2026, 10, 25, 0, 0),
        utc(2026, 10, 25, 0, 20),
        utc(2026, 10, 25, 0, 40),
        utc(2026, 10, 25, 2, 0),
        utc(2026, 10, 25, 2, 20),
        utc(2026, 10, 25, 2, 40),
    ]
    # Starting inside the second pass: nothing more until 04:00 local.
    assert every20.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 25, 2, 0)
    daily = parse_schedule("30 3 * * *", "Europe/Athens")
    assert daily.preview(2, utc(2026, 10, 24, 12)) == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_new_york_spring_and_autumn() -> None:
    spring = parse_schedule("30 2 * * *", "America/New_York")  # 02:30 does not exist on 2026-03-08
    assert spring.preview(2, utc(2026, 3, 7, 12)) == [utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30)]
    autumn = parse_schedule("30 1 * * *", "America/New_York")  # 01:30 happens twice on 2026-11-01
    assert autumn.preview(2, utc(2026, 10, 31, 12)) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    minutes = parse_schedule("0,30 1 * * *", "America/New_York")
    assert minutes.preview(3, utc(2026, 11, 1, 4)) == [
        utc(2026, 11, 1, 5, 0),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 0),
    ]


def test_slots_between_and_iter_before_are_mirrors() -> None:
    schedule = parse_schedule("*/10 * * * *", "Europe/Athens")
    forward = schedule.slots_between(utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0))
    backward = []
    for slot in schedule.iter_before(utc(2026, 3, 29, 2, 0, 1)):
        if slot <= utc(2026, 3, 29, 0, 0):
            break
        backward.append(slot)
    assert forward == sorted(backward)
