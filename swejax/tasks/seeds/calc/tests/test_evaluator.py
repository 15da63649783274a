import math

import pytest

from calc import evaluate
from calc.evaluator import free_variables
from calc.tokens import CalcError


@pytest.mark.parametrize(
    "source, expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("9 / 3", 3),
        ("7 / 2", 3.5),
        ("--3", 3),
    ],
)
def test_arithmetic(source, expected):
    assert evaluate(source) == expected


def test_integer_division_result_is_int():
    assert isinstance(evaluate("8 / 4"), int)


def test_variables():
    assert evaluate("2 * (x + 1) ** 2", {"x": 2}) == 18


def test_constants():
    assert evaluate("2 * pi") == pytest.approx(2 * math.pi)


def test_variable_shadows_constant():
    assert evaluate("e + 1", {"e": 1}) == 2


def test_unknown_variable():
    with pytest.raises(CalcError, match="unknown variable 'y'"):
        evaluate("y + 1")


@pytest.mark.parametrize("source", ["1 / 0", "1 // 0", "5 % 0"])
def test_division_by_zero(source):
    with pytest.raises(CalcError, match="division by zero"):
        evaluate(source)


def test_zero_negative_power():
    with pytest.raises(CalcError):
        evaluate("0 ** -1")


def test_comparisons():
    assert evaluate("1 + 1 == 2") is True
    assert evaluate("3 < 2") is False
    assert evaluate("2 <= 2") is True
    assert evaluate("2 >= 3") is False
    assert evaluate("4 > 3") is True
    assert evaluate("1 != 1") is False


def test_functions():
    assert evaluate("abs(-3) + max(1, 5, 2) - min(4, 2)") == 6


def test_round_half_away_from_zero():
    assert evaluate("round(2.5)") == 3
    assert evaluate("round(-2.5)") == -3
    assert evaluate("round(1.24, 1)") == 1.2


def test_round_returns_int_without_digits():
    assert isinstance(evaluate("round(2.4)"), int)


def test_sqrt():
    assert evaluate("sqrt(16)") == 4.0


def test_sqrt_negative():
    with pytest.raises(CalcError, match="negative"):
        evaluate("sqrt(-1)")


def test_wrong_argument_count():
    with pytest.raises(CalcError, match="takes 1..1 arguments, got 2"):
        evaluate("abs(1, 2)")


def test_wrong_argument_count_unbounded():
    with pytest.raises(CalcError, match="takes 1..many arguments, got 0"):
        evaluate("max()")


def test_unknown_function():
    with pytest.raises(CalcError, match="unknown function"):
        evaluate("foo(1)")


def test_free_variables():
    assert free_variables("a * pi + max(b, a) - -c") == ["a", "b", "c"]
