import pytest

from units.convert import UnitError
from units.quantity import format_quantity, parse, parse_to, si_format, significant, total


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3.5 km", (3.5, "km")),
        ("-40C", (-40.0, "C")),
        ("12 inches", (12.0, "in")),
        (".5kg", (0.5, "kg")),
        ("1e3 m", (1000.0, "m")),
        ("7 GiB", (7.0, "GiB")),
    ],
)
def test_parse(text, expected):
    assert parse(text) == expected


def test_parse_feet_inches():
    assert parse("5'11\"") == (71, "in")
    assert parse("6'") == (72, "in")
    assert parse("5' 6.5") == (66.5, "in")


def test_parse_bad_inches():
    with pytest.raises(UnitError, match="below 12"):
        parse("5'12\"")


@pytest.mark.parametrize("text", ["", "km", "3.5", "3 parsecs", "1..2 m"])
def test_parse_invalid(text):
    with pytest.raises(UnitError):
        parse(text)


def test_parse_to():
    assert parse_to("2 h", "min") == pytest.approx(120)


def test_significant():
    assert significant(123456, 3) == 123000
    assert significant(0.00123456, 2) == 0.0012
    assert significant(-9.876, 2) == -9.9
    assert significant(0) == 0.0


def test_format_quantity():
    assert format_quantity(1.5, "km") == "1.5 km"
    assert format_quantity(2.0, "m") == "2 m"
    assert format_quantity(3.14159, "s", digits=4) == "3.142 s"


def test_si_format():
    assert si_format(1500, "W") == "1.5 kW"
    assert si_format(0.002, "W") == "2 mW"
    assert si_format(2_500_000, "Hz") == "2.5 MHz"
    assert si_format(999, "g") == "999 g"
    assert si_format(0, "V") == "0 V"
    assert si_format(-1000, "W") == "-1 kW"


def test_si_format_below_smallest_prefix():
    assert si_format(5e-8, "F") == "0.05 uF"


def test_total():
    assert total(["1 km", "500 m", "250m"], "m") == pytest.approx(1750)
