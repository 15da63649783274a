import pytest

from calc.tokens import CalcError, Token, number_value, tokenize


def kinds(source):
    return [(t.kind, t.text) for t in tokenize(source)]


def test_tokenize_simple():
    assert kinds("1 + x") == [("number", "1"), ("op", "+"), ("name", "x"), ("end", "")]


def test_tokenize_two_char_operators():
    assert [t.text for t in tokenize("a**b//c<=d")][:-1] == ["a", "**", "b", "//", "c", "<=", "d"]


def test_tokenize_float_forms():
    assert [t.text for t in tokenize("3.25 .5")][:-1] == ["3.25", ".5"]


def test_tokenize_positions():
    tokens = tokenize("ab + 12")
    assert [t.position for t in tokens] == [0, 3, 5, 7]


def test_tokenize_call():
    assert kinds("max(a, 2)") == [
        ("name", "max"),
        ("lparen", "("),
        ("name", "a"),
        ("comma", ","),
        ("number", "2"),
        ("rparen", ")"),
        ("end", ""),
    ]


def test_tokenize_identifier_with_digits():
    assert tokenize("x_1 + y2")[0] == Token("name", "x_1", 0)


def test_tokenize_bad_character():
    with pytest.raises(CalcError) as info:
        tokenize("2 $ 3")
    assert info.value.position == 2


def test_tokenize_malformed_number():
    with pytest.raises(CalcError):
        tokenize("1.2.3")


def test_number_value():
    assert number_value("42") == 42
    assert isinstance(number_value("42"), int)
    assert number_value("0.5") == 0.5
