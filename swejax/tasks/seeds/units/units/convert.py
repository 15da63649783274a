"""Converting values between units of the same dimension."""

from units.tables import ALIASES, DIMENSIONS, TEMPERATURES


class UnitError(ValueError):
    pass


def canonical(unit):
    """The table spelling of a unit name or alias (case-sensitive for data units)."""
    unit = unit.strip()
    if unit in ALIASES:
        return ALIASES[unit]
    lowered = unit.lower()
    if lowered in ALIASES:
        return ALIASES[lowered]
    if unit.upper() in TEMPERATURES and len(unit) == 1:
        return unit.upper()
    return unit


def dimension(unit):
    """The dimension name of a unit: length, mass, time, data or temperature."""
    unit = canonical(unit)
    if unit in TEMPERATURES:
        return "temperature"
    for name, table in DIMENSIONS.items():
        if unit in table:
            return name
    raise UnitError(f"unknown unit {unit!r}")


def to_kelvin(value, unit):
    if unit == "K":
        kelvin = value
    elif unit == "C":
        kelvin = value + 273.15
    else:
        kelvin = (value - 32) * 5 / 9 + 273.15
    if kelvin < 0:
        raise UnitError("temperature below absolute zero")
    return kelvin


def from_kelvin(kelvin, unit):
    if unit == "K":
        return kelvin
    if unit == "C":
        return kelvin - 273.15
    return (kelvin - 273.15) * 9 / 5 + 32


def convert(value, source, target):
    """Convert `value` from `source` units to `target` units."""
    source, target = canonical(source), canonical(target)
    kind = dimension(source)
    if dimension(target) != kind:
        raise UnitError(f"cannot convert {kind} ({source}) to {dimension(target)} ({target})")
    if kind == "temperature":
        return from_kelvin(to_kelvin(value, source), target)
    table = DIMENSIONS[kind]
    return value * table[source] / table[target]


def best_unit(value, unit, candidates=None):
    """Express a quantity in the largest candidate unit where it is at least 1."""
    unit = canonical(unit)
    table = DIMENSIONS[dimension(unit)]
    candidates = [canonical(c) for c in candidates] if candidates else list(table)
    base = value * table[unit]
    best = min(candidates, key=lambda c: table[c])
    for candidate in sorted(candidates, key=lambda c: table[c]):
        if abs(base) >= table[candidate]:
            best = candidate
    return base / table[best], best


def split_feet_inches(metres):
    """(feet, inches) rounded to the nearest inch, e.g. 1.8 m -> (5, 11)."""
    total_inches = round(metres / 0.0254)
    return divmod(total_inches, 12)
