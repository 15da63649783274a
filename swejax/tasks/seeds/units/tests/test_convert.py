import pytest

from units import convert
from units.convert import UnitError, best_unit, canonical, dimension, split_feet_inches


@pytest.mark.parametrize(
    "value, source, target, expected",
    [
        (1, "km", "m", 1000),
        (12, "in", "ft", 1),
        (1, "mi", "km", 1.609344),
        (2.5, "kg", "lb", 5.511556554),
        (16, "oz", "lb", 1),
        (90, "min", "h", 1.5),
        (2, "week", "day", 14),
        (1, "GiB", "MiB", 1024),
        (1, "GB", "MB", 1000),
    ],
)
def test_convert(value, source, target, expected):
    assert convert(value, source, target) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, source, target, expected",
    [
        (100, "C", "F", 212),
        (32, "F", "C", 0),
        (0, "K", "C", -273.15),
        (-40, "C", "F", -40),
        (300, "K", "F", 80.33),
        (50, "F", "K", 283.15),
    ],
)
def test_temperature(value, source, target, expected):
    assert convert(value, source, target) == pytest.approx(expected)


def test_below_absolute_zero():
    with pytest.raises(UnitError, match="absolute zero"):
        convert(-300, "C", "K")


def test_zero_kelvin_allowed():
    assert convert(0, "K", "K") == 0


def test_incompatible_dimensions():
    with pytest.raises(UnitError, match="cannot convert length"):
        convert(1, "m", "kg")


def test_unknown_unit():
    with pytest.raises(UnitError, match="unknown unit 'parsec'"):
        convert(1, "parsec", "m")


def test_aliases():
    assert canonical("Feet") == "ft"
    assert canonical(" kilometers ") == "km"
    assert canonical("c") == "C"
    assert canonical("MB") == "MB"
    assert convert(3, "feet", "inches") == pytest.approx(36)


def test_dimension():
    assert dimension("lbs") == "mass"
    assert dimension("K") == "temperature"
    assert dimension("KiB") == "data"
    assert dimension("hr") == "time"


def test_best_unit():
    assert best_unit(1500, "m") == (pytest.approx(1.5), "km")
    assert best_unit(0.5, "m", ["cm", "m", "km"]) == (pytest.approx(50), "cm")
    assert best_unit(90, "s", ["s", "min", "h"]) == (pytest.approx(1.5), "min")


def test_best_unit_exact_boundary():
    assert best_unit(60, "min", ["min", "h"]) == (pytest.approx(1), "h")


def test_best_unit_tiny_value_uses_smallest():
    assert best_unit(0.0001, "m", ["cm", "m"]) == (pytest.approx(0.01), "cm")


def test_split_feet_inches():
    assert split_feet_inches(1.8) == (5, 11)
    assert split_feet_inches(0.3048) == (1, 0)
