import pytest

from calc.parser import BinOp, Call, Neg, Num, Var, parse, to_rpn
from calc.tokens import CalcError


def test_parse_precedence():
    assert parse("1 + 2 * 3") == BinOp("+", Num(1), BinOp("*", Num(2), Num(3)))


def test_parse_left_associative():
    assert parse("8 - 3 - 2") == BinOp("-", BinOp("-", Num(8), Num(3)), Num(2))


def test_parse_power_right_associative():
    assert parse("2 ** 3 ** 2") == BinOp("**", Num(2), BinOp("**", Num(3), Num(2)))


def test_parse_unary_minus_binds_looser_than_power():
    assert parse("-2 ** 2") == Neg(BinOp("**", Num(2), Num(2)))


def test_parse_unary_plus():
    assert parse("+x") == Var("x")


def test_parse_parentheses():
    assert parse("(1 + 2) * 3") == BinOp("*", BinOp("+", Num(1), Num(2)), Num(3))


def test_parse_call_arguments():
    assert parse("max(1, x, 2)") == Call("max", (Num(1), Var("x"), Num(2)))


def test_parse_call_no_arguments():
    assert parse("f()") == Call("f", ())


def test_parse_comparison():
    assert parse("a + 1 <= b") == BinOp("<=", BinOp("+", Var("a"), Num(1)), Var("b"))


def test_parse_trailing_garbage():
    with pytest.raises(CalcError) as info:
        parse("1 + 2 3")
    assert info.value.position == 6


def test_parse_missing_paren():
    with pytest.raises(CalcError, match="expected rparen"):
        parse("(1 + 2")


def test_parse_empty():
    with pytest.raises(CalcError, match="end of input"):
        parse("")


def test_to_rpn():
    assert to_rpn(parse("(1 + 2) * -x")) == "1 2 + x neg *"


def test_to_rpn_call():
    assert to_rpn(parse("max(a, b + 1)")) == "a b 1 + max/2"
