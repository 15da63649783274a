"""Recursive-descent parser producing a small expression tree.

Grammar, loosest binding first:
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/" | "//" | "%") unary)*
    unary      := "-" unary | power
    power      := atom ("**" unary)?
    atom       := number | name | name "(" args ")" | "(" comparison ")"
"""

from dataclasses import dataclass

from calc.tokens import CalcError, number_value, tokenize


@dataclass(frozen=True)
class Num:
    value: object


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple


_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, source):
        self.tokens = tokenize(source)
        self.index = 0

    @property
    def current(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind):
        token = self.current
        if token.kind != kind:
            raise CalcError(f"expected {kind}, found {token.text or 'end of input'!r}",
                            token.position)
        return self.advance()

    def comparison(self):
        left = self.sum()
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self.advance().text
            right = self.sum()
            return BinOp(op, left, right)
        return left

    def sum(self):
        node = self.product()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self.advance().text
            node = BinOp(op, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while self.current.kind == "op" and self.current.text in ("*", "/", "//", "%"):
            op = self.advance().text
            node = BinOp(op, node, self.unary())
        return node

    def unary(self):
        if self.current.kind == "op" and self.current.text == "-":
            self.advance()
            return Neg(self.unary())
        if self.current.kind == "op" and self.current.text == "+":
            self.advance()
            return self.unary()
        return self.power()

    def power(self):
        base = self.atom()
        if self.current.kind == "op" and self.current.text == "**":
            self.advance()
            return BinOp("**", base, self.unary())
        return base

    def atom(self):
        token = self.current
        if token.kind == "number":
            self.advance()
            return Num(number_value(token.text))
        if token.kind == "name":
            self.advance()
            if self.current.kind == "lparen":
                self.advance()
                args = []
                if self.current.kind != "rparen":
                    args.append(self.comparison())
                    while self.current.kind == "comma":
                        self.advance()
                        args.append(self.comparison())
                self.expect("rparen")
                return Call(token.text, tuple(args))
            return Var(token.text)
        if token.kind == "lparen":
            self.advance()
            node = self.comparison()
            self.expect("rparen")
            return node
        raise CalcError(f"unexpected {token.text or 'end of input'!r}", token.position)


def parse(source):
    """Parse `source` into an expression tree; raises CalcError on bad input."""
    parser = _Parser(source)
    node = parser.comparison()
    if parser.current.kind != "end":
        raise CalcError(f"unexpected {parser.current.text!r}", parser.current.position)
    return node


def to_rpn(node):
    """Reverse Polish notation of a tree, tokens separated by spaces."""
    if isinstance(node, Num):
        return str(node.value)
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Neg):
        return to_rpn(node.operand) + " neg"
    if isinstance(node, Call):
        parts = [to_rpn(arg) for arg in node.args]
        return " ".join(parts + [f"{node.name}/{len(node.args)}"])
    return f"{to_rpn(node.left)} {to_rpn(node.right)} {node.op}"
