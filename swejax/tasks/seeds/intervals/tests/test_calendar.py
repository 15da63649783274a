import datetime

import pytest

from intervals.calendar import (
    add_months,
    business_days,
    day_of_year,
    days_in_month,
    format_duration,
    is_leap_year,
    iso_week,
    month_range,
    parse_duration,
    quarter,
    weekday,
)

D = datetime.date


@pytest.mark.parametrize("year, leap", [(2024, True), (2023, False), (1900, False), (2000, True)])
def test_is_leap_year(year, leap):
    assert is_leap_year(year) is leap


def test_days_in_month():
    assert days_in_month(2023, 2) == 28
    assert days_in_month(2024, 2) == 29
    assert days_in_month(2023, 12) == 31
    assert days_in_month(2023, 4) == 30


def test_days_in_month_invalid():
    with pytest.raises(ValueError):
        days_in_month(2023, 13)
    with pytest.raises(ValueError):
        days_in_month(2023, 0)


def test_day_of_year():
    assert day_of_year(2023, 1, 1) == 1
    assert day_of_year(2023, 3, 1) == 60
    assert day_of_year(2024, 12, 31) == 366


def test_add_months_simple():
    assert add_months(D(2023, 1, 15), 1) == D(2023, 2, 15)


def test_add_months_clamps_day():
    assert add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)


def test_add_months_across_year():
    assert add_months(D(2023, 11, 30), 3) == D(2024, 2, 29)


def test_add_months_negative():
    assert add_months(D(2024, 3, 31), -13) == D(2023, 2, 28)


def test_add_months_to_december():
    assert add_months(D(2023, 10, 5), 2) == D(2023, 12, 5)


@pytest.mark.parametrize(
    "date",
    [D(2024, 2, 29), D(2000, 1, 1), D(1999, 12, 31), D(2023, 3, 1), D(2023, 7, 16)],
)
def test_weekday_matches_datetime(date):
    assert weekday(date.year, date.month, date.day) == date.weekday()


def test_iso_week_year_start():
    assert iso_week(D(2021, 1, 3)) == (2020, 53)
    assert iso_week(D(2021, 1, 4)) == (2021, 1)


def test_iso_week_year_end():
    assert iso_week(D(2024, 12, 30)) == (2025, 1)


def test_iso_week_mid_year():
    assert iso_week(D(2023, 6, 15)) == (2023, 24)


def test_business_days_week():
    assert business_days(D(2024, 1, 1), D(2024, 1, 8)) == 5


def test_business_days_with_holiday():
    assert business_days(D(2024, 1, 1), D(2024, 1, 8), holidays=[D(2024, 1, 1)]) == 4


def test_business_days_reversed():
    assert business_days(D(2024, 1, 8), D(2024, 1, 1)) == -5


def test_business_days_weekend_only():
    assert business_days(D(2024, 1, 6), D(2024, 1, 8)) == 0


@pytest.mark.parametrize(
    "text, seconds",
    [("1h30m", 5400), ("2d 4h", 187200), ("45s", 45), ("1w", 604800), (" 10M ", 600)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5", "1h x", "h1"])
def test_parse_duration_invalid(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration():
    assert format_duration(5400) == "1h30m"
    assert format_duration(694861) == "1w1d1h1m1s"
    assert format_duration(0) == "0s"
    assert format_duration(60) == "1m"


def test_format_duration_negative():
    with pytest.raises(ValueError):
        format_duration(-1)


def test_quarter():
    assert [quarter(D(2023, m, 1)) for m in (1, 3, 4, 6, 7, 12)] == [1, 1, 2, 2, 3, 4]


def test_month_range():
    assert month_range(2024, 2) == (D(2024, 2, 1), D(2024, 2, 29))
