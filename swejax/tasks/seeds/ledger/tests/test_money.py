import pytest

from ledger.money import allocate, format_amount, parse_amount, percent_of, round_half_up


@pytest.mark.parametrize(
    "num, den, expected",
    [(5, 2, 3), (4, 2, 2), (7, 3, 2), (-5, 2, -3), (-7, 3, -2), (1, 3, 0)],
)
def test_round_half_up(num, den, expected):
    assert round_half_up(num, den) == expected


def test_round_half_up_bad_denominator():
    with pytest.raises(ValueError):
        round_half_up(1, 0)


@pytest.mark.parametrize(
    "text, cents",
    [("12.5", 1250), ("$1,234.05", 123405), ("-3", -300), (" 0.07 ", 7), ("1000", 100000)],
)
def test_parse_amount(text, cents):
    assert parse_amount(text) == cents


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1,23", "$-"])
def test_parse_amount_invalid(text):
    with pytest.raises(ValueError):
        parse_amount(text)


def test_format_amount():
    assert format_amount(123405) == "$1,234.05"
    assert format_amount(-300) == "-$3.00"
    assert format_amount(7, symbol="EUR ") == "EUR 0.07"


def test_percent_of():
    assert percent_of(1000, 7.5) == 75
    assert percent_of(999, 10) == 100
    assert percent_of(333, 50) == 167
    assert percent_of(1000, 0) == 0


def test_allocate_even():
    assert allocate(100, [1, 1]) == [50, 50]


def test_allocate_leftover_to_first():
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]


def test_allocate_weights():
    assert allocate(1000, [3, 1]) == [750, 250]


def test_allocate_sum_preserved():
    assert sum(allocate(1001, [2, 3, 5])) == 1001


def test_allocate_invalid():
    with pytest.raises(ValueError):
        allocate(10, [])
    with pytest.raises(ValueError):
        allocate(10, [0, 0])
