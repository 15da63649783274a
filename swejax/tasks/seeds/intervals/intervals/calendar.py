"""Calendar arithmetic on (year, month, day) values and datetime.date objects."""

import datetime
import re

_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DURATION = re.compile(r"(\d+)\s*([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def is_leap_year(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if not 1 <= month <= 12:
        raise ValueError(f"month must be in 1..12, got {month}")
    if month == 2 and is_leap_year(year):
        return 29
    return _DAYS[month - 1]


def day_of_year(year, month, day):
    """1 for January 1st."""
    return sum(days_in_month(year, m) for m in range(1, month)) + day


def add_months(date, months):
    """Add calendar months; the day is clamped to the end of the target month."""
    index = date.year * 12 + (date.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(date.day, days_in_month(year, month))
    return datetime.date(year, month, day)


def weekday(year, month, day):
    """Day of the week by Zeller's congruence: 0 = Monday ... 6 = Sunday."""
    if month < 3:
        month += 12
        year -= 1
    k = year % 100
    j = year // 100
    h = (day + (13 * (month + 1)) // 5 + k + k // 4 + j // 4 + 5 * j) % 7
    return (h + 5) % 7


def iso_week(date):
    """ISO 8601 (year, week number)."""
    thursday = date + datetime.timedelta(days=3 - date.weekday())
    first = datetime.date(thursday.year, 1, 1)
    week = (thursday - first).days // 7 + 1
    return thursday.year, week


def business_days(start, end, holidays=()):
    """Weekdays in [start, end) that are not holidays."""
    if end < start:
        return -business_days(end, start, holidays)
    count = 0
    day = start
    holidays = set(holidays)
    while day < end:
        if day.weekday() < 5 and day not in holidays:
            count += 1
        day += datetime.timedelta(days=1)
    return count


def parse_duration(text):
    """Seconds in a duration like `1h30m`, `2d 4h`, `45s` or `1w`."""
    text = text.strip().lower()
    if not text:
        raise ValueError("empty duration")
    total = 0
    position = 0
    for match in _DURATION.finditer(text):
        if text[position:match.start()].strip():
            raise ValueError(f"cannot parse duration {text!r}")
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise ValueError(f"cannot parse duration {text!r}")
    return total


def format_duration(seconds):
    """The inverse of parse_duration with the largest units first, e.g. `1h30m`."""
    if seconds < 0:
        raise ValueError("negative duration")
    if seconds == 0:
        return "0s"
    parts = []
    for unit in "wdhms":
        size = _UNIT_SECONDS[unit]
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


def quarter(date):
    return (date.month - 1) // 3 + 1


def month_range(year, month):
    """The first and last day of a month as dates."""
    first = datetime.date(year, month, 1)
    last = datetime.date(year, month, days_in_month(year, month))
    return first, last
