"""Parsing and formatting quantities written as text."""

import math
import re

from units.convert import UnitError, canonical, convert, dimension

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)\s*$")
_FEET_INCHES = re.compile(r"^\s*(\d+)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\"?)?\s*$")
_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "u"))


def parse(text):
    """(value, unit) from text like `3.5 km`, `-40C` or `5'11"` (feet and inches)."""
    match = _FEET_INCHES.match(text)
    if match:
        feet = int(match.group(1))
        inches = float(match.group(2) or 0)
        if inches >= 12:
            raise UnitError(f"inches must be below 12 in {text!r}")
        return feet * 12 + inches, "in"
    match = _QUANTITY.match(text)
    if not match:
        raise UnitError(f"cannot parse quantity {text!r}")
    value = float(match.group(1))
    unit = canonical(match.group(2))
    dimension(unit)  # raises for unknown units
    return value, unit


def parse_to(text, target):
    """Parse a quantity and convert it to `target` units."""
    value, unit = parse(text)
    return convert(value, unit, target)


def significant(value, digits=3):
    """Round to `digits` significant figures."""
    if value == 0:
        return 0.0
    magnitude = math.floor(math.log10(abs(value)))
    return round(value, digits - 1 - magnitude)


def format_quantity(value, unit, digits=3):
    """Text like `1.5 km`; integers lose their `.0`."""
    value = significant(value, digits)
    if value == int(value):
        value = int(value)
    return f"{value} {unit}"


def si_format(value, unit, digits=3):
    """Format with an SI prefix: 1500 -> `1.5 kW`, 0.002 -> `2 mW`."""
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in _PREFIXES:
        if abs(value) >= factor:
            return format_quantity(value / factor, prefix + unit, digits)
    factor, prefix = _PREFIXES[-1]
    return format_quantity(value / factor, prefix + unit, digits)


def total(quantities, unit):
    """Sum quantities given as text, in `unit`."""
    return sum(parse_to(text, unit) for text in quantities)
