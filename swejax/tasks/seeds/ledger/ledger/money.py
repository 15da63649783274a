"""Money amounts as integer cents, so sums never drift."""

import re

_AMOUNT = re.compile(r"^\s*(-)?\$?\s*(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{1,2}))?\s*$")


def round_half_up(numerator, denominator):
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def parse_amount(text):
    """Cents in an amount like `12.5`, `$1,234.05` or `-3`."""
    match = _AMOUNT.match(text)
    if not match:
        raise ValueError(f"not an amount: {text!r}")
    negative, whole, fraction = match.groups()
    cents = int(whole.replace(",", "")) * 100
    if fraction:
        cents += int(fraction.ljust(2, "0"))
    return -cents if negative else cents


def format_amount(cents, symbol="$"):
    """`$1,234.05` style text; negatives as `-$3.00`."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{symbol}{whole:,}.{fraction:02d}"


def percent_of(cents, percent):
    """`percent` (may be fractional, e.g. 7.5) of an amount, rounded half up."""
    scaled = round(percent * 100)
    return round_half_up(cents * scaled, 10000)


def allocate(cents, weights):
    """Split an amount by integer weights; leftover cents go to the first shares."""
    if not weights or sum(weights) <= 0:
        raise ValueError("weights must be non-empty with a positive sum")
    total = sum(weights)
    shares = [cents * weight // total for weight in weights]
    leftover = cents - sum(shares)
    for index in range(leftover):
        shares[index % len(shares)] += 1
    return shares
