"""Schedules in words, as the integrations list shows them."""

from __future__ import annotations

import pytest

from softone_sync.web.cron_words import describe_cron


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * * *", "Every minute"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 * * * *", "Every hour at :00"),
        ("15 */2 * * *", "Every 2 hours at :15"),
        ("30 8 * * *", "Every day at 08:30"),
        ("0 8,17 * * *", "Every day at 08:00 and 17:00"),
        ("30 8 * * 1-5", "On weekdays at 08:30"),
        ("0 10 * * 6,0", "On weekends at 10:00"),
        ("0 9 * * MON", "Every Monday at 09:00"),
        ("0 9 * * 1,3,5", "Every Monday, Wednesday and Friday at 09:00"),
        ("0 2 1 * *", "Every month on day 1 at 02:00"),
        ("0 0 25 12 *", "Every year on 25 December at 00:00"),
        ("*/15 * * * 1-5", "Every 15 minutes, on weekdays"),
        ("0 8-18 * * 1-5", "Every hour at :00 from 08:00 to 18:00, on weekdays"),
        ("@daily", "Every day at 00:00"),
    ],
)
def test_common_shapes_read_as_sentences(expression: str, words: str) -> None:
    assert describe_cron(expression) == words


@pytest.mark.parametrize("expression", ["0 7-19/2 1,15 * 1-5", "5 4 * * sun#2", "61 * * * *", "not cron"])
def test_unusual_shapes_fall_back_to_the_expression(expression: str) -> None:
    assert describe_cron(expression) == expression
